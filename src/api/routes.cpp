#include "api/routes.hpp"
#include "core/json_text.hpp"
#include "core/version.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <ctime>

#include "call/registry.hpp"
#include "core/hash.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "net/load_monitor.hpp"
#include "twilio/signature.hpp"
#include "twilio/twiml.hpp"

namespace vox::api {
namespace json = boost::json;

std::string iso8601_now() { return vox::iso8601_now(); }

namespace {
bool loopback_host(std::string_view host) {
  return host.rfind("127.", 0) == 0 || host.rfind("localhost", 0) == 0 || host.rfind("[::1]", 0) == 0;
}
}  // namespace

std::string public_url(std::string_view base_url, const net::HttpRequest& req, bool websocket) {
  std::string base(base_url);
  if (base.empty()) {
    std::string host(req.header("X-Forwarded-Host"));
    if (host.empty()) host = std::string(req.header("Host"));
    std::string proto(req.header("X-Forwarded-Proto"));
    if (proto.empty()) proto = loopback_host(host) ? "http" : "https";
    base = proto + "://" + host;
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (websocket) base = net::websocket_url(std::move(base));
  return base + req.target;
}

bool twilio_request_authentic(const twilio::AccountSettings& account, std::string_view base_url,
                              const net::HttpRequest& req, bool websocket) {
  if (!account.checks_signatures()) return true;
  const auto signature = req.header("X-Twilio-Signature");
  const auto url = public_url(base_url, req, websocket);
  bool ok = false;
  if (!signature.empty()) {
    const auto ct = req.header("Content-Type");
    if (ct.find("application/json") != std::string_view::npos) {
      ok = twilio::validate_signature_json(account.auth_token, url, req.body, signature);
    } else {
      twilio::FormParams params;
      if (!websocket && req.method == "POST") params = net::parse_form(req.body);
      ok = twilio::validate_signature(account.auth_token, url, params, signature);
      // WebSocket upgrades: Twilio's docs are unclear whether it signs wss:// or https://.
      if (!ok && websocket) ok = twilio::validate_signature(account.auth_token, public_url(base_url, req, false), {}, signature);
    }
  }
  if (!ok)
    spdlog::warn("twilio signature {} method={} url={} remote={}: refused with 403 (check TWILIO_AUTH_TOKEN and that "
                 "WEBHOOK_BASE_URL is the public URL Twilio calls)",
                 signature.empty() ? "missing" : "mismatch", req.method, url, req.remote);
  return ok;
}

void add_metrics_route(net::Router& router, const metrics::Registry& metrics, std::string token, bool open) {
  const metrics::Registry* m = &metrics;
  router.add("GET", "/metrics", [m, token, open](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
    if (!token.empty()) {
      const auto auth = req.header("Authorization");
      constexpr std::string_view kBearer = "Bearer ";
      const bool ok = auth.size() > kBearer.size() && auth.substr(0, kBearer.size()) == kBearer &&
                      constant_time_equal(auth.substr(kBearer.size()), token);
      if (!ok) co_return net::HttpResponse::error(401, "GET /metrics needs Authorization: Bearer <the --metrics-token>");
    } else if (!open) {
      co_return net::HttpResponse::error(
          401, "GET /metrics is closed because API keys protect this server: set --metrics-token (METRICS_TOKEN) and "
               "scrape with Authorization: Bearer <token>, or serve it privately with --metrics-listen 127.0.0.1:9464");
    }
    co_return net::HttpResponse::text(200, m->exposition(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

net::HttpResponse overloaded_response(const net::LoadMonitor& load, std::string_view what, std::string_view why) {
  auto r = net::HttpResponse::error(503, std::string(what) + ": " + std::string(why) + "; retry after " +
                                             std::to_string(load.retry_after_s()) + " s");
  r.headers.emplace_back("Retry-After", std::to_string(load.retry_after_s()));
  return r;
}

namespace {
json::object load_json(const net::LoadMonitor& load) {
  json::object o;
  o["overloaded"] = load.overloaded();
  o["event_loop_lag_ms"] = std::chrono::duration<double, std::milli>(load.lag()).count();
  o["event_loop_lag_max_ms"] = std::chrono::duration<double, std::milli>(load.max_lag()).count();
  o["shed_lag_ms"] = load.settings().shed_lag.count();
  json::object shed;
  for (std::size_t i = 0; i < net::kShedKindNames.size(); ++i)
    shed[net::kShedKindNames[i]] = load.shed(static_cast<net::ShedKind>(i));
  o["shed"] = std::move(shed);
  return o;
}
}  // namespace

void add_core_routes(net::Router& router, const RouteContext& ctx) {
  router.add("GET", "/health", [ctx](const net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
    json::object o;
    o["status"] = "healthy";
    o["timestamp"] = iso8601_now();
    o["active_calls"] = ctx.registry.size();
    o["uptime_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
    o["tts_engine"] = ctx.tts_engine;
    o["stt_engine"] = ctx.stt_engine;
    o["version"] = vox::version();
    if (ctx.provider_status) {
      json::object providers;
      for (const auto& [name, state] : ctx.provider_status()) {
        providers[name] = state;
        if (state != "ok" && state != "checking") o["status"] = "degraded";
      }
      o["providers"] = providers;
    }
    if (ctx.load) {
      o["load"] = load_json(*ctx.load);
      if (ctx.load->overloaded()) o["status"] = "overloaded";
    }
    co_return net::HttpResponse::json(200, vox::json_text(o));
  });

  // Probes for load balancers and orchestrators: alive while the process serves requests;
  // ready while it should get new calls.
  router.add("GET", "/health/live", [](const net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::json(200, R"({"status":"alive"})");
  });
  router.add("GET", "/health/ready", [ctx](const net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
    const std::string why = ctx.not_ready ? ctx.not_ready() : std::string();
    json::object o;
    o["status"] = why.empty() ? "ready" : "not_ready";
    if (!why.empty()) o["detail"] = why;
    o["active_calls"] = ctx.registry.size();
    co_return net::HttpResponse::json(why.empty() ? 200 : 503, vox::json_text(o));
  });

  if (ctx.metrics && ctx.api.metrics_listen.empty())
    add_metrics_route(router, *ctx.metrics, ctx.api.metrics_token, !ctx.protected_api);

  // Twilio's voice webhooks answer TwiML that connects the call to our media stream:
  // /twilio-voice for inbound calls (the number's "a call comes in" URL) and
  // /api/v1/elevenlabs-twilio/webhook for calls we place. Status callbacks go elsewhere.
  auto voice = [ctx](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
    if (!twilio_request_authentic(ctx.twilio, ctx.api.base_url, req, false))
      co_return net::HttpResponse::error(403, "Invalid or missing X-Twilio-Signature");
    const auto form = net::parse_form(req.body);
    const auto call_sid = net::form_value(form, "CallSid");
    if (call_sid.empty()) {
      spdlog::warn("voice webhook without CallSid path={} remote={}", req.path, req.remote);
      co_return net::HttpResponse::error(400, "Missing CallSid: this endpoint expects Twilio's form-encoded voice webhook");
    }
    // Refused before any work: Twilio treats the 503 as a failed webhook and requests the
    // number's fallback URL (another instance, a voicemail, a "call back later").
    if (ctx.draining && ctx.draining()) {
      spdlog::warn("call refused call_sid={}: this instance is draining (503, Twilio uses the fallback URL)", call_sid);
      auto r = net::HttpResponse::error(503, "call refused: this instance is draining before it stops");
      r.headers.emplace_back("Retry-After", "1");
      co_return r;
    }
    const bool full = ctx.registry.at_limit();
    if (ctx.load && !ctx.load->admit(net::ShedKind::webhook, full)) {
      spdlog::warn("call refused call_sid={}: {} (503, Twilio uses the fallback URL)", call_sid,
                   full ? "the call limit (--max-calls) is reached" : "the server is overloaded");
      co_return overloaded_response(*ctx.load, "call refused");
    }
    twilio::StreamTwiml stream;
    stream.url = twilio::media_stream_url(ctx.api.base_url, req.header("Host"), req.header("X-Forwarded-Proto"));
    // Stream lifecycle events come back to us (logged), at the public URL of this server.
    const auto here = public_url(ctx.api.base_url, req, false);
    stream.status_callback = here.substr(0, here.size() - req.target.size()) + "/api/v1/twilio/stream-status";
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
    for (const char* key : {"agent", "voice", "greeting", "language", "tenant", "agent_id"}) {
      const auto v = net::form_value(query, key);
      if (!v.empty()) stream.parameters.emplace_back(key, std::string(v));
    }
    spdlog::info("{} call call_sid={} from={} to={} stream_url={}",
                 req.path == "/twilio-voice" ? "incoming" : "outbound", call_sid, net::form_value(form, "From"),
                 net::form_value(form, "To"), stream.url);
    co_return net::HttpResponse::text(200, twilio::connect_stream(stream), "text/xml");
  };
  router.add("POST", "/twilio-voice", voice);
  router.add("POST", "/api/v1/elevenlabs-twilio/webhook", voice);

  // Call status callbacks (queued, initiated, ringing, in-progress, completed, busy,
  // failed, no-answer, canceled): recorded and logged, never TwiML.
  router.add("POST", "/api/v1/twilio/call-status", [ctx](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
    if (!twilio_request_authentic(ctx.twilio, ctx.api.base_url, req, false))
      co_return net::HttpResponse::error(403, "Invalid or missing X-Twilio-Signature");
    const auto form = net::parse_form(req.body);
    const auto call_sid = net::form_value(form, "CallSid");
    const auto status = net::form_value(form, "CallStatus");
    if (call_sid.empty() || status.empty())
      co_return net::HttpResponse::error(400, "Missing CallSid or CallStatus: this endpoint expects Twilio's status callback");
    if (ctx.call_events) ctx.call_events(std::string(call_sid), std::string(status), std::string(net::form_value(form, "CallDuration")));
    spdlog::info("call status call_sid={} status={} duration_s={} sequence={}", call_sid, status,
                 net::form_value(form, "CallDuration"), net::form_value(form, "SequenceNumber"));
    co_return net::HttpResponse::text(200, "", "text/plain");
  });
  // The <Stream statusCallback> (stream-started, stream-stopped, stream-error).
  router.add("POST", "/api/v1/twilio/stream-status", [ctx](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
    if (!twilio_request_authentic(ctx.twilio, ctx.api.base_url, req, false))
      co_return net::HttpResponse::error(403, "Invalid or missing X-Twilio-Signature");
    const auto form = net::parse_form(req.body);
    spdlog::info("stream status call_sid={} stream_sid={} event={} error=\"{}\"", net::form_value(form, "CallSid"),
                 net::form_value(form, "StreamSid"), net::form_value(form, "StreamEvent"),
                 net::form_value(form, "StreamError"));
    co_return net::HttpResponse::text(200, "", "text/plain");
  });
}

}  // namespace vox::api
