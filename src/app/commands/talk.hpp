#pragma once
// `voxbridge talk`: tests phone agents with scripted conversations over real calls (see
// README "Testing phone agents"). Places each scenario's call through Twilio, drives it
// turn by turn through a voxbridge server's /generate (or one run in-process), checks
// the replies, and reports on the terminal, as JSON and as JUnit XML.
#include <string>
#include <vector>

#include "app/config.hpp"

namespace vox::app {

struct TalkOptions {
  std::vector<std::string> scenario_files;  // --scenario FILE (repeat)
  std::string scenarios_dir;                // --scenarios DIR
  std::string server;                       // --server URL; "" = run the server in-process
  std::string api_key;                      // that server's API_KEY
  std::string public_url;                   // the URL Twilio reaches the server at (default: the server URL)
  std::string to, from;
  std::string agent_api, agent_api_key;     // --agent-api URL: where `tools` expectations are checked
  int concurrency = 1;
  std::string report_json, junit, transcripts_dir;
  bool in_process_store_given = false;      // --store was given (else a temporary store)
};

// Returns the exit code: 0 all passed, 1 a scenario failed, 2 bad usage or setup,
// 130 interrupted by SIGINT/SIGTERM.
int run_talk(ServerConfig config, const TalkOptions& options);

}  // namespace vox::app
