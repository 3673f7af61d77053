#include "core/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace vox {
std::string hex_encode(std::string_view data) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * data.size());
  for (const unsigned char c : data) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

namespace {
std::string to_hex(const unsigned char* md, unsigned len) {
  return hex_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}
}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &len);
  return to_hex(md, len);
}

}  // namespace vox
