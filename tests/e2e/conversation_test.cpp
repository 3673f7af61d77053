// End-to-end conversations: the real server binary over loopback, called by the
// simulated caller, with phrase grammars on both sides so transcripts are exact.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {

std::vector<std::string> server_args(const std::string& greeting, std::vector<std::string> extra = {}) {
  static const std::string grammar =
      write_server_grammar((std::filesystem::temp_directory_path() / "vox-e2e-grammar.txt").string());
  std::vector<std::string> args = {"--stt-mode", "grammar", "--stt-grammar", grammar, "--greeting", greeting,
                                   "--tts-voice", kVoice};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

sim::CallerOptions caller_to(const ServerProcess& server, std::vector<std::string> lines) {
  sim::CallerOptions o;
  o.server_url = server.url();
  o.lines = std::move(lines);
  o.voice = kVoice;
  return o;
}

std::vector<sim::CallerResult> call(const sim::CallerOptions& o, int calls = 1) {
  auto results = sim::run_callers(o, calls, sim::CallerEngines{Engines::get().tts}, 2);
  sim::transcribe(results, Engines::get().stt);
  return results;
}

TEST(Conversation, OneCallThreeTurnsHearsGreetingAndEchoes) {
  ServerProcess server(server_args(kGreeting));
  const std::vector<std::string> lines = {"good morning", "please call me back", "i would like to book a table"};
  auto results = call(caller_to(server, lines));
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log();
  ASSERT_EQ(r.heard.size(), 4u) << server.log();
  EXPECT_EQ(r.heard[0].transcript, normalized(kGreeting));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(r.heard[i + 1].transcript, "you said " + lines[i]) << "turn " << i + 1;
    EXPECT_FALSE(r.heard[i + 1].cleared);
  }
  ASSERT_EQ(r.turns.size(), 3u);
  for (const auto& t : r.turns) {
    EXPECT_GT(t.reply_latency_ms, 0) << t.said;
    EXPECT_LT(t.reply_latency_ms, 10000) << t.said;  // generous sanity bound; real numbers live in bench/
  }
  EXPECT_EQ(r.clears, 0);
  EXPECT_GT(r.marks_received, 4);  // chunk marks plus one endOfPlayback per reply
  EXPECT_FALSE(r.server_closed);
}

TEST(Conversation, TwentyConcurrentCallsEachHearOnlyTheirOwnEchoes) {
  ServerProcess server(server_args(kGreeting));
  const auto& phrases = caller_phrases();
  constexpr int kCalls = 20;
  boost::asio::io_context ioc;
  std::vector<sim::CallerResult> results(kCalls);
  std::vector<std::vector<std::string>> said(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    said[i] = {phrases[static_cast<std::size_t>(i) % phrases.size()],
               phrases[static_cast<std::size_t>(i + 7) % phrases.size()]};
    boost::asio::co_spawn(boost::asio::make_strand(ioc),
                          sim::run_caller(caller_to(server, said[i]), sim::CallerEngines{Engines::get().tts}),
                          [&results, i](std::exception_ptr, sim::CallerResult r) { results[i] = std::move(r); });
  }
  std::thread helper([&ioc] { ioc.run(); });
  ioc.run();
  helper.join();
  sim::transcribe(results, Engines::get().stt);

  std::set<std::string> call_sids;
  for (int i = 0; i < kCalls; ++i) {
    const auto& r = results[i];
    SCOPED_TRACE("call " + std::to_string(i) + " " + r.call_sid);
    ASSERT_TRUE(r.ok) << r.error;
    call_sids.insert(r.call_sid);
    ASSERT_EQ(r.heard.size(), 3u);
    EXPECT_EQ(r.heard[0].transcript, normalized(kGreeting));
    EXPECT_EQ(r.heard[1].transcript, "you said " + said[i][0]);
    EXPECT_EQ(r.heard[2].transcript, "you said " + said[i][1]);
  }
  EXPECT_EQ(call_sids.size(), static_cast<std::size_t>(kCalls));
}

