#pragma once
// `.env` files: settings that the environment does not set come from here (flags beat
// the environment, the environment beats `.env`).
#include <map>
#include <string>
#include <string_view>

namespace vox {

// Parses a `.env` file (KEY=VALUE lines, `#` comments, optional quotes and `export `).
// Returns the pairs; a missing file yields an empty map.
std::map<std::string, std::string> read_dotenv(const std::string& path);
// The same, from the file's text.
std::map<std::string, std::string> parse_dotenv(std::string_view text);

// Sets each pair in the process environment unless the variable is already set.
void apply_dotenv(const std::map<std::string, std::string>& vars);

}  // namespace vox
