#pragma once
// Embedded TTS: espeak-ng (22.05 kHz) resampled to 8 kHz μ-law. espeak-ng has one
// global instance per process, so every synthesis runs on one dedicated thread.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

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
  struct Job {
    TtsRequest request;
    TtsCallbacks callbacks;
    std::shared_ptr<CancelToken> token;
  };
  void run();
  void synth_one(Job& job);

  TtsSettings settings_;
  int sample_rate_ = 22050;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vox::speech
