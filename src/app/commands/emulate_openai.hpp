#pragma once
// `voxbridge emulate openai`: a local OpenAI-compatible model server (sim/openai_emulator.hpp).
#include <string>
#include <vector>

namespace vox::app {

struct EmulateOpenAiOptions {
  std::string host = "127.0.0.1";
  int port = 8003;
  std::string port_file;
  std::vector<std::string> api_keys;  // empty: any key (or none) is accepted
  std::string rules_file;             // JSON rules (the /emulator/rules shape)
  int ttft_ms = 0;
  double tokens_per_second = 0;
  int threads = 1;
};
int run_emulate_openai(const EmulateOpenAiOptions& options);

}  // namespace vox::app
