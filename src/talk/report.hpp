#pragma once
// Results of `voxbridge talk`: per scenario, per turn; written as JSON, as JUnit XML
// (one test case per scenario) and as a readable transcript.
#include <string>
#include <vector>

#include "core/xml.hpp"
#include "talk/scenario.hpp"

namespace vox::talk {

struct TurnResult {
  int index = 0;             // 0: the greeting, then 1..N
  std::string said;          // what we played ("" for a greeting or a wait)
  std::string heard;         // what the other side said
  double latency_ms = -1;    // from the end of our words to the start of theirs
  double duration_ms = 0;    // the whole /generate request
  std::vector<std::string> failures;
  std::vector<std::string> skipped;  // their words heard while ours played
  std::vector<std::string> tools;    // tools the agent called answering it (when checked)
};

struct ScenarioResult {
  std::string name;
  std::string file;
  std::string persona;
  std::string call_sid;
  bool passed = false;
  std::string reason;        // why it failed (the first failure), "" when passed
  std::string ended;         // how the call ended, when it did before the scenario did
  double duration_s = 0;
  std::vector<TurnResult> turns;
};

std::string report_json(const std::vector<ScenarioResult>& results);
std::string junit_xml(const std::vector<ScenarioResult>& results, const std::string& suite = "voxbridge-talk");
std::string transcript(const ScenarioResult& result);
using vox::xml_escape;

}  // namespace vox::talk
