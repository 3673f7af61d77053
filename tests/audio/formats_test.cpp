#include "audio/formats.hpp"

#include <gtest/gtest.h>
#include <lame/lame.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numbers>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "audio/g711.hpp"
#include "audio/mp3.hpp"

namespace vox::audio {
namespace {

std::vector<std::int16_t> sine(double freq, int ms, double amplitude, int rate) {
  std::vector<std::int16_t> out(static_cast<std::size_t>(ms) * static_cast<std::size_t>(rate) / 1000);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::int16_t>(std::lround(amplitude * std::sin(2 * std::numbers::pi * freq * static_cast<double>(i) / rate)));
  return out;
}

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

// Estimated frequency of a tone from its zero crossings.
double tone_frequency(std::span<const std::int16_t> s, int rate) {
  return zero_crossings(s) / 2.0 * rate / static_cast<double>(s.size());
}

// The middle of a buffer, without the first and last `edge_fraction`.
std::span<const std::int16_t> middle(const std::vector<std::int16_t>& v, double edge_fraction = 0.15) {
  const auto edge = static_cast<std::size_t>(static_cast<double>(v.size()) * edge_fraction);
  return std::span<const std::int16_t>(v).subspan(edge, v.size() - 2 * edge);
}

std::vector<std::int16_t> s16le_to_samples(std::span<const std::uint8_t> bytes) {
  std::vector<std::int16_t> out(bytes.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
  return out;
}

std::uint32_t le32(std::span<const std::uint8_t> b, std::size_t pos) {
  return static_cast<std::uint32_t>(b[pos]) | static_cast<std::uint32_t>(b[pos + 1]) << 8 |
         static_cast<std::uint32_t>(b[pos + 2]) << 16 | static_cast<std::uint32_t>(b[pos + 3]) << 24;
}
std::uint16_t le16(std::span<const std::uint8_t> b, std::size_t pos) {
  return static_cast<std::uint16_t>(b[pos] | (b[pos + 1] << 8));
}

OutputFormat fmt(std::string_view name) {
  auto f = parse_output_format(name);
  if (!f) throw std::invalid_argument("bad test format " + std::string(name));
  return *f;
}

// Feeds `pcm` to a streaming encoder in irregular pieces and concatenates everything it returns.
std::vector<std::uint8_t> encode_streaming(std::span<const std::int16_t> pcm, int rate, const OutputFormat& f) {
  AudioEncoder enc(rate, f);
  std::vector<std::uint8_t> out;
  static constexpr std::size_t kPieces[] = {1, 160, 0, 7, 1000, 333, 4096, 20};
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < pcm.size(); ++i) {
    const std::size_t n = std::min(kPieces[i % std::size(kPieces)], pcm.size() - pos);
    const auto bytes = enc.push(pcm.subspan(pos, n));
    out.insert(out.end(), bytes.begin(), bytes.end());
    pos += n;
  }
  const auto tail = enc.finish();
  out.insert(out.end(), tail.begin(), tail.end());
  EXPECT_TRUE(enc.finish().empty());
  return out;
}

// --- parsing -------------------------------------------------------------------------------

TEST(OutputFormat, ParsesElevenLabsNames) {
  struct Case {
    const char* name;
    Codec codec;
    int rate, kbps;
  };
  for (const Case& c : {Case{"mp3_44100_128", Codec::kMp3, 44100, 128}, Case{"mp3_22050_32", Codec::kMp3, 22050, 32},
                        Case{"mp3_44100_192", Codec::kMp3, 44100, 192}, Case{"pcm_16000", Codec::kPcm, 16000, 0},
                        Case{"pcm_44100", Codec::kPcm, 44100, 0}, Case{"pcm_8000", Codec::kPcm, 8000, 0},
                        Case{"ulaw_8000", Codec::kUlaw, 8000, 0}, Case{"alaw_8000", Codec::kAlaw, 8000, 0},
                        Case{"wav_22050", Codec::kWav, 22050, 0}, Case{"opus_48000_64", Codec::kOpus, 48000, 64}}) {
    SCOPED_TRACE(c.name);
    const auto f = parse_output_format(c.name);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->codec, c.codec);
    EXPECT_EQ(f->sample_rate, c.rate);
    EXPECT_EQ(f->bitrate_kbps, c.kbps);
    EXPECT_EQ(f->name, c.name);
  }
}

TEST(OutputFormat, RejectsMalformedAndUnknownNames) {
  for (const char* bad :
       {"", "mp3", "pcm", "_16000", "pcm_", "pcm_abc", "pcm_16k", "pcm_016000", "pcm_-16000", "pcm_+16000",
        "pcm_16000 ", " pcm_16000", "pcm__16000", "pcm_16000_", "pcm_16000_128", "mp3_44100", "mp3_44100_",
        "mp3_44100_128_1", "mp3__128", "MP3_44100_128", "Pcm_16000", "flac_44100", "aac_44100_128",
        "pcm_0", "pcm_1000", "pcm_9999999", "pcm_99999999999999999999", "ulaw_16000", "alaw_44100",
        "mp3_44100_8", "mp3_22050_192", "mp3_12345_64", "mp3_44100_0", "opus_44100_64", "opus_48000_1000"}) {
    EXPECT_FALSE(parse_output_format(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(OutputFormat, ContentTypes) {
  EXPECT_EQ(content_type(fmt("mp3_44100_128")), "audio/mpeg");
  EXPECT_EQ(content_type(fmt("wav_16000")), "audio/wav");
  EXPECT_EQ(content_type(fmt("ulaw_8000")), "audio/basic");
  EXPECT_EQ(content_type(fmt("pcm_16000")), "application/octet-stream");
}

// --- A-law ---------------------------------------------------------------------------------

TEST(Alaw, KnownG711Values) {
  EXPECT_EQ(alaw_encode(0), 0xD5);
  EXPECT_EQ(alaw_encode(-1), 0x55);
  EXPECT_EQ(alaw_encode(32767), 0xAA);
  EXPECT_EQ(alaw_encode(-32768), 0x2A);
  EXPECT_EQ(alaw_encode(24), 0xD4);
  EXPECT_EQ(alaw_encode(256), 0xC5);  // segment 1, mantissa 0: (0x10 ^ 0xD5)
  EXPECT_EQ(alaw_decode(0xD5), 8);
  EXPECT_EQ(alaw_decode(0x55), -8);
  EXPECT_EQ(alaw_decode(0xAA), 32256);
  EXPECT_EQ(alaw_decode(0x2A), -32256);
  EXPECT_EQ(alaw_decode(0xC5), 264);
  EXPECT_EQ(alaw_decode(0x80 ^ 0x55), 8);  // 0xD5 again: sign bit after inversion means positive
}

TEST(Alaw, EveryCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) EXPECT_EQ(alaw_encode(alaw_decode(static_cast<std::uint8_t>(c))), c) << c;
}

TEST(Alaw, QuantisationErrorIsBoundedForAllInputs) {
  int previous = std::numeric_limits<int>::min();
  for (int x = -32768; x <= 32767; ++x) {
    const int y = alaw_decode(alaw_encode(static_cast<std::int16_t>(x)));
    // Half a step: 8 in the two linear segments, magnitude/32 above (4-bit mantissa + implied bit).
    const int bound = std::max(8, std::abs(x) / 32 + 1);
    // The top of the range clips at the largest code (32256 = 32767 - 511).
    ASSERT_LE(std::abs(y - x), std::abs(x) > 32256 ? 512 : bound) << "x=" << x << " y=" << y;
    ASSERT_GE(y, previous) << "decode(encode(x)) must be monotonic, x=" << x;
    ASSERT_EQ(y < 0, x < 0) << "sign preserved, x=" << x;
    previous = y;
  }
}

// --- pcm / ulaw / alaw / wav ---------------------------------------------------------------

TEST(EncodeAudio, PcmSameRateIsRawLittleEndian) {
  const std::vector<std::int16_t> in = {0, 1, -1, 0x1234, -32768, 32767};
  const auto out = encode_audio(in, 16000, fmt("pcm_16000"));
  const std::vector<std::uint8_t> expected = {0x00, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0x34, 0x12, 0x00, 0x80, 0xFF, 0x7F};
  EXPECT_EQ(out, expected);
}

TEST(EncodeAudio, Pcm16000FromA22050ToneKeepsLengthFrequencyAndLevel) {
  const auto in = sine(1000.0, 2000, 10000.0, 22050);
  const auto bytes = encode_audio(in, 22050, fmt("pcm_16000"));
  ASSERT_EQ(bytes.size() % 2, 0u);
  const auto out = s16le_to_samples(bytes);
  EXPECT_NEAR(static_cast<double>(out.size()), 32000.0, 320.0);
  EXPECT_NEAR(tone_frequency(middle(out), 16000), 1000.0, 10.0);
  EXPECT_NEAR(rms(middle(out)), rms(middle(in)), 0.03 * rms(middle(in)));
}

TEST(EncodeAudio, UlawSameRateMatchesG711Encoder) {
  const auto in = sine(440.0, 200, 12000.0, 8000);
  const auto out = encode_audio(in, 8000, fmt("ulaw_8000"));
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], ulaw_encode(in[i])) << i;
}

TEST(EncodeAudio, Ulaw8000FromA22050ToneDecodesToTheSameLevel) {
  const auto in = sine(1000.0, 1000, 8000.0, 22050);
  const auto out = encode_audio(in, 22050, fmt("ulaw_8000"));
  EXPECT_NEAR(static_cast<double>(out.size()), 8000.0, 80.0);
  std::vector<std::int16_t> decoded(out.size());
  ulaw_decode(out, decoded);
  EXPECT_NEAR(rms(middle(decoded)), rms(middle(in)), 0.05 * rms(middle(in)));
  EXPECT_NEAR(tone_frequency(middle(decoded), 8000), 1000.0, 10.0);
}

TEST(EncodeAudio, AlawSameRateMatchesAlawEncoder) {
  const auto in = sine(300.0, 100, 20000.0, 8000);
  const auto out = encode_audio(in, 8000, fmt("alaw_8000"));
  ASSERT_EQ(out.size(), in.size());
  std::vector<std::int16_t> decoded;
  for (std::size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(out[i], alaw_encode(in[i]));
    decoded.push_back(alaw_decode(out[i]));
  }
  EXPECT_NEAR(rms(decoded), rms(in), 0.02 * rms(in));
}

TEST(EncodeAudio, WavHasAnExactHeaderAndTheSamples) {
  const auto in = sine(500.0, 100, 5000.0, 22050);
  const auto out = encode_audio(in, 22050, fmt("wav_22050"));
  ASSERT_EQ(out.size(), 44 + 2 * in.size());
  EXPECT_EQ(std::string(out.begin(), out.begin() + 4), "RIFF");
  EXPECT_EQ(le32(out, 4), out.size() - 8);
  EXPECT_EQ(std::string(out.begin() + 8, out.begin() + 16), "WAVEfmt ");
  EXPECT_EQ(le32(out, 16), 16u);
  EXPECT_EQ(le16(out, 20), 1);  // PCM
  EXPECT_EQ(le16(out, 22), 1);  // mono
  EXPECT_EQ(le32(out, 24), 22050u);
  EXPECT_EQ(le32(out, 28), 44100u);
  EXPECT_EQ(le16(out, 32), 2);
  EXPECT_EQ(le16(out, 34), 16);
  EXPECT_EQ(std::string(out.begin() + 36, out.begin() + 40), "data");
  EXPECT_EQ(le32(out, 40), 2 * in.size());
  EXPECT_EQ(s16le_to_samples(std::span(out).subspan(44)), in);
}

TEST(EncodeAudio, EmptyInput) {
  EXPECT_TRUE(encode_audio({}, 16000, fmt("pcm_16000")).empty());
  EXPECT_TRUE(encode_audio({}, 22050, fmt("ulaw_8000")).empty());
  const auto wav = encode_audio({}, 8000, fmt("wav_8000"));
  ASSERT_EQ(wav.size(), 44u);
  EXPECT_EQ(le32(wav, 40), 0u);
  EXPECT_EQ(le32(wav, 4), 36u);
}

TEST(EncodeAudio, OpusAndBadRatesAreRejected) {
  const auto in = sine(500.0, 10, 5000.0, 48000);
  EXPECT_THROW(encode_audio(in, 48000, fmt("opus_48000_64")), std::invalid_argument);
  EXPECT_THROW(AudioEncoder(48000, fmt("opus_48000_64")), std::invalid_argument);
  EXPECT_THROW(encode_audio(in, 0, fmt("pcm_16000")), std::invalid_argument);
  EXPECT_THROW(encode_audio(in, 48000, OutputFormat{Codec::kMp3, 44100, 7, "x"}), std::invalid_argument);
}

// --- mp3 -----------------------------------------------------------------------------------

TEST(Mp3, ValidRateBitrateTable) {
  EXPECT_TRUE(mp3_rate_and_bitrate_valid(44100, 128));
  EXPECT_TRUE(mp3_rate_and_bitrate_valid(22050, 32));
  EXPECT_TRUE(mp3_rate_and_bitrate_valid(8000, 8));
  EXPECT_FALSE(mp3_rate_and_bitrate_valid(44100, 16));
  EXPECT_FALSE(mp3_rate_and_bitrate_valid(22050, 320));
  EXPECT_FALSE(mp3_rate_and_bitrate_valid(22000, 32));
  EXPECT_THROW(Mp3Encoder(44100, 100), std::invalid_argument);
}

TEST(Mp3, OneSecondToneRoundTripsThroughLameAndMpg123) {
  const auto in = sine(1000.0, 1000, 10000.0, 22050);
  const auto mp3 = encode_audio(in, 22050, fmt("mp3_22050_32"));
  ASSERT_GE(mp3.size(), 2u);
  EXPECT_EQ(mp3[0], 0xFF);
  EXPECT_EQ(mp3[1] & 0xE0, 0xE0);  // frame sync
  // 32 kbps CBR: about 4000 bytes for one second (+ encoder delay and padding frames).
  EXPECT_NEAR(static_cast<double>(mp3.size()), 4000.0, 600.0);

  int rate = 0;
  const auto out = decode_mp3(mp3, rate);
  EXPECT_EQ(rate, 22050);
  // One second plus lame's delay (1105 samples) and padding to 576-sample frames.
  EXPECT_GE(out.size(), in.size());
  EXPECT_LE(out.size(), in.size() + 1105 + 2 * 576);
  EXPECT_NEAR(rms(middle(out)), rms(middle(in)), 0.15 * rms(middle(in)));
  EXPECT_NEAR(tone_frequency(middle(out), rate), 1000.0, 15.0);
}

TEST(Mp3, ResamplesToTheFormatRate) {
  const auto in = sine(1000.0, 1000, 10000.0, 16000);
  int rate = 0;
  const auto out = decode_mp3(encode_audio(in, 16000, fmt("mp3_44100_128")), rate);
  EXPECT_EQ(rate, 44100);
  EXPECT_NEAR(static_cast<double>(out.size()), 44100.0 + 1105 + 1152, 1200.0);
  EXPECT_NEAR(tone_frequency(middle(out), rate), 1000.0, 15.0);
  EXPECT_NEAR(rms(middle(out)), rms(middle(in)), 0.1 * rms(middle(in)));
}

TEST(Mp3, StreamingEncoderIsByteIdenticalToOneShot) {
  const auto in = sine(700.0, 1500, 9000.0, 22050);
  const auto f = fmt("mp3_22050_32");
  EXPECT_EQ(encode_streaming(in, 22050, f), encode_audio(in, 22050, f));
}

TEST(Mp3, EncoderRefusesInputAfterFlush) {
  Mp3Encoder enc(22050, 32);
  const auto in = sine(700.0, 100, 9000.0, 22050);
  enc.encode(in);
  EXPECT_FALSE(enc.flush().empty());
  EXPECT_TRUE(enc.flush().empty());
  EXPECT_THROW(enc.encode(in), std::logic_error);
}

TEST(Mp3, DecoderMixesStereoDownToMono) {
  // A stereo MP3 with a tone on the left and silence on the right mixes to half the level.
  const auto left = sine(1000.0, 1000, 16000.0, 44100);
  const std::vector<std::int16_t> right(left.size(), 0);
  lame_global_flags* gf = lame_init();
  ASSERT_NE(gf, nullptr);
  lame_set_num_channels(gf, 2);
  lame_set_mode(gf, STEREO);
  lame_set_in_samplerate(gf, 44100);
  lame_set_out_samplerate(gf, 44100);
  lame_set_brate(gf, 128);
  lame_set_bWriteVbrTag(gf, 0);
  ASSERT_GE(lame_init_params(gf), 0);
  std::vector<std::uint8_t> mp3(left.size() * 2 + 16384);
  int n = lame_encode_buffer(gf, left.data(), right.data(), static_cast<int>(left.size()), mp3.data(),
                             static_cast<int>(mp3.size()));
  ASSERT_GE(n, 0);
  const int tail = lame_encode_flush(gf, mp3.data() + n, static_cast<int>(mp3.size()) - n);
  ASSERT_GE(tail, 0);
  mp3.resize(static_cast<std::size_t>(n + tail));
  lame_close(gf);

  int rate = 0;
  const auto out = decode_mp3(mp3, rate);
  EXPECT_EQ(rate, 44100);
  EXPECT_NEAR(static_cast<double>(out.size()), 44100.0 + 1105 + 1152, 1200.0);
  EXPECT_NEAR(rms(middle(out)), rms(middle(left)) / 2, 0.1 * rms(middle(left)));
  EXPECT_NEAR(tone_frequency(middle(out), rate), 1000.0, 15.0);
}

TEST(Mp3, DecodingGarbageThrows) {
  int rate = 0;
  EXPECT_THROW(decode_mp3({}, rate), std::runtime_error);
  const std::string text = "this is not an mp3 file at all, just some text that goes on for a while";
  EXPECT_THROW(decode_mp3(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), rate),
               std::runtime_error);
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 gen(seed);
    std::vector<std::uint8_t> junk(16384);
    for (auto& b : junk) b = static_cast<std::uint8_t>(gen());
    EXPECT_THROW(decode_mp3(junk, rate), std::runtime_error) << "seed " << seed;
  }
  EXPECT_EQ(rate, 0) << "sample_rate is left alone on failure";
}

