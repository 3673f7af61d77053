#pragma once
// The flags of `voxbridge serve` that make it one instance of a cluster (docs/deploy.md).
#include <CLI/CLI.hpp>

#include "app/config.hpp"

namespace vox::app {

// --redis-url, --redis-ca-file, --advertise-url, the heartbeat, TTL and Redis timeout, and
// --max-calls-per-company, each with its environment variable.
void add_cluster_options(CLI::App& cmd, ServerConfig& c);

}  // namespace vox::app
