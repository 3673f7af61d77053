#pragma once
// Shared pieces of the network-fault tests (faults_*_test.cpp): the fault proxy placed
// between the gateway and what it talks to, and readers of what the server shows.
#include <dirent.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "e2e_support.hpp"
#include "server_process.hpp"
#include "support/fault_proxy.hpp"

namespace vox::test {

using testing::FaultProxy;
using testing::Faults;

// A proxy in front of a running ServerProcess (an emulator, a model server, a gateway).
inline std::unique_ptr<FaultProxy> proxy_to(const ServerProcess& upstream) {
  return std::make_unique<FaultProxy>("127.0.0.1", static_cast<unsigned short>(upstream.port()));
}

// The value of an unlabelled sample `name` in the server's /metrics (-1 when absent).
inline double metric(const ServerProcess& server, const std::string& name) {
  std::istringstream lines(http("GET", server.url() + "/metrics").body);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  return -1;
}

// Open file descriptors of a process (/proc/PID/fd).
inline int open_fds(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(path.c_str());
  if (!d) return -1;
  int n = 0;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

}  // namespace vox::test
