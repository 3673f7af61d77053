#include "core/base64.hpp"

#include <array>

namespace vox::base64 {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_reverse() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto kReverse = make_reverse();

}  // namespace

std::size_t encode(std::span<const std::uint8_t> in, char* out) {
  std::size_t i = 0, o = 0;
  const std::size_t n = in.size();
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = in[i] << 16;
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    const std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
  return o;
}

void append(std::string& out, std::span<const std::uint8_t> in) {
  const std::size_t old = out.size();
  out.resize(old + encoded_size(in.size()));
  encode(in, out.data() + old);
}

std::optional<std::size_t> decode(std::string_view in, std::span<std::uint8_t> out) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  const std::size_t decoded = in.size() / 4 * 3 - pad;
  if (decoded > out.size()) return std::nullopt;
  std::size_t o = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const unsigned char c = static_cast<unsigned char>(in[i + k]);
      int d;
      if (c == '=') {
        if (!last || k < 4 - pad) return std::nullopt;  // '=' only as trailing padding
        d = 0;
      } else {
        d = kReverse[c];
        if (d < 0) return std::nullopt;
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out[o++] = static_cast<std::uint8_t>(v >> 16);
    if (!last || pad < 2) out[o++] = static_cast<std::uint8_t>(v >> 8);
    if (!last || pad < 1) out[o++] = static_cast<std::uint8_t>(v);
  }
  return o;
}

}  // namespace vox::base64
