#pragma once
// G.711 μ-law (ITU-T G.711) ⇄ 16-bit linear PCM. Caller-owned buffers, no allocation.
#include <cstddef>
#include <cstdint>
#include <span>

namespace vox::audio {

// Returns the μ-law code for a 16-bit linear sample (clipped at ±32635).
std::uint8_t ulaw_encode(std::int16_t sample);
// Returns the 16-bit linear value of a μ-law code.
std::int16_t ulaw_decode(std::uint8_t code);

// Decodes min(in, out) samples; returns the count.
std::size_t ulaw_decode(std::span<const std::uint8_t> in, std::span<std::int16_t> out);
// Encodes min(in, out) samples; returns the count.
std::size_t ulaw_encode(std::span<const std::int16_t> in, std::span<std::uint8_t> out);

// μ-law digital silence.
inline constexpr std::uint8_t kUlawSilence = 0xFF;

}  // namespace vox::audio