// --- streaming -----------------------------------------------------------------------------

TEST(AudioEncoder, PcmAndUlawStreamingEqualOneShotAtTheSameRate) {
  const auto in = sine(1000.0, 700, 9000.0, 8000);
  for (const char* name : {"pcm_8000", "ulaw_8000", "alaw_8000"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(encode_streaming(in, 8000, fmt(name)), encode_audio(in, 8000, fmt(name)));
  }
}

TEST(AudioEncoder, ResamplingStreamingMatchesOneShot) {
  const auto in = sine(1000.0, 1000, 9000.0, 22050);
  {
    const auto streamed = s16le_to_samples(encode_streaming(in, 22050, fmt("pcm_16000")));
    const auto whole = s16le_to_samples(encode_audio(in, 22050, fmt("pcm_16000")));
    ASSERT_EQ(streamed.size(), whole.size());
    int max_diff = 0;
    for (std::size_t i = 0; i < whole.size(); ++i) max_diff = std::max(max_diff, std::abs(streamed[i] - whole[i]));
    EXPECT_LE(max_diff, 2);
  }
  {
    const auto streamed = encode_streaming(in, 22050, fmt("ulaw_8000"));
    const auto whole = encode_audio(in, 22050, fmt("ulaw_8000"));
    ASSERT_EQ(streamed.size(), whole.size());
    std::vector<std::int16_t> a(streamed.size()), b(whole.size());
    ulaw_decode(streamed, a);
    ulaw_decode(whole, b);
    EXPECT_NEAR(rms(middle(a)), rms(middle(b)), 0.01 * rms(middle(b)));
    EXPECT_EQ(zero_crossings(a), zero_crossings(b));
  }
}

TEST(AudioEncoder, StreamingWavUsesUnknownSizesThenTheSameData) {
  const auto in = sine(500.0, 300, 5000.0, 16000);
  const auto f = fmt("wav_16000");
  const auto streamed = encode_streaming(in, 16000, f);
  const auto whole = encode_audio(in, 16000, f);
  ASSERT_EQ(streamed.size(), whole.size());
  EXPECT_EQ(le32(streamed, 4), 0xFFFFFFFFu);
  EXPECT_EQ(le32(streamed, 40), 0xFFFFFFFFu);
  EXPECT_TRUE(std::equal(streamed.begin() + 8, streamed.begin() + 40, whole.begin() + 8));
  EXPECT_TRUE(std::equal(streamed.begin() + 44, streamed.end(), whole.begin() + 44));

  AudioEncoder first_push(16000, f);
  EXPECT_EQ(first_push.push({}).size(), 44u) << "the header goes out with the first push";
  EXPECT_TRUE(first_push.finish().empty());
}

TEST(AudioEncoder, LifecycleAndCounters) {
  AudioEncoder enc(22050, fmt("pcm_16000"));
  EXPECT_EQ(enc.format().sample_rate, 16000);
  EXPECT_EQ(enc.input_rate(), 22050);
  const auto in = sine(1000.0, 500, 9000.0, 22050);
  std::size_t bytes = enc.push(in).size();
  bytes += enc.finish().size();
  EXPECT_EQ(enc.samples_out() * 2, bytes);
  EXPECT_NEAR(static_cast<double>(enc.samples_out()), 8000.0, 80.0);
  EXPECT_THROW(enc.push(in), std::logic_error);
  EXPECT_TRUE(enc.finish().empty());

  AudioEncoder moved = std::move(enc);
  EXPECT_EQ(moved.format().name, "pcm_16000");
}

}  // namespace
}  // namespace vox::audio
