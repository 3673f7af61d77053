#pragma once
// The gateway `voxbridge serve` runs: every service built in dependency order (speech
// engines, agents, the call store and its journal, Twilio's REST client, the call
// registry and starter, metrics, the control API, the turn API, the media socket), the
// routes wired, the ports bound, and one shutdown with one deadline. The Runtime it is
// given outlives it; it outlives every coroutine frame it starts (see run_serve).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/runtime.hpp"

namespace vox::app {

// Why the gateway cannot start, in words that say what to fix (exit code 2).
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Gateway {
 public:
  // Builds every service; throws StartError.
  Gateway(const ServerConfig& config, Runtime& runtime);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the main port (and --metrics-listen's); returns the main port. Throws StartError.
  std::uint16_t listen();
  std::uint16_t metrics_port() const { return metrics_port_; }
  const std::string& instance_id() const { return instance_id_; }

  // Shuts down once (later calls do nothing), from any thread: stops accepting, ends
  // every call (completing it at Twilio when an account is configured), answers waiting
  // turns, waits for connections to close until the deadline, closes what is left and
  // commits the store; then runs `done` on the loop.
  void shut_down(std::string why, std::function<void()> done);

  struct Parts;  // the services, in construction order

 private:
  const ServerConfig& config_;
  Runtime& runtime_;
  std::string instance_id_;
  std::unique_ptr<Parts> parts_;
  std::uint16_t metrics_port_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace vox::app
