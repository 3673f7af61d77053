#pragma once
// Per-frame voice activity: the WebRTC VAD, gated by energy and by SNR over a tracked
// noise floor (the WebRTC VAD alone calls loud steady noise speech).
#include <array>
#include <cstdint>
#include <span>


struct WebRtcVadInst;

namespace vox::audio {

struct VadSettings {
  int webrtc_mode = 3;     // 0..3, 3 most aggressive
  double min_rms = 300.0;  // absolute floor (PCM16 RMS) below which nothing is speech
  double snr_db = 9.0;     // required margin over the tracked noise floor
};

class VoiceDetector {
 public:
  explicit VoiceDetector(const VadSettings& settings, int sample_rate = 8000);
  ~VoiceDetector();
  VoiceDetector(const VoiceDetector&) = delete;
  VoiceDetector& operator=(const VoiceDetector&) = delete;

  // Returns whether `frame` (10, 20 or 30 ms of PCM16) holds speech. No allocation.
  bool process(std::span<const std::int16_t> frame);

  double last_rms() const { return last_rms_; }
  double noise_floor() const { return floor_; }
  // The WebRTC VAD's own decision on the last frame (false when the frame was below
  // min_rms, where it is not run).
  bool last_webrtc_decision() const { return last_webrtc_; }
  // How many frames the WebRTC VAD itself has run on.
  std::uint64_t webrtc_frames() const { return webrtc_frames_; }

 private:
  static constexpr int kBlockFrames = 5;   // frames per minimum block
  static constexpr int kBlocks = 15;       // blocks in the floor window (~1.5 s at 20 ms)

  void track_floor(double rms);

  VadSettings settings_;
  int sample_rate_;
  WebRtcVadInst* vad_ = nullptr;
  double snr_ratio_;
  std::array<double, kBlocks> block_min_{};
  int block_index_ = 0;
  int frames_in_block_ = 0;
  double current_block_min_;
  double floor_ = 0;
  double last_rms_ = 0;
  bool last_webrtc_ = false;
  std::uint64_t webrtc_frames_ = 0;
};

// Returns the RMS of a PCM16 frame.
double frame_rms(std::span<const std::int16_t> frame);

}  // namespace vox::audio
