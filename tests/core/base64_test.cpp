#include "core/base64.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace vox {
namespace {

std::string enc(std::string_view s) {
  std::string out;
  base64::append(out, std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  return out;
}

std::optional<std::string> dec(std::string_view s) {
  std::vector<std::uint8_t> buf(s.size());
  auto n = base64::decode(s, buf);
  if (!n) return std::nullopt;
  return std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
}

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(enc(""), "");
  EXPECT_EQ(enc("f"), "Zg==");
  EXPECT_EQ(enc("fo"), "Zm8=");
  EXPECT_EQ(enc("foo"), "Zm9v");
  EXPECT_EQ(enc("foob"), "Zm9vYg==");
  EXPECT_EQ(enc("fooba"), "Zm9vYmE=");
  EXPECT_EQ(enc("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesRfc4648Vectors) {
  EXPECT_EQ(dec("Zg=="), "f");
  EXPECT_EQ(dec("Zm8="), "fo");
  EXPECT_EQ(dec("Zm9vYmFy"), "foobar");
  EXPECT_EQ(dec(""), "");
}

TEST(Base64, RejectsInvalidInput) {
  EXPECT_FALSE(dec("Zg="));       // length not a multiple of 4
  EXPECT_FALSE(dec("Z!=="));      // bad character
  EXPECT_FALSE(dec("Zg==Zg=="));  // padding in the middle
  EXPECT_FALSE(dec("=Zg="));
  EXPECT_FALSE(dec("Zm9v\n"));
}

TEST(Base64, RejectsOutputThatDoesNotFit) {
  std::array<std::uint8_t, 2> small{};
  EXPECT_FALSE(base64::decode("Zm9v", small));
}

TEST(Base64, RoundTripsAllByteValues) {
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  std::string e;
  base64::append(e, all);
  std::vector<std::uint8_t> back(256);
  ASSERT_EQ(base64::decode(e, back), 256u);
  EXPECT_EQ(back, all);
}

}  // namespace
}  // namespace vox
