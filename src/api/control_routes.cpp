#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <mutex>

#include "api/client_socket.hpp"
#include "api/control.hpp"
#include "api/control_codec.hpp"
#include "api/routes.hpp"
#include "api/strand_wait.hpp"
#include "api/web_assets.hpp"
#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"
#include "store/call_store.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/twiml.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

using Handler = std::function<asio::awaitable<net::HttpResponse>(const net::HttpRequest&, const Principal&)>;

Principal authenticate(const Tenants& tenants, const net::HttpRequest& req) {
  if (tenants.open()) return Principal{std::string(Tenants::kLocal), true};
  const auto key = request_key(req);
  if (key.empty()) throw ApiError(401, "Missing API key: send X-API-KEY or Authorization: Bearer");
  auto tenant = tenants.tenant_for(key);
  if (!tenant) throw ApiError(401, "Invalid API key");
  return Principal{std::move(*tenant), false};
}

namespace {

constexpr std::string_view kBase = "/api/v1/elevenlabs-twilio";

net::HttpResponse json_response(int status, const json::value& v) { return net::HttpResponse::json(status, json::serialize(v)); }

// Turns a handler into a route: authenticates, answers ApiError as {"detail"}, and never
// lets an exception escape.
net::HttpHandler route(const ControlServices& svc, Handler h, bool needs_auth = true) {
  return [&svc, h = std::move(h), needs_auth](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    std::optional<net::HttpResponse> failed;
    try {
      Principal who;
      who.tenant = Tenants::kLocal;
      who.open = true;
      if (needs_auth) who = authenticate(svc.tenants, req);
      co_return co_await h(req, who);
    } catch (const ApiError& e) {
      if (e.status == 401) spdlog::warn("control API {} {} refused: {} remote={}", req.method, req.path, e.what(), req.remote);
      failed = net::HttpResponse::error(e.status, e.what());
    } catch (const std::exception& e) {
      spdlog::error("control API {} {} failed: {}", req.method, req.path, e.what());
      failed = net::HttpResponse::error(500, std::string("Internal error: ") + e.what());
    }
    co_return std::move(*failed);
  };
}

// Posts `fn` to the session's strand; await `->get()` on the returned object for its result.
template <typename F>
auto run_on(const std::shared_ptr<call::CallSession>& session, asio::any_io_executor here, F fn) {
  return api::run_on(session->executor(), std::move(here), std::move(fn));
}

std::string base_of(const Config& config, const net::HttpRequest& req) {
  const auto url = public_url(config, req, false);
  return url.substr(0, url.size() - req.target.size());
}

std::string query_value(const net::HttpRequest& req, std::string_view key) {
  return std::string(net::form_value(net::parse_form(req.query), key));
}

// Everything known about a call, from the live session, the registry and the store.
struct Found {
  std::shared_ptr<call::CallSession> live;
  std::optional<call::CallRecord> record;
  std::optional<store::StoredCall> stored;
  std::string tenant;
};

// Returns the call if the principal may see it; throws 404 "Call not found" otherwise.
// The stored owner decides: ownership, once stored, never changes, whatever a live
// session or an in-memory record says.
Found find_call(const ControlServices& svc, const std::string& sid, const Principal& who, bool with_store) {
  Found f;
  if (sid.empty() || sid.size() > 64) throw ApiError(404, "Call not found");
  f.live = svc.registry.find(sid);
  f.record = svc.registry.record(sid);
  if (f.live) f.tenant = f.live->context().tenant;
  else if (f.record) f.tenant = f.record->tenant;
  if (with_store) {
    svc.store.flush();
    f.stored = svc.store.call(sid);
    if (f.stored && (!f.stored->tenant.empty() || (!f.live && !f.record))) f.tenant = f.stored->tenant;
  }
  if ((!f.live && !f.record && !f.stored) || !who.may_access(f.tenant)) throw ApiError(404, "Call not found");
  return f;
}

}  // namespace

