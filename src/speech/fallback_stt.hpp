#pragma once
// Tries a primary speech-to-text engine and asks a secondary one when it fails, so a
// provider outage degrades recognition instead of losing the caller's words.
#include <atomic>
#include <memory>
#include <vector>

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
  // A live stream of the primary; if it fails, the secondary transcribes the audio.
  std::unique_ptr<SttStream> open_stream() override {
    auto inner = primary_.open_stream();
    if (!inner) return nullptr;
    return std::make_unique<Stream>(*this, std::move(inner));
  }
  std::string name() const override { return primary_.name() + "+" + secondary_.name(); }
  long fallbacks() const { return fallbacks_.load(); }

 private:
  class Stream final : public SttStream {
   public:
    Stream(FallbackStt& owner, std::unique_ptr<SttStream> inner) : owner_(owner), inner_(std::move(inner)) {
      audio_.reserve(8000 * 30);
    }
    void push(std::span<const std::uint8_t> ulaw) override {
      if (audio_.size() + ulaw.size() <= 8000 * 60) audio_.insert(audio_.end(), ulaw.begin(), ulaw.end());
      inner_->push(ulaw);
    }
    void on_partial(std::function<void(std::string)> partial) override { inner_->on_partial(std::move(partial)); }
    void finish(std::function<void(SttResult)> done) override {
      auto audio = std::make_shared<std::vector<std::uint8_t>>(std::move(audio_));
      FallbackStt* owner = &owner_;
      inner_->finish([owner, audio, done = std::move(done)](SttResult r) mutable {
        if (r.ok) return done(std::move(r));
        ++owner->fallbacks_;
        owner->secondary_.transcribe(SttRequest{std::move(*audio), {}}, std::move(done));
      });
    }

   private:
    FallbackStt& owner_;
    std::unique_ptr<SttStream> inner_;
    std::vector<std::uint8_t> audio_;
  };

  SpeechToText& primary_;
  SpeechToText& secondary_;
  std::atomic<long> fallbacks_{0};
};

}  // namespace vox::speech
