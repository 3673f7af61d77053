#include "speech/elevenlabs_stt.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "core/spawn.hpp"
#include "audio/formats.hpp"
#include "audio/g711.hpp"
#include "core/base64.hpp"
#include "elevenlabs/codec.hpp"
#include "elevenlabs/rest_client.hpp"
#include "net/thread_context.hpp"

namespace vox::speech {
namespace asio = boost::asio;

struct ElevenLabsStt::Shared {
  asio::io_context& ioc;
  net::HttpClient& http;
  elevenlabs::Settings config;
  elevenlabs::RestClient rest;
  std::shared_ptr<ElevenLabsSttStats> stats;
  Breaker* breaker;

  Shared(asio::io_context& io, net::HttpClient& h, elevenlabs::Settings c, std::shared_ptr<ElevenLabsSttStats> s,
         Breaker* b)
      : ioc(io), http(h), config(c), rest(h, c), stats(std::move(s)), breaker(b) {}

  // Batch transcription of a μ-law utterance, sent as a 16-bit PCM WAV.
  asio::awaitable<SttResult> batch(std::vector<std::uint8_t> ulaw, std::string language) {
    ++stats->batch_requests;
    std::vector<std::int16_t> pcm(ulaw.size());
    audio::ulaw_decode(ulaw, pcm);
    const auto fmt = audio::parse_output_format("wav_8000");
    auto wav = audio::encode_audio(pcm, 8000, *fmt);
    elevenlabs::SttOptions opt;
    opt.language_code = language;
    if (breaker && !breaker->allow()) co_return SttResult{false, {}, "ElevenLabs is unreachable (" + breaker->reason() + ")"};
    try {
      auto t = co_await rest.speech_to_text(std::string(wav.begin(), wav.end()), opt);
      if (breaker) breaker->succeeded();
      co_return SttResult{true, t.text, {}};
    } catch (const std::exception& e) {
      ++stats->failures;
      elevenlabs::trip_on_slow_failure(breaker, e);
      co_return SttResult{false, {}, e.what()};
    }
  }
};

namespace {

// One realtime session: audio is forwarded in ~100 ms batches; finish() commits and
// waits for the committed transcript, falling back to batch STT on any failure.
class RealtimeStream final : public SttStream {
 public:
  struct State : std::enable_shared_from_this<State> {
    std::shared_ptr<ElevenLabsStt::Shared> shared;
    asio::strand<asio::io_context::executor_type> strand;
    std::shared_ptr<net::WsClient> ws;
    bool connecting = true;
    bool failed = false;
    std::string failure;
    std::vector<std::string> queued;         // messages waiting for the connection
    std::vector<std::uint8_t> all_audio;     // for the batch fallback
    std::function<void(SttResult)> done;     // set by finish()
    bool committed = false;
    std::optional<std::string> transcript;
    std::string last_partial;
    std::function<void(std::string)> partial;  // the caller's words so far, as they change
    std::unique_ptr<asio::steady_timer> deadline;
    bool closed = false;

    // On the calling call's network thread, like the call itself.
    explicit State(std::shared_ptr<ElevenLabsStt::Shared> s)
        : shared(std::move(s)), strand(asio::make_strand(net::context_of_this_thread(shared->ioc))) {
      all_audio.reserve(8000 * 15);
    }

    std::string url() const {
      const auto& c = shared->config;
      std::string u = c.ws_base();
      while (!u.empty() && u.back() == '/') u.pop_back();
      u += "/v1/speech-to-text/realtime?model_id=" + elevenlabs::url_encode(c.realtime_stt_model) +
           "&audio_format=ulaw_8000&commit_strategy=manual";
      if (!c.language.empty()) u += "&language_code=" + elevenlabs::url_encode(c.language);
      return u;
    }

    asio::awaitable<void> run() {
      auto self = shared_from_this();
      net::Headers headers;
      headers.emplace_back("xi-api-key", shared->config.api_key);
      net::TlsOptions tls;
      tls.ca_file = shared->config.ca_file;
      try {
        ws = co_await net::WsClient::connect(url(), std::move(headers), std::move(tls), std::chrono::seconds(3));
      } catch (const std::exception& e) {
        connecting = false;
        elevenlabs::trip_on_slow_failure(shared->breaker, e);
        fail(std::string("realtime STT connect: ") + e.what());
        co_return;
      }
      connecting = false;
      if (closed) {
        ws->close();
        co_return;
      }
      for (auto& m : queued) ws->send(std::move(m));  // audio, and the commit if finish() came first
      queued.clear();
      for (;;) {
        auto msg = co_await ws->read();
        if (!msg) break;
        elevenlabs::RealtimeMessage m;
        try {
          m = elevenlabs::codec::parse_realtime_message(*msg);
        } catch (const std::exception& e) {
          spdlog::warn("realtime STT: unreadable message ({})", e.what());
          continue;
        }
        using T = elevenlabs::RealtimeMessage::Type;
        if (m.type == T::kPartial && m.text != last_partial) {
          last_partial = m.text;
          if (partial && !m.text.empty() && !committed) partial(m.text);
        }
        if (m.type != T::kPartial) spdlog::debug("realtime STT message type={} text=\"{}\" committed={}", m.message_type, m.text, committed);
        if ((m.type == T::kCommitted || m.type == T::kCommittedWithTimestamps) && committed && !transcript) {
          transcript = m.text;
          complete();
        }
        if (m.type == T::kError) {
          // Silence committed is an empty transcript, not a failure.
          if (committed && !transcript && m.message_type == "insufficient_audio_activity") {
            transcript = std::string();
            complete();
          } else {
            fail("realtime STT " + m.message_type + ": " + m.error);
          }
        }
      }
      if (!transcript) {
        std::string why = "realtime STT connection closed";
        if (ws->close_code()) why += " (" + std::to_string(ws->close_code()) + " " + ws->close_reason() + ")";
        fail(why);
      }
    }

