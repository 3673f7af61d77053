#include "call/recorder.hpp"

#include <algorithm>

#include "audio/g711.hpp"

namespace vox::call {
namespace {

// Writes `ulaw` into `track` from media time `at_ms`, padding a gap with silence; does
// nothing when that would end past `limit_ms` (or `at_ms` is negative). Checked before
// any arithmetic can wrap.
bool place(std::vector<std::uint8_t>& track, std::int64_t at_ms, std::span<const std::uint8_t> ulaw,
           std::int64_t limit_ms) {
  if (at_ms < 0 || limit_ms <= 0 || at_ms > limit_ms) return false;
  const std::size_t at = static_cast<std::size_t>(at_ms) * 8;
  const std::size_t limit = static_cast<std::size_t>(limit_ms) * 8;
  if (ulaw.size() > limit - at) return false;
  if (track.size() < at + ulaw.size()) track.resize(at + ulaw.size(), audio::kUlawSilence);
  std::copy(ulaw.begin(), ulaw.end(), track.begin() + static_cast<std::ptrdiff_t>(at));
  return true;
}

std::int64_t limit_for(std::int64_t age_ms) { return std::min(Recorder::kMaxMs, std::max<std::int64_t>(0, age_ms) + Recorder::kAheadMs); }

}  // namespace

Recorder::Recorder() {
  caller_.reserve(8000 * 120);
  agent_.reserve(8000 * 120);
}

void Recorder::caller(std::int64_t at_ms, std::span<const std::uint8_t> ulaw, std::int64_t age_ms) {
  place(caller_, at_ms, ulaw, limit_for(age_ms));
}

void Recorder::agent(std::span<const std::uint8_t> ulaw, std::int64_t media_clock_ms, std::int64_t age_ms) {
  const std::int64_t start = std::max(media_clock_ms, agent_end_ms_);
  if (place(agent_, start, ulaw, limit_for(age_ms))) agent_end_ms_ = start + static_cast<std::int64_t>(ulaw.size() / 8);
}

std::vector<std::int16_t> Recorder::take_stereo() {
  const std::size_t frames = std::max(caller_.size(), agent_.size());
  std::vector<std::int16_t> pcm(frames * 2);
  for (std::size_t i = 0; i < frames; ++i) {
    pcm[2 * i] = audio::ulaw_decode(i < caller_.size() ? caller_[i] : audio::kUlawSilence);
    pcm[2 * i + 1] = audio::ulaw_decode(i < agent_.size() ? agent_[i] : audio::kUlawSilence);
  }
  caller_ = {};
  agent_ = {};
  return pcm;
}

}  // namespace vox::call
