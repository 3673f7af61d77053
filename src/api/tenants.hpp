#pragma once
// Company API keys of the control API. Each key belongs to one tenant (company); a call
// belongs to the tenant that created or registered it. With no keys configured the API
// is open (local use): everything belongs to the one tenant "local".
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.hpp"

namespace vox::api {

class Tenants {
 public:
  static constexpr std::string_view kLocal = "local";

  Tenants() = default;
  // `entries` are "tenant:key" pairs (VOX_API_KEYS); `file` holds one "tenant key" or
  // "tenant:key" per line, `#` comments allowed. Throws std::invalid_argument naming the
  // bad line.
  static Tenants load(const std::vector<std::string>& entries, const std::string& file);
  void add(std::string tenant, std::string key);

  // Keys must be at least this long: short keys can be guessed by trying them.
  static constexpr std::size_t kMinKeyLength = 8;

  bool open() const { return keys_.empty(); }
  // Calls `f(key)` for every key (e.g. to keep them out of the logs).
  template <typename F>
  void for_each_key(F&& f) const {
    for (const auto& e : keys_) f(e.key);
  }
  std::size_t size() const { return keys_.size(); }
  // Returns the tenant owning `key` (compared in constant time), or nullopt.
  std::optional<std::string> tenant_for(std::string_view key) const;

 private:
  struct Entry {
    std::string tenant;
    std::string key;
  };
  std::vector<Entry> keys_;
};

// The API key of a request: X-API-KEY, else `Authorization: Bearer <key>`; "" if none.
std::string_view request_key(const net::HttpRequest& req);

// Who is calling the control API.
struct Principal {
  // Not an aggregate: it is passed by value to coroutines (see net::TlsOptions).
  Principal() = default;
  Principal(std::string t, bool o) : tenant(std::move(t)), open(o) {}
  std::string tenant;
  bool open = false;  // no keys configured: sees every call
  // Returns whether this principal may see and touch a call owned by `owner`.
  bool may_access(std::string_view owner) const { return open || owner == tenant; }
};

}  // namespace vox::api
