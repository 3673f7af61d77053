#pragma once
// ElevenLabs speech-to-text behind the SpeechToText interface: realtime streaming
// (scribe_v2_realtime over WebSocket) while the caller speaks, committed by our own
// endpointing, with batch transcription (scribe_v1, REST) as the fallback.
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>

#include "core/breaker.hpp"
#include "elevenlabs/types.hpp"
#include "net/client.hpp"
#include "speech/speech.hpp"

namespace vox::speech {

struct ElevenLabsSttStats {
  std::atomic<long> batch_requests{0};
  std::atomic<long> realtime_sessions{0};
  std::atomic<long> realtime_transcripts{0};
  std::atomic<long> realtime_fallbacks{0};  // realtime failed; batch answered instead
  std::atomic<long> failures{0};
};

class ElevenLabsStt final : public SpeechToText {
 public:
  // `breaker` (optional, shared with the TTS): while it is open, requests fail at once so
  // the fallback engine answers.
  ElevenLabsStt(boost::asio::io_context& ioc, net::HttpClient& http, elevenlabs::Settings config,
                Breaker* breaker = nullptr);
  ~ElevenLabsStt() override;

  void transcribe(SttRequest request, std::function<void(SttResult)> done) override;
  std::unique_ptr<SttStream> open_stream() override;
  std::string name() const override { return "elevenlabs"; }

  const ElevenLabsSttStats& stats() const { return *stats_; }

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<ElevenLabsSttStats> stats_;
};

}  // namespace vox::speech
