// `voxbridge talk` end to end, with the real binaries: the Twilio emulator is the phone
// network; the phone agent under test ("B") is a second voxbridge gateway running the
// script agent on a number registered at the emulator; `voxbridge talk` places each
// scenario's call there and drives it through its own in-process server (or through a
// separately started gateway "A" with --server). Checks the exit codes, the progress
// output, the JSON report, the JUnit XML and the transcripts; that SIGINT completes the
// call at Twilio and exits 130; that a dead --server ends the scenario with a reason
// (and the call completed) instead of a hang; and the usage errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kAgentNumber = "+15550009999";  // B's number at the emulator
const std::string kCallerId = "+15550001111";

// B's script: one line per thing it hears. Each is a phrase talk's side recognises
// (heard_phrases()); the third is never reached by the scenarios here, so B does not
// hang up (the script agent hangs up after its last line) and talk ends every call.
const std::vector<std::string> kScript = {"you said good morning", "you said what time is it",
                                          "you said thank you very much"};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A directory for one test's files (scenarios, reports, talk's output); removed at
// the end unless VOX_KEEP_TEST_DIRS is set.
class TestDir {
 public:
  TestDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("vox-talk-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TestDir() {
    std::error_code ec;
    if (!::getenv("VOX_KEEP_TEST_DIRS")) std::filesystem::remove_all(path_, ec);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes `text` to `name` (creating its directory); returns the path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Whether `var` ("NAME=value") should not reach talk from the test's environment: the
// Twilio account is given per test, and the rest would change what talk does.
bool stripped(std::string_view var) {
  if (var.starts_with("TWILIO_")) return true;
  for (const char* name : {"API_KEY=", "WEBHOOK_BASE_URL=", "BASE_URL=", "VOXBRIDGE_ENV_FILE=", "HOST=", "PORT=",
                           "VOX_API_KEYS=", "VOX_API_KEYS_FILE="})
    if (var.starts_with(name)) return true;
  return false;
}

// `voxbridge talk ARGS` as a child process, in `dir` (so no stray .env is read), with
// stdout and stderr in dir/talk.out. Killed if it is still running when destroyed, so a
// test never leaves it behind.
class TalkProcess {
 public:
  TalkProcess(const std::filesystem::path& dir, const std::vector<std::string>& args,
              const std::vector<std::string>& env) {
    output_path_ = (dir / "talk.out").string();
    std::vector<std::string> argv = {"talk"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = spawn_voxbridge(argv, env, dir, output_path_, stripped);
  }
  ~TalkProcess() {
    if (!code_) kill_now();
  }
  TalkProcess(const TalkProcess&) = delete;
  TalkProcess& operator=(const TalkProcess&) = delete;

  std::string output() const { return read_text(output_path_); }
  void send_signal(int sig) const { ::kill(pid_, sig); }

  // The exit code once it exits (128 + the signal if one killed it), or nullopt after
  // `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto code = poll()) return code;
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(20ms);  // polling for the exit, bounded by the deadline
    }
  }

  // The exit code; if it takes longer than `timeout`, kills it, fails the test and
  // returns -1.
  int finish(std::chrono::milliseconds timeout) {
    if (auto code = wait(timeout)) return *code;
    kill_now();
    ADD_FAILURE() << "voxbridge talk did not exit within " << timeout.count() << " ms and was killed; output:\n"
                  << output();
    return -1;
  }

  // Waits until the output contains `text`; false if `timeout` passes or talk exits first.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (output().find(text) != std::string::npos) return true;
      if (poll()) return output().find(text) != std::string::npos;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
  }

 private:
  std::optional<int> poll() {
    if (code_) return code_;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return code_;
  }
  void kill_now() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    code_ = -1;
  }

  std::string output_path_;
  pid_t pid_ = 0;
  std::optional<int> code_;
};

struct TalkRun {
  int code = -1;
  std::string output;
};

// Runs talk to its end (killed, failing the test, after `timeout`).
TalkRun run_talk(const TestDir& dir, const std::vector<std::string>& args, const std::vector<std::string>& env,
                 std::chrono::seconds timeout = 180s) {
  TalkProcess p(dir.path(), args, env);
  TalkRun r;
  r.code = p.finish(timeout);
  r.output = p.output();
  return r;
}

