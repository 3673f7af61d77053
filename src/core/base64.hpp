#pragma once
// Standard base64 (RFC 4648, with padding) into caller-owned buffers: no allocation.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vox::base64 {

// Returns the encoded length of `n` input bytes.
constexpr std::size_t encoded_size(std::size_t n) { return (n + 2) / 3 * 4; }
// Returns the largest decoded length of `n` base64 characters.
constexpr std::size_t max_decoded_size(std::size_t n) { return n / 4 * 3; }

// Writes the base64 of `in` to `out` (which must hold encoded_size(in.size()) chars);
// returns the number of characters written.
std::size_t encode(std::span<const std::uint8_t> in, char* out);
// Appends the base64 of `in` to `out`.
void append(std::string& out, std::span<const std::uint8_t> in);

// Decodes strict, padded base64 into `out`. Returns the number of bytes written, or
// nullopt when `in` is not valid base64 or `out` is too small.
std::optional<std::size_t> decode(std::string_view in, std::span<std::uint8_t> out);

}  // namespace vox::base64
