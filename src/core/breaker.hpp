#pragma once
// A provider's circuit breaker. A phone call cannot wait out one timeout per request while
// a provider is unreachable: after a slow failure (a request that got no answer in time, a
// stream that stalled) the breaker opens, and for `open_for` every request goes straight
// to the fallback (the embedded engines) instead. Then one request at a time is let
// through as a probe: its success closes the breaker, its failure opens it again.
// A failure that comes fast (a refused or reset connection, an error status, a refusal by
// the service) does not trip it: each request's own fallback is quick then.
//
// Thread-safe: calls on any network thread share one breaker per provider. Used once per
// request, never per frame.
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "core/clock.hpp"

namespace vox {

class Breaker {
 public:
  struct Settings {
    std::chrono::milliseconds open_for{10000};  // 0: never opens
  };
  // `on_change(open, why)` is called (outside the lock) when the breaker opens or closes.
  explicit Breaker(Settings settings, std::function<void(bool open, const std::string& why)> on_change = {},
                   const Clock& clock = SteadyClock::instance());

  // Whether to try the provider now: true while closed; while open, true once per
  // `open_for` (the probe), false otherwise.
  bool allow();
  void succeeded();
  void failed(const std::string& why);

  bool is_open() const;
  std::string reason() const;  // the failure that opened it ("" while closed)

 private:
  const Settings settings_;
  const std::function<void(bool, const std::string&)> on_change_;
  const Clock& clock_;
  mutable std::mutex mu_;
  bool open_ = false;
  Clock::time_point probe_at_{};
  std::string why_;
};

}  // namespace vox