std::vector<std::string> twilio_env(const std::string& base_url) {
  return {"TWILIO_ACCOUNT_SID=" + kAccount, "TWILIO_AUTH_TOKEN=" + kToken, "TWILIO_BASE_URL=" + base_url};
}

// The flags of talk's in-process server: it recognises what B says (heard_phrases())
// and speaks with the test voice; logs at info so a failure shows what happened.
std::vector<std::string> in_process_server_flags() {
  return {"--stt-mode", "grammar", "--stt-grammar", grammar_file("vox-e2e-talk-heard.txt", heard_phrases()),
          "--tts-voice", kVoice, "--log-level", "info"};
}

void append(std::vector<std::string>& to, const std::vector<std::string>& more) { to.insert(to.end(), more.begin(), more.end()); }

// B: the phone agent under test, a gateway with a greeting answering kAgentNumber at the
// emulator; it runs the script agent unless `agent_args` name another.
std::unique_ptr<ServerProcess> agent_under_test(const ServerProcess& emulator, std::vector<std::string> agent_args = {}) {
  static int n = 0;
  if (agent_args.empty())
    agent_args = {"--agent", "script", "--script",
                  grammar_file("vox-e2e-talk-script-" + std::to_string(n++) + ".txt", kScript)};
  auto b = gateway(emulator, agent_args, caller_phrases(), kGreeting);
  const auto reg = http("POST", emulator.url() + "/emulator/numbers",
                        R"({"number":")" + kAgentNumber + R"(","voice_url":")" + b->url() + R"(/twilio-voice"})");
  if (reg.status != 201) throw std::runtime_error("registering B's number failed: " + reg.body);
  return b;
}

