#pragma once
// Turns per-frame speech decisions into utterances: onset, end after a silence
// window, minimum speech length, maximum length. Driven purely by the media
// timestamps it is given, so tests control time exactly.
#include <cstdint>


namespace vox::audio {

struct EndpointingSettings {
  int silence_ms = 600;        // trailing silence that ends an utterance
  int min_speech_ms = 200;     // shorter bursts are dropped as noise
  int onset_ms = 100;          // speech needed in the last 200 ms to start an utterance
  int max_utterance_ms = 30000;
  int preroll_ms = 200;        // audio kept from before the onset
  int tail_ms = 100;           // silence kept after the last speech frame when the utterance is
                               // handed to STT (measured: long silent tails cost pocketsphinx accuracy)
};

enum class EndpointEvent {
  kNone,
  kSpeechStarted,       // enough speech to count as the caller talking
  kUtteranceEnded,      // silence window elapsed after real speech (or max length hit)
  kUtteranceDiscarded,  // speech ended but was shorter than min_speech_ms
};

class Endpointer {
 public:
  explicit Endpointer(const EndpointingSettings& settings, int frame_ms = 20);

  // Feeds one frame's decision at media time `t_ms` (start of the frame).
  EndpointEvent push(bool speech, std::int64_t t_ms);

  bool in_speech() const { return in_speech_; }
  // Media time of the onset of the current/last utterance.
  std::int64_t speech_start_ms() const { return start_ms_; }
  // Media time at which the last speech frame ended.
  std::int64_t last_speech_end_ms() const { return last_speech_end_ms_; }
  void reset();

 private:
  EndpointingSettings s_;
  int frame_ms_;
  int onset_frames_;
  std::uint32_t history_ = 0;  // last kWindow decisions, bit 0 newest
  bool in_speech_ = false;
  std::int64_t start_ms_ = 0;
  std::int64_t last_speech_end_ms_ = 0;
  static constexpr int kWindow = 10;
};

}  // namespace vox::audio
