// Outbound calls end to end: `voxbridge call` places a call at the Twilio emulator
// binary, which fetches our webhook (signed), streams media to the server binary with a
// scripted callee, and sends signed status callbacks; SIGTERM completes live calls.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <cmath>
#include <fstream>

#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

TEST(TwilioE2E, OutboundCallConversesAndReportsItsStatus) {
  auto emulator = twilio_emulator({"good morning", "thank you very much"});
  auto server = gateway(*emulator);
  const std::string cmd = "TWILIO_ACCOUNT_SID=" + kAccount + " TWILIO_AUTH_TOKEN=" + kToken +
                          " TWILIO_BASE_URL=" + emulator->url() + " " + voxbridge_binary() +
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

// The talk timeout hangs up the call at Twilio (Status=completed), as the turn service
// did, not only our media stream.
TEST(TwilioE2E, TalkTimeoutCompletesTheCallAtTwilio) {
  auto emulator = twilio_emulator({}, {"--callee-idle-ms", "60000"});  // the callee stays on, silent
  auto server = gateway(*emulator, {"--talk-timeout", "3"});
  const auto sid = place_call(*emulator, *server);
  ASSERT_TRUE(server->wait_for_log("talk timeout call_sid=" + sid, std::chrono::seconds(60))) << server->log_tail();
  ASSERT_TRUE(server->wait_for_log("call " + sid + " (talk timeout) completed at Twilio")) << server->log_tail();
  const auto requests = json::parse(http("GET", emulator->url() + "/emulator/requests").body).as_array();
  const std::string target = "/2010-04-01/Accounts/" + kAccount + "/Calls/" + sid + ".json";
  int completions = 0;
  for (const auto& r : requests) {
    const auto& o = r.as_object();
    if (o.at("method").as_string() == "POST" && o.at("target").as_string() == target &&
        std::string(o.at("body").as_string()).find("Status=completed") != std::string::npos)
      ++completions;
  }
  EXPECT_EQ(completions, 1) << json::serialize(requests);
}

TEST(TwilioE2E, TransferEndsOurLegAndTheEmulatorDials) {
  auto emulator = twilio_emulator({"good morning"});
  const auto script = grammar_file("vox-e2e-transfer-script.txt", {"Let me transfer you. [transfer +15550009999]"});
  auto server = gateway(*emulator, {"--agent", "script", "--script", script});
  const auto sid = place_call(*emulator, *server);
  auto calls = settled_calls(*emulator, 1);
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("sid").as_string(), sid);
  EXPECT_EQ(c.at("status").as_string(), "completed");
  EXPECT_EQ(c.at("dialed").as_string(), "+15550009999") << json::serialize(c);
  EXPECT_NE(std::string(c.at("redirect_twiml").as_string()).find("<Dial"), std::string::npos);
  // The callee heard the reply before the transfer.
  std::vector<std::string> heard;
  for (const auto& h : c.at("heard").as_array()) heard.emplace_back(h.as_object().at("transcript").as_string());
  ASSERT_GE(heard.size(), 2u);
  EXPECT_TRUE(server->wait_for_log("transferring call_sid=" + sid + " to=+15550009999"));
  EXPECT_TRUE(server->wait_for_log("call ended call_sid=" + sid));
  // The transfer is one of the call's events (the console shows it).
  auto events = http("GET", server->url() + "/api/v1/elevenlabs-twilio/calls/" + sid + "/events");
  EXPECT_NE(events.body.find(R"("kind":"transfer","detail":"+15550009999")"), std::string::npos) << events.body;
}

