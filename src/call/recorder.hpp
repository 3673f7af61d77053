#pragma once
// A call's stereo recording: the caller on the left, our replies on the right, both as
// μ-law placed on the media timeline. Every placement is checked before its arithmetic
// (media times come from the caller's side), and a track never reaches further than the
// call's age plus a little jitter, so a forged timestamp can neither write out of bounds
// nor make the server pad hours of silence.
#include <cstdint>
#include <span>
#include <vector>

namespace vox::call {

class Recorder {
 public:
  static constexpr std::int64_t kMaxMs = 3600 * 1000;  // an hour per side
  // Audio stamped further ahead of the call's own clock than this is not recorded.
  static constexpr std::int64_t kAheadMs = 2000;

  Recorder();
  // The caller's audio `ulaw` at media time `at_ms`; `age_ms` is how long the call has run.
  void caller(std::int64_t at_ms, std::span<const std::uint8_t> ulaw, std::int64_t age_ms);
  // Our audio as sent: Twilio plays it back to back from when it arrives, after what was
  // sent before and not before `media_clock_ms` (the caller's media time now).
  void agent(std::span<const std::uint8_t> ulaw, std::int64_t media_clock_ms, std::int64_t age_ms);
  // Both tracks as interleaved PCM16 (left caller, right agent); empties the recorder.
  std::vector<std::int16_t> take_stereo();
  std::size_t caller_bytes() const { return caller_.size(); }
  std::size_t agent_bytes() const { return agent_.size(); }

 private:
  std::vector<std::uint8_t> caller_;
  std::vector<std::uint8_t> agent_;
  std::int64_t agent_end_ms_ = 0;  // where our audio so far ends, in media time
};

}  // namespace vox::call
