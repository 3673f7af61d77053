// The ElevenLabs emulator: its shared state, request log, faults, voices and models,
// the admin endpoints, and its routes.
#include "sim/elevenlabs_emulator_impl.hpp"
#include "core/json_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>

#include "core/spawn.hpp"
#include "audio/formats.hpp"
#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "audio/resampler.hpp"
#include "core/base64.hpp"
#include "speech/speech.hpp"
#include "speech/sphinx_stt.hpp"

namespace vox::sim {
using namespace emu;

bool ElevenLabsEmulator::Impl::key_ok(std::string_view key) const {
  for (const auto& k : opt.api_keys)
    if (k == key) return true;
  return false;
}

std::optional<Fault> ElevenLabsEmulator::Impl::take_fault(const std::string& what) {
  std::lock_guard lock(mu);
  // Rules naming "#upgrade" act on WebSocket upgrades only, the others never do.
  const bool upgrade = what.find("#upgrade") != std::string::npos;
  for (auto it = faults.begin(); it != faults.end(); ++it) {
    if (what.find(it->match) == std::string::npos) continue;
    if (upgrade != (it->match.find("#upgrade") != std::string::npos)) continue;
    Fault f = *it;
    if (it->times > 0 && --it->times == 0) faults.erase(it);
    return f;
  }
  return std::nullopt;
}

std::size_t ElevenLabsEmulator::Impl::record(const HttpRequest& req, int status) {
  json::object r;
  r["method"] = req.method;
  r["target"] = req.target;
  r["path"] = req.path;
  r["query"] = req.query;
  json::object h;
  for (const auto& [k, v] : req.headers) {
    std::string lk = k;
    for (auto& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    h[lk] = v;
  }
  r["headers"] = h;
  r["content_type"] = std::string(req.header("content-type"));
  // Bodies are kept for assertions with binary bytes masked (same length, so multipart
  // framing survives) to keep the record valid JSON text.
  std::string body = req.body.size() <= 4 * 1024 * 1024 ? req.body : std::string();
  for (auto& c : body) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || (u < 0x20 && c != '\r' && c != '\n' && c != '\t')) c = '?';
  }
  r["body"] = body;
  r["status"] = status;
  r["time_us"] = now_us();
  r["ws_messages"] = json::array();
  std::lock_guard lock(mu);
  requests.push_back(std::move(r));
  return requests.size() - 1;
}

void ElevenLabsEmulator::Impl::record_ws_message(std::size_t index, std::string_view msg) {
  std::lock_guard lock(mu);
  if (index >= requests.size()) return;
  auto& arr = requests[index].as_object()["ws_messages"].as_array();
  if (arr.size() < 2000) arr.push_back(json::string(msg.size() > 2048 ? msg.substr(0, 2048) : msg));
}

void ElevenLabsEmulator::Impl::record_first_audio(const std::string& id, std::int64_t request_us) {
  std::lock_guard lock(mu);
  first_audio.push_back(json::object{{"id", id}, {"request_us", request_us}, {"first_audio_us", now_us()}});
}

asio::awaitable<Synth> ElevenLabsEmulator::Impl::synth(std::string text) {
  struct State {
    Synth result;
    std::unique_ptr<asio::steady_timer> timer;
  };
  auto exec = co_await asio::this_coro::executor;
  auto st = std::make_shared<State>();
  st->timer = std::make_unique<asio::steady_timer>(exec, std::chrono::steady_clock::time_point::max());
  speech::TtsCallbacks cb;
  cb.on_audio = [st](std::span<const std::uint8_t> a) { st->result.ulaw.insert(st->result.ulaw.end(), a.begin(), a.end()); };
  cb.on_word = [st](const speech::WordTiming& w) { st->result.words.push_back(w); };
  cb.on_done = [st, exec](std::optional<std::string> err) {
    asio::post(exec, [st, err] {
      if (err) st->result.error = *err;
      st->timer->cancel();
    });
  };
  speech::TtsRequest req;
  req.text = std::move(text);
  req.voice_id = opt.espeak_voice;
  tts.synthesize(std::move(req), std::move(cb));
  boost::system::error_code ec;
  co_await st->timer->async_wait(asio::redirect_error(kAwait, ec));
  co_return std::move(st->result);
}

