#pragma once
// Scenario files of `voxbridge talk` (YAML or JSON; README "Testing phone agents"):
//
//   name: order status                 # default: the file name
//   persona: A customer asking where their parcel is   # free text, reported
//   metadata: {team: support}          # free key/values, reported
//   to: "+15550009999"                 # optional: overrides --to
//   from: "+15550001111"               # optional: overrides --from
//   timeout_s: 180                     # the whole call
//   turn_timeout_s: 20                 # default wait for each reply
//   talk_timeout_s: 60                 # the server ends the call after this much silence
//   greeting:                          # the other side speaks first (first=true)
//     expect: {contains: welcome}
//     timeout_s: 30
//   turns:
//     - say: good morning              # played into the call; then the reply is awaited
//       expect:
//         contains: [morning]          # every one must appear (case and punctuation ignored)
//         not_contains: sorry          # none may appear
//         regex: "good (morning|day)"  # must match (case-insensitive, Perl syntax)
//         max_latency_ms: 4000         # from the end of our words to the start of theirs
//         tools: [lookup_order]        # the agent called each while answering (needs --agent-api)
//       timeout_s: 15
//     - wait: true                     # say nothing; await their next words
//
// `greeting: false` skips waiting for the other side to speak first.
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vox::talk {

class ScenarioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Expectation {
  std::vector<std::string> contains;
  std::vector<std::string> not_contains;
  std::vector<std::string> regex;
  std::optional<int> max_latency_ms;
  // Tools the agent must have called while answering (checked through the control API
  // of the voxbridge that runs the agent: --agent-api).
  std::vector<std::string> tools;
  bool empty() const {
    return contains.empty() && not_contains.empty() && regex.empty() && !max_latency_ms && tools.empty();
  }
};

struct ScenarioTurn {
  std::string say;  // "" = wait for the other side without saying anything
  Expectation expect;
  std::optional<std::chrono::milliseconds> timeout;
};

struct Scenario {
  std::string name;
  std::string file;
  std::string persona;
  std::map<std::string, std::string> metadata;
  std::string to, from;
  std::chrono::milliseconds call_timeout{180000};
  std::chrono::milliseconds turn_timeout{20000};
  std::optional<double> talk_timeout_s;
  bool wait_for_greeting = true;
  Expectation greeting;
  std::optional<std::chrono::milliseconds> greeting_timeout;
  std::vector<ScenarioTurn> turns;
};

// Parses a scenario (YAML, of which JSON is a subset). `file` names it in errors and is
// the default name. Throws ScenarioError saying what is wrong and where.
Scenario parse_scenario(const std::string& text, const std::string& file);
Scenario load_scenario(const std::string& path);
// Every *.yaml, *.yml and *.json file of `dir`, by file name.
std::vector<Scenario> load_scenarios(const std::string& dir);

// Lowercase words separated by single spaces (punctuation dropped), for `contains`.
std::string normalize_words(std::string_view text);

// Checks a reply against an expectation; returns why it fails (empty: it passes).
// `latency_ms` < 0 means unknown (a max_latency_ms then fails).
std::vector<std::string> check(const Expectation& e, const std::string& reply, double latency_ms);

}  // namespace vox::talk
