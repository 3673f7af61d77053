#pragma once
// Small text helpers shared by the agents that cut streamed answers into pieces.
#include <string>
#include <string_view>

namespace vox::agent::text {

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace vox::agent::text
