#include "audio/resampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "audio/signal.hpp"

namespace vox::audio {
namespace {

double rms(std::span<const std::int16_t> s) {
  double acc = 0;
  for (const std::int16_t v : s) acc += static_cast<double>(v) * v;
  return s.empty() ? 0.0 : std::sqrt(acc / static_cast<double>(s.size()));
}

// Sign changes between consecutive samples (a sine of f Hz has 2f per second).
int zero_crossings(std::span<const std::int16_t> s) {
  int n = 0;
  for (std::size_t i = 1; i < s.size(); ++i)
    if ((s[i - 1] < 0) != (s[i] < 0)) ++n;
  return n;
}

// The middle of a buffer, without the first and last `edge_fraction`.
std::span<const std::int16_t> middle(const std::vector<std::int16_t>& v, double edge_fraction = 0.1) {
  const auto edge = static_cast<std::size_t>(static_cast<double>(v.size()) * edge_fraction);
  return std::span<const std::int16_t>(v).subspan(edge, v.size() - 2 * edge);
}

TEST(Resampler, DownsamplingA1kHzSineKeepsDurationFrequencyAndAmplitude) {
  const auto in = tone(1000.0, 2000, 10000.0, 22050);
  ASSERT_EQ(in.size(), 44100u);
  const auto out = resample(in, 22050, 8000);

  // Duration: 2 s at 8 kHz.
  EXPECT_NEAR(static_cast<double>(out.size()), 16000.0, 160.0);

  // Frequency: 2000 crossings per second of a 1 kHz sine, over the middle 80%.
  const auto mid = middle(out);
  const double seconds = static_cast<double>(mid.size()) / 8000.0;
  EXPECT_NEAR(zero_crossings(mid) / seconds, 2000.0, 2000.0 * 0.01);

  // Amplitude: the RMS of a sine of peak A is A/sqrt(2).
  const double expected_rms = 10000.0 / std::sqrt(2.0);
  EXPECT_NEAR(rms(middle(in)), expected_rms, expected_rms * 0.01);  // the input is what we think it is
  EXPECT_NEAR(rms(mid), expected_rms, expected_rms * 0.05);
}

TEST(Resampler, DownsamplingRemovesToneAboveTheNewNyquist) {
  // 5 kHz cannot be represented at 8 kHz: it must be filtered, not aliased to 3 kHz.
  const auto in = tone(5000.0, 1000, 10000.0, 22050);
  const auto out = resample(in, 22050, 8000);
  ASSERT_NEAR(static_cast<double>(out.size()), 8000.0, 80.0);
  EXPECT_LT(rms(middle(out)), 10000.0 / std::sqrt(2.0) * 0.05);
}

TEST(Resampler, UpsamplingDoublesTheLength) {
  const auto in = tone(440.0, 1000, 8000.0, 8000);
  ASSERT_EQ(in.size(), 8000u);
  const auto out = resample(in, 8000, 16000);
  EXPECT_NEAR(static_cast<double>(out.size()), 16000.0, 16.0);
  const auto mid = middle(out);
  const double seconds = static_cast<double>(mid.size()) / 16000.0;
  EXPECT_NEAR(zero_crossings(mid) / seconds, 880.0, 880.0 * 0.01);
  EXPECT_NEAR(rms(mid), 8000.0 / std::sqrt(2.0), 8000.0 / std::sqrt(2.0) * 0.05);
}

TEST(Resampler, SameRateKeepsTheSignal) {
  const auto in = tone(440.0, 500, 8000.0, 8000);
  const auto out = resample(in, 8000, 8000);
  ASSERT_EQ(out.size(), in.size());
  int worst = 0;
  for (std::size_t i = 0; i < in.size(); ++i) worst = std::max(worst, std::abs(out[i] - in[i]));
  EXPECT_LE(worst, 2);
}

TEST(Resampler, StreamingIn20msPiecesMatchesOneShot) {
  const auto in = tone(1000.0, 2000, 10000.0, 22050);
  const auto one_shot = resample(in, 22050, 8000);

  Resampler r(22050, 8000);
  EXPECT_EQ(r.in_rate(), 22050);
  EXPECT_EQ(r.out_rate(), 8000);
  constexpr std::size_t kPiece = 441;  // 20 ms at 22050 Hz
  std::vector<std::int16_t> streamed;
  std::vector<std::int16_t> buf(r.max_output(kPiece));
  ASSERT_GE(buf.size(), 160u);
  for (std::size_t pos = 0; pos < in.size(); pos += kPiece) {
    const auto piece = std::span<const std::int16_t>(in).subspan(pos, std::min(kPiece, in.size() - pos));
    const std::size_t n = r.process(piece, buf);
    ASSERT_LE(n, buf.size());
    streamed.insert(streamed.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  const std::size_t before_flush = streamed.size();
  std::vector<std::int16_t> tail(4096);
  const std::size_t flushed = r.flush(tail);
  streamed.insert(streamed.end(), tail.begin(), tail.begin() + static_cast<std::ptrdiff_t>(flushed));

  EXPECT_GT(flushed, 0u) << "the filter delay should leave output for flush()";
  EXPECT_LT(before_flush, streamed.size());
  EXPECT_NEAR(static_cast<double>(streamed.size()), static_cast<double>(one_shot.size()), 4.0);
  EXPECT_NEAR(static_cast<double>(streamed.size()), 16000.0, 160.0);
  // Same signal, not merely the same length.
  const std::size_t n = std::min(streamed.size(), one_shot.size());
  int worst = 0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(streamed[i] - one_shot[i]));
  EXPECT_LE(worst, 2);
}

TEST(Resampler, BuffersOfMaxOutputLoseNoInput) {
  // Output lags input (the first call may return nothing), but with buffers of
  // max_output() every input sample comes out in the end.
  Resampler r(8000, 16000);
  const auto in = tone(440.0, 1000, 8000.0, 8000);
  constexpr std::size_t kPiece = 800;  // 100 ms
  std::vector<std::int16_t> out(r.max_output(kPiece));
  EXPECT_GE(out.size(), 2 * kPiece);
  std::size_t total = 0;
  for (std::size_t pos = 0; pos < in.size(); pos += kPiece) {
    const std::size_t n = r.process(std::span<const std::int16_t>(in).subspan(pos, kPiece), out);
    EXPECT_LE(n, out.size());
    total += n;
  }
  EXPECT_GT(total, 0u);
  std::vector<std::int16_t> tail(4096);
  total += r.flush(tail);
  EXPECT_NEAR(static_cast<double>(total), 16000.0, 16.0);
  // A second flush has nothing left.
  EXPECT_EQ(r.flush(tail), 0u);
}

TEST(Resampler, EmptyInputGivesEmptyOutput) {
  const std::vector<std::int16_t> none;
  EXPECT_TRUE(resample(none, 22050, 8000).empty());
}

}  // namespace
}  // namespace vox::audio
