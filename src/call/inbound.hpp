#pragma once
// The inbound half of a call: the caller's μ-law audio cut into 20 ms frames, each
// judged by the VAD, the endpointer turning frames into utterances, a pre-roll kept so
// the recogniser hears the onset, and a realtime STT stream fed while the caller speaks.
// Pure logic driven by media time: no Asio, no allocation per frame (buffers are sized
// once), testable frame by frame.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "audio/endpointer.hpp"
#include "audio/vad.hpp"
#include "speech/speech.hpp"

namespace vox::call {

struct InboundSettings {
  audio::VadSettings vad;
  audio::EndpointingSettings endpointing;
};

// A finished utterance: the audio to recognise (speech plus a short tail), when it was
// spoken (media time), and the realtime STT stream that heard it (if one was open).
struct Utterance {
  std::vector<std::uint8_t> ulaw;
  std::int64_t speech_start_ms = 0;
  std::int64_t speech_end_ms = 0;
  std::int64_t endpoint_ms = 0;  // media time the end was decided at
  std::unique_ptr<speech::SttStream> stream;
};

class InboundListener {
 public:
  virtual ~InboundListener() = default;
  // The caller began to speak at media time `onset_ms`.
  virtual void speech_started(std::int64_t onset_ms) = 0;
  // The caller stopped; `u` is theirs to recognise.
  virtual void utterance(Utterance&& u) = 0;
  // A burst too short to be speech ended.
  virtual void discarded() = 0;
};

class InboundPipeline {
 public:
  // `open_stream` opens a realtime STT stream at each onset (null, or returning null:
  // batch recognition of the finished utterance).
  InboundPipeline(const InboundSettings& settings, InboundListener& listener,
                  std::function<std::unique_ptr<speech::SttStream>()> open_stream);

  // What one media message was.
  struct Pushed {
    std::int64_t start_ms = 0;  // media time its audio starts at
    std::size_t frames = 0;     // 20 ms frames it completed
  };
  // Takes one media message's audio, stamped `timestamp_ms` (-1: right after the last).
  // Listener calls happen inside; stops early once `stop` (checked after each frame) is true.
  Pushed push(std::span<const std::uint8_t> ulaw, std::int64_t timestamp_ms, const bool* stop = nullptr);

  bool in_speech() const { return endpointer_.in_speech(); }
  // Media time right after the last audio received.
  std::int64_t media_clock_ms() const { return media_clock_ms_; }
  // Media time of the frame being processed (inside listener calls).
  std::int64_t frame_ms() const { return frame_ms_; }
  std::uint64_t frames() const { return frames_; }
  // Drops an utterance in progress (its STT stream too).
  void reset();

 private:
  void process(std::span<const std::uint8_t, 160> ulaw, std::int64_t t_ms);

  InboundSettings settings_;
  InboundListener& listener_;
  std::function<std::unique_ptr<speech::SttStream>()> open_stream_;
  audio::VoiceDetector vad_;
  audio::Endpointer endpointer_;
  std::array<std::uint8_t, 160> frame_buf_{};
  std::size_t frame_fill_ = 0;
  std::int64_t media_clock_ms_ = 0;
  std::int64_t frame_ms_ = 0;
  std::uint64_t frames_ = 0;
  std::vector<std::uint8_t> preroll_;  // ring of the last preroll_ms of audio
  std::size_t preroll_pos_ = 0;
  std::size_t preroll_fill_ = 0;
  std::vector<std::uint8_t> utterance_;
  std::size_t utterance_cap_;
  std::unique_ptr<speech::SttStream> stream_;
};

}  // namespace vox::call
