#include "sim/elevenlabs_emulator.hpp"

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
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace {

constexpr auto kAwait = asio::use_awaitable;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

HttpResponse el_error(int status, std::string_view code, std::string_view message) {
  return HttpResponse::json(status, json::serialize(json::object{
                                        {"detail", json::object{{"status", code}, {"message", message}}}}));
}

HttpResponse validation_error(std::vector<std::pair<std::vector<std::string>, std::string>> problems) {
  json::array detail;
  for (auto& [loc, msg] : problems) {
    json::array l;
    for (auto& p : loc) l.push_back(json::string(p));
    detail.push_back(json::object{{"loc", l}, {"msg", msg}, {"type", "value_error"}});
  }
  return HttpResponse::json(422, json::serialize(json::object{{"detail", detail}}));
}

struct Synth {
  std::vector<std::uint8_t> ulaw;  // 8 kHz
  std::vector<speech::WordTiming> words;
  std::string error;
};

// A fault rule: applies to requests whose "METHOD path" (or "WS path") contains `match`.
struct Fault {
  std::string match;
  std::string kind;  // status | reset | stall | close | delay
  int status = 500;
  std::string code = "internal_error";
  int after_chunks = 0;
  int times = -1;
  int delay_ms = 0;
};

// Per-character alignment for `text` from word start times (ms) and total length.
struct CharTimes {
  std::vector<std::string> chars;
  std::vector<int> start_ms;
  std::vector<int> dur_ms;
};

CharTimes align_text(std::string_view text, const std::vector<speech::WordTiming>& words, int total_ms) {
  // Word spans in the text.
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && text[i] == ' ') ++i;
    const auto b = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > b) spans.emplace_back(b, i);
  }
  std::vector<int> starts(spans.size());
  for (std::size_t w = 0; w < spans.size(); ++w) {
    if (words.size() == spans.size()) starts[w] = words[w].start_ms;
    else starts[w] = static_cast<int>(static_cast<double>(total_ms) * static_cast<double>(spans[w].first) / std::max<double>(1, static_cast<double>(text.size())));
  }
  CharTimes ct;
  ct.start_ms.assign(text.size(), 0);
  ct.dur_ms.assign(text.size(), 0);
  for (std::size_t i = 0; i < text.size(); ++i) ct.chars.emplace_back(1, text[i]);
  for (std::size_t w = 0; w < spans.size(); ++w) {
    const int s = starts[w];
    const int e = std::max(s + 1, w + 1 < spans.size() ? starts[w + 1] : total_ms);
    const auto len = spans[w].second - spans[w].first;
    const double per = static_cast<double>(e - s) / static_cast<double>(len + 1);
    for (std::size_t k = 0; k < len; ++k) {
      ct.start_ms[spans[w].first + k] = s + static_cast<int>(per * static_cast<double>(k));
      ct.dur_ms[spans[w].first + k] = std::max(1, static_cast<int>(per));
    }
    const auto space = spans[w].second;
    if (space < text.size()) {
      ct.start_ms[space] = s + static_cast<int>(per * static_cast<double>(len));
      ct.dur_ms[space] = std::max(1, static_cast<int>(per));
    }
  }
  // Leading spaces and anything unassigned take the time of what follows.
  for (std::size_t i = text.size(); i-- > 0;)
    if (ct.dur_ms[i] == 0) ct.start_ms[i] = i + 1 < text.size() ? ct.start_ms[i + 1] : total_ms;
  return ct;
}

// Trims leading and trailing 20 ms frames quieter than a speech level, keeping 100 ms
// of margin on each side.
void trim_silence(std::vector<std::uint8_t>& ulaw) {
  constexpr std::size_t kFrame = 160, kMargin = 800;
  auto loud = [&](std::size_t at) {
    double sum = 0;
    const std::size_t end = std::min(ulaw.size(), at + kFrame);
    for (std::size_t i = at; i < end; ++i) {
      const double x = audio::ulaw_decode(ulaw[i]);
      sum += x * x;
    }
    return end > at && std::sqrt(sum / static_cast<double>(end - at)) > 500.0;
  };
  std::size_t first = 0;
  while (first < ulaw.size() && !loud(first)) first += kFrame;
  if (first >= ulaw.size()) return;  // all quiet: leave it to the recogniser
  std::size_t last = (ulaw.size() - 1) / kFrame * kFrame;
  while (last > first && !loud(last)) last -= kFrame;
  const std::size_t begin = first > kMargin ? first - kMargin : 0;
  const std::size_t end = std::min(ulaw.size(), last + kFrame + kMargin);
  ulaw = std::vector<std::uint8_t>(ulaw.begin() + static_cast<long>(begin), ulaw.begin() + static_cast<long>(end));
}

std::vector<std::int16_t> to_pcm(const std::vector<std::uint8_t>& ulaw) {
  std::vector<std::int16_t> pcm(ulaw.size());
  audio::ulaw_decode(ulaw, pcm);
  return pcm;
}

// Encodes 8 kHz μ-law into the requested format.
std::vector<std::uint8_t> encode(const std::vector<std::uint8_t>& ulaw, const audio::OutputFormat& fmt) {
  if (fmt.codec == audio::Codec::kUlaw) return ulaw;
  const auto pcm = to_pcm(ulaw);
  return audio::encode_audio(pcm, 8000, fmt);
}

