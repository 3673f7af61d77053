#pragma once
// Embedded TTS: espeak-ng (22.05 kHz) resampled to 8 kHz μ-law. espeak-ng has one
// global instance per process (and hangs if terminated and initialised again), so one
// process-wide worker thread owns it for the life of the process; every EspeakTts
// hands its jobs to that thread.
#include <string>

#include "speech/speech.hpp"

namespace vox::speech {

struct EspeakSettings {
  std::string voice = "en-us";  // espeak-ng voice (e.g. en-us+Alex)
  int rate_wpm = 175;
  // An unknown voice fails the synthesis (tools) instead of falling back to this voice
  // and then "en" with a warning (calls, which must never go silent).
  bool strict_voice = false;
};

class EspeakTts final : public TextToSpeech {
 public:
  explicit EspeakTts(const EspeakSettings& settings);
  ~EspeakTts() override;

  std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks callbacks) override;
  std::vector<VoiceInfo> voices() const override;
  std::string name() const override { return "espeak-ng"; }

  // Synthesizes synchronously on the calling thread's behalf and returns 8 kHz μ-law.
  // Convenience for tools and tests (blocks until done).
  // `error` (if given) receives why the synthesis failed ("" when it did not).
  std::vector<std::uint8_t> synthesize_blocking(const std::string& text, const std::string& voice = {},
                                                std::string* error = nullptr);

 private:
  EspeakSettings settings_;
};

}  // namespace vox::speech
