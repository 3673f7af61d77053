#include "twilio/signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/base64.hpp"
#include "core/hash.hpp"

namespace vox::twilio {

std::string compute_signature(std::string_view auth_token, std::string_view url, const FormParams& params) {
  std::map<std::string, std::set<std::string>> sorted;
  for (const auto& [k, v] : params) sorted[k].insert(v);
  std::string data(url);
  for (const auto& [k, values] : sorted)
    for (const auto& v : values) {
      data += k;
      data += v;
    }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), auth_token.data(), static_cast<int>(auth_token.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  std::string out;
  base64::append(out, std::span<const std::uint8_t>(mac, len));
  return out;
}

std::string sha256_hex(std::string_view data) { return vox::sha256_hex(data); }

namespace {

// Splits scheme://authority/rest; returns false when `url` is not absolute.
bool split_url(std::string_view url, std::string& scheme, std::string& userinfo, std::string& host,
               std::string& port, std::string& rest) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  scheme = std::string(url.substr(0, sep));
  std::string_view after = url.substr(sep + 3);
  const auto slash = after.find_first_of("/?#");
  std::string_view authority = after.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string() : std::string(after.substr(slash));
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    userinfo = std::string(authority.substr(0, at + 1));
    authority = authority.substr(at + 1);
  }
  const auto close = authority.rfind(']');
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  } else {
    host = std::string(authority);
  }
  return true;
}

std::string default_port(const std::string& scheme) {
  if (scheme == "https" || scheme == "wss") return "443";
  if (scheme == "http" || scheme == "ws") return "80";
  return "";
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

std::vector<std::string> signature_url_variants(std::string_view url) {
  std::vector<std::string> base{std::string(url)};
  std::string scheme, userinfo, host, port, rest;
  if (split_url(url, scheme, userinfo, host, port, rest)) {
    const std::string prefix = scheme + "://" + userinfo;
    base.push_back(prefix + host + rest);  // any explicit port removed
    const auto def = default_port(scheme);
    if (port.empty() && !def.empty()) base.push_back(prefix + host + ":" + def + rest);  // default port added
  }
  std::vector<std::string> out;
  for (const auto& b : base) {
    for (const auto& v : {b, replace_all(b, "'", "%27"), replace_all(b, "%27", "'")})
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

bool validate_signature(std::string_view auth_token, std::string_view url, const FormParams& params,
                        std::string_view signature) {
  if (signature.empty() || auth_token.empty()) return false;
  bool ok = false;
  for (const auto& u : signature_url_variants(url)) {
    const auto expected = compute_signature(auth_token, u, params);
    // Constant time for equal lengths; every variant is checked either way.
    if (constant_time_equal(expected, signature)) ok = true;
  }
  return ok;
}

bool validate_signature_json(std::string_view auth_token, std::string_view url, std::string_view body,
                             std::string_view signature) {
  const auto q = url.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view query = url.substr(q + 1);
  std::string hash;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    if (pair.rfind("bodySHA256=", 0) == 0) hash = std::string(pair.substr(11));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  if (hash.empty()) return false;
  const auto actual = sha256_hex(body);
  if (!constant_time_equal(actual, hash)) return false;
  return validate_signature(auth_token, url, {}, signature);
}

}  // namespace vox::twilio
