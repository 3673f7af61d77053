// The control API's routes that create calls: placing one through Twilio, and
// registering one the customer's own webhook received.
#include <spdlog/spdlog.h>

#include "api/control_common.hpp"
#include "cluster/forward.hpp"
#include "api/routes.hpp"
#include "core/provider_error.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/twiml.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

void add_call_routes(net::Router& router, const ControlServices& svc) {
  const std::string base(kBase);

  // Places a call through Twilio; its webhook and status callbacks come back here.
  router.add("POST", base + "/calls", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    if (auto refused = refuse_when_overloaded(svc, true, "call not placed")) co_return std::move(*refused);
    const CreateCallRequest body = parse_create_call(req.body);
    if (!twilio::is_call_endpoint(body.to_number))
      throw ApiError(400, "Invalid to_number '" + body.to_number + "': use E.164, e.g. +14155550123");
    const std::string from = body.from_number.empty() ? svc.default_caller_id : body.from_number;
    if (from.empty()) throw ApiError(400, "Field 'from_number' is required (or set TWILIO_PHONE_NUMBER)");
    if (!twilio::is_e164(from) && from.rfind("client:", 0) != 0)
      throw ApiError(400, "Invalid from_number '" + from + "': use E.164, e.g. +14155550123");
    if (!svc.twilio) throw ApiError(503, "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN");
    std::string note;
    const std::string voice = co_await require_voice(svc, body.voice_id, &note);
    speech::VoiceSettings settings;
    if (body.voice_settings) settings = body.voice_settings->apply(settings);
    const std::string here = base_of(svc.settings, req);
    twilio::CreateCall create;
    create.to = body.to_number;
    create.from = from;
    if (!body.webhook_url.empty()) {
      create.url = body.webhook_url;
    } else {
      // Our own webhook; the owner and agent ride along (signed by Twilio) in case the
      // stream starts before this handler has registered the call.
      create.url = here + "/api/v1/elevenlabs-twilio/webhook?tenant=" + twilio::form_encode(who.tenant);
      if (!body.agent_id.empty()) create.url += "&agent_id=" + twilio::form_encode(body.agent_id);
      if (!voice.empty()) create.url += "&voice=" + twilio::form_encode(voice);
    }
    create.status_callback = here + "/api/v1/twilio/call-status";
    create.status_callback_events = {"initiated", "ringing", "answered", "completed"};
    // The company's call limit (cluster-wide) holds a placeholder until Twilio names the call.
    const std::string placeholder = "placing:" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                                    ":" + std::to_string(reinterpret_cast<std::uintptr_t>(&req));
    const PlacingSlot slot = co_await admit_company_call(svc, who, placeholder);
    twilio::Call placed;
    std::optional<ApiError> failed;
    try {
      placed = co_await svc.twilio->create_call(create);
    } catch (const ProviderError& e) {
      if (e.kind == ProviderError::Kind::kInvalid) {
        // Twilio's own words about the request (a bad number, say) help the client fix it.
        std::string detail = "Twilio refused the call: " + std::string(e.what());
        if (e.numeric_code()) detail += " (code " + e.code + ")";
        failed = ApiError(400, detail);
      } else {
        spdlog::warn("control API: placing a call failed at Twilio: {}", e.what());
        failed = ApiError(502, e.kind == ProviderError::Kind::kTransport ? "Could not reach Twilio; try again shortly"
                                                                        : "Twilio could not place the call; try again shortly");
      }
    } catch (const std::exception& e) {
      spdlog::warn("control API: placing a call failed: {}", e.what());
      failed = ApiError(502, "Could not reach Twilio; try again shortly");
    }
    if (failed) {
      if (svc.forwarder) svc.forwarder->cluster().release("calls", who.tenant, placeholder);
      throw *failed;
    }
    call::CallRecord rec;
    rec.call_sid = placed.sid;
    if (svc.forwarder && svc.max_calls_per_company > 0) {
      const std::chrono::milliseconds hold = kCallHold;
      try {
        const std::string kind = "calls";  // (named: no prvalue strings into coroutine calls)
        co_await svc.forwarder->cluster().rename(kind, who.tenant, placeholder, placed.sid, hold);
      } catch (const std::exception& e) {
        spdlog::warn("control API: the call limit keeps a placeholder for {} ({})", placed.sid, e.what());
      }
    }
    rec.tenant = who.tenant;
    rec.agent_id = body.agent_id;
    rec.voice_id = voice;
    rec.voice_settings = settings;
    rec.direction = "outbound-api";
    rec.status = "initiated";
    rec.from = from;
    rec.to = body.to_number;
    rec.created_at = iso8601_now();
    rec.metadata_json = body.metadata_json;
    svc.registry.register_call(rec);
    store_registered(svc, rec);
    spdlog::info("control API placed call call_sid={} tenant={} to={} agent_id={} voice={}", rec.call_sid, rec.tenant,
                 rec.to, rec.agent_id, rec.voice_id);
    json::object out{{"call_sid", rec.call_sid},
                      {"status", "initiated"},
                      {"direction", "outbound-api"},
                      {"to", rec.to},
                      {"from_", from},
                      {"created_at", rec.created_at},
                      {"voice_id", rec.voice_id.empty() ? svc.default_voice_id : rec.voice_id},
                      {"voice_settings", settings_json(settings)}};
    if (!note.empty()) out["note"] = note;
    co_return json_response(200, out);
  }));

  // Registers a call the customer's own webhook received and answers the TwiML that
  // connects it to our media stream.
  router.add("POST", base + "/calls/incoming", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    if (auto refused = refuse_when_overloaded(svc, true, "call not registered")) co_return std::move(*refused);
    const IncomingCallRequest body = parse_incoming_call(req.body, svc.settings.relaxed_call_sids);
    if (!who.open && !body.company_api_key.empty() && svc.tenants.tenant_for(body.company_api_key) != who.tenant)
      throw ApiError(403, "company_api_key does not belong to the company of this API key");
    // A call sid stored once belongs to its company for good (ended, forgotten in memory,
    // or from before a restart).
    co_await svc.store.flush();
    const auto stored = co_await svc.store.call(body.call_sid);
    if (stored) {
      if (!stored->tenant.empty() && stored->tenant != who.tenant)
        throw ApiError(409, "Call " + body.call_sid + " is already registered by another company");
      if (stored->tenant.empty() && !stored->ended_at.empty() && !who.open)
        throw ApiError(409, "Call " + body.call_sid + " has ended");
    }
    std::string note;
    const std::string voice = co_await require_voice(svc, body.voice_id, &note);
    const PlacingSlot slot = co_await admit_company_call(svc, who, body.call_sid);
    call::CallRecord rec;
    rec.call_sid = body.call_sid;
    rec.tenant = who.tenant;
    rec.agent_id = body.agent_id;
    rec.voice_id = voice;
    if (body.voice_settings) rec.voice_settings = body.voice_settings->apply(rec.voice_settings);
    rec.direction = "inbound";
    // Registering a live call again changes its voice and agent, not its state.
    const bool live = svc.registry.find(body.call_sid) != nullptr;
    rec.status = "registered";
    if (live) rec.status = "in-progress";
    rec.from = body.from_number;
    rec.to = body.to_number;
    rec.created_at = iso8601_now();
    switch (svc.registry.register_call(rec)) {
      case call::CallRegistry::Registered::other_tenant:
        throw ApiError(409, "Call " + body.call_sid + " is already registered by another company");
      case call::CallRegistry::Registered::full:
        throw ApiError(429, "Too many registered calls waiting for their media stream; try again shortly");
      default:
        break;
    }
    store_registered(svc, rec);
    twilio::StreamTwiml stream;
    stream.url = twilio::media_stream_url(svc.settings.base_url, req.header("Host"), req.header("X-Forwarded-Proto"));
    stream.status_callback = base_of(svc.settings, req) + "/api/v1/twilio/stream-status";
    if (!rec.from.empty()) stream.parameters.emplace_back("from", rec.from);
    if (!rec.to.empty()) stream.parameters.emplace_back("to", rec.to);
    stream.parameters.emplace_back("direction", "inbound");
    spdlog::info("control API registered call call_sid={} tenant={} agent_id={} voice={}", rec.call_sid, rec.tenant,
                 rec.agent_id, rec.voice_id);
    json::object out{{"call_sid", rec.call_sid},
                     {"twiml", twilio::connect_stream(stream)},
                     {"status", "handled"},
                     {"voice_id", rec.voice_id.empty() ? svc.default_voice_id : rec.voice_id}};
    if (!note.empty()) out["note"] = note;
    co_return json_response(200, out);
  }));
}

}  // namespace vox::api
