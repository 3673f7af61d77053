// The default streamed utterance: each part of the text is synthesized with the engine's
// synthesize() once the part before it is done, and the parts' audio and word times are
// joined into one utterance (espeak-ng: sentence by sentence).
#include <deque>
#include <mutex>

#include "speech/speech.hpp"

namespace vox::speech {

namespace {

class SequentialFeed final : public TextFeed, public CancelToken, public std::enable_shared_from_this<SequentialFeed> {
 public:
  SequentialFeed(TextToSpeech& engine, TtsRequest request, TtsCallbacks callbacks)
      : engine_(engine), request_(std::move(request)), cb_(std::move(callbacks)) {}

  void append(std::string text) override {
    {
      std::lock_guard lock(mu_);
      if (closed_ || done_) return;
      if (!text.empty()) pending_.push_back(std::move(text));
    }
    pump();
  }

  void close() override {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    pump();
  }

  void cancel() override {
    CancelToken::cancel();
    std::shared_ptr<CancelToken> inner;
    {
      std::lock_guard lock(mu_);
      inner = inner_;
    }
    if (inner) inner->cancel();  // its on_done ends the utterance
    pump();                      // or, between parts, this does
  }

 private:
  // Starts the next part when none is being synthesized, or ends the utterance.
  void pump() {
    std::string text;
    std::optional<std::string> end;
    bool ending = false;
    {
      std::lock_guard lock(mu_);
      if (busy_ || done_) return;
      if (cancelled() || error_) {
        done_ = ending = true;
        end = error_;
      } else if (pending_.empty()) {
        if (!closed_) return;
        done_ = ending = true;
      } else {
        text = std::move(pending_.front());
        pending_.pop_front();
        busy_ = true;
        offset_ms_ = static_cast<int>(bytes_ / 8);
        ++part_;
      }
    }
    if (ending) {
      if (cb_.on_done) cb_.on_done(std::move(end));
      return;
    }
    TtsRequest r = request_;
    r.text = std::move(text);
    auto self = shared_from_this();
    const int part = part_;
    TtsCallbacks cb;
    cb.on_audio = [self](std::span<const std::uint8_t> audio) {
      {
        std::lock_guard lock(self->mu_);
        self->bytes_ += audio.size();
      }
      if (self->cb_.on_audio) self->cb_.on_audio(audio);
    };
    const int offset = offset_ms_;
    cb.on_word = [self, offset](const WordTiming& w) {
      if (self->cb_.on_word) self->cb_.on_word(WordTiming{w.word, w.start_ms + offset});
    };
    cb.on_degraded = cb_.on_degraded;
    cb.on_request_id = cb_.on_request_id;
    cb.on_done = [self, part](std::optional<std::string> error) {
      {
        std::lock_guard lock(self->mu_);
        if (part != self->part_) return;
        self->busy_ = false;
        self->inner_.reset();
        if (error) self->error_ = std::move(error);
      }
      self->pump();
    };
    auto inner = engine_.synthesize(std::move(r), std::move(cb));
    bool cancel_now = false;
    {
      std::lock_guard lock(mu_);
      // (A part may have finished already, synchronously, e.g. from a cache.)
      if (busy_ && part == part_) inner_ = inner;
      cancel_now = cancelled();
    }
    if (cancel_now) inner->cancel();
  }

  TextToSpeech& engine_;
  const TtsRequest request_;
  const TtsCallbacks cb_;
  std::mutex mu_;
  std::deque<std::string> pending_;
  std::shared_ptr<CancelToken> inner_;
  std::optional<std::string> error_;
  std::size_t bytes_ = 0;
  int offset_ms_ = 0;
  int part_ = 0;
  bool busy_ = false;
  bool closed_ = false;
  bool done_ = false;
};

}  // namespace

TtsStream TextToSpeech::synthesize_stream(TtsRequest request, TtsCallbacks callbacks) {
  std::string first = std::move(request.text);
  request.text.clear();
  auto feed = std::make_shared<SequentialFeed>(*this, std::move(request), std::move(callbacks));
  feed->append(std::move(first));
  return TtsStream{feed, feed};
}

}  // namespace vox::speech
