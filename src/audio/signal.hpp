#pragma once
// Test and filler signals: silence, tones, white noise (deterministic seed).
#include <cstdint>
#include <vector>

namespace vox::audio {

// Returns `ms` of PCM16 silence at `rate`.
std::vector<std::int16_t> silence(int ms, int rate = 8000);
// Returns a sine tone of `freq` Hz and peak `amplitude`.
std::vector<std::int16_t> tone(double freq, int ms, double amplitude, int rate = 8000);
// Returns uniform white noise with the given RMS, from a fixed seed.
std::vector<std::int16_t> white_noise(int ms, double rms, unsigned seed = 1, int rate = 8000);

}  // namespace vox::audio