void record_voice_change(const ControlServices& svc, const std::string& call_sid, const std::string& voice_id,
                         const speech::VoiceSettings& settings) {
  svc.registry.update_record(call_sid, [&](call::CallRecord& r) {
    r.voice_id = voice_id;
    r.voice_settings = settings;
  });
  svc.store.set_voice(call_sid, voice_id, settings_text(settings));
  svc.store.add_event(call_sid, "voice_updated", voice_id);
}

namespace {

// Writes a call the control API just placed or registered into the store, with its status event.
void store_registered(const ControlServices& svc, const call::CallRecord& rec) {
  store::StoredCall sc;
  sc.call_sid = rec.call_sid;
  sc.tenant = rec.tenant;
  sc.agent_id = rec.agent_id;
  sc.voice_id = rec.voice_id;
  sc.voice_settings_json = settings_text(rec.voice_settings);
  sc.from = rec.from;
  sc.to = rec.to;
  sc.direction = rec.direction;
  sc.status = rec.status;
  sc.created_at = rec.created_at;
  sc.metadata_json = rec.metadata_json;
  svc.store.upsert_call(sc);
  svc.store.add_event(rec.call_sid, "status", rec.status);
}

// Returns whether the voice exists; 502 when the provider cannot be asked.
asio::awaitable<bool> voice_known(const ControlServices& svc, const std::string& voice_id) {
  bool ok = false;
  std::optional<std::string> failed;
  try {
    ok = co_await svc.voices.exists(voice_id);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (failed) throw ApiError(502, "Could not check the voice with the speech provider: " + *failed);
  co_return ok;
}

asio::awaitable<void> require_voice(const ControlServices& svc, const std::string& voice_id) {
  if (voice_id.empty()) co_return;
  const bool known = co_await voice_known(svc, voice_id);
  if (!known) throw ApiError(404, "Invalid voice ID: " + voice_id);
}

json::value null_or(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }
json::value null_or_value(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

json::value metadata_value(const std::string& text) {
  if (text.empty()) return json::object{};
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  return ec ? json::value(json::object{}) : v;
}

}  // namespace

// The GET /calls/{sid} object (also the WebSocket's get_call_info).
asio::awaitable<json::object> call_info(const ControlServices& svc, std::string sid, Principal who) {
  Found f = find_call(svc, sid, who, true);
  // Not an aggregate: it travels through a coroutine's return (see net::TlsOptions).
  struct LiveView {
    LiveView() = default;
    LiveView(std::string v, speech::VoiceSettings s, std::size_t q, bool g)
        : voice_id(std::move(v)), settings(s), queue(q), greeted(g) {}
    std::string voice_id;
    speech::VoiceSettings settings;
    std::size_t queue = 0;
    bool greeted = false;
  };
  std::optional<LiveView> live;
  if (f.live) {
    auto session = f.live;
    const auto here = co_await asio::this_coro::executor;
    auto pending = run_on(session, here, [session] {
      return LiveView{session->voice_id(), session->voice_settings(), session->audio_queue_size(), session->greeted()};
    });
    live = co_await pending->get();
  }
  std::string voice_id, status, created_at, direction, to, from, agent_id, ended_at, metadata;
  speech::VoiceSettings settings;
  std::size_t pending = 0;
  if (f.stored) {
    voice_id = f.stored->voice_id;
    settings = settings_from_text(f.stored->voice_settings_json);
    status = f.stored->status;
    created_at = f.stored->created_at;
    direction = f.stored->direction;
    to = f.stored->to;
    from = f.stored->from;
    agent_id = f.stored->agent_id;
    ended_at = f.stored->ended_at;
    metadata = f.stored->metadata_json;
  }
  if (f.record) {
    voice_id = f.record->voice_id;
    settings = f.record->voice_settings;
    status = f.record->status;
    if (!f.record->created_at.empty()) created_at = f.record->created_at;
    direction = f.record->direction;
    to = f.record->to;
    from = f.record->from;
    agent_id = f.record->agent_id;
    if (!f.record->metadata_json.empty()) metadata = f.record->metadata_json;
    pending = f.record->pending_texts.size();
  }
  if (live) {
    voice_id = live->voice_id;
    settings = live->settings;
    status = "in-progress";
    ended_at.clear();
    if (agent_id.empty()) agent_id = f.live->context().agent_id;
  }
  json::object o;
  o["call_sid"] = sid;
  o["voice_id"] = voice_id;
  o["voice_settings"] = settings_json(settings);
  o["status"] = status;
  o["created_at"] = created_at;
  o["audio_queue_size"] = live ? live->queue : pending;
  o["elevenlabs_voice_info"] = json::object{{"voice_id", voice_id},
                                            {"voice_settings", settings_json(settings)},
                                            {"is_connected", live.has_value()},
                                            {"has_initial_message", live ? live->greeted : false}};
  o["direction"] = direction;
  o["to"] = to;
  o["from_"] = from;
  o["agent_id"] = agent_id;
  o["ended_at"] = null_or(ended_at);
  o["metadata"] = metadata_value(metadata);
  co_return o;
}

namespace {

// Synthesizes `req` completely (8 kHz μ-law); throws ApiError 502 on engine failure.
asio::awaitable<std::vector<std::uint8_t>> synthesize_all(speech::TextToSpeech& tts, speech::TtsRequest req) {
  struct State {
    std::mutex mu;
    std::vector<std::uint8_t> audio;
    std::optional<std::string> error;
    bool done = false;
    std::unique_ptr<asio::steady_timer> wake;
  };
  auto st = std::make_shared<State>();
  st->wake = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
  st->wake->expires_after(std::chrono::seconds(60));
  speech::TtsCallbacks cb;
  cb.on_audio = [st](std::span<const std::uint8_t> a) {
    std::lock_guard lock(st->mu);
    st->audio.insert(st->audio.end(), a.begin(), a.end());
  };
  cb.on_done = [st](std::optional<std::string> error) {
    {
      std::lock_guard lock(st->mu);
      st->error = std::move(error);
      st->done = true;
    }
    asio::post(st->wake->get_executor(), [st] { st->wake->cancel(); });
  };
  auto token = tts.synthesize(std::move(req), std::move(cb));
  co_await st->wake->async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(st->mu);
  if (!st->done) {
    token->cancel();
    throw ApiError(504, "Speech synthesis took longer than 60 s");
  }
  if (st->error) throw ApiError(502, "Speech synthesis failed: " + *st->error);
  co_return std::move(st->audio);
}

std::string to_mp3(const std::vector<std::uint8_t>& ulaw) {
  std::vector<std::int16_t> pcm(ulaw.size());
  for (std::size_t i = 0; i < ulaw.size(); ++i) pcm[i] = audio::ulaw_decode(ulaw[i]);
  audio::Mp3Encoder enc(8000, 32);
  auto out = enc.encode(pcm);
  auto tail = enc.flush();
  out.insert(out.end(), tail.begin(), tail.end());
  return std::string(out.begin(), out.end());
}

int int_query(const net::HttpRequest& req, std::string_view key, int fallback, int lo, int hi) {
  const auto v = query_value(req, key);
  if (v.empty()) return fallback;
  int n = 0;
  const auto* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, n);
  if (ec != std::errc() || p != end || n < lo || n > hi)
    throw ApiError(400, "Query parameter '" + std::string(key) + "' must be an integer from " + std::to_string(lo) +
                            " to " + std::to_string(hi));
  return n;
}

json::object summary_json(const store::StoredCall& c) {
  return json::object{{"call_sid", c.call_sid},   {"status", c.status},       {"direction", c.direction},
                      {"to", c.to},               {"from_", c.from},          {"agent_id", c.agent_id},
                      {"voice_id", c.voice_id},   {"created_at", c.created_at}, {"ended_at", null_or(c.ended_at)}};
}

}  // namespace

void add_control_routes(net::Router& router, const ControlServices& svc) {
  const std::string base(kBase);

  router.add("GET", "/openapi.json", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(200, std::string(openapi_json()), "application/json");
  });
  router.add("GET", "/docs", [](const net::HttpRequest&) -> asio::awaitable<net::HttpResponse> {
    co_return net::HttpResponse::text(200, std::string(docs_html()), "text/html; charset=utf-8");
  });

