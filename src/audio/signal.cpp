#include "audio/signal.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

namespace vox::audio {

std::vector<std::int16_t> silence(int ms, int rate) {
  return std::vector<std::int16_t>(static_cast<std::size_t>(ms) * rate / 1000, 0);
}

std::vector<std::int16_t> tone(double freq, int ms, double amplitude, int rate) {
  std::vector<std::int16_t> out(static_cast<std::size_t>(ms) * rate / 1000);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::int16_t>(amplitude * std::sin(2 * std::numbers::pi * freq * i / rate));
  return out;
}

std::vector<std::int16_t> white_noise(int ms, double rms, unsigned seed, int rate) {
  std::mt19937 gen(seed);
  // A uniform distribution on [-a, a] has RMS a/sqrt(3).
  const double a = std::min(32767.0, rms * std::sqrt(3.0));
  std::uniform_real_distribution<double> dist(-a, a);
  std::vector<std::int16_t> out(static_cast<std::size_t>(ms) * rate / 1000);
  for (auto& s : out) s = static_cast<std::int16_t>(dist(gen));
  return out;
}

}  // namespace vox::audio