TEST(TwilioE2E, RecordingHoldsBothSides) {
  auto emulator = twilio_emulator({"good morning"});
  const auto dir = std::filesystem::temp_directory_path() / ("vox-rec-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto server = gateway(*emulator, {"--recording-dir", dir.string()});
  const auto sid = place_call(*emulator, *server);
  settled_calls(*emulator, 1);
  ASSERT_TRUE(server->wait_for_log("recording written call_sid=" + sid)) << server->log_tail();
  std::ifstream in(dir / (sid + ".wav"), std::ios::binary);
  std::string wav((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(wav.size(), 44u);
  ASSERT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(static_cast<int>(wav[22]), 2);  // two channels
  // Energy on each side: the caller's line on the left, greeting and reply on the right.
  double left = 0, right = 0;
  const std::size_t n = (wav.size() - 44) / 4;
  for (std::size_t i = 0; i < n; ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(wav.data() + 44 + 4 * i);
    const auto l = static_cast<std::int16_t>(p[0] | (p[1] << 8));
    const auto r = static_cast<std::int16_t>(p[2] | (p[3] << 8));
    left += static_cast<double>(l) * l;
    right += static_cast<double>(r) * r;
  }
  EXPECT_GT(n, 8000u * 3);  // several seconds
  EXPECT_GT(std::sqrt(left / static_cast<double>(n)), 100.0);
  EXPECT_GT(std::sqrt(right / static_cast<double>(n)), 100.0);
  std::filesystem::remove_all(dir);
}

TEST(TwilioE2E, InboundCallRungByTheEmulatorWithDtmf) {
  auto emulator = twilio_emulator({"good morning", "dtmf:42#", "thank you very much"});
  auto server = gateway(*emulator);
  const std::string body = "{\"url\":\"" + server->url() + "/twilio-voice\",\"from\":\"+15550003333\",\"to\":\"+15550004444\"}";
  auto res = http("POST", emulator->url() + "/emulator/inbound", body);
  ASSERT_EQ(res.status, 201) << res.body;
  const std::string sid(json::parse(res.body).as_object().at("sid").as_string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  json::object call;
  for (;;) {
    auto calls = emulator_calls(*emulator);
    ASSERT_EQ(calls.size(), 1u);
    call = calls[0].as_object();
    bool transcribed = call.at("status").as_string() == "completed";
    for (const auto& h : call.at("heard").as_array())
      if (h.as_object().at("transcript").is_null()) transcribed = false;
    if (transcribed || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(call.at("direction").as_string(), "inbound");
  EXPECT_EQ(call.at("status").as_string(), "completed");
  std::vector<std::string> heard;
  for (const auto& h : call.at("heard").as_array()) heard.emplace_back(h.as_object().at("transcript").as_string());
  EXPECT_EQ(heard, (std::vector<std::string>{normalized(kGreeting), "you said good morning", "you said thank you very much"}));
  // The keys reached the call (and its agent) in order.
  EXPECT_TRUE(server->wait_for_log("incoming call call_sid=" + sid));
  EXPECT_TRUE(server->wait_for_log("dtmf call_sid=" + sid + " digit=4"));
  EXPECT_TRUE(server->wait_for_log("dtmf call_sid=" + sid + " digit=2"));
  EXPECT_TRUE(server->wait_for_log("dtmf call_sid=" + sid + " digit=#"));
}

// The caller hangs up at the moment the server is told to stop: the stream's "stop", the
// caller's close and the server's own close cross. Every connection still closes within
// the shutdown deadline and nothing is left running at exit.
TEST(TwilioE2E, ShutdownWhileTheCallerHangsUpEndsCleanly) {
  auto emulator = twilio_emulator({});
  for (int round = 0; round < 3; ++round) {
    auto server = gateway(*emulator);
    const auto sid = place_call(*emulator, *server);
    ASSERT_TRUE(server->wait_for_log("call started call_sid=" + sid, 30s)) << server->log_tail();
    // The hang-up is on its way (or arrived a moment ago) when SIGTERM lands: a few
    // milliseconds either way, a different order in each round.
    auto hangup = std::async(std::launch::async, [&] { hang_up_at_twilio(*emulator, sid); });
    if (round == 1) hangup.wait();
    const auto code = server->signal_and_wait(SIGTERM, 20s);
    hangup.get();
    ASSERT_TRUE(code.has_value()) << server->log_tail();
    EXPECT_EQ(*code, 0) << server->log_tail();
    EXPECT_EQ(server->log().find("shutdown deadline passed"), std::string::npos)
        << "round " << round << "\n" << server->log_tail() << "\nthe emulator:\n" << emulator->log_tail();
    EXPECT_EQ(server->log().find("operations still pending"), std::string::npos) << server->log_tail();
  }
}

}  // namespace
}  // namespace vox::test
