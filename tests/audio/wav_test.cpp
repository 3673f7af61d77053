#include <gtest/gtest.h>

#include "audio/g711.hpp"
#include "audio/wav.hpp"

namespace vox::audio {
namespace {

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(Wav, BytesRoundTripThroughTheParser) {
  const std::vector<std::int16_t> pcm = {0, 1, -1, 1000, -32768, 32767, 12345};
  const auto bytes = wav_bytes(pcm, 16000);
  EXPECT_EQ(bytes.size(), 44u + 2 * pcm.size());
  const auto wav = parse_wav(as_bytes(bytes));
  ASSERT_TRUE(wav);
  EXPECT_EQ(wav->sample_rate, 16000);
  EXPECT_EQ(wav->samples, pcm);
}

TEST(Wav, StereoKeepsTheFirstChannel) {
  const std::vector<std::int16_t> interleaved = {1, -1, 2, -2, 3, -3};
  const auto wav = parse_wav(as_bytes(wav_bytes(interleaved, 8000, 2)));
  ASSERT_TRUE(wav);
  EXPECT_EQ(wav->samples, (std::vector<std::int16_t>{1, 2, 3}));
}

TEST(Wav, MulawIsDecoded) {
  // Format 7 (μ-law), 8 bits, mono, 8 kHz, three samples.
  std::string b = wav_bytes(std::vector<std::int16_t>{}, 8000);
  const std::uint8_t codes[] = {0xFF, 0x00, 0x80};
  b[20] = 7;               // format
  b[34] = 8;               // bits per sample
  b[40] = 3;               // data length
  b.append(reinterpret_cast<const char*>(codes), 3);
  const auto wav = parse_wav(as_bytes(b));
  ASSERT_TRUE(wav);
  EXPECT_EQ(wav->samples, (std::vector<std::int16_t>{ulaw_decode(0xFF), ulaw_decode(0x00), ulaw_decode(0x80)}));
}

TEST(Wav, RejectsWhatItCannotRead) {
  EXPECT_FALSE(parse_wav(as_bytes(std::string("RIFF....WAVX"))));
  EXPECT_FALSE(parse_wav(as_bytes(std::string("not a wav file at all"))));
  std::string b = wav_bytes(std::vector<std::int16_t>{1, 2}, 8000);
  b[20] = 3;  // IEEE float
  EXPECT_FALSE(parse_wav(as_bytes(b)));
  b = wav_bytes(std::vector<std::int16_t>{1, 2}, 8000);
  b.resize(b.size() - 2);  // data chunk longer than the file
  EXPECT_FALSE(parse_wav(as_bytes(b)));
}

}  // namespace
}  // namespace vox::audio
