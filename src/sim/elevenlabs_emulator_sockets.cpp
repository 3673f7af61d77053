// The ElevenLabs emulator's WebSockets: TTS stream-input and multi-stream-input, and
// realtime speech-to-text.
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
      if (conn_) conn_->send_text(vox::json_text(json::object{{"isFinal", true}, {"contextId", id}}));
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
    if (const auto* vs = o.if_contains("voice_settings"); vs && !vs->is_null()) settings = vox::json_text(*vs);
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
  // The socket's request path, as fault rules match it ("/v1/text-to-speech/<voice>/multi-stream-input").
  std::string path() const {
    return "/v1/text-to-speech/" + voice_ + (multi_ ? "/multi-stream-input" : "/stream-input");
  }

  void protocol_error(const std::string& message) {
    if (!conn_) return;
    conn_->send_text(vox::json_text(json::object{{"message", message}, {"error", "invalid_input_message"}, {"code", 1008}}));
    conn_->close(1008, message);
  }

  void close_policy(const std::string& reason, const std::string& error) {
    if (!conn_) return;
    conn_->send_text(vox::json_text(json::object{{"message", reason}, {"error", error}, {"code", 1008}}));
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
          if (conn_) conn_->send_text(vox::json_text(m));
          if (off + per < s.ulaw.size()) co_await em_->sleep_ms(em_->chunk_interval_ms.load());
        }
      }
      it = contexts_.find(id);
      // stream-input: isFinal after the end of input. multi-stream-input sends it when a
      // context is closed (see close_context), not after a flush.
      if (!multi_ && final_after && conn_ && !closed_ && it != contexts_.end() && it->second.generation == gen) {
        json::object fin{{"isFinal", true}};
        if (multi_) fin["contextId"] = id;
        conn_->send_text(vox::json_text(fin));
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
    conn_->send_text(vox::json_text(json::object{{"message_type", "session_started"}, {"session_id", session_id_}, {"config", config}}));
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
    if (conn_) conn_->send_text(vox::json_text(json::object{{"message_type", kind}, {"error", text}}));
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
        self->conn_->send_text(vox::json_text(json::object{{"message_type", "partial_transcript"}, {"text", r.text}}));
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
          self->conn_->send_text(vox::json_text(json::object{{"message_type", "committed_transcript"}, {"text", text}}));
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


std::unique_ptr<net::WsHandler> tts_socket(std::shared_ptr<ElevenLabsEmulator::Impl> impl, const HttpRequest& req,
                                           HttpResponse& reject, bool multi) {
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
}

std::unique_ptr<net::WsHandler> realtime_stt_socket(std::shared_ptr<ElevenLabsEmulator::Impl> impl,
                                                    const HttpRequest& req, HttpResponse& reject) {
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
          c->send_text(vox::json_text(json::object{{"message_type", "invalid_request"}, {"error", p_}}));
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
}

}  // namespace vox::sim
