#include "speech/elevenlabs_tts.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include "core/spawn.hpp"
#include "elevenlabs/rest_client.hpp"
#include "elevenlabs/tts_socket.hpp"
#include "net/thread_context.hpp"

namespace vox::speech {


namespace asio = boost::asio;
using elevenlabs::Alignment;

namespace {

// Turns per-character alignment into words with absolute start times. Alignment of a
// chunk may be relative to the chunk (WebSocket) or to the stream (REST); a chunk whose
// first time lies well before the text already aligned is taken as relative.
class WordAligner {
 public:
  // Feeds one chunk's alignment; `chunk_offset_ms` is where the chunk's audio starts.
  template <typename Emit>
  void feed(const Alignment& a, int chunk_offset_ms, Emit&& emit) {
    if (a.chars.empty()) return;
    const bool relative = chunk_offset_ms > 0 && a.start_ms.front() + 50 < chunk_offset_ms;
    for (std::size_t i = 0; i < a.chars.size(); ++i) {
      const int t = a.start_ms[i] + (relative ? chunk_offset_ms : 0);
      const std::string& c = a.chars[i];
      ++chars_;
      if (c == " " || c == "\n" || c == "\t" || c == "\r") {
        flush(emit);
        continue;
      }
      if (word_.empty()) start_ = t;
      word_ += c;
    }
  }
  template <typename Emit>
  void flush(Emit&& emit) {
    if (!word_.empty()) emit(WordTiming{word_, start_});
    word_.clear();
  }
  std::size_t chars() const { return chars_; }

 private:
  std::string word_;
  int start_ = 0;
  std::size_t chars_ = 0;
};

class Token final : public CancelToken {
 public:
  void cancel() override {
    CancelToken::cancel();
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      hook = std::move(hook_);
    }
    if (hook) hook();
  }
  void on_cancel(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
  }

 private:
  std::mutex mu_;
  std::function<void()> hook_;
};

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::size_t visible_chars(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if (!is_space(c)) ++n;
  return n;
}

}  // namespace

struct ElevenLabsTts::Shared : std::enable_shared_from_this<ElevenLabsTts::Shared> {
  asio::io_context& ioc;
  net::HttpClient& http;
  elevenlabs::Settings config;
  elevenlabs::RestClient rest;
  TextToSpeech* fallback;
  Breaker* breaker;
  std::shared_ptr<ElevenLabsTtsStats> stats;
  std::mutex mu;
  // Per network thread (its io_context) and voice settings: a call's replies use a socket on
  // the call's own thread.
  using SocketKey = std::pair<const asio::io_context*, elevenlabs::TtsSocketKey>;
  std::map<SocketKey, std::vector<std::shared_ptr<elevenlabs::TtsSocket>>> sockets;
  std::atomic<std::uint64_t> next_context{1};

  Shared(asio::io_context& io, net::HttpClient& h, elevenlabs::Settings c, TextToSpeech* fb, Breaker* b,
         std::shared_ptr<ElevenLabsTtsStats> s)
      : ioc(io), http(h), config(c), rest(h, c), fallback(fb), breaker(b), stats(std::move(s)) {}

  elevenlabs::TtsSocketKey key_for(const std::string& voice) const {
    elevenlabs::TtsSocketKey k;
    k.voice_id = voice.empty() ? config.voice_id : voice;
    k.model_id = config.tts_model;
    k.output_format = "ulaw_8000";
    k.language_code = config.language;
    return k;
  }

  // A live socket with room for another context, connecting one if needed.
  asio::awaitable<std::shared_ptr<elevenlabs::TtsSocket>> socket_for(elevenlabs::TtsSocketKey settings) {
    const SocketKey key(&net::context_of_this_thread(ioc), settings);
    {
      std::lock_guard lock(mu);
      auto& v = sockets[key];
      std::erase_if(v, [](const auto& s) { return !s->alive(); });
      // The service allows 5 contexts per socket; the slot is taken here, under the lock.
      for (auto& s : v)
        if (s->try_reserve(4)) co_return s;
    }
    auto s = co_await elevenlabs::TtsSocket::connect(config, settings);
    ++stats->socket_connects;
    s->try_reserve(4);
    std::lock_guard lock(mu);
    sockets[key].push_back(s);
    co_return s;
  }

