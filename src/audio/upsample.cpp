#include "audio/upsample.hpp"

#include <stdexcept>

#include "audio/g711.hpp"

namespace vox::audio {

std::size_t Ulaw8kTo16k::convert(std::span<const std::uint8_t> ulaw, std::span<std::int16_t> out) {
  if (out.size() < 2 * ulaw.size()) throw std::length_error("Ulaw8kTo16k::convert: output too small");
  std::size_t k = 0;
  for (const std::uint8_t b : ulaw) {
    const std::int16_t s = ulaw_decode(b);
    out[k++] = static_cast<std::int16_t>((static_cast<int>(last_) + s) / 2);
    out[k++] = s;
    last_ = s;
  }
  return k;
}

}  // namespace vox::audio