std::optional<json::object> read_json_object(const std::string& path) {
  boost::system::error_code ec;
  auto v = json::parse(read_text(path), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

std::string str(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : std::string(); }

// JUnit XML parsed back (boost::property_tree throws on XML that is not well-formed).
struct JunitCase {
  std::string name;
  bool failed = false;
  std::string message;
};
std::vector<JunitCase> junit_cases(const std::string& xml) {
  namespace pt = boost::property_tree;
  std::istringstream in(xml);
  pt::ptree doc;
  pt::read_xml(in, doc);
  std::vector<JunitCase> out;
  for (const auto& [key, node] : doc.get_child("testsuites").get_child("testsuite")) {
    if (key != "testcase") continue;
    JunitCase c;
    c.name = node.get<std::string>("<xmlattr>.name");
    if (const auto f = node.get_child_optional("failure")) {
      c.failed = true;
      c.message = f->get<std::string>("<xmlattr>.message");
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Whether python3's strict XML parser accepts the file; nullopt without python3.
std::optional<bool> python_parses_xml(const std::string& path) {
  if (std::system("python3 -c 'import xml.dom.minidom' >/dev/null 2>&1") != 0) return std::nullopt;
  const std::string cmd = "python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' '" + path + "'";
  return std::system(cmd.c_str()) == 0;
}

// The statuses the emulator answered to POSTs that completed call `sid` through the
// REST API (Status=completed on the call's resource).
std::vector<int> completions(const ServerProcess& emulator, const std::string& sid) {
  const auto requests = json::parse(http("GET", emulator.url() + "/emulator/requests").body).as_array();
  const std::string target = "/2010-04-01/Accounts/" + kAccount + "/Calls/" + sid + ".json";
  std::vector<int> out;
  for (const auto& r : requests) {
    const auto& o = r.as_object();
    if (str(o.at("method")) == "POST" && str(o.at("target")) == target &&
        str(o.at("body")).find("Status=completed") != std::string::npos)
      out.push_back(static_cast<int>(o.at("status").as_int64()));
  }
  return out;
}

std::optional<json::object> call_record(const json::array& calls, const std::string& sid) {
  for (const auto& c : calls)
    if (str(c.as_object().at("sid")) == sid) return c.as_object();
  return std::nullopt;
}

// Polls the emulator until call `sid` has one of `statuses`; returns its last status.
std::string wait_call_status(const ServerProcess& emulator, const std::string& sid,
                             const std::vector<std::string>& statuses, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string last;
    if (const auto c = call_record(emulator_calls(emulator), sid)) last = str(c->at("status"));
    if (std::find(statuses.begin(), statuses.end(), last) != statuses.end() || Clock::now() >= deadline) return last;
    std::this_thread::sleep_for(50ms);
  }
}

const char* kPassing = R"yaml(name: script agent answers
persona: A caller checking the script agent
metadata: {suite: e2e}
timeout_s: 150
turn_timeout_s: 40
greeting:
  expect:
    contains: welcome
  timeout_s: 60
turns:
  - say: good morning
    expect:
      contains: [you said, good morning]
      not_contains: sorry
  - say: what time is it
    expect:
      regex: "what time (is|was) it"
)yaml";

TEST(Talk, PassingScenarioReportsJsonJunitAndTranscripts) {
  auto emulator = twilio_emulator({});
  auto b = agent_under_test(*emulator);
  TestDir dir;
  const auto scenario = dir.write("passing.yaml", kPassing);
  std::vector<std::string> args = {"--scenario", scenario, "--to", kAgentNumber, "--from", kCallerId,
                                   "--report", dir.file("report.json"), "--junit", dir.file("junit.xml"),
                                   "--transcripts", dir.file("transcripts")};
  append(args, in_process_server_flags());
  const auto run = run_talk(dir, args, twilio_env(emulator->url()));
  EXPECT_EQ(run.code, 0) << run.output << "\nB:\n" << b->log_tail();

  // Progress on the terminal.
  EXPECT_NE(run.output.find("[script agent answers] 0/2 them: "), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("[script agent answers] 1/2 us: \"good morning\"  them: \"you said good morning\""),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("[script agent answers] 2/2 us: \"what time is it\"  them: \"you said what time is it\""),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("[script agent answers] PASSED"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("voxbridge talk: 1 scenario(s): 1 passed, 0 failed"), std::string::npos) << run.output;

  // The JSON report.
  const auto report = read_json_object(dir.file("report.json"));
  ASSERT_TRUE(report) << read_text(dir.file("report.json"));
  EXPECT_EQ(report->at("passed").as_int64(), 1);
  EXPECT_EQ(report->at("failed").as_int64(), 0);
  const auto& scenarios = report->at("scenarios").as_array();
  ASSERT_EQ(scenarios.size(), 1u);
  const auto& s = scenarios[0].as_object();
  EXPECT_EQ(str(s.at("name")), "script agent answers");
  EXPECT_EQ(str(s.at("file")), scenario);
  EXPECT_EQ(str(s.at("persona")), "A caller checking the script agent");
  EXPECT_TRUE(s.at("passed").as_bool());
  EXPECT_EQ(str(s.at("reason")), "");
  const std::string sid = str(s.at("call_sid"));
  EXPECT_TRUE(sid.starts_with("CA")) << sid;
  const auto& turns = s.at("turns").as_array();
  ASSERT_EQ(turns.size(), 3u) << json::serialize(s);
  EXPECT_EQ(turns[0].as_object().at("index").as_int64(), 0);
  EXPECT_NE(normalized(str(turns[0].as_object().at("heard"))).find("welcome"), std::string::npos);
  EXPECT_EQ(str(turns[1].as_object().at("said")), "good morning");
  EXPECT_EQ(normalized(str(turns[1].as_object().at("heard"))), "you said good morning");
  EXPECT_TRUE(turns[1].as_object().at("latency_ms").is_int64()) << json::serialize(turns[1]);
  EXPECT_EQ(str(turns[2].as_object().at("said")), "what time is it");
  EXPECT_EQ(normalized(str(turns[2].as_object().at("heard"))), "you said what time is it");
  for (const auto& t : turns) EXPECT_TRUE(t.as_object().at("passed").as_bool()) << json::serialize(t);

  // The JUnit XML: well-formed, one passing test case.
  const auto xml = read_text(dir.file("junit.xml"));
  std::vector<JunitCase> cases;
  ASSERT_NO_THROW(cases = junit_cases(xml)) << xml;
  ASSERT_EQ(cases.size(), 1u) << xml;
  EXPECT_EQ(cases[0].name, "script agent answers");
  EXPECT_FALSE(cases[0].failed) << xml;
  if (const auto strict = python_parses_xml(dir.file("junit.xml"))) {
    EXPECT_TRUE(*strict) << xml;
  }

  // The transcript.
  const auto transcript = read_text(dir.file("transcripts/script_agent_answers.txt"));
  EXPECT_NE(transcript.find("# script agent answers (" + sid + ")"), std::string::npos) << transcript;
  EXPECT_NE(transcript.find("us:   good morning\n"), std::string::npos) << transcript;
  EXPECT_NE(transcript.find("them: you said good morning"), std::string::npos) << transcript;
  EXPECT_NE(transcript.find("us:   what time is it\n"), std::string::npos) << transcript;
  EXPECT_TRUE(transcript.ends_with("PASSED\n")) << transcript;

  // The call went to B and talk completed it at the emulator through the REST API.
  const auto calls = settled_calls(*emulator, 2, 90s);
  const auto call = call_record(calls, sid);
  ASSERT_TRUE(call) << json::serialize(calls);
  EXPECT_EQ(str(call->at("direction")), "outbound-api");
  EXPECT_EQ(str(call->at("to")), kAgentNumber);
  EXPECT_EQ(str(call->at("status")), "completed") << json::serialize(*call);
  const auto callee = call_record(calls, str(call->at("peer_sid")));
  ASSERT_TRUE(callee) << json::serialize(calls);
  EXPECT_EQ(str(callee->at("status")), "completed");
  const auto done = completions(*emulator, sid);
  EXPECT_FALSE(done.empty()) << "no POST Status=completed for " << sid;
  EXPECT_NE(std::find(done.begin(), done.end(), 200), done.end());
  // B heard talk's lines.
  const std::string callee_sid = str(callee->at("sid"));
  EXPECT_TRUE(b->wait_for_log("caller said call_sid=" + callee_sid + " turn=1 text=\"good morning\"")) << b->log_tail();
  EXPECT_TRUE(b->wait_for_log("caller said call_sid=" + callee_sid + " turn=2 text=\"what time is it\"")) << b->log_tail();
}

TEST(Talk, WrongExpectationFailsWithAReadableReason) {
  auto emulator = twilio_emulator({});
  auto b = agent_under_test(*emulator);
  TestDir dir;
  const auto scenario = dir.write("wrong.json", R"({
  "name": "expects the wrong words",
  "turn_timeout_s": 40,
  "turns": [
    {"say": "good morning", "expect": {"contains": "good afternoon"}}
  ]
})");
  std::vector<std::string> args = {"--scenario", scenario, "--to", kAgentNumber, "--from", kCallerId,
                                   "--report", dir.file("report.json"), "--junit", dir.file("junit.xml")};
  append(args, in_process_server_flags());
  const auto run = run_talk(dir, args, twilio_env(emulator->url()));
  EXPECT_EQ(run.code, 1) << run.output << "\nB:\n" << b->log_tail();

  const std::string why = "expected the reply to contain \"good afternoon\"";
  const std::string reason = "turn 1: " + why + " (heard \"you said good morning\")";
  EXPECT_NE(run.output.find("[expects the wrong words] 1/1 us: \"good morning\"  them: \"you said good morning\""),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("FAIL: " + why), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("[expects the wrong words] FAILED: " + reason), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("voxbridge talk: 1 scenario(s): 0 passed, 1 failed"), std::string::npos) << run.output;

  const auto report = read_json_object(dir.file("report.json"));
  ASSERT_TRUE(report) << read_text(dir.file("report.json"));
  EXPECT_EQ(report->at("passed").as_int64(), 0);
  EXPECT_EQ(report->at("failed").as_int64(), 1);
  ASSERT_EQ(report->at("scenarios").as_array().size(), 1u);
  const auto& s = report->at("scenarios").as_array()[0].as_object();
  EXPECT_FALSE(s.at("passed").as_bool());
  EXPECT_EQ(str(s.at("reason")), reason);
  const std::string sid = str(s.at("call_sid"));

  const auto xml = read_text(dir.file("junit.xml"));
  std::vector<JunitCase> cases;
  ASSERT_NO_THROW(cases = junit_cases(xml)) << xml;
  ASSERT_EQ(cases.size(), 1u) << xml;
  EXPECT_EQ(cases[0].name, "expects the wrong words");
  EXPECT_TRUE(cases[0].failed) << xml;
  EXPECT_EQ(cases[0].message, reason) << xml;
  EXPECT_NE(xml.find("<failure message=\"turn 1: expected the reply to contain &quot;good afternoon&quot;"),
            std::string::npos)
      << xml;
  if (const auto strict = python_parses_xml(dir.file("junit.xml"))) {
    EXPECT_TRUE(*strict) << xml;
  }

  // A failed expectation still ends the call properly.
  EXPECT_FALSE(completions(*emulator, sid).empty()) << "no POST Status=completed for " << sid;
  EXPECT_EQ(wait_call_status(*emulator, sid, {"completed"}, 30s), "completed");
}

// Scenarios can require that the agent called a tool: checked against the tool_call
// events of the agent's side of the call, through its voxbridge's control API.
TEST(Talk, ScenariosAssertTheToolsTheAgentCalled) {
  auto emulator = twilio_emulator({});
  TestDir dir;
  // The model looks the caller up with an HTTP tool (served by the model emulator's own
  // request log), then answers.
  const auto rules = dir.write("rules.json", R"([{"match": "good morning", "tool_calls": [{"name": "lookup_caller",
      "arguments": {"phrase": "good morning"}}]}, {"match": ".*", "role": "tool", "text": "You said good morning."}])");
  ServerProcess model({"--rules", rules}, {}, "", {"emulate", "openai"});
  const auto tools = dir.write("tools.yaml", "tools:\n  - name: lookup_caller\n    description: Looks the caller up.\n"
                                             "    parameters: {type: object, properties: {phrase: {type: string}}}\n"
                                             "    url: " + model.url() + "/emulator/requests\n    method: GET\n");
  auto b = agent_under_test(*emulator, {"--agent", "llm", "--llm-base-url", model.url() + "/v1", "--llm-first-message",
                                         kGreeting, "--llm-tools", tools});
  const auto right = dir.write("a_right.yaml", R"yaml(name: looks the caller up
turn_timeout_s: 40
greeting: {timeout_s: 60}
turns:
  - say: good morning
    expect: {contains: good morning, tools: [lookup_caller]}
)yaml");
  const auto wrong = dir.write("b_wrong.yaml", R"yaml(name: expects a transfer
turn_timeout_s: 40
greeting: {timeout_s: 60}
turns:
  - say: good morning
    expect: {tools: [transfer_call]}
)yaml");
  // A .env of the `serve` beside it names the port B listens on: talk's in-process server
  // still takes a free port of its own (only a --port flag moves it).
  dir.write(".env", "PORT=" + std::to_string(b->port()) + "\n");
  std::vector<std::string> args = {"--scenario", right, "--scenario", wrong, "--to", kAgentNumber, "--from", kCallerId,
                                   "--agent-api", b->url(), "--report", dir.file("report.json")};
  append(args, in_process_server_flags());
  const auto run = run_talk(dir, args, twilio_env(emulator->url()));
  EXPECT_EQ(run.code, 1) << run.output << "\nB:\n" << b->log_tail();
  const std::string why = "the agent did not call the tool 'transfer_call' (called: lookup_caller)";
  EXPECT_NE(run.output.find("[expects a transfer] FAILED: turn 1: " + why), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("[looks the caller up] PASSED"), std::string::npos) << run.output;
  const auto report = read_json_object(dir.file("report.json"));
  ASSERT_TRUE(report) << read_text(dir.file("report.json"));
  const auto& scenarios = report->at("scenarios").as_array();
  ASSERT_EQ(scenarios.size(), 2u);
  for (const auto& sv : scenarios) {
    const auto& sc = sv.as_object();
    const auto& turns = sc.at("turns").as_array();
    ASSERT_GE(turns.size(), 2u) << json::serialize(sc);
    const auto& t1 = turns[1].as_object();
    ASSERT_TRUE(t1.contains("tools")) << json::serialize(t1);
    EXPECT_EQ(json::serialize(t1.at("tools")), R"(["lookup_caller"])");
    EXPECT_EQ(sc.at("passed").as_bool(), str(sc.at("name")) == "looks the caller up") << json::serialize(sc);
  }

  // Without --agent-api a scenario that expects tools is a usage error, before any call.
  const auto usage = run_talk(dir, {"--scenario", right, "--to", kAgentNumber, "--from", kCallerId},
                              twilio_env(emulator->url()));
  EXPECT_EQ(usage.code, 2) << usage.output;
  EXPECT_NE(usage.output.find("give --agent-api URL"), std::string::npos) << usage.output;
}

