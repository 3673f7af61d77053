#pragma once
// A company's live calls, one row each (sid, numbers, agent, voice, state, duration, turn,
// engines, fallbacks), as the console's table and GET /live-calls show them. In a cluster
// the rows of every live instance are gathered: each other instance is asked over HTTP
// with the caller's own key (so it answers only what that key may see), at most
// kPeerBudget each, all at once; an instance that does not answer in time is named in
// `unreachable` and its rows are left out.
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "api/control_common.hpp"

namespace vox::api {

inline constexpr std::chrono::milliseconds kPeerBudget{1500};

struct LiveRows {
  LiveRows() {}
  boost::json::array calls;
  std::vector<std::string> unreachable;  // instance ids that did not answer
  bool cluster_unknown = false;          // Redis could not list the instances
};

// This instance's rows that `who` may see (each call's summary read on its own thread).
boost::asio::awaitable<boost::json::array> live_rows_here(const ControlServices& svc, Principal who);
// The same across the cluster (`key`: the caller's company key, sent to the others).
boost::asio::awaitable<LiveRows> live_rows(const ControlServices& svc, Principal who, std::string key);

void add_live_calls_route(net::Router& router, const ControlServices& svc);

}  // namespace vox::api
