#pragma once
// Writes the bound port for tests and scripts that start a server on port 0: to a
// temporary file first, then renamed, so a reader never sees a half-written number.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace vox::app {

inline void write_port_file(const std::string& path, std::uint16_t port) {
  if (path.empty()) return;
  std::ofstream(path + ".tmp") << port << "\n";
  std::rename((path + ".tmp").c_str(), path.c_str());
}

}  // namespace vox::app