TEST(Talk, TwoScenariosAtOnceThroughASeparateServer) {
  auto emulator = twilio_emulator({});
  auto b = agent_under_test(*emulator);
  // A: the server that drives the calls (its /generate, key k1), started on its own.
  auto a = gateway(*emulator, {"--agent", "external", "--generate-api-key", "k1"}, heard_phrases(), "");
  TestDir dir;
  dir.write("scenarios/a-first.yaml", R"yaml(name: first of two
turn_timeout_s: 40
greeting:
  expect: {contains: welcome}
  timeout_s: 60
turns:
  - say: good morning
    expect: {contains: you said good morning}
)yaml");
  dir.write("scenarios/b-second.yaml", R"yaml(name: second of two
turn_timeout_s: 40
greeting:
  expect: {contains: welcome}
  timeout_s: 60
turns:
  - say: thank you very much
    expect: {not_contains: good morning}
)yaml");
  const std::vector<std::string> args = {"--scenarios", dir.file("scenarios"), "--to", kAgentNumber,
                                         "--from", kCallerId, "--server", a->url(), "--generate-api-key", "k1",
                                         "--concurrency", "2", "--report", dir.file("report.json"),
                                         "--log-level", "info"};
  const auto run = run_talk(dir, args, twilio_env(emulator->url()));
  // The second scenario's expectation fails (B's script answers "you said good morning").
  EXPECT_EQ(run.code, 1) << run.output << "\nA:\n" << a->log_tail() << "\nB:\n" << b->log_tail();

  // Both calls were placed before either scenario finished.
  const auto first_call = run.output.find("] calling (");
  const auto second_call = first_call == std::string::npos ? first_call : run.output.find("] calling (", first_call + 1);
  const auto first_end = std::min(run.output.find("] PASSED ("), run.output.find("] FAILED: "));
  ASSERT_NE(second_call, std::string::npos) << run.output;
  EXPECT_LT(second_call, first_end) << run.output;
  EXPECT_NE(run.output.find("voxbridge talk: 2 scenario(s): 1 passed, 1 failed"), std::string::npos) << run.output;

  const auto report = read_json_object(dir.file("report.json"));
  ASSERT_TRUE(report) << read_text(dir.file("report.json"));
  EXPECT_EQ(report->at("passed").as_int64(), 1);
  EXPECT_EQ(report->at("failed").as_int64(), 1);
  const auto& scenarios = report->at("scenarios").as_array();
  ASSERT_EQ(scenarios.size(), 2u);
  // In the order of the files, whichever ended first.
  const auto& first = scenarios[0].as_object();
  const auto& second = scenarios[1].as_object();
  EXPECT_EQ(str(first.at("name")), "first of two");
  EXPECT_TRUE(first.at("passed").as_bool()) << json::serialize(first);
  EXPECT_EQ(str(second.at("name")), "second of two");
  EXPECT_FALSE(second.at("passed").as_bool());
  EXPECT_TRUE(str(second.at("reason")).starts_with("turn 1: expected the reply not to contain \"good morning\""))
      << json::serialize(second);
  const std::string sid1 = str(first.at("call_sid")), sid2 = str(second.at("call_sid"));
  EXPECT_TRUE(sid1.starts_with("CA")) << sid1;
  EXPECT_TRUE(sid2.starts_with("CA")) << sid2;
  EXPECT_NE(sid1, sid2);
  // B's replies as talk heard them, through A.
  ASSERT_EQ(first.at("turns").as_array().size(), 2u) << json::serialize(first);
  EXPECT_EQ(normalized(str(first.at("turns").as_array()[1].as_object().at("heard"))), "you said good morning");
  ASSERT_EQ(second.at("turns").as_array().size(), 2u) << json::serialize(second);
  EXPECT_EQ(str(second.at("turns").as_array()[1].as_object().at("said")), "thank you very much");

  // Both calls ran through A (its TwiML, its stream, its /generate) and were completed.
  const auto calls = settled_calls(*emulator, 4, 90s);
  for (const auto& sid : {sid1, sid2}) {
    const auto call = call_record(calls, sid);
    ASSERT_TRUE(call) << sid << " " << json::serialize(calls);
    EXPECT_EQ(str(call->at("status")), "completed");
    EXPECT_NE(str(call->at("twiml")).find(a->url().substr(7) + "/media"), std::string::npos) << json::serialize(*call);
    EXPECT_FALSE(completions(*emulator, sid).empty()) << "no POST Status=completed for " << sid;
    EXPECT_TRUE(a->wait_for_log("turn API: call_sid=" + sid)) << a->log_tail();
  }
}

