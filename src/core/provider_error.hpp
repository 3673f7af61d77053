#pragma once
// An error answered by a provider voxbridge calls (ElevenLabs, Twilio, a model server) or
// met on the way to it, classified so callers decide alike everywhere: retry or not,
// fall back or not, and what to tell an operator. One type for every provider.
#include <stdexcept>
#include <string>

namespace vox {

class ProviderError : public std::runtime_error {
 public:
  enum class Kind { kAuth, kQuota, kRateLimited, kNotFound, kInvalid, kServer, kTransport };

  ProviderError(std::string provider, Kind kind, int status, std::string code, const std::string& message,
                std::string more_info = {})
      : std::runtime_error(message),
        provider(std::move(provider)),
        kind(kind),
        status(status),
        code(std::move(code)),
        more_info(std::move(more_info)) {}

  std::string provider;   // "elevenlabs", "twilio", "llm"
  Kind kind;
  int status;             // HTTP status; 0 for transport failures and local validation
  std::string code;       // the provider's own code: "invalid_api_key", "21211", ...
  std::string more_info;  // a link the provider gave, if any

  bool retryable() const { return kind == Kind::kRateLimited || kind == Kind::kServer || kind == Kind::kTransport; }
  // The code as a number (Twilio's error codes); 0 when it is not one.
  int numeric_code() const {
    int n = 0;
    for (const char c : code) {
      if (c < '0' || c > '9' || n > 100000000) return 0;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  // The kind an HTTP status alone suggests.
  static Kind kind_of_status(int status) {
    if (status == 401 || status == 403) return Kind::kAuth;
    if (status == 402) return Kind::kQuota;
    if (status == 404) return Kind::kNotFound;
    if (status == 429) return Kind::kRateLimited;
    if (status >= 500) return Kind::kServer;
    if (status >= 400) return Kind::kInvalid;
    return Kind::kTransport;
  }
};

}  // namespace vox