asio::awaitable<speech::SttResult> ElevenLabsEmulator::Impl::recognize(std::vector<std::uint8_t> ulaw) {
  trim_silence(ulaw);
  struct State {
    speech::SttResult result;
    std::unique_ptr<asio::steady_timer> timer;
  };
  auto exec = co_await asio::this_coro::executor;
  auto st = std::make_shared<State>();
  st->timer = std::make_unique<asio::steady_timer>(exec, std::chrono::steady_clock::time_point::max());
  stt.transcribe(speech::SttRequest{std::move(ulaw), {}}, [st, exec](speech::SttResult r) {
    asio::post(exec, [st, r = std::move(r)]() mutable {
      st->result = std::move(r);
      st->timer->cancel();
    });
  });
  boost::system::error_code ec;
  co_await st->timer->async_wait(asio::redirect_error(kAwait, ec));
  if (stt_delay_ms.load() > 0) {
    asio::steady_timer t(exec, std::chrono::milliseconds(stt_delay_ms.load()));
    co_await t.async_wait(asio::redirect_error(kAwait, ec));
  }
  co_return std::move(st->result);
}

asio::awaitable<void> ElevenLabsEmulator::Impl::sleep_ms(int ms) {
  if (ms <= 0) co_return;
  auto exec = co_await asio::this_coro::executor;
  asio::steady_timer t(exec, std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(kAwait, ec));
}

json::object ElevenLabsEmulator::Impl::voice_json(std::string_view id, std::string_view name, std::string_view accent) const {
  return json::object{
      {"voice_id", id},
      {"name", name},
      {"category", "premade"},
      {"description", "An emulated voice (espeak-ng)."},
      {"labels", json::object{{"accent", accent}, {"gender", "neutral"}, {"use_case", "conversational"}}},
      {"available_for_tiers", json::array{}},
      {"high_quality_base_model_ids", json::array{"eleven_flash_v2_5", "eleven_multilingual_v2"}},
      {"preview_url", nullptr},
      {"settings", json::object{{"stability", 0.5}, {"similarity_boost", 0.75}, {"style", 0.0},
                                {"use_speaker_boost", true}, {"speed", 1.0}}},
      {"is_owner", false},
      {"is_legacy", false}};
}

json::array ElevenLabsEmulator::Impl::all_voices() const {
  return json::array{voice_json("21m00Tcm4TlvDq8ikWAM", "Rachel", "american"),
                     voice_json("EXAVITQu4vr4xnSDxMaL", "Sarah", "american"),
                     voice_json("JBFqnCBsd6RMkjVDRZzb", "George", "british"),
                     // The default voice in the documentation of the service voxbridge replaces.
                     voice_json("IKne3meq5aSn9XLyUdCD", "Charlie", "australian")};
}

bool ElevenLabsEmulator::Impl::voice_exists(std::string_view id) const {
  for (const auto& v : all_voices())
    if (v.as_object().at("voice_id").as_string() == id) return true;
  return false;
}

json::object ElevenLabsEmulator::Impl::model_json(std::string_view id, std::string_view name, bool tts_model) const {
  return json::object{{"model_id", id},
                      {"name", name},
                      {"can_be_finetuned", false},
                      {"can_do_text_to_speech", tts_model},
                      {"can_do_voice_conversion", false},
                      {"can_use_style", tts_model},
                      {"can_use_speaker_boost", tts_model},
                      {"serves_pro_voices", false},
                      {"token_cost_factor", 0.5},
                      {"description", "Emulated model."},
                      {"requires_alpha_access", false},
                      {"max_characters_request_free_user", 10000},
                      {"max_characters_request_subscribed_user", 40000},
                      {"maximum_text_length_per_request", 40000},
                      {"languages", json::array{json::object{{"language_id", "en"}, {"name", "English"}},
                                                json::object{{"language_id", "es"}, {"name", "Spanish"}}}},
                      {"model_rates", json::object{{"character_cost_multiplier", 0.5}}},
                      {"concurrency_group", "standard"}};
}

