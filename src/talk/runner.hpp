#pragma once
// Runs one scenario over a real phone call, as the original tester did: places the
// call through Twilio (real, or the emulator), waits for the other side to speak first
// (GET /generate first=true), then plays each turn and records the reply, through a
// voxbridge server's /generate. Every request has a timeout; a dead server, a hung-up
// call or a passing deadline end the scenario with a reason, never a hang. The call is
// completed at Twilio when the scenario ends, however it ends.
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "talk/report.hpp"
#include "talk/scenario.hpp"

namespace vox::net {
class HttpClient;
}
namespace vox::twilio {
class RestClient;
}

namespace vox::talk {

struct TalkTarget {
  TalkTarget() {}
  std::string server_url;       // the voxbridge server whose /generate drives the calls
  std::string api_key;          // its API_KEY (sent as X-API-KEY)
  std::string voice_url;        // the TwiML URL Twilio fetches for the call (that server, publicly)
  std::string status_callback;  // that server's call-status URL ("" = none)
  std::string to, from;         // defaults of scenarios that name none
  std::string client = "voxbridge-talk";
  // The control API of the voxbridge that runs the agent under test, and its key: where
  // `expect: {tools: [...]}` is checked (the agent's tool_call events of the call).
  std::string agent_api;
  std::string agent_api_key;
};

// One /generate answer.
struct TurnAnswer {
  enum class Kind { reply, ended, silence, failed };
  Kind kind = Kind::failed;
  std::string text;
  std::string reason, detail;  // ended: hung_up | talk_timeout | error | shutdown; failed: what went wrong
  double latency_ms = -1;
  std::vector<std::string> skipped;
};

// Where progress goes (the terminal); called from the runner's thread.
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void started(const Scenario& s, const std::string& call_sid) = 0;
  virtual void turn(const Scenario& s, const TurnResult& t) = 0;
  virtual void finished(const ScenarioResult& r) = 0;
};

class ScenarioRunner {
 public:
  ScenarioRunner(net::HttpClient& http, twilio::RestClient& twilio, TalkTarget target, Progress& progress);

  // Runs `scenario` (which must outlive the call) to its end.
  boost::asio::awaitable<ScenarioResult> run(const Scenario* scenario);
  // Stops every scenario after its current request, completing their calls at Twilio
  // (SIGINT/SIGTERM). Returns once Twilio answered for each (or failed to).
  boost::asio::awaitable<void> interrupt();
  bool interrupted() const { return interrupted_; }

 private:
  boost::asio::awaitable<TurnAnswer> generate(std::string sid, bool first, std::string input,
                                              std::chrono::milliseconds timeout, std::optional<double> talk_timeout_s);
  boost::asio::awaitable<void> complete(std::string sid);
  // Checks the scenario's `tools` expectations against the agent's side of the call.
  boost::asio::awaitable<void> check_tools(const Scenario* scenario, std::string from, std::string to,
                                           ScenarioResult* result);
  boost::asio::awaitable<std::optional<boost::json::value>> agent_get(std::string path, std::string* failure);

  net::HttpClient& http_;
  twilio::RestClient& twilio_;
  TalkTarget target_;
  Progress& progress_;
  std::atomic<bool> interrupted_{false};
  std::mutex mu_;
  std::set<std::string> live_;  // calls placed and not yet completed
};

}  // namespace vox::talk
