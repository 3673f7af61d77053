#pragma once
// μ-law 8 kHz to PCM16 16 kHz with no delay: each input sample gives two output samples
// (the midpoint with the previous one, then itself), so every chunk converts to exactly
// twice its samples. For streams cut into messages that must stay aligned with their
// input (the client WebSocket's pcm_16000); soxr (resampler.hpp) is the better filter
// where a little delay does not matter.
#include <cstdint>
#include <span>

namespace vox::audio {

class Ulaw8kTo16k {
 public:
  // Writes 2 * ulaw.size() samples to `out` (which must hold them); returns that count.
  std::size_t convert(std::span<const std::uint8_t> ulaw, std::span<std::int16_t> out);

 private:
  std::int16_t last_ = 0;
};

}  // namespace vox::audio
