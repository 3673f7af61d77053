#include "audio/vad.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "audio/webrtc_vad.hpp"

namespace vox::audio {

double frame_rms(std::span<const std::int16_t> frame) {
  if (frame.empty()) return 0.0;
  std::int64_t acc = 0;
  for (const std::int16_t s : frame) acc += static_cast<std::int64_t>(s) * s;
  return std::sqrt(static_cast<double>(acc) / static_cast<double>(frame.size()));
}

VoiceDetector::VoiceDetector(const VadSettings& settings, int sample_rate)
    : settings_(settings), sample_rate_(sample_rate) {
  vad_ = WebRtcVad_Create();
  if (!vad_ || WebRtcVad_Init(vad_) != 0 ||
      WebRtcVad_set_mode(vad_, std::clamp(settings.webrtc_mode, 0, 3)) != 0) {
    if (vad_) WebRtcVad_Free(vad_);
    throw std::runtime_error("WebRTC VAD initialisation failed");
  }
  snr_ratio_ = std::pow(10.0, settings.snr_db / 20.0);
  block_min_.fill(std::numeric_limits<double>::infinity());
  current_block_min_ = std::numeric_limits<double>::infinity();
}

VoiceDetector::~VoiceDetector() { WebRtcVad_Free(vad_); }

void VoiceDetector::track_floor(double rms) {
  // Minimum statistics: the floor is the quietest frame of the last ~1.5 s, so a
  // steady sound, however loud, becomes the floor, while speech (which dips between
  // syllables and words) stands above it.
  current_block_min_ = std::min(current_block_min_, rms);
  if (++frames_in_block_ == kBlockFrames) {
    block_min_[block_index_] = current_block_min_;
    block_index_ = (block_index_ + 1) % kBlocks;
    frames_in_block_ = 0;
    current_block_min_ = std::numeric_limits<double>::infinity();
  }
  double m = current_block_min_;
  for (const double b : block_min_) m = std::min(m, b);
  floor_ = std::isfinite(m) ? m : rms;
}

bool VoiceDetector::process(std::span<const std::int16_t> frame) {
  const double rms = frame_rms(frame);
  last_rms_ = rms;
  track_floor(rms);
  // Digital silence (every sample zero: a muted or held line, a caller between lines)
  // is never speech and leaves the WebRTC VAD's state as it was (it holds too little
  // energy for the VAD to update its models or hangover), so the VAD is not run on it.
  // Quiet frames that are not zero still go through it: its state (noise model,
  // hangover) decides the next frames, and skipping them would change where speech ends.
  if (rms == 0.0) {
    last_webrtc_ = false;
    return false;
  }
  const int r = WebRtcVad_Process(vad_, sample_rate_, frame.data(), frame.size());
  ++webrtc_frames_;
  last_webrtc_ = r == 1;
  if (!last_webrtc_ || rms < settings_.min_rms) return false;
  return rms >= std::max(floor_, 1.0) * snr_ratio_;
}

}  // namespace vox::audio
