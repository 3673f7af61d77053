#include "audio/g711.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace vox::audio {
namespace {

// Decoded value of every μ-law code, computed once (python3) from the ITU-T G.711
// formula: u = ~code; exp = (u >> 4) & 7; mant = u & 15;
// mag = (((mant << 3) + 0x84) << exp) - 0x84; negative when u & 0x80.
constexpr std::array<std::int16_t, 256> kReference = {
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,  // 0x00
    -23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,  // 0x08
    -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,  // 0x10
    -11900, -11388, -10876, -10364,  -9852,  -9340,  -8828,  -8316,  // 0x18
     -7932,  -7676,  -7420,  -7164,  -6908,  -6652,  -6396,  -6140,  // 0x20
     -5884,  -5628,  -5372,  -5116,  -4860,  -4604,  -4348,  -4092,  // 0x28
     -3900,  -3772,  -3644,  -3516,  -3388,  -3260,  -3132,  -3004,  // 0x30
     -2876,  -2748,  -2620,  -2492,  -2364,  -2236,  -2108,  -1980,  // 0x38
     -1884,  -1820,  -1756,  -1692,  -1628,  -1564,  -1500,  -1436,  // 0x40
     -1372,  -1308,  -1244,  -1180,  -1116,  -1052,   -988,   -924,  // 0x48
      -876,   -844,   -812,   -780,   -748,   -716,   -684,   -652,  // 0x50
      -620,   -588,   -556,   -524,   -492,   -460,   -428,   -396,  // 0x58
      -372,   -356,   -340,   -324,   -308,   -292,   -276,   -260,  // 0x60
      -244,   -228,   -212,   -196,   -180,   -164,   -148,   -132,  // 0x68
      -120,   -112,   -104,    -96,    -88,    -80,    -72,    -64,  // 0x70
       -56,    -48,    -40,    -32,    -24,    -16,     -8,      0,  // 0x78
     32124,  31100,  30076,  29052,  28028,  27004,  25980,  24956,  // 0x80
     23932,  22908,  21884,  20860,  19836,  18812,  17788,  16764,  // 0x88
     15996,  15484,  14972,  14460,  13948,  13436,  12924,  12412,  // 0x90
     11900,  11388,  10876,  10364,   9852,   9340,   8828,   8316,  // 0x98
      7932,   7676,   7420,   7164,   6908,   6652,   6396,   6140,  // 0xA0
      5884,   5628,   5372,   5116,   4860,   4604,   4348,   4092,  // 0xA8
      3900,   3772,   3644,   3516,   3388,   3260,   3132,   3004,  // 0xB0
      2876,   2748,   2620,   2492,   2364,   2236,   2108,   1980,  // 0xB8
      1884,   1820,   1756,   1692,   1628,   1564,   1500,   1436,  // 0xC0
      1372,   1308,   1244,   1180,   1116,   1052,    988,    924,  // 0xC8
       876,    844,    812,    780,    748,    716,    684,    652,  // 0xD0
       620,    588,    556,    524,    492,    460,    428,    396,  // 0xD8
       372,    356,    340,    324,    308,    292,    276,    260,  // 0xE0
       244,    228,    212,    196,    180,    164,    148,    132,  // 0xE8
       120,    112,    104,     96,     88,     80,     72,     64,  // 0xF0
        56,     48,     40,     32,     24,     16,      8,      0,  // 0xF8
};

// Distance between adjacent decoded levels in the segment of `code`.
int step_of(std::uint8_t code) { return 8 << ((~code >> 4) & 7); }

TEST(G711, DecodesEveryCodeToTheReferenceValue) {
  for (int code = 0; code < 256; ++code)
    EXPECT_EQ(ulaw_decode(static_cast<std::uint8_t>(code)), kReference[static_cast<std::size_t>(code)])
        << "code 0x" << std::hex << code;
}

TEST(G711, ReferenceTableSpotChecks) {
  // Guards the pasted table itself against an accidental edit.
  EXPECT_EQ(kReference[0x00], -32124);
  EXPECT_EQ(kReference[0x80], 32124);
  EXPECT_EQ(kReference[0x7F], 0);
  EXPECT_EQ(kReference[0xFF], 0);
  EXPECT_EQ(kReference[0xFE], 8);
  EXPECT_EQ(kReference[0x7E], -8);
  EXPECT_EQ(kReference[0xEF], 132);
}

TEST(G711, EncodeInvertsDecodeForEveryCodeButNegativeZero) {
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<std::uint8_t>(code);
    if (c == 0x7F) continue;
    EXPECT_EQ(ulaw_encode(ulaw_decode(c)), c) << "code 0x" << std::hex << code;
  }
  // 0x7F is "negative zero": it decodes to 0, and 0 encodes as positive zero.
  EXPECT_EQ(ulaw_decode(0x7F), 0);
  EXPECT_EQ(ulaw_encode(ulaw_decode(0x7F)), 0xFF);
}

