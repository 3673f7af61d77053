#pragma once
// Tries a primary speech-to-text engine and asks a secondary one when it fails, so a
// provider outage degrades recognition instead of losing the caller's words.
#include <atomic>

#include "speech/speech.hpp"

namespace vox::speech {

class FallbackStt final : public SpeechToText {
 public:
  FallbackStt(SpeechToText& primary, SpeechToText& secondary) : primary_(primary), secondary_(secondary) {}

  void transcribe(SttRequest request, std::function<void(SttResult)> done) override {
    auto copy = std::make_shared<SttRequest>(request);
    primary_.transcribe(std::move(request), [this, copy, done = std::move(done)](SttResult r) mutable {
      if (r.ok) return done(std::move(r));
      ++fallbacks_;
      secondary_.transcribe(std::move(*copy), std::move(done));
    });
  }
  std::unique_ptr<SttStream> open_stream() override { return primary_.open_stream(); }
  std::string name() const override { return primary_.name() + "+" + secondary_.name(); }
  long fallbacks() const { return fallbacks_.load(); }

 private:
  SpeechToText& primary_;
  SpeechToText& secondary_;
  std::atomic<long> fallbacks_{0};
};

}  // namespace vox::speech
