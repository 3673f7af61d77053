#include "audio/endpointer.hpp"

#include <algorithm>
#include <bit>

namespace vox::audio {

Endpointer::Endpointer(const EndpointingSettings& settings, int frame_ms)
    : s_(settings), frame_ms_(frame_ms) {
  onset_frames_ = std::clamp((s_.onset_ms + frame_ms_ - 1) / frame_ms_, 1, kWindow);
}

void Endpointer::reset() {
  history_ = 0;
  in_speech_ = false;
}

EndpointEvent Endpointer::push(bool speech, std::int64_t t_ms) {
  history_ = ((history_ << 1) | (speech ? 1u : 0u)) & ((1u << kWindow) - 1);
  if (!in_speech_) {
    if (speech && std::popcount(history_) >= onset_frames_) {
      in_speech_ = true;
      // The onset is the oldest speech frame still in the window.
      const int oldest = std::bit_width(history_) - 1;
      start_ms_ = t_ms - static_cast<std::int64_t>(oldest) * frame_ms_;
      last_speech_end_ms_ = t_ms + frame_ms_;
      return EndpointEvent::kSpeechStarted;
    }
    return EndpointEvent::kNone;
  }
  if (speech) last_speech_end_ms_ = t_ms + frame_ms_;
  const std::int64_t now_end = t_ms + frame_ms_;
  const bool silence_done = now_end - last_speech_end_ms_ >= s_.silence_ms;
  const bool too_long = now_end - start_ms_ >= s_.max_utterance_ms;
  if (!silence_done && !too_long) return EndpointEvent::kNone;
  in_speech_ = false;
  history_ = 0;
  const std::int64_t spoken = last_speech_end_ms_ - start_ms_;
  return spoken >= s_.min_speech_ms ? EndpointEvent::kUtteranceEnded : EndpointEvent::kUtteranceDiscarded;
}

}  // namespace vox::audio