  void close_all() {
    std::lock_guard lock(mu);
    for (auto& [k, v] : sockets)
      for (auto& s : v) s->close();
    sockets.clear();
  }
};

namespace {

// One reply being synthesized. Lives on its own strand. A streamed reply (`text_open`)
// takes more text with append() until close_text().
class Synthesis : public std::enable_shared_from_this<Synthesis> {
 public:
  Synthesis(std::shared_ptr<ElevenLabsTts::Shared> sh, TtsRequest req, TtsCallbacks cb, std::shared_ptr<Token> token,
            bool text_open = false)
      : sh_(std::move(sh)), req_(std::move(req)), cb_(std::move(cb)), token_(std::move(token)),
        strand_(asio::make_strand(net::context_of_this_thread(sh_->ioc))),  // the call's network thread
        timer_(strand_),
        total_chars_(visible_chars(req_.text)),
        text_open_(text_open) {}

  void append(std::string text) {
    asio::post(strand_, [self = shared_from_this(), t = std::move(text)]() mutable { self->on_append(std::move(t)); });
  }
  void close_text() {
    asio::post(strand_, [self = shared_from_this()] { self->on_close_text(); });
  }

  void start() {
    ++sh_->stats->requests;
    token_->on_cancel([w = weak_from_this()] {
      if (auto self = w.lock()) asio::post(self->strand_, [self] { self->cancelled(); });
    });
    vox::spawn(strand_, [self = shared_from_this()]() { return self->run(); }, "ElevenLabs TTS");
  }

 private:
  asio::awaitable<void> run() {
    auto self = shared_from_this();
    if (sh_->breaker && !sh_->breaker->allow()) {
      speak_rest_with_fallback("ElevenLabs is unreachable (" + sh_->breaker->reason() + ")");
      co_return;
    }
    if (sh_->config.tts_transport == "websocket") {
      try {
        auto sock = co_await sh_->socket_for(sh_->key_for(req_.voice_id));
        if (finished_ || token_->cancelled()) {
          sock->release();
          if (!finished_) finish(std::nullopt);
          co_return;
        }
        start_socket(sock);
        co_return;
      } catch (const std::exception& e) {
        spdlog::warn("elevenlabs tts socket unavailable ({}); using REST", e.what());
        ++sh_->stats->retries;
        elevenlabs::trip_on_slow_failure(sh_->breaker, e);
      }
    }
    co_await run_rest();
  }

  void start_socket(std::shared_ptr<elevenlabs::TtsSocket> sock) {
    socket_ = sock;
    context_id_ = "r" + std::to_string(sh_->next_context++);
    if (cb_.on_request_id) cb_.on_request_id(context_id_);
    ++sh_->stats->socket_contexts;
    // The socket holds the listener (and so this synthesis) until the context ends.
    // Events are tagged with this attempt: anything still queued from the socket after a
    // switch to REST (or the end) is dropped.
    auto self = shared_from_this();
    const int attempt = attempt_;
    elevenlabs::TtsSocket::Listener l;
    l.on_audio = [self, attempt](elevenlabs::TtsSocketMessage& m) {
      asio::post(self->strand_, [self, attempt, audio = std::move(m.audio), al = std::move(m.alignment)] {
        if (attempt == self->attempt_) self->deliver(audio, al ? &*al : nullptr);
      });
    };
    l.on_final = [self, attempt] {
      asio::post(self->strand_, [self, attempt] {
        if (attempt == self->attempt_) self->complete();
      });
    };
    l.on_error = [self, attempt](std::string why) {
      asio::post(self->strand_, [self, attempt, why] {
        if (attempt == self->attempt_) self->failed(why);
      });
    };
    std::optional<elevenlabs::VoiceSettings> settings = req_.settings;
    sock->start_context(context_id_, settings, sh_->config.chunk_length_schedule, std::move(l));
    send_to_socket(req_.text);
    if (req_.text.empty() && !text_open_) sock->send_text(context_id_, "", true);
    arm_watchdog();
  }