TEST(Talk, SigintCompletesTheCallAtTwilioAndExits130) {
  auto emulator = twilio_emulator({});
  auto b = agent_under_test(*emulator);  // greets, then waits for us: it says nothing more
  TestDir dir;
  const auto scenario = dir.write("waits.yaml", R"yaml(name: waits for ever
timeout_s: 600
greeting:
  expect: {contains: welcome}
  timeout_s: 60
turns:
  - wait: true
    timeout_s: 300
)yaml");
  std::vector<std::string> args = {"--scenario", scenario, "--to", kAgentNumber, "--from", kCallerId,
                                   "--report", dir.file("report.json")};
  append(args, in_process_server_flags());
  TalkProcess talk(dir.path(), args, twilio_env(emulator->url()));
  ASSERT_TRUE(talk.wait_for_output("[waits for ever] 0/1 them: ", 120s)) << talk.output() << "\nB:\n" << b->log_tail();

  const auto signalled = Clock::now();
  talk.send_signal(SIGINT);
  const auto code = talk.finish(20s);
  EXPECT_EQ(code, 130) << talk.output();
  EXPECT_LT(Clock::now() - signalled, 20s);
  const auto output = talk.output();
  EXPECT_NE(output.find("completing the calls at Twilio"), std::string::npos) << output;

  const auto report = read_json_object(dir.file("report.json"));
  ASSERT_TRUE(report) << read_text(dir.file("report.json")) << output;
  ASSERT_EQ(report->at("scenarios").as_array().size(), 1u);
  const auto& s = report->at("scenarios").as_array()[0].as_object();
  EXPECT_FALSE(s.at("passed").as_bool());
  EXPECT_NE(str(s.at("reason")).find("interrupted"), std::string::npos) << json::serialize(s);
  const std::string sid = str(s.at("call_sid"));
  ASSERT_TRUE(sid.starts_with("CA")) << json::serialize(s);

  // The REST API got Status=completed for the call, which was live then...
  const auto done = completions(*emulator, sid);
  ASSERT_FALSE(done.empty()) << "no POST Status=completed for " << sid << "\n"
                             << http("GET", emulator->url() + "/emulator/requests").body;
  EXPECT_EQ(done.front(), 200);
  // ... and the emulator ended it.
  EXPECT_EQ(wait_call_status(*emulator, sid, {"completed"}, 20s), "completed")
      << json::serialize(emulator_calls(*emulator));
}

