#include "api/tenants.hpp"

#include <fstream>
#include <stdexcept>

namespace vox::api {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// Splits "tenant:key", "tenant=key" or "tenant key".
bool split_entry(std::string_view line, std::string& tenant, std::string& key) {
  const auto at = line.find_first_of(":= \t");
  if (at == std::string_view::npos) return false;
  tenant = trim(line.substr(0, at));
  key = trim(line.substr(at + 1));
  return !tenant.empty() && !key.empty();
}

}  // namespace

void Tenants::add(std::string tenant, std::string key) {
  if (key.size() < kMinKeyLength)
    throw std::invalid_argument("the API key of tenant '" + tenant + "' is too short: keys must be at least 8 characters "
                                "(short keys can be guessed by trying them); e.g. generate one with: openssl rand -hex 16");
  for (const auto& e : keys_)
    if (e.key == key) throw std::invalid_argument("an API key is listed twice (tenants '" + e.tenant + "' and '" + tenant + "')");
  keys_.push_back(Entry{std::move(tenant), std::move(key)});
}

Tenants Tenants::load(const std::vector<std::string>& entries, const std::string& file) {
  Tenants t;
  for (const auto& raw : entries) {
    // VOX_API_KEYS may hold several entries separated by commas.
    std::string_view rest = raw;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string entry = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (entry.empty()) continue;
      std::string tenant, key;
      if (!split_entry(entry, tenant, key))
        throw std::invalid_argument("API key entry '" + entry.substr(0, 3) + "…' is not 'tenant:key'");
      t.add(std::move(tenant), std::move(key));
    }
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw std::invalid_argument("cannot read the API keys file '" + file + "' (--api-keys-file)");
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      const std::string l = trim(line);
      if (l.empty() || l[0] == '#') continue;
      std::string tenant, key;
      if (!split_entry(l, tenant, key))
        throw std::invalid_argument("line " + std::to_string(n) + " of '" + file + "' is not 'tenant key'");
      t.add(std::move(tenant), std::move(key));
    }
  }
  return t;
}

std::optional<std::string> Tenants::tenant_for(std::string_view key) const {
  if (key.empty()) return std::nullopt;
  const std::string* found = nullptr;
  for (const auto& e : keys_) {
    // Constant time over the key's bytes, whatever matches.
    unsigned char diff = e.key.size() == key.size() ? 0 : 1;
    for (std::size_t i = 0; i < key.size(); ++i)
      diff |= static_cast<unsigned char>(key[i] ^ (i < e.key.size() ? e.key[i] : 0));
    if (diff == 0) found = &e.tenant;
  }
  if (!found) return std::nullopt;
  return *found;
}

std::string_view request_key(const net::HttpRequest& req) {
  auto key = req.header("X-API-KEY");
  if (!key.empty()) return key;
  auto auth = req.header("Authorization");
  constexpr std::string_view bearer = "Bearer ";
  if (auth.size() > bearer.size() && auth.substr(0, bearer.size()) == bearer) return auth.substr(bearer.size());
  return {};
}

}  // namespace vox::api
