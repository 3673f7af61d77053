#pragma once
// Digests used across modules (cache keys, Twilio's bodySHA256).
#include <string>
#include <string_view>

namespace vox {

// Lowercase hex of the bytes of `data`.
std::string hex_encode(std::string_view data);

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Whether two secrets (keys, signatures, digests) are equal, in time independent of
// where they differ (the length is not hidden).
bool constant_time_equal(std::string_view a, std::string_view b);

// Lowercase hex HMAC-SHA256 of `data` keyed by `key` (signatures of our outbound webhooks).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace vox