// With real Twilio a placed call rings somebody's phone: a --server that does not answer,
// or refuses the key, is found before anything is dialled.
TEST(Talk, ADeadServerOrAWrongKeyIsFoundBeforeAnyCallIsDialled) {
  auto emulator = twilio_emulator({});
  // A port bound but not listening: connections to it are refused.
  class ClosedPort {
   public:
    ClosedPort() {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = 0;
      socklen_t len = sizeof a;
      if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("cannot reserve a port");
      port_ = ntohs(a.sin_port);
    }
    ~ClosedPort() { ::close(fd_); }
    int port() const { return port_; }

   private:
    int fd_ = -1;
    int port_ = 0;
  } dead;
  const std::string server = "http://127.0.0.1:" + std::to_string(dead.port());
  TestDir dir;
  const auto scenario = dir.write("dead.yaml", "name: dead server\nturns:\n  - say: good morning\n");
  const auto run = run_talk(dir, {"--scenario", scenario, "--to", "+15550002222", "--from", kCallerId, "--server",
                                  server, "--generate-api-key", "k1"},
                            twilio_env(emulator->url()), 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("nothing answers at " + server + " (--server); nothing was dialled"), std::string::npos)
      << run.output;

  // A live server that does not take the key.
  auto a = gateway(*emulator, {"--generate-api-key", "the-right-key"});
  const auto wrong = run_talk(dir, {"--scenario", scenario, "--to", "+15550002222", "--from", kCallerId, "--server",
                                    a->url(), "--generate-api-key", "a-wrong-key"},
                              twilio_env(emulator->url()), 60s);
  EXPECT_EQ(wrong.code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("refused the key"), std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find("nothing was dialled"), std::string::npos) << wrong.output;
  EXPECT_TRUE(emulator_calls(*emulator).empty()) << json::serialize(emulator_calls(*emulator));
}

