#pragma once
// Logging setup. Modules log through spdlog with `key=value` fields, e.g.
//   spdlog::info("call started call_sid={} stream_sid={}", ...);
// Every record is one line: control characters in a message (a caller's name, a digit,
// a mark) are written escaped (\n, \x1b), so nothing a stranger sends can forge a line,
// and the secrets registered with redact_in_logs() are written as "***".
#include <string>
#include <string_view>

namespace vox {

// Configures the default logger: readable one-line records on stderr, level from
// `level` (trace, debug, info, warn, error, off). Unknown levels fall back to info.
void setup_logging(const std::string& level);

// From now on, `secret` (an API key, a token) is replaced by "***" wherever it would
// appear in a log record. Secrets shorter than 6 characters are not searched for.
void redact_in_logs(std::string secret);

// Returns `text` as it is logged: control characters escaped, registered secrets hidden.
std::string log_safe(std::string_view text);

}  // namespace vox
