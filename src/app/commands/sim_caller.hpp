#pragma once
#include <string>
#include <vector>

#include "sim/caller.hpp"

namespace vox::app {

struct SimCallerCommand {
  sim::CallerOptions caller;
  int calls = 1;
  std::vector<std::string> expect;  // phrases to recognise in what we hear (grammar mode); empty: LM mode
  bool transcribe = true;
  std::string record_dir;           // write each heard segment as WAV here
  std::string json_out;             // write the JSON summary here too
};

// Runs the simulated caller(s) and prints a JSON summary; returns the exit code.
int run_sim_caller(const SimCallerCommand& cmd);

}  // namespace vox::app
