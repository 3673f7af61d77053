#pragma once
// The llm agent's place in the server: its pooled HTTP client, the built-in model
// emulator that answers when no model server is configured (the no-account demo), the
// start-up check that reports the model server on /health, and its /metrics counters.
#include <memory>
#include <string>

#include "agent/llm_agent.hpp"

namespace boost::asio {
class io_context;
}
namespace vox::metrics {
class Registry;
}
namespace vox::net {
class HttpClient;
}

namespace vox::app {

struct Engines;

class LlmSetup {
 public:
  // Adjusts `settings` (the built-in emulator's URL when no key and the default URL are
  // configured). Throws std::runtime_error when the emulator cannot listen.
  LlmSetup(agent::LlmSettings& settings, boost::asio::io_context& ioc, metrics::Registry& metrics);
  ~LlmSetup();
  net::HttpClient& http();
  agent::LlmObserver* observer();
  // Asks the model server for its models (GET {base}/models): /health shows "ok" or the
  // problem under providers.llm; never fatal. Also opens a pooled connection.
  void check(Engines& engines, const agent::LlmSettings& settings, boost::asio::io_context& ioc, bool report);
  bool emulated() const;
  // Stops the built-in emulator's listener (shutdown).
  void shutdown();
  // Closes its connections (after shutdown's deadline).
  void abort();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vox::app