asio::awaitable<HttpResponse> ElevenLabsEmulator::Impl::handle(const HttpRequest& req) {
  const std::string what = req.method + " " + req.path;
  // Admin endpoints.
  if (req.path.rfind("/emulator/", 0) == 0) co_return admin(req);
  if (!key_ok(req.header("xi-api-key"))) {
    record(req, 401);
    co_return el_error(401, "invalid_api_key", "Invalid API key");
  }
  if (auto f = take_fault(what)) {
    if (f->kind == "delay") {
      co_await sleep_ms(f->delay_ms);
    } else if (f->kind == "status") {
      record(req, f->status);
      auto r = el_error(f->status, f->code, "Injected fault: " + f->code);
      if (f->status == 429) r.headers.emplace_back("retry-after", "0");
      co_return r;
    } else {
      record(req, 200);
      co_return faulty_stream(*f);
    }
  }
  const auto form = net::parse_form(req.query);
  if (req.method == "GET" && req.path == "/v1/voices") {
    record(req, 200);
    co_return HttpResponse::json(200, vox::json_text(json::object{{"voices", all_voices()}}));
  }
  if (req.method == "GET" && req.path == "/v2/voices") {
    int page_size = 10;
    const auto ps = net::form_value(form, "page_size");
    if (!ps.empty()) page_size = std::atoi(std::string(ps).c_str());
    if (page_size < 1 || page_size > 100) {
      record(req, 422);
      co_return validation_error({{{"query", "page_size"}, "ensure this value is between 1 and 100"}});
    }
    const auto token = net::form_value(form, "next_page_token");
    std::size_t start = token.empty() ? 0 : static_cast<std::size_t>(std::atoi(std::string(token).c_str()));
    auto voices = all_voices();
    json::array page;
    for (std::size_t i = start; i < voices.size() && page.size() < static_cast<std::size_t>(page_size); ++i)
      page.push_back(voices[i]);
    const std::size_t next = start + page.size();
    json::object o{{"voices", page}, {"has_more", next < voices.size()}, {"total_count", voices.size()}};
    o["next_page_token"] = next < voices.size() ? json::value(std::to_string(next)) : json::value(nullptr);
    record(req, 200);
    co_return HttpResponse::json(200, vox::json_text(o));
  }
  if (req.method == "GET" && req.path == "/v1/voices/settings/default") {
    record(req, 200);
    co_return HttpResponse::json(200, R"({"stability":0.5,"similarity_boost":0.75,"style":0.0,"use_speaker_boost":true,"speed":1.0})");
  }
  if (req.method == "GET" && req.path.rfind("/v1/voices/", 0) == 0) {
    std::string rest = req.path.substr(11);
    const bool settings = rest.size() > 9 && rest.substr(rest.size() - 9) == "/settings";
    if (settings) rest.resize(rest.size() - 9);
    for (const auto& v : all_voices()) {
      if (v.as_object().at("voice_id").as_string() != rest) continue;
      record(req, 200);
      co_return HttpResponse::json(200, vox::json_text(settings ? v.as_object().at("settings") : v));
    }
    record(req, 404);
    co_return el_error(404, "voice_not_found", "A voice with the voice_id " + rest + " was not found.");
  }
  if (req.method == "GET" && req.path == "/v1/models") {
    record(req, 200);
    co_return HttpResponse::json(200, vox::json_text(json::array{
                                          model_json("eleven_flash_v2_5", "Eleven Flash v2.5", true),
                                          model_json("eleven_turbo_v2_5", "Eleven Turbo v2.5", true),
                                          model_json("eleven_multilingual_v2", "Eleven Multilingual v2", true)}));
  }
  if (req.method == "GET" && req.path == "/v1/user/subscription") {
    record(req, 200);
    co_return HttpResponse::json(200, vox::json_text(json::object{
        {"tier", "creator"}, {"character_count", 1234}, {"character_limit", 100000},
        {"max_character_limit_extension", nullptr}, {"max_credit_limit_extension", 0},
        {"can_extend_character_limit", false}, {"allowed_to_extend_character_limit", false},
        {"voice_slots_used", 0}, {"professional_voice_slots_used", 0},
        {"professional_voice_slots_used_in_workspace", 0}, {"voice_limit", 30}, {"voice_add_edit_counter", 0},
        {"professional_voice_limit", 1}, {"can_extend_voice_limit", false}, {"can_use_instant_voice_cloning", true},
        {"can_use_professional_voice_cloning", true},
        {"current_overage", json::object{{"amount", "0"}, {"currency", "usd"}}}, {"status", "active"},
        {"open_invoices", json::array{}}, {"has_open_invoices", false}}));
  }
  if (req.method == "POST" && req.path.rfind("/v1/text-to-speech/", 0) == 0) co_return co_await text_to_speech(req, form);
  if (req.method == "POST" && req.path == "/v1/speech-to-text") co_return co_await speech_to_text(req);
  record(req, 404);
  co_return HttpResponse::json(404, R"({"detail":"Not Found"})");
}

HttpResponse ElevenLabsEmulator::Impl::faulty_stream(Fault f) {
  HttpResponse r;
  r.content_type = "audio/basic";
  auto self = shared_from_this();
  r.stream = [self, f](net::BodyWriter& w) -> asio::awaitable<void> {
    std::string chunk(1600, static_cast<char>(audio::kUlawSilence));
    for (int i = 0; i < f.after_chunks; ++i)
      if (!co_await w.write(chunk)) co_return;
    if (f.kind == "stall") co_await self->sleep_ms(f.delay_ms > 0 ? f.delay_ms : 60000);
    w.reset();
  };
  return r;
}

