#pragma once
// Streaming sample-rate conversion of mono PCM16 (libsoxr).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

struct soxr;

namespace vox::audio {

class Resampler {
 public:
  // Creates a converter from `in_rate` to `out_rate` Hz, mono 16-bit.
  Resampler(double in_rate, double out_rate);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  // Converts `in` (may be empty) into `out`; returns samples written. `out` must hold
  // max_output(in.size()) samples, or input is lost (checked: throws std::length_error).
  // Output lags input by the filter delay; call flush() at the end of a stream.
  std::size_t process(std::span<const std::int16_t> in, std::span<std::int16_t> out);
  // Drains the remaining output after the last input; returns samples written.
  std::size_t flush(std::span<std::int16_t> out);
  // Returns an upper bound on output samples for `in_samples` input.
  std::size_t max_output(std::size_t in_samples) const;

  double in_rate() const { return in_rate_; }
  double out_rate() const { return out_rate_; }

 private:
  double in_rate_, out_rate_;
  soxr* soxr_ = nullptr;
};

// Converts a whole buffer in one call.
std::vector<std::int16_t> resample(std::span<const std::int16_t> in, double in_rate, double out_rate);

}  // namespace vox::audio
