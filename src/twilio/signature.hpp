#pragma once
// X-Twilio-Signature: HMAC-SHA1 of the URL Twilio requested plus the sorted form
// parameters, keyed by the account's auth token (../shared/specs/twilio_media_streams.md
// §9). Validation accepts the URL variants Twilio's own helper libraries accept.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vox::twilio {

using FormParams = std::vector<std::pair<std::string, std::string>>;

// base64(HMAC-SHA1(token, url + for each name sorted, each distinct value sorted: name + value)).
std::string compute_signature(std::string_view auth_token, std::string_view url, const FormParams& params);

// Validates a form-encoded request (or a GET/WebSocket upgrade with no params). Tries the
// URL as given, with an explicit port removed, with the scheme's default port added, and
// each with `'` percent-encoded (as Twilio's Node library does). Constant-time compare.
bool validate_signature(std::string_view auth_token, std::string_view url, const FormParams& params,
                        std::string_view signature);

// Validates a JSON-bodied request: the URL must carry bodySHA256 = hex SHA-256 of the
// body, and the signature covers the URL alone.
bool validate_signature_json(std::string_view auth_token, std::string_view url, std::string_view body,
                             std::string_view signature);

// The URL variants validate_signature() tries.
std::vector<std::string> signature_url_variants(std::string_view url);

std::string sha256_hex(std::string_view data);

}  // namespace vox::twilio
