#pragma once
// ElevenLabs text-to-speech behind the TextToSpeech interface. Replies are requested
// as ulaw_8000 and forwarded as they arrive, without transcoding. The primary path is a
// warm multi-stream-input WebSocket (one context per reply, closed at once on barge-in);
// REST /stream/with-timestamps is the retry path; when ElevenLabs fails mid-reply the
// rest of the text is spoken by the fallback engine, so a call never goes silent.
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>

#include "core/breaker.hpp"
#include "elevenlabs/types.hpp"
#include "net/client.hpp"
#include "speech/speech.hpp"

namespace vox::speech {

struct ElevenLabsTtsStats {
  std::atomic<long> requests{0};
  std::atomic<long> socket_connects{0};
  std::atomic<long> socket_contexts{0};
  std::atomic<long> rest_requests{0};
  std::atomic<long> retries{0};              // primary path failed before audio; REST retried
  std::atomic<long> fallbacks{0};            // the fallback engine spoke (all or the rest of) a reply
  std::atomic<long> cancelled{0};
  std::atomic<long> failures{0};
};

class ElevenLabsTts final : public TextToSpeech {
 public:
  // `fallback` speaks when ElevenLabs cannot (may be null: then the reply ends early).
  // `breaker` (optional, shared with the STT): while it is open, replies go straight to
  // the fallback instead of waiting out ElevenLabs' timeouts.
  ElevenLabsTts(boost::asio::io_context& ioc, net::HttpClient& http, elevenlabs::Settings config,
                TextToSpeech* fallback, Breaker* breaker = nullptr);
  ~ElevenLabsTts() override;

  std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks callbacks) override;
  // Over the WebSocket, one context takes the text as its parts arrive (each part is
  // flushed, so it is spoken at once, with the prosody of one utterance); over REST, the
  // parts are spoken one after another.
  TtsStream synthesize_stream(TtsRequest request, TtsCallbacks callbacks) override;
  std::vector<VoiceInfo> voices() const override;
  std::string name() const override { return "elevenlabs"; }
  std::string cache_identity() const override;

  // Opens the WebSocket for the default voice now, so the first reply skips the handshake.
  void warm_up();
  // Closes the warm sockets (shutdown); a later reply opens a new one.
  void close();
  const ElevenLabsTtsStats& stats() const { return *stats_; }

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<ElevenLabsTtsStats> stats_;
};

}  // namespace vox::speech