// Decodes an uploaded audio file (WAV PCM16, raw pcm_s16le_16, μ-law WAV, MP3) to 8 kHz μ-law.
std::optional<std::vector<std::uint8_t>> decode_upload(std::string_view data, std::string_view file_format) {
  std::vector<std::int16_t> pcm;
  int rate = 0;
  auto u8 = [&](std::size_t i) { return static_cast<std::uint8_t>(data[i]); };
  auto le16 = [&](std::size_t i) { return static_cast<std::uint32_t>(u8(i) | (u8(i + 1) << 8)); };
  auto le32 = [&](std::size_t i) { return le16(i) | (le16(i + 2) << 16); };
  if (file_format == "pcm_s16le_16") {
    rate = 16000;
    pcm.resize(data.size() / 2);
    for (std::size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<std::int16_t>(le16(2 * i));
  } else if (data.size() >= 44 && data.substr(0, 4) == "RIFF" && data.substr(8, 4) == "WAVE") {
    std::size_t pos = 12;
    int fmt_code = 0, channels = 1, bits = 16;
    while (pos + 8 <= data.size()) {
      const auto id = data.substr(pos, 4);
      std::size_t size = le32(pos + 4);
      const std::size_t body = pos + 8;
      if (id == "fmt " && body + 16 <= data.size()) {
        fmt_code = static_cast<int>(le16(body));
        channels = static_cast<int>(le16(body + 2));
        rate = static_cast<int>(le32(body + 4));
        bits = static_cast<int>(le16(body + 14));
      } else if (id == "data") {
        size = std::min(size, data.size() - body);
        if (fmt_code == 1 && bits == 16) {
          const std::size_t frames = size / (2 * static_cast<std::size_t>(channels));
          pcm.resize(frames);
          for (std::size_t i = 0; i < frames; ++i) pcm[i] = static_cast<std::int16_t>(le16(body + 2 * i * channels));
        } else if (fmt_code == 7 && bits == 8) {
          const std::size_t frames = size / static_cast<std::size_t>(channels);
          pcm.resize(frames);
          for (std::size_t i = 0; i < frames; ++i) pcm[i] = audio::ulaw_decode(u8(body + i * channels));
        } else {
          return std::nullopt;
        }
        break;
      }
      pos = body + size + (size & 1);
    }
    if (pcm.empty() && rate == 0) return std::nullopt;
  } else {
    try {
      pcm = audio::decode_mp3(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()), rate);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (rate <= 0) return std::nullopt;
  std::vector<std::int16_t> pcm8;
  if (rate == 8000) {
    pcm8 = std::move(pcm);
  } else {
    audio::Resampler rs(rate, 8000);
    pcm8.resize(rs.max_output(pcm.size()) + 64);
    auto n = rs.process(pcm, pcm8);
    std::vector<std::int16_t> tail(rs.max_output(0) + 512);
    auto m = rs.flush(tail);
    pcm8.resize(n);
    pcm8.insert(pcm8.end(), tail.begin(), tail.begin() + static_cast<long>(m));
  }
  std::vector<std::uint8_t> ulaw(pcm8.size());
  audio::ulaw_encode(pcm8, ulaw);
  return ulaw;
}

}  // namespace

struct ElevenLabsEmulator::Impl : std::enable_shared_from_this<ElevenLabsEmulator::Impl> {
  asio::io_context& ioc;
  ElevenLabsEmulatorOptions opt;
  speech::TextToSpeech& tts;
  speech::SpeechToText& stt;
  std::mutex mu;
  std::vector<Fault> faults;
  json::array requests;
  json::array first_audio;
  std::atomic<int> active{0};
  std::atomic<std::uint64_t> next_id{1};
  // Latency knobs the admin endpoint changes while generations run.
  std::atomic<int> ttfb_ms{0}, chunk_interval_ms{0}, stt_delay_ms{0};

  Impl(asio::io_context& io, ElevenLabsEmulatorOptions o, speech::TextToSpeech& t, speech::SpeechToText& s)
      : ioc(io), opt(std::move(o)), tts(t), stt(s), ttfb_ms(opt.ttfb_ms), chunk_interval_ms(opt.chunk_interval_ms),
        stt_delay_ms(opt.stt_delay_ms) {}

  bool key_ok(std::string_view key) const {
    for (const auto& k : opt.api_keys)
      if (k == key) return true;
    return false;
  }

  std::optional<Fault> take_fault(const std::string& what) {
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

  std::size_t record(const HttpRequest& req, int status) {
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

  void record_ws_message(std::size_t index, std::string_view msg) {
    std::lock_guard lock(mu);
    if (index >= requests.size()) return;
    auto& arr = requests[index].as_object()["ws_messages"].as_array();
    if (arr.size() < 2000) arr.push_back(json::string(msg.size() > 2048 ? msg.substr(0, 2048) : msg));
  }

  void record_first_audio(const std::string& id, std::int64_t request_us) {
    std::lock_guard lock(mu);
    first_audio.push_back(json::object{{"id", id}, {"request_us", request_us}, {"first_audio_us", now_us()}});
  }

  // Synthesizes with the embedded engine; resumes on the caller's executor.
  asio::awaitable<Synth> synth(std::string text) {
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

  // Recognizes 8 kHz μ-law with the embedded engine. Silence around the speech is
  // trimmed to 100 ms first: a real recogniser ignores it, pocketsphinx's grammar search
  // sometimes loses a phrase followed by a long silent tail.
  asio::awaitable<speech::SttResult> recognize(std::vector<std::uint8_t> ulaw) {
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

  asio::awaitable<void> sleep_ms(int ms) {
    if (ms <= 0) co_return;
    auto exec = co_await asio::this_coro::executor;
    asio::steady_timer t(exec, std::chrono::milliseconds(ms));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(kAwait, ec));
  }

  // --- REST ------------------------------------------------------------------------

  json::object voice_json(std::string_view id, std::string_view name, std::string_view accent) const {
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

  json::array all_voices() const {
    return json::array{voice_json("21m00Tcm4TlvDq8ikWAM", "Rachel", "american"),
                       voice_json("EXAVITQu4vr4xnSDxMaL", "Sarah", "american"),
                       voice_json("JBFqnCBsd6RMkjVDRZzb", "George", "british"),
                       // The default voice in the documentation of the service voxbridge replaces.
                       voice_json("IKne3meq5aSn9XLyUdCD", "Charlie", "australian")};
  }

  bool voice_exists(std::string_view id) const {
    for (const auto& v : all_voices())
      if (v.as_object().at("voice_id").as_string() == id) return true;
    return false;
  }

  json::object model_json(std::string_view id, std::string_view name, bool tts_model) const {
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

  asio::awaitable<HttpResponse> handle(const HttpRequest& req) {
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
      co_return HttpResponse::json(200, json::serialize(json::object{{"voices", all_voices()}}));
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
      co_return HttpResponse::json(200, json::serialize(o));
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
        co_return HttpResponse::json(200, json::serialize(settings ? v.as_object().at("settings") : v));
      }
      record(req, 404);
      co_return el_error(404, "voice_not_found", "A voice with the voice_id " + rest + " was not found.");
    }
    if (req.method == "GET" && req.path == "/v1/models") {
      record(req, 200);
      co_return HttpResponse::json(200, json::serialize(json::array{
                                            model_json("eleven_flash_v2_5", "Eleven Flash v2.5", true),
                                            model_json("eleven_turbo_v2_5", "Eleven Turbo v2.5", true),
                                            model_json("eleven_multilingual_v2", "Eleven Multilingual v2", true)}));
    }
    if (req.method == "GET" && req.path == "/v1/user/subscription") {
      record(req, 200);
      co_return HttpResponse::json(200, json::serialize(json::object{
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

  // A 200 whose body breaks: a reset or a stall after some chunks.
  HttpResponse faulty_stream(Fault f) {
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

  asio::awaitable<HttpResponse> text_to_speech(const HttpRequest& req, const std::vector<std::pair<std::string, std::string>>& form) {
    const auto request_us = now_us();
    // /v1/text-to-speech/{voice}[/stream][/with-timestamps]
    std::string rest = req.path.substr(19);
    const auto slash = rest.find('/');
    const std::string voice = rest.substr(0, slash);
    const std::string suffix = slash == std::string::npos ? "" : rest.substr(slash);
    if (suffix != "" && suffix != "/stream" && suffix != "/with-timestamps" && suffix != "/stream/with-timestamps") {
      record(req, 404);
      co_return HttpResponse::json(404, R"({"detail":"Not Found"})");
    }
    const bool streaming = suffix.rfind("/stream", 0) == 0;
    const bool timed = suffix.find("with-timestamps") != std::string::npos;
    std::string fmt_name(net::form_value(form, "output_format"));
    if (fmt_name.empty()) fmt_name = "mp3_44100_128";
    auto fmt = audio::parse_output_format(fmt_name);
    if (!fmt || fmt->codec == audio::Codec::kOpus || (streaming && fmt->codec == audio::Codec::kWav)) {
      record(req, 422);
      co_return validation_error({{{"query", "output_format"}, "unsupported output_format " + fmt_name}});
    }
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    if (ec || !body.is_object()) {
      record(req, 422);
      co_return validation_error({{{"body"}, "invalid JSON body"}});
    }
    const auto& o = body.as_object();
    const auto* text = o.if_contains("text");
    if (!text || !text->is_string()) {
      record(req, 422);
      co_return validation_error({{{"body", "text"}, "field required"}});
    }
    if (const auto* vs = o.if_contains("voice_settings"); vs && vs->is_object()) {
      for (const char* k : {"stability", "similarity_boost", "style"}) {
        const auto* x = vs->as_object().if_contains(k);
        if (x && x->is_number() && (x->to_number<double>() < 0 || x->to_number<double>() > 1)) {
          record(req, 422);
          co_return validation_error({{{"body", "voice_settings", k}, "ensure this value is between 0 and 1"}});
        }
      }
    }
    if (!voice_exists(voice)) {
      record(req, 404);
      co_return el_error(404, "voice_not_found", "A voice with the voice_id " + voice + " was not found.");
    }
    const std::string t(text->as_string());
    if (t.size() > 40000) {
      record(req, 400);
      co_return el_error(400, "max_character_limit_exceeded", "Text is too long.");
    }
    if (opt.max_concurrent > 0 && active.load() >= opt.max_concurrent) {
      record(req, 429);
      auto r = el_error(429, "too_many_concurrent_requests", "Too many concurrent requests.");
      r.headers.emplace_back("current-concurrent-requests", std::to_string(active.load()));
      r.headers.emplace_back("maximum-concurrent-requests", std::to_string(opt.max_concurrent));
      co_return r;
    }
    record(req, 200);
    ++active;
    struct ActiveGuard {
      std::atomic<int>& a;
      ~ActiveGuard() { --a; }
    };
    co_await sleep_ms(ttfb_ms.load());
    auto s = co_await synth(t);
    const int total_ms = static_cast<int>(s.ulaw.size() / 8);
    auto ct = align_text(t, s.words, total_ms);
    const std::string id = "rest-" + std::to_string(next_id++);
    HttpResponse r;
    r.headers.emplace_back("request-id", id);
    r.headers.emplace_back("x-character-count", std::to_string(t.size()));
    if (!streaming) {
      --active;
      auto bytes = encode(s.ulaw, *fmt);
      record_first_audio(id, request_us);
      if (!timed) {
        r.content_type = std::string(audio::content_type(*fmt));
        r.body.assign(bytes.begin(), bytes.end());
        co_return r;
      }
      std::string b64;
      base64::append(b64, bytes);
      json::object a = alignment_seconds(ct, 0, ct.chars.size());
      r.content_type = "application/json";
      r.body = json::serialize(json::object{{"audio_base64", b64}, {"alignment", a}, {"normalized_alignment", a}});
      co_return r;
    }
    r.content_type = timed ? "application/json" : std::string(audio::content_type(*fmt));
    auto self = shared_from_this();
    r.stream = [self, s = std::move(s), ct = std::move(ct), fmt = *fmt, timed, id, request_us](net::BodyWriter& w) -> asio::awaitable<void> {
      ActiveGuard guard{self->active};
      audio::AudioEncoder enc(8000, fmt);
      const std::size_t per = static_cast<std::size_t>(self->opt.chunk_audio_ms) * 8;
      std::size_t ci = 0;  // next char to report
      bool first = true;
      for (std::size_t off = 0; off < s.ulaw.size(); off += per) {
        const std::size_t n = std::min(per, s.ulaw.size() - off);
        const auto pcm = to_pcm(std::vector<std::uint8_t>(s.ulaw.begin() + static_cast<long>(off), s.ulaw.begin() + static_cast<long>(off + n)));
        auto bytes = fmt.codec == audio::Codec::kUlaw
                         ? std::vector<std::uint8_t>(s.ulaw.begin() + static_cast<long>(off), s.ulaw.begin() + static_cast<long>(off + n))
                         : enc.push(pcm);
        if (off + n >= s.ulaw.size() && fmt.codec != audio::Codec::kUlaw) {
          auto tail = enc.finish();
          bytes.insert(bytes.end(), tail.begin(), tail.end());
        }
        std::string out;
        if (timed) {
          const int end_ms = static_cast<int>((off + n) / 8);
          std::size_t cj = ci;
          while (cj < ct.chars.size() && (ct.start_ms[cj] < end_ms || off + n >= s.ulaw.size())) ++cj;
          std::string b64;
          base64::append(b64, bytes);
          json::object line{{"audio_base64", b64}};
          if (cj > ci) {
            auto a = self->alignment_seconds(ct, ci, cj);
            line["alignment"] = a;
            line["normalized_alignment"] = a;
          } else {
            line["alignment"] = nullptr;
            line["normalized_alignment"] = nullptr;
          }
          ci = cj;
          out = json::serialize(line) + "\n";
        } else {
          out.assign(bytes.begin(), bytes.end());
        }
        if (first) {
          first = false;
          self->record_first_audio(id, request_us);
        } else {
          co_await self->sleep_ms(self->chunk_interval_ms.load());
        }
        if (!co_await w.write(out)) co_return;
      }
    };
    co_return r;
  }

  json::object alignment_seconds(const CharTimes& ct, std::size_t from, std::size_t to) const {
    json::array chars, starts, ends;
    for (std::size_t i = from; i < to; ++i) {
      chars.push_back(json::string(ct.chars[i]));
      starts.push_back(ct.start_ms[i] / 1000.0);
      ends.push_back((ct.start_ms[i] + ct.dur_ms[i]) / 1000.0);
    }
    return json::object{{"characters", chars}, {"character_start_times_seconds", starts}, {"character_end_times_seconds", ends}};
  }

  asio::awaitable<HttpResponse> speech_to_text(const HttpRequest& req) {
    const auto ct = req.header("content-type");
    const auto bpos = ct.find("boundary=");
    if (ct.rfind("multipart/form-data", 0) != 0 || bpos == std::string_view::npos) {
      record(req, 422);
      co_return validation_error({{{"body"}, "expected multipart/form-data"}});
    }
    std::string boundary(ct.substr(bpos + 9));
    if (!boundary.empty() && boundary.front() == '"') boundary = boundary.substr(1, boundary.size() - 2);
    std::map<std::string, std::string> fields;
    std::string file;
    bool has_file = false;
    const std::string delim = "--" + boundary;
    std::size_t pos = req.body.find(delim);
    while (pos != std::string::npos) {
      pos += delim.size();
      if (req.body.compare(pos, 2, "--") == 0) break;
      const auto hdr_end = req.body.find("\r\n\r\n", pos);
      if (hdr_end == std::string::npos) break;
      const std::string headers = req.body.substr(pos, hdr_end - pos);
      const auto next = req.body.find("\r\n" + delim, hdr_end + 4);
      if (next == std::string::npos) break;
      std::string value = req.body.substr(hdr_end + 4, next - hdr_end - 4);
      const auto np = headers.find("name=\"");
      if (np != std::string::npos) {
        const auto ne = headers.find('"', np + 6);
        const std::string name = headers.substr(np + 6, ne - np - 6);
        if (name == "file") {
          file = std::move(value);
          has_file = true;
        } else {
          fields[name] = std::move(value);
        }
      }
      pos = next + 2;
    }
    const auto model = fields["model_id"];
    if (model.empty()) {
      record(req, 422);
      co_return validation_error({{{"body", "model_id"}, "field required"}});
    }
    if (model != "scribe_v1" && model != "scribe_v2") {
      record(req, 422);
      co_return validation_error({{{"body", "model_id"}, "unexpected value; permitted: 'scribe_v1', 'scribe_v2'"}});
    }
    if (!has_file) {
      record(req, 400);
      co_return el_error(400, "invalid_request", "Exactly one of file, source_url or cloud_storage_url must be provided.");
    }
    auto ulaw = decode_upload(file, fields["file_format"]);
    if (!ulaw) {
      record(req, 400);
      co_return el_error(400, "invalid_audio", "The audio file could not be decoded.");
    }
    if (ulaw->size() < 800) {
      record(req, 400);
      co_return el_error(400, "audio_too_short", "Audio must be at least 100 ms long.");
    }
    record(req, 200);
    const double duration = static_cast<double>(ulaw->size()) / 8000.0;
    auto r = co_await recognize(std::move(*ulaw));
    co_return HttpResponse::json(200, json::serialize(transcript_json(r.text, duration)));
  }

  json::object transcript_json(const std::string& text, double duration) const {
    json::array words;
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < text.size();) {
      const auto j = text.find(' ', i);
      parts.push_back(text.substr(i, j == std::string::npos ? std::string::npos : j - i));
      if (j == std::string::npos) break;
      i = j + 1;
    }
    const double per = parts.empty() ? 0 : duration / static_cast<double>(parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].empty()) continue;
      if (i > 0)
        words.push_back(json::object{{"text", " "}, {"start", per * i}, {"end", per * i}, {"type", "spacing"},
                                     {"speaker_id", "speaker_0"}, {"logprob", 0.0}});
      words.push_back(json::object{{"text", parts[i]}, {"start", per * i}, {"end", per * (i + 1)}, {"type", "word"},
                                   {"speaker_id", "speaker_0"}, {"logprob", -0.1}});
    }
    return json::object{{"language_code", "eng"}, {"language_probability", 0.98}, {"text", text},
                        {"words", words}, {"transcription_id", "tr_" + std::to_string(now_us())},
                        {"audio_duration_secs", duration}};
  }

  HttpResponse admin(const HttpRequest& req) {
    std::lock_guard lock(mu);
    if (req.path == "/emulator/requests") {
      if (req.method == "DELETE") requests.clear();
      return HttpResponse::json(200, json::serialize(requests));
    }
    if (req.path == "/emulator/first-audio") {
      if (req.method == "DELETE") first_audio.clear();
      return HttpResponse::json(200, json::serialize(first_audio));
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
};

// ---------------------------------------------------------------------------------------
// TTS WebSockets: stream-input (one implicit context) and multi-stream-input.

namespace {

class TtsSocketHandler final : public net::WsHandler, public std::enable_shared_from_this<TtsSocketHandler> {
 public:
  struct Context {
    std::string buffer;
    std::optional<std::string> settings;  // serialized voice_settings of the first message
    bool closed = false;
    int generation = 0;                   // bumps on close: drops queued work
    std::deque<std::pair<std::string, bool>> queue;  // text to generate, final-after?
    bool busy = false;
  };

  TtsSocketHandler(std::shared_ptr<ElevenLabsEmulator::Impl> em, bool multi, std::string voice, audio::OutputFormat fmt,
                   int inactivity_s, bool header_auth, std::size_t record_index)
      : em_(std::move(em)), multi_(multi), voice_(std::move(voice)), fmt_(std::move(fmt)),
        inactivity_s_(inactivity_s), authed_(header_auth), record_index_(record_index) {}

  void on_open(std::shared_ptr<net::WsConnection> c) override {
    conn_ = c;
    timer_ = std::make_unique<asio::steady_timer>(c->executor());
    arm_inactivity();
  }

  void on_text(std::string_view msg) override {
    em_->record_ws_message(record_index_, msg);
    arm_inactivity();
    boost::system::error_code ec;
    auto v = json::parse(msg, ec);
    if (ec || !v.is_object()) return protocol_error("Could not parse input message as JSON.");
    const auto& o = v.as_object();
    if (!authed_) {
      const auto* k = o.if_contains("xi_api_key");
      if (!k) k = o.if_contains("xi-api-key");
      if (k && k->is_string() && em_->key_ok(k->as_string())) authed_ = true;
      else return close_policy("Invalid API key or no API key provided.", "invalid_api_key");
    }
    if (o.contains("close_socket")) {
      for (auto& [id, c] : contexts_)
        if (!c.buffer.empty()) enqueue(id, true);
      closing_ = true;
      maybe_close();
      return;
    }
    std::string id = "default";
    if (multi_) {
      if (const auto* c = o.if_contains("context_id"); c && c->is_string()) id = std::string(c->as_string());
      else if (const auto* c2 = o.if_contains("contextId"); c2 && c2->is_string()) id = std::string(c2->as_string());
    }
    const bool is_new = !contexts_.count(id) || contexts_[id].closed;
    if (multi_ && o.contains("close_context")) {
      auto it = contexts_.find(id);
      if (it == contexts_.end() || it->second.closed) return;
      auto& c = it->second;
      c.closed = true;
      ++c.generation;  // stops its generation: no more audio for it
      c.queue.clear();
      c.buffer.clear();
      if (conn_) conn_->send_text(json::serialize(json::object{{"isFinal", true}, {"contextId", id}}));
      return;
    }
    if (is_new) {
      contexts_[id] = Context{};
      // Faults strike generations: the next context opened on any socket, warm or new.
      if (!fault_) {
        if (auto f = em_->take_fault("WS " + path())) {
          fault_ = f;
          fault_from_chunk_ = chunks_sent_;
          if (f->kind == "close" && f->after_chunks == 0) return conn_->close(1008, "Injected fault: " + f->code);
          if (f->kind == "reset" && f->after_chunks == 0) return conn_->abort();
        }
      }
    }
    auto& c = contexts_[id];
    std::optional<std::string> settings;
    if (const auto* vs = o.if_contains("voice_settings"); vs && !vs->is_null()) settings = json::serialize(*vs);
    if (is_new) {
      c.settings = settings;
    } else if (settings && settings != c.settings && !multi_) {
      return close_policy("voice_settings field must be provided in the first message and then either be not provided or not change.", "invalid_input_message");
    }
    const auto* text = o.if_contains("text");
    const bool flush = o.contains("flush") && o.at("flush").is_bool() && o.at("flush").as_bool();
    if (text && text->is_string()) {
      const std::string t(text->as_string());
      if (t.empty()) {
        if (!multi_) {  // end of input: generate the rest, final, then close
          enqueue(id, true);
          closing_ = true;
          maybe_close();
          return;
        }
        return;  // multi: keep-alive
      }
      if (!(is_new && t == " ")) c.buffer += t;
    }
    if (flush) {
      enqueue(id, true);
      return;
    }
    // The chunk schedule (simplified): generate once a sentence end is buffered past the first threshold.
    if (c.buffer.size() >= 120) {
      const auto cut = c.buffer.find_last_of(".!?");
      if (cut != std::string::npos) enqueue(id, false, cut + 1);
    }
  }

  void on_close(std::string_view) override {
    closed_ = true;
    if (timer_) timer_->cancel();
    conn_.reset();
  }

 private:
  std::string path() const { return std::string(multi_ ? "/multi-stream-input" : "/stream-input"); }

  void protocol_error(const std::string& message) {
    if (!conn_) return;
    conn_->send_text(json::serialize(json::object{{"message", message}, {"error", "invalid_input_message"}, {"code", 1008}}));
    conn_->close(1008, message);
  }

  void close_policy(const std::string& reason, const std::string& error) {
    if (!conn_) return;
    conn_->send_text(json::serialize(json::object{{"message", reason}, {"error", error}, {"code", 1008}}));
    conn_->close(1008, reason.substr(0, 120));
  }

  void arm_inactivity() {
    if (!timer_) return;
    timer_->expires_after(std::chrono::seconds(inactivity_s_));
    timer_->async_wait([w = weak_from_this()](boost::system::error_code ec) {
      auto self = w.lock();
      if (ec || !self || self->closed_ || !self->conn_) return;
      self->conn_->close(1008, "Have not received a new text input within the timeout of " +
                                   std::to_string(self->inactivity_s_) + " seconds. Streaming input terminated.");
    });
  }

  // Moves buffered text (all, or up to `cut`) of a context into its generation queue.
  void enqueue(const std::string& id, bool final_after, std::size_t cut = std::string::npos) {
    auto& c = contexts_[id];
    std::string text = cut == std::string::npos ? std::move(c.buffer) : c.buffer.substr(0, cut);
    c.buffer = cut == std::string::npos ? std::string() : c.buffer.substr(std::min(cut, c.buffer.size()));
    if (cut == std::string::npos) c.buffer.clear();
    c.queue.emplace_back(std::move(text), final_after);
    if (!c.busy) {
      c.busy = true;
      ++pending_;
      vox::spawn(conn_->executor(), [self = shared_from_this(), id]() { return self->generate(id); }, "ElevenLabs emulator");
    }
  }

  asio::awaitable<void> generate(std::string id) {
    auto self = shared_from_this();
    const auto request_us = now_us();
    for (;;) {
      auto it = contexts_.find(id);
      if (it == contexts_.end() || it->second.queue.empty() || closed_) break;
      const int gen = it->second.generation;
      auto [text, final_after] = std::move(it->second.queue.front());
      it->second.queue.pop_front();
      const auto trimmed_b = text.find_first_not_of(' ');
      if (trimmed_b != std::string::npos) {
        co_await em_->sleep_ms(em_->ttfb_ms.load());
        auto s = co_await em_->synth(text.substr(trimmed_b));
        const std::string spoken = text.substr(trimmed_b);
        const int total_ms = static_cast<int>(s.ulaw.size() / 8);
        auto ct = align_text(spoken, s.words, total_ms);
        audio::AudioEncoder enc(8000, fmt_);
        const std::size_t per = static_cast<std::size_t>(em_->opt.chunk_audio_ms) * 8;
        std::size_t ci = 0;
        for (std::size_t off = 0; off < s.ulaw.size(); off += per) {
          it = contexts_.find(id);
          if (closed_ || it == contexts_.end() || it->second.generation != gen) break;
          const std::size_t n = std::min(per, s.ulaw.size() - off);
          std::vector<std::uint8_t> piece(s.ulaw.begin() + static_cast<long>(off), s.ulaw.begin() + static_cast<long>(off + n));
          std::vector<std::uint8_t> bytes;
          if (fmt_.codec == audio::Codec::kUlaw) {
            bytes = std::move(piece);
          } else {
            bytes = enc.push(to_pcm(piece));
            if (off + n >= s.ulaw.size()) {
              auto tail = enc.finish();
              bytes.insert(bytes.end(), tail.begin(), tail.end());
            }
          }
          const int start_ms = static_cast<int>(off / 8);
          const int end_ms = static_cast<int>((off + n) / 8);
          std::size_t cj = ci;
          while (cj < ct.chars.size() && (ct.start_ms[cj] < end_ms || off + n >= s.ulaw.size())) ++cj;
          json::array chars, starts, durs;
          for (std::size_t k = ci; k < cj; ++k) {
            chars.push_back(json::string(ct.chars[k]));
            starts.push_back(std::max(0, ct.start_ms[k] - start_ms));  // relative to this chunk
            durs.push_back(ct.dur_ms[k]);
          }
          ci = cj;
          std::string b64;
          base64::append(b64, bytes);
          json::object m{{"audio", b64}, {"isFinal", nullptr}};
          json::object al{{"chars", chars}, {"charStartTimesMs", starts}, {"charDurationsMs", durs}};
          m["alignment"] = al;
          m["normalizedAlignment"] = al;
          if (multi_) m["contextId"] = id;
          ++chunks_sent_;
          if (off == 0) em_->record_first_audio(id, request_us);  // the context id the client chose
          if (fault_ && fault_->after_chunks > 0 && chunks_sent_ - fault_from_chunk_ > fault_->after_chunks) {
            if (fault_->kind == "close") {
              conn_->close(1008, "We are sorry, something went wrong. You are not charged for this request.");
              fault_.reset();
              co_return;
            }
            if (fault_->kind == "reset") {
              conn_->abort();
              fault_.reset();
              co_return;
            }
            if (fault_->kind == "stall") {
              co_await em_->sleep_ms(fault_->delay_ms > 0 ? fault_->delay_ms : 60000);
              co_return;
            }
          }
          if (conn_) conn_->send_text(json::serialize(m));
          if (off + per < s.ulaw.size()) co_await em_->sleep_ms(em_->chunk_interval_ms.load());
        }
      }
      it = contexts_.find(id);
      // stream-input: isFinal after the end of input. multi-stream-input sends it when a
      // context is closed (see close_context), not after a flush.
      if (!multi_ && final_after && conn_ && !closed_ && it != contexts_.end() && it->second.generation == gen) {
        json::object fin{{"isFinal", true}};
        if (multi_) fin["contextId"] = id;
        conn_->send_text(json::serialize(fin));
      }
    }
    auto it = contexts_.find(id);
    if (it != contexts_.end()) it->second.busy = false;
    --pending_;
    maybe_close();
  }

  void maybe_close() {
    if (closing_ && pending_ == 0 && conn_) conn_->close(1000, "");
  }

  std::shared_ptr<ElevenLabsEmulator::Impl> em_;
  bool multi_;
  std::string voice_;
  audio::OutputFormat fmt_;
  int inactivity_s_;
  bool authed_;
  std::size_t record_index_;
  std::shared_ptr<net::WsConnection> conn_;
  std::unique_ptr<asio::steady_timer> timer_;
  std::map<std::string, Context> contexts_;
  std::optional<Fault> fault_;
  int fault_from_chunk_ = 0;
  int chunks_sent_ = 0;
  int pending_ = 0;
  bool closing_ = false;
  bool closed_ = false;
};

// Realtime STT: session_started, partials while audio arrives, committed transcripts on
// a manual commit or (commit_strategy=vad) after silence.
class RealtimeSttHandler final : public net::WsHandler, public std::enable_shared_from_this<RealtimeSttHandler> {
 public:
  RealtimeSttHandler(std::shared_ptr<ElevenLabsEmulator::Impl> em, std::string audio_format, int rate, bool vad,
                     double vad_silence_s, std::string language, std::size_t record_index)
      : em_(std::move(em)), audio_format_(std::move(audio_format)), rate_(rate), vad_(vad),
        vad_silence_s_(vad_silence_s), language_(std::move(language)), record_index_(record_index) {}

  void on_open(std::shared_ptr<net::WsConnection> c) override {
    conn_ = c;
    static std::atomic<std::uint64_t> next_session{1};
    session_id_ = "sess_" + std::to_string(next_session++);
    json::object config{{"sample_rate", rate_}, {"audio_format", audio_format_},
                        {"language_code", language_.empty() ? json::value(nullptr) : json::value(language_)},
                        {"commit_strategy", vad_ ? "vad" : "manual"}, {"vad_silence_threshold_secs", vad_silence_s_},
                        {"model_id", "scribe_v2_realtime"}, {"enable_logging", true}, {"include_timestamps", false},
                        {"include_language_detection", false}};
    conn_->send_text(json::serialize(json::object{{"message_type", "session_started"}, {"session_id", session_id_}, {"config", config}}));
    if (auto f = em_->take_fault("WS /v1/speech-to-text/realtime")) fault_ = f;
    if (fault_ && fault_->kind == "close" && fault_->after_chunks == 0) conn_->close(1011, "Injected fault");
    if (fault_ && fault_->kind == "reset" && fault_->after_chunks == 0) conn_->abort();
  }

  void on_text(std::string_view msg) override {
    em_->record_ws_message(record_index_, msg);
    boost::system::error_code ec;
    auto v = json::parse(msg, ec);
    if (ec || !v.is_object()) return error("input_error", "Could not parse message as JSON.");
    const auto& o = v.as_object();
    const auto* type = o.if_contains("message_type");
    if (!type || !type->is_string() || type->as_string() != "input_audio_chunk")
      return error("input_error", "message_type must be input_audio_chunk");
    const auto* b64 = o.if_contains("audio_base_64");
    const auto* sr = o.if_contains("sample_rate");
    if (!b64 || !b64->is_string()) return error("input_error", "audio_base_64 is required");
    if (sr && sr->is_int64() && sr->as_int64() != rate_)
      return error("input_error", "sample_rate " + std::to_string(sr->as_int64()) + " does not match audio_format " + audio_format_);
    if (o.contains("previous_text") && chunks_ > 0) return error("input_error", "previous_text is only allowed on the first chunk");
    ++chunks_;
    const auto& s = b64->as_string();
    std::vector<std::uint8_t> raw(base64::max_decoded_size(s.size()));
    auto n = base64::decode(s, raw);
    if (!n) return error("input_error", "audio_base_64 is not valid base64");
    raw.resize(*n);
    if (fault_ && fault_->after_chunks > 0 && chunks_ > fault_->after_chunks) {
      if (fault_->kind == "close") conn_->close(1011, "Injected fault");
      else if (fault_->kind == "reset") conn_->abort();
      fault_.reset();
      return;
    }
    append_audio(raw);
    const bool commit = o.contains("commit") && o.at("commit").is_bool() && o.at("commit").as_bool();
    if (commit) {
      commit_segment();
      return;
    }
    if (vad_ && heard_speech_ && silence_samples_ >= static_cast<std::size_t>(vad_silence_s_ * 8000)) commit_segment();
    else if (segment_.size() >= last_partial_ + 8000) send_partial();
  }

  void on_close(std::string_view) override { conn_.reset(); }

 private:
  void error(const std::string& kind, const std::string& text) {
    if (conn_) conn_->send_text(json::serialize(json::object{{"message_type", kind}, {"error", text}}));
  }

  void append_audio(const std::vector<std::uint8_t>& raw) {
    std::vector<std::int16_t> pcm;
    if (audio_format_ == "ulaw_8000") {
      pcm.resize(raw.size());
      audio::ulaw_decode(raw, pcm);
    } else {
      pcm.resize(raw.size() / 2);
      for (std::size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<std::int16_t>(raw[2 * i] | (raw[2 * i + 1] << 8));
      if (rate_ != 8000) {
        audio::Resampler rs(rate_, 8000);
        std::vector<std::int16_t> out(rs.max_output(pcm.size()) + 64);
        out.resize(rs.process(pcm, out));
        pcm = std::move(out);
      }
    }
    for (auto x : pcm) {
      segment_.push_back(audio::ulaw_encode(x));
      if (std::abs(static_cast<int>(x)) > 1500) {
        heard_speech_ = true;
        silence_samples_ = 0;
      } else {
        ++silence_samples_;
      }
    }
  }

  void send_partial() {
    last_partial_ = segment_.size();
    if (partial_busy_) return;
    partial_busy_ = true;
    vox::spawn(conn_->executor(), [self = shared_from_this(), audio = segment_]() mutable -> asio::awaitable<void> {
      auto r = co_await self->em_->recognize(std::move(audio));
      self->partial_busy_ = false;
      if (self->conn_ && r.ok && !r.text.empty())
        self->conn_->send_text(json::serialize(json::object{{"message_type", "partial_transcript"}, {"text", r.text}}));
    }, "ElevenLabs emulator");
  }

  // Segments are transcribed one after another, so committed transcripts come in order.
  void commit_segment() {
    commits_.push_back(std::move(segment_));
    segment_.clear();
    last_partial_ = 0;
    heard_speech_ = false;
    silence_samples_ = 0;
    if (committing_) return;
    committing_ = true;
    vox::spawn(conn_->executor(), [self = shared_from_this()]() -> asio::awaitable<void> {
      while (!self->commits_.empty()) {
        auto audio = std::move(self->commits_.front());
        self->commits_.pop_front();
        std::string text;
        const auto bytes = audio.size();
        if (const char* dump = std::getenv("VOX_EMULATOR_DUMP_DIR")) {  // debugging aid: the audio of each commit
          std::ofstream(std::string(dump) + "/" + self->session_id_ + ".ulaw", std::ios::binary)
              .write(reinterpret_cast<const char*>(audio.data()), static_cast<std::streamsize>(audio.size()));
        }
        if (audio.size() >= 800) {
          auto r = co_await self->em_->recognize(std::move(audio));
          text = r.text;
        }
        spdlog::debug("realtime STT commit session={} audio_ms={} text=\"{}\"", self->session_id_, bytes / 8, text);
        if (self->conn_)
          self->conn_->send_text(json::serialize(json::object{{"message_type", "committed_transcript"}, {"text", text}}));
      }
      self->committing_ = false;
    }, "ElevenLabs emulator");
  }

  std::shared_ptr<ElevenLabsEmulator::Impl> em_;
  std::string audio_format_;
  int rate_;
  bool vad_;
  double vad_silence_s_;
  std::string language_;
  std::size_t record_index_;
  std::shared_ptr<net::WsConnection> conn_;
  std::string session_id_;
  std::vector<std::uint8_t> segment_;
  std::size_t last_partial_ = 0;
  std::size_t silence_samples_ = 0;
  bool heard_speech_ = false;
  bool partial_busy_ = false;
  std::deque<std::vector<std::uint8_t>> commits_;
  bool committing_ = false;
  int chunks_ = 0;
  std::optional<Fault> fault_;
};

// Adapts a shared handler to the unique_ptr the router wants.
class SharedHandler final : public net::WsHandler {
 public:
  explicit SharedHandler(std::shared_ptr<net::WsHandler> h) : h_(std::move(h)) {}
  void on_open(std::shared_ptr<net::WsConnection> c) override { h_->on_open(std::move(c)); }
  void on_text(std::string_view m) override { h_->on_text(m); }
  void on_close(std::string_view r) override { h_->on_close(r); }

 private:
  std::shared_ptr<net::WsHandler> h_;
};

}  // namespace

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

  auto tts_ws = [impl](bool multi) {
    return [impl, multi](const HttpRequest& req, HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
      const auto form = net::parse_form(req.query);
      const auto key = req.header("xi-api-key");
      if (!key.empty() && !impl->key_ok(key)) {
        impl->record(req, 401);
        reject = el_error(401, "invalid_api_key", "Invalid API key");
        return nullptr;
      }
      const std::string what = std::string("WS ") + req.path;
      if (auto f = impl->take_fault(what + "#upgrade")) {
        impl->record(req, f->status);
        reject = el_error(f->status, f->code, "Injected fault");
        return nullptr;
      }
      std::string fmt_name(net::form_value(form, "output_format"));
      if (fmt_name.empty()) fmt_name = "mp3_44100_128";
      auto fmt = audio::parse_output_format(fmt_name);
      if (!fmt || fmt->codec == audio::Codec::kOpus || fmt->codec == audio::Codec::kWav) {
        impl->record(req, 422);
        reject = validation_error({{{"query", "output_format"}, "unsupported output_format " + fmt_name}});
        return nullptr;
      }
      const std::string voice(req.param("voice"));
      if (!impl->voice_exists(voice)) {
        impl->record(req, 404);
        reject = el_error(404, "voice_not_found", "A voice with the voice_id " + voice + " was not found.");
        return nullptr;
      }
      int inactivity = 20;
      if (auto t = net::form_value(form, "inactivity_timeout"); !t.empty()) inactivity = std::clamp(std::atoi(std::string(t).c_str()), 1, 180);
      const auto index = impl->record(req, 101);
      return std::make_unique<SharedHandler>(
          std::make_shared<TtsSocketHandler>(impl, multi, voice, *fmt, inactivity, !key.empty(), index));
    };
  };
  router.add_ws("/v1/text-to-speech/{voice}/stream-input", tts_ws(false));
  router.add_ws("/v1/text-to-speech/{voice}/multi-stream-input", tts_ws(true));
  router.add_ws("/v1/speech-to-text/realtime", [impl](const HttpRequest& req, HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
    const auto form = net::parse_form(req.query);
    if (!impl->key_ok(req.header("xi-api-key"))) {
      impl->record(req, 401);
      reject = el_error(401, "invalid_api_key", "Invalid API key");
      return nullptr;
    }
    if (auto f = impl->take_fault("WS /v1/speech-to-text/realtime#upgrade")) {
      impl->record(req, f->status);
      reject = el_error(f->status, f->code, "Injected fault");
      return nullptr;
    }
    std::string model(net::form_value(form, "model_id"));
    std::string fmt(net::form_value(form, "audio_format"));
    if (fmt.empty()) fmt = "pcm_16000";
    int rate = 0;
    if (fmt == "ulaw_8000") rate = 8000;
    else if (fmt.rfind("pcm_", 0) == 0) rate = std::atoi(fmt.c_str() + 4);
    const std::string strategy(net::form_value(form, "commit_strategy"));
    std::string problem;
    if (model != "scribe_v2_realtime") problem = "model_id must be scribe_v2_realtime";
    else if (rate != 8000 && rate != 16000 && rate != 22050 && rate != 24000 && rate != 44100 && rate != 48000)
      problem = "unsupported audio_format " + fmt;
    else if (!strategy.empty() && strategy != "manual" && strategy != "vad")
      problem = "commit_strategy must be manual or vad";
    double silence = 1.5;
    if (auto s = net::form_value(form, "vad_silence_threshold_secs"); !s.empty()) silence = std::atof(std::string(s).c_str());
    const auto index = impl->record(req, 101);
    auto h = std::make_shared<RealtimeSttHandler>(impl, fmt, rate ? rate : 16000, strategy == "vad", silence,
                                                  std::string(net::form_value(form, "language_code")), index);
    if (!problem.empty()) {
      // Accept, then report and close, as the service does for bad query parameters.
      class Invalid final : public net::WsHandler {
       public:
        explicit Invalid(std::string p) : p_(std::move(p)) {}
        void on_open(std::shared_ptr<net::WsConnection> c) override {
          c->send_text(json::serialize(json::object{{"message_type", "invalid_request"}, {"error", p_}}));
          c->close(1008, "invalid request");
        }
        void on_text(std::string_view) override {}
        void on_close(std::string_view) override {}

       private:
        std::string p_;
      };
      return std::make_unique<Invalid>(problem);
    }
    return std::make_unique<SharedHandler>(std::move(h));
  });
}

}  // namespace vox::sim
