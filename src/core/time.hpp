#pragma once
// Wall-clock time stamps for logs, APIs and the call store.
#include <string>

namespace vox {

// Returns the current UTC time as ISO-8601 with milliseconds and a Z
// ("2026-11-21T10:04:23.367Z").
std::string iso8601_now();

}  // namespace vox
