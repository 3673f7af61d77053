// The control API's routes that act on a live (or registered) call: speak into it, stop
// it speaking, change its voice, end it, read it; and a file of speech in its voice.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <mutex>

#include "api/control_common.hpp"
#include "api/routes.hpp"
#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "core/metrics.hpp"
#include "cluster/forward.hpp"
#include "twilio/rest_client.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {
// Speaks `text` into a call live here (409 when it has ended meanwhile).
asio::awaitable<void> say_live(std::shared_ptr<call::CallSession> session, std::string sid, std::string text) {
  const auto here = co_await asio::this_coro::executor;
  auto pending = run_on(session, here, [session, text]() mutable {
    if (session->ended()) return false;
    session->say(std::move(text));
    return true;
  });
  const bool spoken = co_await pending->get();
  if (!spoken) throw ApiError(409, "Call " + sid + " has ended");
}
}  // namespace

// The GET /calls/{sid} object (also the WebSocket's get_call_info).
asio::awaitable<json::object> call_info(const ControlServices& svc, std::string sid, Principal who) {
  Found f = co_await find_call(svc, sid, who);
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
  if (voice_id.empty()) voice_id = svc.default_voice_id;  // the voice it speaks with
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
// The whole audio of `req`. A file is asked for in a given voice: audio that a fallback
// engine made (the provider failed) is not returned in its place, but counted and refused.
asio::awaitable<std::vector<std::uint8_t>> synthesize_all(const ControlServices& svc, speech::TtsRequest req) {
  speech::TextToSpeech& tts = svc.tts;
  struct State {
    std::mutex mu;
    std::vector<std::uint8_t> audio;
    std::optional<std::string> error;
    std::optional<std::string> degraded;
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
  cb.on_degraded = [st](const std::string& why) {
    std::lock_guard lock(st->mu);
    st->degraded = why;
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
  if (st->error) {
    spdlog::warn("control API: speech synthesis failed: {}", *st->error);
    throw ApiError(502, "Speech synthesis failed at the speech provider; try again shortly");
  }
  if (st->degraded) {
    if (svc.tts_fallbacks) svc.tts_fallbacks->inc();
    spdlog::warn("control API: synthesize: the speech provider failed and the fallback engine spoke ({}); refused "
                 "with 502 rather than returning audio in another voice", *st->degraded);
    throw ApiError(502, "The speech provider failed while synthesizing this text; no audio in another voice is "
                        "returned instead. Try again shortly");
  }
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

}  // namespace

void add_live_routes(net::Router& router, const ControlServices& svc) {
  const std::string base(kBase);

  router.add("POST", base + "/calls/{call_sid}/synthesize", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    if (auto refused = refuse_when_overloaded(svc, false, "not synthesized")) co_return std::move(*refused);
    const std::string sid(req.param("call_sid"));
    Found f = co_await find_call(svc, sid, who);
    const SynthesizeRequest body = parse_synthesize(req.body, svc.settings.max_text_chars);
    const std::string voice = co_await require_voice(svc, body.voice_id);
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
    tts.voice_id = voice.empty() ? call_voice : voice;
    if (body.voice_settings) settings = body.voice_settings->apply(settings);
    tts.settings = settings;
    const auto ulaw = co_await synthesize_all(svc, std::move(tts));
    auto res = net::HttpResponse::text(200, to_mp3(ulaw), "audio/mpeg");
    res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + sid + ".mp3\"");
    co_return res;
  }));

  router.add("POST", base + "/calls/{call_sid}/stream", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    auto forwarded = co_await forward_to_owner(svc, req);
    if (forwarded) co_return std::move(*forwarded);
    const std::string sid(req.param("call_sid"));
    Found f = co_await find_call(svc, sid, who);
    const auto o = parse_object(req.body);
    std::string text = string_field(o, "text");
    check_text(text, svc.settings.max_text_chars);
    const auto length = utf8_length(text);
    bool queued = false;
    if (f.live) {
      co_await say_live(f.live, sid, text);
    } else if (svc.forwarder && f.stored && f.stored->ended_at.empty() && !f.stored->instance_id.empty()) {
      // Its stream runs on an instance Redis does not name right now (Redis came back and
      // the owner has not registered again yet, or the owner is lost and its calls are
      // about to end): ask again shortly.
      auto r = net::HttpResponse::error(503, "The instance that holds call " + sid +
                                                 " cannot be reached right now; try again shortly");
      r.headers.emplace_back("Retry-After", "1");
      co_return r;
    } else if (svc.forwarder && ((f.record && !twilio::is_terminal_status(f.record->status)) ||
                                 (f.stored && f.stored->ended_at.empty() && !twilio::is_terminal_status(f.stored->status)))) {
      // In a cluster the call's stream may start on any instance: the text waits in Redis,
      // unless the stream has started somewhere since we asked.
      cluster::Cluster::TextQueued q;
      std::string failed;
      try {
        const int max_waiting = 20;  // (named: no literal arguments into coroutine calls)
        q = co_await svc.forwarder->cluster().queue_text(sid, text, max_waiting);
      } catch (const std::exception& e) {
        failed = e.what();
      }
      if (!failed.empty()) {
        spdlog::warn("control API: text for {} not queued: {}", sid, failed);
        throw ApiError(503, "Redis is unreachable, so the text cannot wait for the call's stream; try again shortly");
      }
      using Kind = cluster::Cluster::TextQueued::Kind;
      if (q.kind == Kind::kFull) throw ApiError(429, "20 texts are already waiting for this call's media stream to start");
      if (q.kind == Kind::kHeld && q.owner.kind == cluster::Owner::Kind::kElsewhere && !cluster::was_forwarded(req)) {
        const std::chrono::milliseconds timeout = std::chrono::seconds(10);
        co_return co_await svc.forwarder->send(req, q.owner, timeout);
      }
      if (q.kind == Kind::kHeld) {
        auto session = svc.registry.find(sid);
        if (!session) {
          auto r = net::HttpResponse::error(503, "Call " + sid + " is between instances right now; try again shortly");
          r.headers.emplace_back("Retry-After", "1");
          co_return r;
        }
        co_await say_live(session, sid, text);
      } else {
        queued = true;
      }
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
    auto forwarded = co_await forward_to_owner(svc, req);
    if (forwarded) co_return std::move(*forwarded);
    const std::string sid(req.param("call_sid"));
    Found f = co_await find_call(svc, sid, who);
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
    auto forwarded = co_await forward_to_owner(svc, req);
    if (forwarded) co_return std::move(*forwarded);
    const std::string sid(req.param("call_sid"));
    auto info = co_await call_info(svc, sid, who);
    co_return json_response(200, info);
  }));

  router.add("POST", base + "/calls/{call_sid}/voice", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    auto forwarded = co_await forward_to_owner(svc, req);
    if (forwarded) co_return std::move(*forwarded);
    const std::string sid(req.param("call_sid"));
    Found f = co_await find_call(svc, sid, who);
    SettingsPatch patch;
    if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
      const auto o = parse_object(req.body);
      // The body is the settings object itself; a wrapped {"voice_settings": {...}} is accepted too.
      if (o.contains("voice_settings")) patch = parse_settings(o.at("voice_settings"));
      else patch = parse_settings(json::value(o));
    }
    const std::string asked = query_value(req, "voice_id");
    const std::string voice_id = co_await require_voice(svc, asked);
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
    auto forwarded = co_await forward_to_owner(svc, req);
    if (forwarded) co_return std::move(*forwarded);
    const std::string sid(req.param("call_sid"));
    Found f = co_await find_call(svc, sid, who);
    // A browser call (WB…) has no leg at Twilio to complete.
    if (svc.twilio && (f.live || f.record) && !sid.starts_with("WB")) {
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
}

}  // namespace vox::api
