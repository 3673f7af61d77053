#pragma once
// HTTP routes of the core service: health and the Twilio voice webhook.
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "core/config.hpp"
#include "net/router.hpp"

namespace vox::call {
class CallRegistry;
}

namespace vox::api {

struct RouteContext {
  const Config& config;
  call::CallRegistry& registry;
  std::string tts_engine;
  std::string stt_engine;
  std::chrono::steady_clock::time_point started;
  // Provider name -> "ok" or what is wrong with it (e.g. a rejected API key).
  std::function<std::map<std::string, std::string>()> provider_status;
};

// Adds GET /health and POST /twilio-voice to `router`.
void add_core_routes(net::Router& router, const RouteContext& ctx);

// Returns the current UTC time as ISO-8601 with milliseconds and a Z.
std::string iso8601_now();

}  // namespace vox::api
