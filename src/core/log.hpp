#pragma once
// Logging setup. Modules log through spdlog with `key=value` fields, e.g.
//   spdlog::info("call started call_sid={} stream_sid={}", ...);
#include <string>

namespace vox {

// Configures the default logger: readable one-line records on stderr, level from
// `level` (trace, debug, info, warn, error, off). Unknown levels fall back to info.
void setup_logging(const std::string& level);

}  // namespace vox