  // Sends text to the context, sentence by sentence; the last is flushed so it is
  // spoken now rather than when more text fills the service's buffer.
  void send_to_socket(const std::string& text) {
    auto pieces = elevenlabs::split_sentences(text);
    for (std::size_t i = 0; i < pieces.size(); ++i) socket_->send_text(context_id_, pieces[i], i + 1 == pieces.size());
  }

  void on_append(std::string text) {
    if (finished_ || !text_open_) return;
    const auto b = text.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return;
    text.erase(0, b);
    if (!req_.text.empty()) req_.text += ' ';
    req_.text += text;
    total_chars_ += visible_chars(text);
    // Before the socket is ready the text waits in req_.text; start_socket() sends it.
    // After a failure it waits for the end of the text (REST, or the fallback engine).
    if (socket_) {
      send_to_socket(text);
      arm_watchdog();
    }
  }

  void on_close_text() {
    if (!text_open_) return;
    text_open_ = false;
    if (finished_) return;
    if (rest_waiting_) {
      rest_waiting_ = false;
      vox::spawn(strand_, [self = shared_from_this()]() { return self->run_rest(); }, "ElevenLabs TTS");
    } else if (fallback_why_) {
      speak_rest_with_fallback(*fallback_why_);
    } else if (socket_) {
      arm_watchdog();
    }
  }

  // The end of a reply on the socket: the service sends isFinal only once a context is
  // closed, so a reply is complete when its alignment covers the whole text and the
  // socket has been quiet briefly (or, if no alignment comes at all, quiet for 1 s).
  // Otherwise silence means a stalled provider.
  void arm_watchdog() {
    const bool aligned_all = aligner_.chars() > 0 && aligned_visible_ >= total_chars_;
    const bool no_alignment = delivered_bytes_ > 0 && aligner_.chars() == 0;
    if (text_open_ && delivered_bytes_ > 0 && (aligned_all || no_alignment)) {
      // All text so far is spoken and more may come: wait for it (the agent's own
      // deadlines bound that wait), not for the service.
      ++watch_gen_;
      timer_.cancel();
      return;
    }
    // (First audio normally comes within a few hundred ms; a caller hears nothing until it
    // does, so a socket silent for 3 s is given up for the fallback.)
    const int wait_ms = delivered_bytes_ == 0 ? 3000 : aligned_all ? 250 : no_alignment ? 1000 : 2500;
    timer_.expires_after(std::chrono::milliseconds(wait_ms));
    timer_.async_wait([w = weak_from_this(), gen = ++watch_gen_, wait_ms](boost::system::error_code ec) {
      auto self = w.lock();
      if (ec || !self || self->finished_ || gen != self->watch_gen_ || !self->socket_) return;
      const bool done = self->delivered_bytes_ > 0 &&
                        ((self->aligner_.chars() > 0 && self->aligned_visible_ >= self->total_chars_) ||
                         self->aligner_.chars() == 0);
      if (done) {
        if (!self->text_open_) self->complete();
      } else {
        self->failed("ElevenLabs stalled (no audio for " + std::to_string(wait_ms) + " ms)");
      }
    });
  }

  void stop_socket_attempt(bool abort_socket) {
    ++attempt_;
    ++watch_gen_;
    timer_.cancel();
    if (!socket_) return;
    socket_->close_context(context_id_);
    if (abort_socket) socket_->abort();  // a stalled socket is not reused
    socket_.reset();
  }

  void deliver(const std::string& audio, const Alignment* al) {
    if (finished_ || token_->cancelled()) return;
    const int offset_ms = static_cast<int>(delivered_bytes_ / 8);
    if (al) {
      for (const auto& c : al->chars) aligned_visible_ += visible_chars(c);
      aligner_.feed(*al, offset_ms, [this](const WordTiming& w) {
        if (cb_.on_word) cb_.on_word(w);
      });
    }
    if (!audio.empty() && delivered_bytes_ == 0 && sh_->breaker) sh_->breaker->succeeded();  // once a reply
    if (!audio.empty() && cb_.on_audio)
      cb_.on_audio(std::span(reinterpret_cast<const std::uint8_t*>(audio.data()), audio.size()));
    delivered_bytes_ += audio.size();
    if (socket_) arm_watchdog();
  }