TEST(G711, EncodesKnownLinearValues) {
  EXPECT_EQ(ulaw_encode(0), 0xFF);
  EXPECT_EQ(ulaw_encode(0), kUlawSilence);
  EXPECT_EQ(ulaw_encode(32767), 0x80);
  EXPECT_EQ(ulaw_encode(32635), 0x80);  // the clip level
  EXPECT_EQ(ulaw_encode(-32768), 0x00);
  EXPECT_EQ(ulaw_encode(-32767), 0x00);
  EXPECT_EQ(ulaw_encode(8), 0xFE);
  EXPECT_EQ(ulaw_encode(-8), 0x7E);
  EXPECT_EQ(ulaw_encode(1000), 0xCE);   // decodes to 988
  EXPECT_EQ(ulaw_encode(-1000), 0x4E);  // decodes to -988
}

TEST(G711, EncodeIsMonotonicAndWithinOneStepOverTheWholeRange) {
  int previous = -32768 - 1;
  int worst_clipped = 0;
  for (int x = -32768; x <= 32767; ++x) {
    const std::uint8_t code = ulaw_encode(static_cast<std::int16_t>(x));
    const int y = ulaw_decode(code);
    ASSERT_GE(y, previous) << "decode(encode(x)) decreased at x = " << x;
    previous = y;
    const int err = std::abs(y - x);
    if (std::abs(x) <= 32635) {
      // Encoding truncates into a segment interval; decoding returns its middle.
      ASSERT_LE(err, step_of(code) / 2) << "x = " << x << " code 0x" << std::hex << int{code};
    } else {
      ASSERT_LE(err, step_of(code)) << "x = " << x;
      worst_clipped = std::max(worst_clipped, err);
    }
  }
  EXPECT_EQ(previous, 32124);      // the largest level is reached at the top
  EXPECT_EQ(worst_clipped, 644);   // -32768 decodes to -32124
}

TEST(G711, SpanDecodeConvertsMinOfBothSizes) {
  const std::vector<std::uint8_t> in = {0x00, 0x7F, 0x80, 0xFF, 0xEF};
  std::vector<std::int16_t> out(3, 12345);
  EXPECT_EQ(ulaw_decode(in, out), 3u);
  EXPECT_EQ(out, (std::vector<std::int16_t>{-32124, 0, 32124}));

  std::vector<std::int16_t> big(8, 12345);
  EXPECT_EQ(ulaw_decode(in, big), 5u);
  EXPECT_EQ(big, (std::vector<std::int16_t>{-32124, 0, 32124, 0, 132, 12345, 12345, 12345}));
}

TEST(G711, SpanEncodeConvertsMinOfBothSizes) {
  const std::vector<std::int16_t> in = {0, 32767, -32768, 8, -8};
  std::vector<std::uint8_t> out(2, 0x55);
  EXPECT_EQ(ulaw_encode(in, out), 2u);
  EXPECT_EQ(out, (std::vector<std::uint8_t>{0xFF, 0x80}));

  std::vector<std::uint8_t> big(7, 0x55);
  EXPECT_EQ(ulaw_encode(in, big), 5u);
  EXPECT_EQ(big, (std::vector<std::uint8_t>{0xFF, 0x80, 0x00, 0xFE, 0x7E, 0x55, 0x55}));
}

TEST(G711, SpanOverloadsMatchScalarOnes) {
  std::vector<std::uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  std::vector<std::int16_t> pcm(256);
  ASSERT_EQ(ulaw_decode(codes, pcm), 256u);
  std::vector<std::uint8_t> back(256);
  ASSERT_EQ(ulaw_encode(pcm, back), 256u);
  for (std::size_t i = 0; i < 256; ++i) {
    EXPECT_EQ(pcm[i], kReference[i]);
    EXPECT_EQ(back[i], i == 0x7F ? 0xFF : i) << "code " << i;
  }
}

TEST(G711, EmptySpansConvertNothing) {
  std::vector<std::int16_t> out(4, 7);
  EXPECT_EQ(ulaw_decode(std::span<const std::uint8_t>{}, out), 0u);
  EXPECT_EQ(out, (std::vector<std::int16_t>(4, 7)));
}

}  // namespace
}  // namespace vox::audio
