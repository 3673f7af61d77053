#pragma once
// HTTP routes of the core service: health and the Twilio voice webhook.
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "api/settings.hpp"
#include "twilio/settings.hpp"
#include "net/router.hpp"

namespace vox::call {
class CallRegistry;
}

namespace vox::metrics {
class Registry;
}

namespace vox::net {
class LoadMonitor;
}

namespace vox::api {

struct RouteContext {
  const ApiSettings& api;
  const twilio::AccountSettings& twilio;  // its auth token checks the webhooks' signatures
  call::CallRegistry& registry;
  std::string tts_engine;
  std::string stt_engine;
  std::chrono::steady_clock::time_point started;
  // Provider name -> "ok" or what is wrong with it (e.g. a rejected API key).
  std::function<std::map<std::string, std::string>()> provider_status;
  // Receives Twilio call status callbacks (call sid, status, duration in seconds).
  std::function<void(const std::string&, const std::string&, const std::string&)> call_events;
  // Served at GET /metrics (Prometheus text format) when set.
  const metrics::Registry* metrics = nullptr;
  // Something else on this port needs a key (control API keys, the turn API key): then
  // /metrics needs api.metrics_token too.
  bool protected_api = false;
  // Overload control: a voice webhook that comes while the server sheds load, or with the
  // calls at their limit, is answered 503 (Twilio then requests the number's fallback
  // URL); /health shows the lag and the refusals. Null: never refused.
  net::LoadMonitor* load = nullptr;
  // Why this instance should not get new work now ("" = ready): starting, draining, or a
  // configured Redis or database down. GET /health/ready answers 503 with it; while
  // draining, voice webhooks are answered 503 (Twilio uses the number's fallback URL).
  std::function<std::string()> not_ready;
  std::function<bool()> draining;
};

// A 503 with Retry-After for work refused by overload control: "<what>: <why>; retry after N s",
// `why` saying the server is overloaded unless given.
net::HttpResponse overloaded_response(const net::LoadMonitor& load, std::string_view what,
                                      std::string_view why = "the server is overloaded right now");

// Adds GET /health and POST /twilio-voice to `router`, and GET /metrics unless
// api.metrics_listen moves it to its own listener.
void add_core_routes(net::Router& router, const RouteContext& ctx);

// Adds GET /metrics to `router`: open when `token` is empty and `open` is true; with a
// token, only for `Authorization: Bearer <token>`; else refused with 401 saying how to
// enable it.
void add_metrics_route(net::Router& router, const metrics::Registry& metrics, std::string token, bool open);

// The URL Twilio requested, as it signed it: the configured public `base_url` plus the
// request target, or (without one) rebuilt from Host / X-Forwarded-Proto / -Host.
// `websocket` gives ws:// or wss://.
std::string public_url(std::string_view base_url, const net::HttpRequest& req, bool websocket);

// Checks X-Twilio-Signature when an auth token is configured and validation is on;
// true when the request may proceed. Logs every refusal.
bool twilio_request_authentic(const twilio::AccountSettings& account, std::string_view base_url,
                              const net::HttpRequest& req, bool websocket);

// Returns the current UTC time as ISO-8601 with milliseconds and a Z.
std::string iso8601_now();

}  // namespace vox::api