  asio::awaitable<void> run_rest() {
    auto self = shared_from_this();
    if (finished_) co_return;
    if (token_->cancelled()) {
      finish(std::nullopt);
      co_return;
    }
    if (text_open_) {  // REST takes the whole text: wait for its end
      rest_waiting_ = true;
      co_return;
    }
    if (sh_->breaker && !sh_->breaker->allow()) {  // e.g. the socket attempt just stalled
      speak_rest_with_fallback("ElevenLabs is unreachable (" + sh_->breaker->reason() + ")");
      co_return;
    }
    ++sh_->stats->rest_requests;
    elevenlabs::TtsOptions opt;
    opt.voice_id = req_.voice_id;
    opt.output_format = "ulaw_8000";
    opt.voice_settings = req_.settings;
    try {
      co_await sh_->rest.text_to_speech_timed_stream(req_.text, opt, [this](elevenlabs::TimedAudio& piece) {
        if (finished_ || token_->cancelled()) return false;
        deliver(piece.audio, piece.alignment ? &*piece.alignment : nullptr);
        return true;
      });
    } catch (const std::exception& e) {
      elevenlabs::trip_on_slow_failure(sh_->breaker, e);
      failed(e.what());
      co_return;
    }
    complete();
  }

  void cancelled() {
    if (finished_) return;
    ++sh_->stats->cancelled;
    stop_socket_attempt(false);
    finish(std::nullopt);
  }

  void complete() {
    if (finished_) return;
    stop_socket_attempt(false);
    aligner_.flush([this](const WordTiming& w) {
      if (cb_.on_word) cb_.on_word(w);
    });
    finish(std::nullopt);
  }

  // ElevenLabs failed: retry over REST if nothing was heard yet, else let the fallback
  // engine speak the rest of the text.
  void failed(const std::string& why) {
    if (finished_) return;
    if (token_->cancelled()) {
      finish(std::nullopt);
      return;
    }
    if (socket_) {
      const bool stalled = why.find("stalled") != std::string::npos;
      // Nothing at all came: the provider is not answering (a stall after some audio is
      // this socket's alone; it is dropped and not reused).
      if (stalled && delivered_bytes_ == 0 && sh_->breaker) sh_->breaker->failed(why);
      stop_socket_attempt(stalled);
      if (delivered_bytes_ == 0) {
        spdlog::warn("elevenlabs tts socket failed before audio ({}); retrying over REST", why);
        ++sh_->stats->retries;
        vox::spawn(strand_, [self = shared_from_this()]() { return self->run_rest(); }, "ElevenLabs TTS");
        return;
      }
    }
    speak_rest_with_fallback(why);
  }

  void speak_rest_with_fallback(const std::string& why) {
    if (text_open_) {  // the fallback speaks the rest once the text is complete
      if (!fallback_why_) {
        stop_socket_attempt(false);
        fallback_why_ = why;
      }
      return;
    }
    aligner_.flush([this](const WordTiming& w) {
      if (cb_.on_word) cb_.on_word(w);
    });
    const std::string rest = remaining_text();
    if (!sh_->fallback || rest.empty()) {
      ++sh_->stats->failures;
      finish(why);
      return;
    }
    ++sh_->stats->fallbacks;
    if (cb_.on_degraded) cb_.on_degraded("ElevenLabs failed after " + std::to_string(delivered_bytes_ / 8) + " ms (" + why + "); embedded engine spoke the rest");
    spdlog::warn("elevenlabs tts failed after {} ms of audio ({}); the fallback engine speaks the rest: \"{}\"",
                 delivered_bytes_ / 8, why, rest);
    stop_socket_attempt(false);
    finished_ = true;  // no more ElevenLabs audio
    const int offset_ms = static_cast<int>(delivered_bytes_ / 8);
    TtsCallbacks fb;
    fb.on_audio = cb_.on_audio;
    fb.on_word = [on_word = cb_.on_word, offset_ms](const WordTiming& w) {
      if (on_word) on_word(WordTiming{w.word, w.start_ms + offset_ms});
    };
    fb.on_done = [done = cb_.on_done](std::optional<std::string> err) {
      if (done) done(err);
    };
    TtsRequest r;
    r.text = rest;
    auto inner = sh_->fallback->synthesize(std::move(r), std::move(fb));
    token_->on_cancel([inner] { inner->cancel(); });
    if (token_->cancelled()) inner->cancel();
  }