// A server with no greeting says so at the stream's start: the caller speaks at once
// instead of waiting for a greeting (here it would wait ten minutes).
TEST(Conversation, WithNoGreetingTheCallerSpeaksAtOnce) {
  ServerProcess server(server_args(""));
  auto o = caller_to(server, {"good morning"});
  o.greeting_wait_ms = 600000;
  o.max_call_ms = 60000;
  auto results = call(o);
  const auto& r = results[0];
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  ASSERT_EQ(r.heard.size(), 1u);
  EXPECT_EQ(r.heard[0].transcript, "you said good morning");
}

TEST(Conversation, BargeInClearsTheReplyAndRecordsWhatWasHeard) {
  ServerProcess server(server_args(kLongGreeting));
  auto o = caller_to(server, {"can you hear me"});
  o.barge_in_at_ms = 1500;  // start talking 1.5 s into the long greeting
  auto results = call(o);
  const auto& r = results[0];
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log();
  EXPECT_EQ(r.clears, 1);
  ASSERT_GE(r.heard.size(), 2u);
  // The greeting was cut off: heard only partly, and ended by `clear`, not by endOfPlayback.
  EXPECT_TRUE(r.heard[0].cleared);
  const auto full_greeting_ms = Engines::get().tts.synthesize_blocking(kLongGreeting, kVoice).size() / 8;
  EXPECT_LT(r.heard[0].ulaw.size() / 8, full_greeting_ms / 2);
  EXPECT_GT(r.clear_after_speech_ms, 0);
  EXPECT_LT(r.clear_after_speech_ms, 3000);
  // Then the caller's words were answered.
  EXPECT_EQ(r.heard.back().transcript, "you said can you hear me");
  EXPECT_FALSE(r.heard.back().cleared);
  // The server recorded which words of the greeting the caller heard.
  const std::string log = server.log();
  const auto pos = log.find("barge-in call_sid=" + r.call_sid);
  ASSERT_NE(pos, std::string::npos) << log;
  const auto q = log.find("heard=\"", pos);
  ASSERT_NE(q, std::string::npos);
  const std::string heard = log.substr(q + 7, log.find('"', q + 7) - q - 7);
  EXPECT_FALSE(heard.empty());
  EXPECT_EQ(normalized(kLongGreeting).rfind(normalized(heard), 0), 0u)
      << "heard words must be a prefix of the greeting: " << heard;
  EXPECT_LT(heard.size(), kLongGreeting.size() / 2);
}

TEST(Conversation, ScriptAgentRepliesLineByLineAndHangsUpAfterTheLast) {
  const auto script = std::filesystem::temp_directory_path() / ("vox-e2e-script-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(script) << "# replies, one per turn\nYour table is booked.\n\nGoodbye and thank you.\n";
  ServerProcess server(server_args(kGreeting, {"--agent", "script", "--script", script.string()}));
  auto results = call(caller_to(server, {"i would like to book a table", "thank you very much"}));
  std::filesystem::remove(script);
  const auto& r = results[0];
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log();
  EXPECT_EQ(r.heard.size(), 3u);  // greeting + two scripted replies
  EXPECT_TRUE(r.server_closed) << "the script agent hangs up after its last line";
  EXPECT_EQ(r.close_code, 1000);
  const std::string log = server.log();
  EXPECT_NE(log.find("agent says call_sid=" + r.call_sid + " turn=1 text=\"Your table is booked.\""), std::string::npos) << log;
  EXPECT_NE(log.find("agent says call_sid=" + r.call_sid + " turn=2 text=\"Goodbye and thank you.\""), std::string::npos) << log;
  EXPECT_NE(log.find("agent hung up call_sid=" + r.call_sid), std::string::npos) << log;
}

TEST(Conversation, TalkTimeoutEndsAnIdleCall) {
  ServerProcess server(server_args("", {"--talk-timeout", "2"}));
  auto o = caller_to(server, {});
  o.hang_up = false;
  o.greeting_wait_ms = 0;
  o.idle_after_ms = 20000;  // the caller would stay silent for 20 s
  const auto t0 = std::chrono::steady_clock::now();
  auto results = call(o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& r = results[0];
  EXPECT_TRUE(r.server_closed) << r.error;
  EXPECT_LT(s, 15.0);
  EXPECT_GE(r.duration_ms, 1900);
  EXPECT_TRUE(server.wait_for_log("talk timeout call_sid=" + r.call_sid)) << server.log();
}

}  // namespace
}  // namespace vox::test
