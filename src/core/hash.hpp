#pragma once
// Digests used across modules (cache keys, Twilio's bodySHA256).
#include <string>
#include <string_view>

namespace vox {

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Lowercase hex HMAC-SHA256 of `data` keyed by `key` (signatures of our outbound webhooks).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace vox
