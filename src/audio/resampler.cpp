#include "audio/resampler.hpp"

#include <soxr.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace vox::audio {

Resampler::Resampler(double in_rate, double out_rate) : in_rate_(in_rate), out_rate_(out_rate) {
  soxr_error_t err = nullptr;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
  const soxr_quality_spec_t q = soxr_quality_spec(SOXR_MQ, 0);
  soxr_ = soxr_create(in_rate, out_rate, 1, &err, &io, &q, nullptr);
  if (err) throw std::runtime_error(std::string("soxr_create: ") + err);
}

Resampler::~Resampler() { soxr_delete(soxr_); }

std::size_t Resampler::max_output(std::size_t in_samples) const {
  return static_cast<std::size_t>(std::ceil(static_cast<double>(in_samples) * out_rate_ / in_rate_)) + 64;
}

std::size_t Resampler::process(std::span<const std::int16_t> in, std::span<std::int16_t> out) {
  if (out.size() < max_output(in.size()))
    throw std::length_error("Resampler::process: output buffer smaller than max_output(input)");
  std::size_t idone = 0, odone = 0;
  soxr_process(soxr_, in.data(), in.size(), &idone, out.data(), out.size(), &odone);
  return odone;
}

std::size_t Resampler::flush(std::span<std::int16_t> out) {
  std::size_t total = 0;
  while (total < out.size()) {
    std::size_t odone = 0;
    soxr_process(soxr_, nullptr, 0, nullptr, out.data() + total, out.size() - total, &odone);
    if (odone == 0) break;
    total += odone;
  }
  return total;
}

std::vector<std::int16_t> resample(std::span<const std::int16_t> in, double in_rate, double out_rate) {
  Resampler r(in_rate, out_rate);
  std::vector<std::int16_t> out(r.max_output(in.size()) + 1024);
  std::size_t n = r.process(in, out);
  n += r.flush(std::span(out).subspan(n));
  out.resize(n);
  return out;
}

}  // namespace vox::audio