  router.add("GET", base + "/health", route(svc, [&svc](const net::HttpRequest&, const Principal&) -> asio::awaitable<net::HttpResponse> {
    json::object o;
    o["status"] = "healthy";
    o["timestamp"] = iso8601_now();
    o["active_integrations"] = svc.registry.size();
    o["elevenlabs_configured"] = svc.elevenlabs_configured;
    o["twilio_configured"] = svc.twilio != nullptr;
    const auto write_errors = svc.store.write_errors();
    std::string store_state = "ok";
    if (write_errors > 0) store_state = "write errors: " + std::to_string(write_errors);
    o["store"] = store_state;
    if (svc.provider_status)
      for (const auto& [name, state] : svc.provider_status())
        if (state != "ok" && state != "checking") o["status"] = "degraded";
    co_return json_response(200, o);
  }, false));

  router.add("GET", base + "/voices", route(svc, [&svc](const net::HttpRequest&, const Principal&) -> asio::awaitable<net::HttpResponse> {
    std::vector<VoiceCatalog::Voice> voices;
    std::optional<std::string> failed;
    try {
      voices = co_await svc.voices.list();
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (failed) throw ApiError(502, "Could not list voices from the speech provider: " + *failed);
    json::array arr;
    for (const auto& v : voices) {
      json::object labels;
      for (const auto& [k, val] : v.labels) labels[k] = val;
      arr.push_back(json::object{{"voice_id", v.voice_id}, {"name", v.name}, {"category", v.category},
                                 {"description", v.description}, {"labels", labels}});
    }
    co_return json_response(200, arr);
  }));

  router.add("GET", base + "/voices/{voice_id}/validate", route(svc, [&svc](const net::HttpRequest& req, const Principal&) -> asio::awaitable<net::HttpResponse> {
    const std::string voice_id(req.param("voice_id"));
    const bool ok = co_await voice_known(svc, voice_id);
    co_return json_response(200, json::object{{"voice_id", voice_id}, {"valid", ok}});
  }));

  // Places a call through Twilio; its webhook and status callbacks come back here.
  router.add("POST", base + "/calls", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const CreateCallRequest body = parse_create_call(req.body);
    if (!twilio::is_call_endpoint(body.to_number))
      throw ApiError(400, "Invalid to_number '" + body.to_number + "': use E.164, e.g. +14155550123");
    const std::string from = body.from_number.empty() ? svc.config.twilio.phone_number : body.from_number;
    if (from.empty()) throw ApiError(400, "Field 'from_number' is required (or set TWILIO_PHONE_NUMBER)");
    if (!twilio::is_e164(from) && from.rfind("client:", 0) != 0)
      throw ApiError(400, "Invalid from_number '" + from + "': use E.164, e.g. +14155550123");
    if (!svc.twilio) throw ApiError(503, "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN");
    co_await require_voice(svc, body.voice_id);
    speech::VoiceSettings settings;
    if (body.voice_settings) settings = body.voice_settings->apply(settings);
    const std::string here = base_of(svc.config, req);
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
      if (!body.voice_id.empty()) create.url += "&voice=" + twilio::form_encode(body.voice_id);
    }
    create.status_callback = here + "/api/v1/twilio/call-status";
    create.status_callback_events = {"initiated", "ringing", "answered", "completed"};
    twilio::Call placed;
    std::optional<ApiError> failed;
    try {
      placed = co_await svc.twilio->create_call(create);
    } catch (const twilio::TwilioError& e) {
      std::string detail = "Twilio refused the call: " + std::string(e.what());
      if (e.code) detail += " (code " + std::to_string(e.code) + ")";
      int status = 502;
      if (e.status == 400 || e.status == 0) status = 400;
      failed = ApiError(status, detail);
    } catch (const std::exception& e) {
      failed = ApiError(502, "Could not reach Twilio: " + std::string(e.what()));
    }
    if (failed) throw *failed;
    call::CallRecord rec;
    rec.call_sid = placed.sid;
    rec.tenant = who.tenant;
    rec.agent_id = body.agent_id;
    rec.voice_id = body.voice_id;
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
    co_return json_response(200, json::object{{"call_sid", rec.call_sid},     {"status", "initiated"},
                                              {"direction", "outbound-api"},  {"to", rec.to},
                                              {"from_", from},                {"created_at", rec.created_at},
                                              {"voice_id", rec.voice_id},     {"voice_settings", settings_json(settings)}});
  }));

  // Registers a call the customer's own webhook received and answers the TwiML that
  // connects it to our media stream.
  router.add("POST", base + "/calls/incoming", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const IncomingCallRequest body = parse_incoming_call(req.body, svc.config.relaxed_call_sids);
    if (!who.open && !body.company_api_key.empty() && svc.tenants.tenant_for(body.company_api_key) != who.tenant)
      throw ApiError(403, "company_api_key does not belong to the company of this API key");
    // A call sid stored once belongs to its company for good (ended, forgotten in memory,
    // or from before a restart).
    svc.store.flush();
    if (const auto stored = svc.store.call(body.call_sid)) {
      if (!stored->tenant.empty() && stored->tenant != who.tenant)
        throw ApiError(409, "Call " + body.call_sid + " is already registered by another company");
      if (stored->tenant.empty() && !stored->ended_at.empty() && !who.open)
        throw ApiError(409, "Call " + body.call_sid + " has ended");
    }
    co_await require_voice(svc, body.voice_id);
    call::CallRecord rec;
    rec.call_sid = body.call_sid;
    rec.tenant = who.tenant;
    rec.agent_id = body.agent_id;
    rec.voice_id = body.voice_id;
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
    stream.url = twilio::media_stream_url(svc.config.base_url, req.header("Host"), req.header("X-Forwarded-Proto"));
    stream.status_callback = base_of(svc.config, req) + "/api/v1/twilio/stream-status";
    if (!rec.from.empty()) stream.parameters.emplace_back("from", rec.from);
    if (!rec.to.empty()) stream.parameters.emplace_back("to", rec.to);
    stream.parameters.emplace_back("direction", "inbound");
    spdlog::info("control API registered call call_sid={} tenant={} agent_id={} voice={}", rec.call_sid, rec.tenant,
                 rec.agent_id, rec.voice_id);
    co_return json_response(200, json::object{{"call_sid", rec.call_sid}, {"twiml", twilio::connect_stream(stream)},
                                              {"status", "handled"}});
  }));

  router.add("POST", base + "/calls/{call_sid}/synthesize", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    Found f = find_call(svc, sid, who, true);
    const SynthesizeRequest body = parse_synthesize(req.body, svc.config.max_text_chars);
    co_await require_voice(svc, body.voice_id);
    speech::TtsRequest tts;
    tts.text = body.text;
    std::string call_voice;
    speech::VoiceSettings settings;
    if (f.record) {
      call_voice = f.record->voice_id;
      settings = f.record->voice_settings;
    } else if (f.stored) {
      call_voice = f.stored->voice_id;
      settings = settings_from_text(f.stored->voice_settings_json);
    }
    tts.voice_id = body.voice_id.empty() ? call_voice : body.voice_id;
    if (body.voice_settings) settings = body.voice_settings->apply(settings);
    tts.settings = settings;
    const auto ulaw = co_await synthesize_all(svc.tts, std::move(tts));
    auto res = net::HttpResponse::text(200, to_mp3(ulaw), "audio/mpeg");
    res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + sid + ".mp3\"");
    co_return res;
  }));

  router.add("POST", base + "/calls/{call_sid}/stream", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    Found f = find_call(svc, sid, who, true);
    const auto o = parse_object(req.body);
    std::string text = string_field(o, "text");
    check_text(text, svc.config.max_text_chars);
    const auto length = utf8_length(text);
    bool queued = false;
    if (f.live) {
      auto session = f.live;
      const auto here = co_await asio::this_coro::executor;
      auto pending = run_on(session, here, [session, text]() mutable {
        if (session->ended()) return false;
        session->say(std::move(text));
        return true;
      });
      const bool spoken = co_await pending->get();
      if (!spoken) throw ApiError(409, "Call " + sid + " has ended");
    } else if (f.record && !twilio::is_terminal_status(f.record->status)) {
      bool full = false;
      svc.registry.update_record(sid, [&](call::CallRecord& r) {
        if (r.pending_texts.size() >= 20) full = true;
        else r.pending_texts.push_back(text);
      });
      if (full) throw ApiError(429, "20 texts are already waiting for this call's media stream to start");
      queued = true;
    } else {
      throw ApiError(409, "Call " + sid + " has ended");
    }
    co_return json_response(200, json::object{{"call_sid", sid}, {"status", "streaming"}, {"text_length", length},
                                              {"queued", queued}});
  }));

  router.add("POST", base + "/calls/{call_sid}/stop", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    Found f = find_call(svc, sid, who, true);
    if (f.live) {
      auto session = f.live;
      const auto here = co_await asio::this_coro::executor;
      auto pending = run_on(session, here, [session] { return session->stop_speaking(); });
      co_await pending->get();
    }
    if (f.record) svc.registry.take_pending_texts(sid);
    co_return json_response(200, json::object{{"call_sid", sid}, {"status", "stopped"}});
  }));

  router.add("GET", base + "/calls/{call_sid}", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    auto info = co_await call_info(svc, sid, who);
    co_return json_response(200, info);
  }));

  router.add("POST", base + "/calls/{call_sid}/voice", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    Found f = find_call(svc, sid, who, true);
    SettingsPatch patch;
    if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
      const auto o = parse_object(req.body);
      // The body is the settings object itself; a wrapped {"voice_settings": {...}} is accepted too.
      if (o.contains("voice_settings")) patch = parse_settings(o.at("voice_settings"));
      else patch = parse_settings(json::value(o));
    }
    std::string voice_id = query_value(req, "voice_id");
    co_await require_voice(svc, voice_id);
    speech::VoiceSettings settings;
    std::string current_voice;
    if (f.record) {
      settings = f.record->voice_settings;
      current_voice = f.record->voice_id;
    } else if (f.stored) {
      settings = settings_from_text(f.stored->voice_settings_json);
      current_voice = f.stored->voice_id;
    }
    if (f.live) {
      auto session = f.live;
      const auto here = co_await asio::this_coro::executor;
      auto pending = run_on(session, here, [session, patch, voice_id] {
        std::string v = voice_id.empty() ? session->voice_id() : voice_id;
        const auto s = patch.apply(session->voice_settings());
        session->set_voice(v, s);
        return std::make_pair(v, s);
      });
      auto applied = co_await pending->get();
      current_voice = applied.first;
      settings = applied.second;
    } else {
      settings = patch.apply(settings);
      if (!voice_id.empty()) current_voice = voice_id;
    }
    record_voice_change(svc, sid, current_voice, settings);
    co_return json_response(200, json::object{{"call_sid", sid}, {"status", "updated"}, {"voice_id", current_voice},
                                              {"voice_settings", settings_json(settings)}});
  }));

  router.add("DELETE", base + "/calls/{call_sid}", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    Found f = find_call(svc, sid, who, true);
    if (svc.twilio && (f.live || f.record)) {
      std::optional<std::string> failed;
      try {
        co_await svc.twilio->complete_call(sid);
      } catch (const std::exception& e) {
        failed = e.what();
      }
      if (failed) spdlog::warn("control API: completing call {} at Twilio failed: {} (ending it here anyway)", sid, *failed);
    }
    if (f.live) {
      auto session = f.live;
      const auto here = co_await asio::this_coro::executor;
      auto pending = run_on(session, here, [session] {
        session->hang_up("ended by the control API");
        return true;
      });
      co_await pending->get();
    }
    svc.registry.forget_record(sid);
    svc.store.set_status(sid, "completed", true);
    svc.store.add_event(sid, "status", "ended by the control API");
    spdlog::info("control API ended call call_sid={} tenant={}", sid, who.tenant);
    co_return json_response(200, json::object{{"call_sid", sid}, {"status", "ended"}});
  }));

  router.add("GET", base + "/calls", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    store::CallQuery q;
    if (!who.open) q.tenant = who.tenant;
    q.status = query_value(req, "status");
    q.agent_id = query_value(req, "agent_id");
    q.direction = query_value(req, "direction");
    q.limit = int_query(req, "limit", 50, 1, 500);
    q.offset = int_query(req, "offset", 0, 0, 100000000);
    svc.store.flush();
    bool more = false;
    json::array calls;
    for (const auto& c : svc.store.calls(q, more)) calls.push_back(summary_json(c));
    co_return json_response(200, json::object{{"calls", calls}, {"limit", q.limit}, {"offset", q.offset}, {"has_more", more}});
  }));

  router.add("GET", base + "/calls/{call_sid}/transcript", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    find_call(svc, sid, who, true);
    json::array turns;
    for (const auto& t : svc.store.transcript(sid)) {
      turns.push_back(json::object{{"index", t.index},
                                   {"speaker", t.speaker},
                                   {"text", t.text},
                                   {"start_ms", t.start_ms},
                                   {"end_ms", t.end_ms},
                                   {"heard", null_or_value(t.heard)},
                                   {"interrupted", t.interrupted},
                                   {"at", t.at}});
    }
    co_return json_response(200, json::object{{"call_sid", sid}, {"turns", turns}});
  }));

  router.add("GET", base + "/calls/{call_sid}/latency", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    find_call(svc, sid, who, true);
    json::array turns;
    // Whole milliseconds (null: not reached); the gateway's own share in microseconds.
    auto ms = [](double v) { return v < 0 ? json::value(nullptr) : json::value(static_cast<std::int64_t>(std::llround(v))); };
    auto us = [](double v) { return v < 0 ? json::value(nullptr) : json::value(static_cast<std::int64_t>(std::llround(v * 1000))); };
    for (const auto& l : svc.store.latencies(sid)) {
      turns.push_back(json::object{{"turn", l.turn},
                                   {"endpoint_ms", ms(l.endpoint_ms)},
                                   {"transcript_ms", ms(l.transcript_ms)},
                                   {"agent_ms", ms(l.agent_ms)},
                                   {"tts_first_byte_ms", ms(l.tts_first_byte_ms)},
                                   {"gateway_us", us(l.gateway_ms)},
                                   {"response_ms", ms(l.response_ms)},
                                   {"heard_ms", ms(l.heard_ms)},
                                   {"at", l.at}});
    }
    co_return json_response(200, json::object{{"call_sid", sid}, {"turns", turns}});
  }));

  router.add("GET", base + "/calls/{call_sid}/events", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    find_call(svc, sid, who, true);
    json::array events;
    for (const auto& e : svc.store.events(sid))
      events.push_back(json::object{{"at", e.at}, {"kind", e.kind}, {"detail", e.detail}});
    co_return json_response(200, json::object{{"call_sid", sid}, {"events", events}});
  }));

  if (svc.hub) {
    router.add_ws("/api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}",
                  [&svc](const net::HttpRequest& req, net::HttpResponse& reject) { return svc.hub->open(req, reject); });
  }
}

}  // namespace vox::api
