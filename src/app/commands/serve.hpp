#pragma once
// `voxbridge serve`: the composition root of the gateway.
#include <string>

#include "core/config.hpp"

namespace vox::app {

struct ServeOptions {
  std::string port_file;  // write the bound port here once listening (tests use --port 0)
};

// Runs the server until SIGINT/SIGTERM; returns the process exit code.
int run_serve(const Config& config, const ServeOptions& options);

}  // namespace vox::app
