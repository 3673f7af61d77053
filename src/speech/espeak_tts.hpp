#pragma once
// Embedded TTS: espeak-ng (22.05 kHz) resampled to 8 kHz μ-law. espeak-ng has one
// global instance per process (and hangs if terminated and initialised again), so one
// process-wide worker thread owns it for the life of the process; every EspeakTts
// hands its jobs to that thread.
#include "core/config.hpp"
#include "speech/speech.hpp"

namespace vox::speech {

class EspeakTts final : public TextToSpeech {
 public:
  explicit EspeakTts(const TtsSettings& settings);
  ~EspeakTts() override;

  std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks callbacks) override;
  std::vector<VoiceInfo> voices() const override;
  std::string name() const override { return "espeak-ng"; }

  // Synthesizes synchronously on the calling thread's behalf and returns 8 kHz μ-law.
  // Convenience for tools and tests (blocks until done).
  std::vector<std::uint8_t> synthesize_blocking(const std::string& text, const std::string& voice = {});

 private:
  TtsSettings settings_;
};

}  // namespace vox::speech
