#include "api/routes.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <ctime>

#include "call/registry.hpp"
#include "twilio/twiml.hpp"

namespace vox::api {
namespace json = boost::json;

std::string iso8601_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

void add_core_routes(net::Router& router, const RouteContext& ctx) {
  router.add("GET", "/health", [ctx](const net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
    json::object o;
    o["status"] = "healthy";
    o["timestamp"] = iso8601_now();
    o["active_calls"] = ctx.registry.size();
    o["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
    o["tts_engine"] = ctx.tts_engine;
    o["stt_engine"] = ctx.stt_engine;
    o["version"] = "0.1.0";
    if (ctx.provider_status) {
      json::object providers;
      for (const auto& [name, state] : ctx.provider_status()) {
        providers[name] = state;
        if (state != "ok" && state != "checking") o["status"] = "degraded";
      }
      o["providers"] = providers;
    }
    co_return net::HttpResponse::json(200, json::serialize(o));
  });

  // Twilio's voice webhook: answers TwiML that connects the call to our media stream.
  router.add("POST", "/twilio-voice", [ctx](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
    const auto form = net::parse_form(req.body);
    const auto call_sid = net::form_value(form, "CallSid");
    if (call_sid.empty()) {
      spdlog::warn("twilio-voice webhook without CallSid remote={}", req.remote);
      co_return net::HttpResponse::error(400, "Missing CallSid: this endpoint expects Twilio's form-encoded voice webhook");
    }
    twilio::StreamTwiml stream;
    stream.url = twilio::media_stream_url(ctx.config.base_url, req.header("Host"), req.header("X-Forwarded-Proto"));
    for (const char* key : {"From", "To", "Direction", "AccountSid"}) {
      const auto v = net::form_value(form, key);
      if (!v.empty()) {
        std::string name(key);
        name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
        stream.parameters.emplace_back(name, std::string(v));
      }
    }
    // Per-number choices may ride on the webhook URL's query (?agent=script&voice=en).
    const auto query = net::parse_form(req.query);
    for (const char* key : {"agent", "voice", "greeting", "language"}) {
      const auto v = net::form_value(query, key);
      if (!v.empty()) stream.parameters.emplace_back(key, std::string(v));
    }
    spdlog::info("incoming call call_sid={} from={} to={} stream_url={}", call_sid, net::form_value(form, "From"),
                 net::form_value(form, "To"), stream.url);
    co_return net::HttpResponse::text(200, twilio::connect_stream(stream), "text/xml");
  });
}

}  // namespace vox::api