    void send(std::string m) {
      if (failed || closed) return;
      if (connecting) queued.push_back(std::move(m));
      else if (ws) ws->send(std::move(m));
    }

    void fail(std::string why) {
      if (failed || transcript) return;
      failed = true;
      failure = std::move(why);
      if (done) fallback();
    }

    // The batch fallback, once the caller has finished speaking.
    void fallback() {
      spdlog::warn("realtime STT failed ({}); falling back to batch STT", failure);
      ++shared->stats->realtime_fallbacks;
      auto d = std::move(done);
      done = nullptr;
      if (deadline) deadline->cancel();
      auto sh = shared;
      auto audio = std::move(all_audio);
      asio::co_spawn(strand, [sh, audio = std::move(audio)]() mutable { return sh->batch(std::move(audio), sh->config.language); },
                     [d = std::move(d)](std::exception_ptr, SttResult r) { d(std::move(r)); });
      shutdown();
    }

    void complete() {
      ++shared->stats->realtime_transcripts;
      if (shared->breaker) shared->breaker->succeeded();
      if (deadline) deadline->cancel();
      auto d = std::move(done);
      done = nullptr;
      shutdown();
      if (d) d(SttResult{true, *transcript, {}});
    }

    void shutdown() {
      if (closed) return;
      closed = true;
      if (ws) ws->close();
    }
  };

  explicit RealtimeStream(std::shared_ptr<ElevenLabsStt::Shared> shared)
      : state_(std::make_shared<State>(std::move(shared))) {
    ++state_->shared->stats->realtime_sessions;
    batch_.reserve(kBatchBytes);
    vox::spawn(state_->strand, [s = state_]() { return s->run(); }, "ElevenLabs realtime STT");
  }

  ~RealtimeStream() override {
    asio::post(state_->strand, [s = state_] {
      if (!s->done) s->shutdown();
    });
  }

  void on_partial(std::function<void(std::string)> partial) override {
    asio::post(state_->strand, [s = state_, partial = std::move(partial)]() mutable { s->partial = std::move(partial); });
  }

  void push(std::span<const std::uint8_t> ulaw) override {
    batch_.insert(batch_.end(), ulaw.begin(), ulaw.end());
    if (batch_.size() >= kBatchBytes) flush_batch();
  }

  void finish(std::function<void(SttResult)> done) override {
    flush_batch();
    asio::post(state_->strand, [s = state_, done = std::move(done)]() mutable {
      s->done = std::move(done);
      s->committed = true;
      if (s->failed) {
        s->fallback();
        return;
      }
      s->send(elevenlabs::codec::realtime_audio_chunk("", true, 8000));
      // No committed transcript within the deadline: the batch fallback answers.
      s->deadline = std::make_unique<asio::steady_timer>(s->strand, std::chrono::seconds(4));
      s->deadline->async_wait([s](boost::system::error_code ec) {
        if (ec || !s->done) return;
        s->failed = true;
        s->failure = "no committed transcript within 4 s";
        if (s->shared->breaker) s->shared->breaker->failed("realtime STT: " + s->failure);
        s->fallback();
      });
    });
  }

 private:
  static constexpr std::size_t kBatchBytes = 800;  // 100 ms of 8 kHz μ-law
  static constexpr std::size_t kMaxAudio = 8000 * 60;  // one minute

  void flush_batch() {
    if (batch_.empty()) return;
    asio::post(state_->strand, [s = state_, chunk = std::move(batch_)] {
      if (s->all_audio.size() + chunk.size() > kMaxAudio) return;  // the endpointer caps utterances; this caps us
      s->all_audio.insert(s->all_audio.end(), chunk.begin(), chunk.end());
      std::string b64;
      base64::append(b64, chunk);
      s->send(elevenlabs::codec::realtime_audio_chunk(b64, false, 8000));
    });
    batch_ = {};
    batch_.reserve(kBatchBytes);
  }

  std::shared_ptr<State> state_;
  std::vector<std::uint8_t> batch_;
};

}  // namespace

ElevenLabsStt::ElevenLabsStt(asio::io_context& ioc, net::HttpClient& http, elevenlabs::Settings config,
                             Breaker* breaker)
    : stats_(std::make_shared<ElevenLabsSttStats>()) {
  shared_ = std::make_shared<Shared>(ioc, http, std::move(config), stats_, breaker);
}

ElevenLabsStt::~ElevenLabsStt() = default;

void ElevenLabsStt::transcribe(SttRequest request, std::function<void(SttResult)> done) {
  auto sh = shared_;
  auto lang = request.language.empty() ? sh->config.language : request.language;
  asio::co_spawn(asio::make_strand(net::context_of_this_thread(sh->ioc)),
                 [sh, audio = std::move(request.ulaw_8k), lang]() mutable { return sh->batch(std::move(audio), lang); },
                 [done = std::move(done)](std::exception_ptr e, SttResult r) {
                   if (e) r = SttResult{false, {}, "STT failed"};
                   done(std::move(r));
                 });
}

std::unique_ptr<SttStream> ElevenLabsStt::open_stream() {
  if (!shared_->config.realtime_stt) return nullptr;
  // While ElevenLabs is down the utterance is transcribed whole (by the fallback engine).
  if (shared_->breaker && !shared_->breaker->allow()) return nullptr;
  return std::make_unique<RealtimeStream>(shared_);
}

}  // namespace vox::speech