HttpResponse ElevenLabsEmulator::Impl::admin(const HttpRequest& req) {
  std::lock_guard lock(mu);
  if (req.path == "/emulator/requests") {
    if (req.method == "DELETE") requests.clear();
    return HttpResponse::json(200, vox::json_text(requests));
  }
  if (req.path == "/emulator/first-audio") {
    if (req.method == "DELETE") first_audio.clear();
    return HttpResponse::json(200, vox::json_text(first_audio));
  }
  if (req.path == "/emulator/faults") {
    if (req.method == "DELETE") {
      faults.clear();
      return HttpResponse::json(200, "[]");
    }
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec || !v.is_object()) return HttpResponse::error(400, "body must be a JSON object");
    const auto& o = v.as_object();
    Fault f;
    auto s = [&](const char* k, std::string& out) {
      if (const auto* x = o.if_contains(k); x && x->is_string()) out = std::string(x->as_string());
    };
    auto i = [&](const char* k, int& out) {
      if (const auto* x = o.if_contains(k); x && x->is_int64()) out = static_cast<int>(x->as_int64());
    };
    s("match", f.match);
    s("kind", f.kind);
    s("code", f.code);
    i("status", f.status);
    i("after_chunks", f.after_chunks);
    i("times", f.times);
    i("delay_ms", f.delay_ms);
    if (f.kind != "status" && f.kind != "reset" && f.kind != "stall" && f.kind != "close" && f.kind != "delay")
      return HttpResponse::error(400, "kind must be status, reset, stall, close or delay");
    faults.push_back(f);
    return HttpResponse::json(200, R"({"ok":true})");
  }
  if (req.path == "/emulator/latency" && req.method == "POST") {
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec || !v.is_object()) return HttpResponse::error(400, "body must be a JSON object");
    const auto& o = v.as_object();
    if (const auto* x = o.if_contains("ttfb_ms"); x && x->is_int64()) ttfb_ms = static_cast<int>(x->as_int64());
    if (const auto* x = o.if_contains("chunk_interval_ms"); x && x->is_int64()) chunk_interval_ms = static_cast<int>(x->as_int64());
    if (const auto* x = o.if_contains("stt_delay_ms"); x && x->is_int64()) stt_delay_ms = static_cast<int>(x->as_int64());
    return HttpResponse::json(200, R"({"ok":true})");
  }
  return HttpResponse::error(404, "unknown emulator endpoint");
}

ElevenLabsEmulator::ElevenLabsEmulator(asio::io_context& ioc, ElevenLabsEmulatorOptions options,
                                       speech::TextToSpeech& tts, speech::SpeechToText& stt)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), tts, stt)) {}

ElevenLabsEmulator::~ElevenLabsEmulator() = default;

void ElevenLabsEmulator::add_routes(net::Router& router) {
  auto impl = impl_;
  auto handler = [impl](const HttpRequest& req) -> asio::awaitable<HttpResponse> { co_return co_await impl->handle(req); };
  for (const char* p : {"/v1/voices", "/v2/voices", "/v1/voices/{id}", "/v1/voices/{id}/settings",
                        "/v1/voices/settings/default", "/v1/models", "/v1/user/subscription"})
    router.add("GET", p, handler);
  for (const char* p : {"/v1/text-to-speech/{voice}", "/v1/text-to-speech/{voice}/stream",
                        "/v1/text-to-speech/{voice}/with-timestamps", "/v1/text-to-speech/{voice}/stream/with-timestamps",
                        "/v1/speech-to-text"})
    router.add("POST", p, handler);
  for (const char* m : {"GET", "DELETE"}) {
    router.add(m, "/emulator/requests", handler);
    router.add(m, "/emulator/first-audio", handler);
  }
  router.add("POST", "/emulator/faults", handler);
  router.add("DELETE", "/emulator/faults", handler);
  router.add("POST", "/emulator/latency", handler);

  router.add_ws("/v1/text-to-speech/{voice}/stream-input", [impl](const HttpRequest& req, HttpResponse& reject) {
    return tts_socket(impl, req, reject, false);
  });
  router.add_ws("/v1/text-to-speech/{voice}/multi-stream-input", [impl](const HttpRequest& req, HttpResponse& reject) {
    return tts_socket(impl, req, reject, true);
  });
  router.add_ws("/v1/speech-to-text/realtime", [impl](const HttpRequest& req, HttpResponse& reject) {
    return realtime_stt_socket(impl, req, reject);
  });
}

}  // namespace vox::sim