TEST(Talk, UsageErrorsExit2WithAClearMessage) {
  TestDir dir;
  // Nothing listens here: no test reaches Twilio, real or emulated.
  const auto env = twilio_env("http://127.0.0.1:9");
  const auto good = dir.write("good.yaml", "turns:\n  - say: good morning\n");

  // A typo in a scenario: named with its file and line, before any call.
  const auto bad = dir.write("bad.yaml", "name: typo\nturns:\n  - say: good morning\n    expect:\n      contians: morning\n");
  auto run = run_talk(dir, {"--scenario", bad, "--to", kAgentNumber, "--from", kCallerId}, env, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find(bad + ":5: unknown key 'contians' in expect"), std::string::npos) << run.output;

  // A bad file among good ones in a directory.
  dir.write("dir/a.yaml", "turns:\n  - say: good morning\n");
  const auto bad_json = dir.write("dir/b.json", "{\n  \"turns\": [\n    {\"say\": \"hi\", \"wait\": true}\n  ]\n}\n");
  run = run_talk(dir, {"--scenarios", dir.file("dir"), "--to", kAgentNumber, "--from", kCallerId}, env, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find(bad_json + ":3: turn 1 needs exactly one of"), std::string::npos) << run.output;

  // A scenario file that is not there.
  run = run_talk(dir, {"--scenario", dir.file("none.yaml"), "--to", kAgentNumber}, env, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("none.yaml: cannot read the scenario file"), std::string::npos) << run.output;

  // No scenario at all.
  run = run_talk(dir, {"--to", kAgentNumber, "--from", kCallerId}, env, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("no scenario given"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("--scenario"), std::string::npos) << run.output;

  // An empty directory.
  std::filesystem::create_directories(dir.path() / "empty");
  run = run_talk(dir, {"--scenarios", dir.file("empty"), "--to", kAgentNumber}, env, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("no *.yaml, *.yml or *.json scenario files"), std::string::npos) << run.output;

  // No Twilio account in the environment.
  run = run_talk(dir, {"--scenario", good, "--to", kAgentNumber, "--from", kCallerId}, {}, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("no Twilio account"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("TWILIO_ACCOUNT_SID"), std::string::npos) << run.output;

  // --server without that server's key: the message names the flag that gives it.
  run = run_talk(dir, {"--scenario", good, "--to", kAgentNumber, "--from", kCallerId, "--server", "http://127.0.0.1:9"},
                 env, 60s);
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("--generate-api-key"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace vox::test
