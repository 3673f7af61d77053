#pragma once
// `voxbridge serve`: runs the gateway until SIGINT/SIGTERM (or until the embedding
// program stops it).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "app/config.hpp"

namespace vox::app {

struct ServeOptions {
  std::string port_file;          // write the bound port here once listening (tests use --port 0)
  std::string metrics_port_file;  // the same for --metrics-listen
  bool handle_signals = true;     // false when embedded: the embedding program stops it
  // Called once listening, with the port and a function that stops the server
  // gracefully (callable from any thread; run_serve then returns).
  std::function<void(std::uint16_t port, std::function<void()> stop)> on_listening;
  // When something does not end at shutdown the process exits at once (see run_serve);
  // an embedding program sets its own exit code here first, so that exit reports it.
  std::shared_ptr<std::atomic<int>> exit_code_if_stuck;
};

// Registers every secret in `config` (keys, tokens) to be hidden from the log.
void hide_secrets(const ServerConfig& config);

// Runs the server until SIGINT/SIGTERM; returns the process exit code.
int run_serve(const ServerConfig& config, const ServeOptions& options);

}  // namespace vox::app
