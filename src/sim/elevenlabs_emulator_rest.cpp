// The ElevenLabs emulator's REST speech endpoints: text-to-speech (whole, streamed, with
// timestamps) and speech-to-text.
#include "sim/elevenlabs_emulator_impl.hpp"
#include "sim/multipart.hpp"
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

asio::awaitable<HttpResponse> ElevenLabsEmulator::Impl::text_to_speech(const HttpRequest& req, const std::vector<std::pair<std::string, std::string>>& form) {
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
    r.body = vox::json_text(json::object{{"audio_base64", b64}, {"alignment", a}, {"normalized_alignment", a}});
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
        out = vox::json_text(line) + "\n";
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

json::object ElevenLabsEmulator::Impl::alignment_seconds(const CharTimes& ct, std::size_t from, std::size_t to) const {
  json::array chars, starts, ends;
  for (std::size_t i = from; i < to; ++i) {
    chars.push_back(json::string(ct.chars[i]));
    starts.push_back(ct.start_ms[i] / 1000.0);
    ends.push_back((ct.start_ms[i] + ct.dur_ms[i]) / 1000.0);
  }
  return json::object{{"characters", chars}, {"character_start_times_seconds", starts}, {"character_end_times_seconds", ends}};
}

asio::awaitable<HttpResponse> ElevenLabsEmulator::Impl::speech_to_text(const HttpRequest& req) {
  auto form = parse_multipart(req.header("content-type"), req.body);
  if (!form) {
    record(req, 422);
    co_return validation_error({{{"body"}, "expected multipart/form-data"}});
  }
  auto& fields = form->fields;
  const bool has_file = form->file.has_value();
  const std::string file = has_file ? *form->file : std::string();
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
  co_return HttpResponse::json(200, vox::json_text(transcript_json(r.text, duration)));
}

json::object ElevenLabsEmulator::Impl::transcript_json(const std::string& text, double duration) const {
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

}  // namespace vox::sim
