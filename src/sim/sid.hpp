#pragma once
// Twilio-style resource ids for the simulators: a two-letter prefix (CA, AC, MZ) and 32
// random hex digits.
#include <random>
#include <string>
#include <string_view>

namespace vox::sim {

inline std::string random_sid(std::string_view prefix) {
  thread_local std::mt19937_64 gen(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(prefix);
  for (int i = 0; i < 32; ++i) s.push_back(kHex[gen() % 16]);
  return s;
}

}  // namespace vox::sim
