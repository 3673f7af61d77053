// Outbound calls end to end: `voxbridge call` places a call at the Twilio emulator
// binary, which fetches our webhook (signed), streams media to the server binary with a
// scripted callee, and sends signed status callbacks; SIGTERM completes live calls.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "e2e_support.hpp"
#include "server_process.hpp"
#include "twilio/rest_client.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;

const std::string kAccount = "AC0123456789abcdef0123456789abcdef";
const std::string kToken = "e2e-twilio-token";

std::string grammar_file(const std::string& name, const std::vector<std::string>& lines) {
  const auto path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
  return path;
}

std::unique_ptr<ServerProcess> twilio_emulator(const std::vector<std::string>& callee_lines) {
  std::vector<std::string> args = {"--account-sid", kAccount, "--auth-token", kToken, "--voice", kVoice,
                                   "--stt-grammar", grammar_file("vox-e2e-twilio-heard.txt", heard_phrases())};
  for (const auto& l : callee_lines) args.insert(args.end(), {"--callee-say", l});
  return std::make_unique<ServerProcess>(args, std::vector<std::string>{}, "", std::vector<std::string>{"emulate", "twilio"});
}

std::unique_ptr<ServerProcess> gateway(const ServerProcess& emulator) {
  std::vector<std::string> args = {"--stt-mode", "grammar", "--stt-grammar",
                                   grammar_file("vox-e2e-twilio-server.txt", caller_phrases()), "--tts-voice", kVoice,
                                   "--greeting", kGreeting};
  return std::make_unique<ServerProcess>(
      args, std::vector<std::string>{"TWILIO_ACCOUNT_SID=" + kAccount, "TWILIO_AUTH_TOKEN=" + kToken,
                                     "TWILIO_BASE_URL=" + emulator.url()});
}

json::array emulator_calls(const ServerProcess& emulator) {
  return json::parse(http("GET", emulator.url() + "/emulator/calls").body).as_array();
}

// Waits until the emulator has transcribed everything its calls heard.
json::array settled_calls(const ServerProcess& emulator, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto calls = emulator_calls(emulator);
    bool done = calls.size() == n;
    for (const auto& c : calls) {
      const auto& o = c.as_object();
      if (o.at("status").as_string() != "completed") done = false;
      for (const auto& h : o.at("heard").as_array())
        if (h.as_object().at("transcript").is_null()) done = false;
      bool completed_cb = false;
      for (const auto& cb : o.at("callbacks").as_array())
        if (cb.as_object().at("event").as_string() == "completed") completed_cb = true;
      if (!completed_cb) done = false;
    }
    if (done || std::chrono::steady_clock::now() > deadline) return calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TEST(TwilioE2E, OutboundCallConversesAndReportsItsStatus) {
  auto emulator = twilio_emulator({"good morning", "thank you very much"});
  auto server = gateway(*emulator);
  const std::string cmd = "TWILIO_ACCOUNT_SID=" + kAccount + " TWILIO_AUTH_TOKEN=" + kToken +
                          " TWILIO_BASE_URL=" + emulator->url() + " " + VOX_BINARY +
                          " call --to +15550002222 --from +15550001111 --server-url " + server->url() + " --timeout 60";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << server->log_tail();

  auto calls = settled_calls(*emulator, 1);
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("status").as_string(), "completed");
  EXPECT_EQ(c.at("error").as_string(), "");
  std::vector<std::string> history;
  for (const auto& h : c.at("status_history").as_array()) history.emplace_back(h.as_string());
  EXPECT_EQ(history, (std::vector<std::string>{"queued", "ringing", "in-progress", "completed"}));
  // Our webhook answered TwiML with the media stream.
  EXPECT_NE(std::string(c.at("twiml").as_string()).find("<Connect><Stream"), std::string::npos);
  // Every status callback reached us and was accepted (its signature checked).
  std::vector<std::string> events;
  for (const auto& cb : c.at("callbacks").as_array()) {
    EXPECT_EQ(cb.as_object().at("response_status").as_int64(), 200) << json::serialize(cb);
    events.emplace_back(cb.as_object().at("event").as_string());
  }
  EXPECT_EQ(events, (std::vector<std::string>{"initiated", "ringing", "answered", "completed"}));
  // The callee heard the greeting and both echoes.
  std::vector<std::string> heard;
  for (const auto& h : c.at("heard").as_array()) heard.emplace_back(h.as_object().at("transcript").as_string());
  EXPECT_EQ(heard, (std::vector<std::string>{normalized(kGreeting), "you said good morning", "you said thank you very much"}));
  const std::string sid(c.at("sid").as_string());
  EXPECT_TRUE(server->wait_for_log("call status call_sid=" + sid + " status=completed")) << server->log_tail();
  EXPECT_TRUE(server->wait_for_log("outbound call call_sid=" + sid));
}

TEST(TwilioE2E, SigtermCompletesEveryLiveCallAtTwilio) {
  auto emulator = twilio_emulator({"good morning", "what time is it", "please call me back", "thank you very much"});
  auto server = gateway(*emulator);
  IoThread io;
  net::HttpClient http(io.context().get_executor());
  twilio::RestClient rest(http, twilio::RestConfig{kAccount, kToken, {}, emulator->url()});
  for (int i = 0; i < 3; ++i) {
    twilio::CreateCall c;
    c.to = "+1555000222" + std::to_string(i);
    c.from = "+15550001111";
    c.url = server->url() + "/api/v1/elevenlabs-twilio/webhook";
    c.status_callback = server->url() + "/api/v1/twilio/call-status";
    io.run([&]() { return rest.create_call(c); });
  }
  ASSERT_TRUE(wait_active_calls(*server, 3, std::chrono::seconds(30))) << server->log_tail();
  const auto code = server->signal_and_wait(SIGTERM, std::chrono::seconds(20));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  const auto log = server->log();
  std::size_t completed_at_twilio = 0;
  for (auto p = log.find("completed at Twilio"); p != std::string::npos; p = log.find("completed at Twilio", p + 1))
    ++completed_at_twilio;
  EXPECT_EQ(completed_at_twilio, 3u) << server->log_tail();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  json::array calls;
  for (;;) {
    calls = emulator_calls(*emulator);
    bool all = calls.size() == 3;
    for (const auto& c : calls)
      if (c.as_object().at("status").as_string() != "completed") all = false;
    if (all || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& c : calls) EXPECT_EQ(c.as_object().at("status").as_string(), "completed");
}

}  // namespace
}  // namespace vox::test
