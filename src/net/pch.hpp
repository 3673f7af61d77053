#pragma once
// Precompiled header of voxbridge_lib: the heavy Boost headers, parsed once.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