  // The text not yet covered by delivered alignment.
  std::string remaining_text() const {
    if (aligned_visible_ == 0) return req_.text;
    std::size_t seen = 0;
    std::size_t i = 0;
    for (; i < req_.text.size() && seen < aligned_visible_; ++i)
      if (!is_space(req_.text[i])) ++seen;
    // Resume at the next word boundary so a half-spoken word is not repeated oddly.
    while (i < req_.text.size() && !is_space(req_.text[i])) ++i;
    const auto b = req_.text.find_first_not_of(" \t\r\n", i);
    return b == std::string::npos ? std::string() : req_.text.substr(b);
  }

  void finish(std::optional<std::string> error) {
    if (finished_) return;
    stop_socket_attempt(false);
    finished_ = true;
    if (cb_.on_done) cb_.on_done(std::move(error));
  }

  std::shared_ptr<ElevenLabsTts::Shared> sh_;
  TtsRequest req_;
  TtsCallbacks cb_;
  std::shared_ptr<Token> token_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer timer_;
  std::shared_ptr<elevenlabs::TtsSocket> socket_;
  std::string context_id_;
  WordAligner aligner_;
  std::size_t total_chars_;
  std::size_t aligned_visible_ = 0;
  std::size_t delivered_bytes_ = 0;
  std::uint64_t watch_gen_ = 0;
  int attempt_ = 0;
  bool finished_ = false;
  bool text_open_ = false;    // a streamed reply whose text has not all arrived
  bool rest_waiting_ = false;  // REST takes over once the text is complete
  std::optional<std::string> fallback_why_;  // the fallback engine takes over then
};

class Feed final : public TextFeed {
 public:
  explicit Feed(std::shared_ptr<Synthesis> s) : s_(std::move(s)) {}
  void append(std::string text) override { s_->append(std::move(text)); }
  void close() override { s_->close_text(); }

 private:
  std::shared_ptr<Synthesis> s_;
};

}  // namespace

ElevenLabsTts::ElevenLabsTts(asio::io_context& ioc, net::HttpClient& http, elevenlabs::Settings config,
                             TextToSpeech* fallback, Breaker* breaker)
    : stats_(std::make_shared<ElevenLabsTtsStats>()) {
  shared_ = std::make_shared<Shared>(ioc, http, std::move(config), fallback, breaker, stats_);
}

ElevenLabsTts::~ElevenLabsTts() { shared_->close_all(); }

void ElevenLabsTts::close() { shared_->close_all(); }

std::shared_ptr<CancelToken> ElevenLabsTts::synthesize(TtsRequest request, TtsCallbacks callbacks) {
  auto token = std::make_shared<Token>();
  auto s = std::make_shared<Synthesis>(shared_, std::move(request), std::move(callbacks), token);
  s->start();
  return token;
}

TtsStream ElevenLabsTts::synthesize_stream(TtsRequest request, TtsCallbacks callbacks) {
  if (shared_->config.tts_transport != "websocket")
    return TextToSpeech::synthesize_stream(std::move(request), std::move(callbacks));
  auto token = std::make_shared<Token>();
  auto s = std::make_shared<Synthesis>(shared_, std::move(request), std::move(callbacks), token, true);
  s->start();
  TtsStream out;
  out.token = token;
  out.feed = std::make_shared<Feed>(s);
  return out;
}

std::vector<VoiceInfo> ElevenLabsTts::voices() const { return {}; }

std::string ElevenLabsTts::cache_identity() const {
  return "elevenlabs|" + shared_->config.tts_model + "|ulaw_8000|" + shared_->config.language + "|" +
         shared_->config.voice_id;
}

void ElevenLabsTts::warm_up() {
  if (shared_->config.tts_transport != "websocket") return;
  auto sh = shared_;
  vox::spawn(asio::make_strand(net::context_of_this_thread(sh->ioc)), [sh]() -> asio::awaitable<void> {
    try {
      co_await sh->socket_for(sh->key_for(""));
    } catch (const std::exception& e) {
      spdlog::warn("elevenlabs tts warm-up failed: {}", e.what());
    }
  }, "ElevenLabs TTS");
}

}  // namespace vox::speech
