#include "audio/g711.hpp"

#include <algorithm>
#include <array>

namespace vox::audio {
namespace {

constexpr int kBias = 0x84;
constexpr int kClip = 32635;

constexpr std::array<std::int16_t, 256> make_decode_table() {
  std::array<std::int16_t, 256> t{};
  for (int code = 0; code < 256; ++code) {
    const int u = ~code & 0xFF;
    const int exponent = (u >> 4) & 0x07;
    const int mantissa = u & 0x0F;
    const int magnitude = (((mantissa << 3) + kBias) << exponent) - kBias;
    t[code] = static_cast<std::int16_t>((u & 0x80) ? -magnitude : magnitude);
  }
  return t;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

std::int16_t ulaw_decode(std::uint8_t code) { return kDecode[code]; }

std::uint8_t ulaw_encode(std::int16_t sample) {
  int s = sample;
  int sign = 0;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  s = std::min(s, kClip) + kBias;
  // The exponent is the position of the highest set bit above bit 7.
  int exponent = 7;
  for (int mask = 0x4000; (s & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
  const int mantissa = (s >> (exponent + 3)) & 0x0F;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

std::size_t ulaw_decode(std::span<const std::uint8_t> in, std::span<std::int16_t> out) {
  const std::size_t n = std::min(in.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = kDecode[in[i]];
  return n;
}

std::size_t ulaw_encode(std::span<const std::int16_t> in, std::span<std::uint8_t> out) {
  const std::size_t n = std::min(in.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = ulaw_encode(in[i]);
  return n;
}

}  // namespace vox::audio
