// The llm agent end to end: the Twilio emulator's callee <-> the voxbridge binary
// (--agent llm) <-> the OpenAI-compatible emulator binary (voxbridge emulate openai).
// What the callee heard is transcribed; what the model was sent is read back from the
// emulator's request log.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <set>
#include <string>
#include <vector>

#include "sim/caller.hpp"
#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;

std::unique_ptr<ServerProcess> model_emulator(const std::string& rules) {
  const auto path = grammar_file("vox-e2e-llm-rules-" + std::to_string(rules.size()) + ".json", {rules});
  return std::make_unique<ServerProcess>(std::vector<std::string>{"--rules", path}, std::vector<std::string>{}, "",
                                         std::vector<std::string>{"emulate", "openai"});
}

json::array model_requests(const ServerProcess& model) {
  return json::parse(http("GET", model.url() + "/emulator/requests").body).as_array();
}

std::vector<std::string> llm_args(const ServerProcess& model, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--agent", "llm", "--llm-base-url", model.url() + "/v1", "--llm-model", "emu-1",
                                   "--llm-first-message", kGreeting};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(LlmAgentE2E, AConversationWhoseHistoryTheModelReceives) {
  auto model = model_emulator(R"([{"match": "good morning", "text": "You said good morning."},
                                  {"match": "what time", "text": "You said what time is it."}])");
  auto emulator = twilio_emulator({"good morning", "what time is it"});
  auto server = gateway(*emulator, llm_args(*model));
  const auto sid = place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(heard_transcripts(c),
            (std::vector<std::string>{normalized(kGreeting), "you said good morning", "you said what time is it"}))
      << json::serialize(c) << server->log_tail();
  const auto reqs = model_requests(*model);
  ASSERT_EQ(reqs.size(), 2u) << server->log_tail();
  const auto& msgs = reqs[1].as_object().at("messages").as_array();
  std::vector<std::string> roles, contents;
  for (const auto& m : msgs) {
    roles.emplace_back(m.as_object().at("role").as_string());
    contents.emplace_back(m.as_object().at("content").as_string());
  }
  EXPECT_EQ(roles, (std::vector<std::string>{"system", "assistant", "user", "assistant", "user"}));
  EXPECT_EQ(contents[1], kGreeting);
  EXPECT_EQ(contents[2], "good morning");
  EXPECT_EQ(contents[3], "You said good morning.");
  EXPECT_EQ(contents[4], "what time is it");
  // The model's tools were offered, and the latency stages of an LLM turn were measured.
  bool end_call = false;
  for (const auto& t : reqs[0].as_object().at("tools").as_array()) end_call = end_call || t.as_string() == "end_call";
  EXPECT_TRUE(end_call);
  const auto metrics = http("GET", server->url() + "/metrics").body;
  EXPECT_NE(metrics.find("voxbridge_turn_llm_first_token_seconds_count 2"), std::string::npos) << metrics.substr(0, 3000);
  EXPECT_NE(metrics.find("voxbridge_turn_llm_first_piece_seconds_count 2"), std::string::npos);
  EXPECT_EQ(server->log().find("llm agent failed"), std::string::npos) << server->log_tail();
  // Each turn's stored latency splits the agent stage into the model's two stages.
  const auto url = server->url() + "/api/v1/elevenlabs-twilio/calls/" + sid + "/latency";
  json::array turns;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (turns.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    turns = json::parse(http("GET", url).body).as_object().at("turns").as_array();
    if (turns.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(turns.size(), 2u);
  for (const auto& t : turns) {
    const auto& o = t.as_object();
    ASSERT_TRUE(o.at("llm_first_token_ms").is_int64()) << json::serialize(o);
    ASSERT_TRUE(o.at("llm_first_piece_ms").is_int64()) << json::serialize(o);
    EXPECT_LE(o.at("llm_first_token_ms").as_int64() + o.at("llm_first_piece_ms").as_int64(),
              o.at("agent_ms").as_int64() + 1)
        << json::serialize(o);
  }
}

TEST(LlmAgentE2E, EndCallHangsUpAfterTheGoodbyeHasPlayed) {
  auto model = model_emulator(
      R"([{"match": "good morning", "tool_calls": [{"name": "end_call", "arguments": {"goodbye": "You said good morning."}}]}])");
  // The callee has a second line it never gets to say: the agent hangs up first.
  auto emulator = twilio_emulator({"good morning", "what time is it"});
  auto server = gateway(*emulator, llm_args(*model));
  const auto sid = place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("status").as_string(), "completed");
  // The whole goodbye was heard (transcribed as the full phrase), then the line closed.
  EXPECT_EQ(heard_transcripts(c), (std::vector<std::string>{normalized(kGreeting), "you said good morning"}))
      << json::serialize(c) << server->log_tail();
  EXPECT_EQ(model_requests(*model).size(), 1u);
  ASSERT_TRUE(server->wait_for_log("call ended call_sid=" + sid)) << server->log_tail();
  // The hang-up came from the agent once the goodbye had played (after_reply), after the
  // reply started: not a cut line.
  const auto log = server->log();
  const auto started = log.find("reply started call_sid=" + sid + " turn=1");
  const auto hung_up = log.find("agent hung up call_sid=" + sid);
  ASSERT_NE(started, std::string::npos) << server->log_tail();
  ASSERT_NE(hung_up, std::string::npos) << server->log_tail();
  EXPECT_LT(started, hung_up);
  // The call store keeps the tool call among the call's events.
  const auto url = server->url() + "/api/v1/elevenlabs-twilio/calls/" + sid + "/events";
  std::string tool_event;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (tool_event.empty() && std::chrono::steady_clock::now() < deadline) {
    const auto body = json::parse(http("GET", url).body);
    for (const auto& e : body.as_object().at("events").as_array()) {
      if (e.as_object().at("kind").as_string() == "tool_call") tool_event = e.as_object().at("detail").as_string();
    }
    if (tool_event.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(tool_event, R"(turn=1 end_call {"goodbye":"You said good morning."} -> the call ends after the goodbye)");
}

TEST(LlmAgentE2E, TransferCallReachesTheEmulatorAsADial) {
  auto model = model_emulator(R"([{"match": "call me back", "tool_calls": [{"name": "transfer_call",
      "arguments": {"to": "+15550009999", "announcement": "You said please call me back."}}]}])");
  auto emulator = twilio_emulator({"please call me back"});
  auto server = gateway(*emulator, llm_args(*model, {"--llm-transfer-allow", "+15550009999"}));
  const auto sid = place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("dialed").as_string(), "+15550009999") << json::serialize(c) << server->log_tail();
  EXPECT_NE(std::string(c.at("redirect_twiml").as_string()).find("<Dial"), std::string::npos);
  EXPECT_TRUE(server->wait_for_log("transferring call_sid=" + sid + " to=+15550009999"));
}

TEST(LlmAgentE2E, WithNoModelServerConfiguredTheBuiltInEmulatorAnswers) {
  auto emulator = twilio_emulator({"good morning"});
  // No LLM_API_KEY, no LLM_BASE_URL: the zero-account path.
  auto server = gateway(*emulator, {"--agent", "llm", "--llm-first-message", kGreeting});
  place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 1u);
  const auto heard = heard_transcripts(calls[0].as_object());
  ASSERT_GE(heard.size(), 2u) << server->log_tail();  // the greeting, then the small talk (in pieces)
  EXPECT_NE(heard[1], "") << server->log_tail();
  EXPECT_TRUE(server->wait_for_log("built-in model emulator")) << server->log_tail();
  const auto health = json::parse(http("GET", server->url() + "/health").body).as_object();
  EXPECT_EQ(health.at("providers").as_object().at("llm").as_string(), "ok");
}

TEST(LlmAgentE2E, ADeadModelServerIsDegradedOnHealthAndTheCallerHearsTheFallback) {
  auto emulator = twilio_emulator({"good morning"});
  auto server = gateway(*emulator, {"--agent", "llm", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-timeout-ms",
                                    "1000", "--llm-retry-budget-ms", "500", "--llm-fallback", "You said good morning.",
                                    "--llm-first-message", kGreeting});
  place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(heard_transcripts(calls[0].as_object()),
            (std::vector<std::string>{normalized(kGreeting), "you said good morning"}))
      << server->log_tail();
  const auto health = json::parse(http("GET", server->url() + "/health").body).as_object();
  EXPECT_EQ(health.at("status").as_string(), "degraded");
  EXPECT_NE(std::string(health.at("providers").as_object().at("llm").as_string()).find("unreachable"), std::string::npos);
  EXPECT_TRUE(server->wait_for_log("llm agent failed"));
}

TEST(LlmAgentE2E, ABargeInLeavesExactlyTheHeardWordsInTheNextRequest) {
  auto model = model_emulator(R"([{"match": "hear me", "text": "You said can you hear me."}])");
  const auto grammar = write_server_grammar((std::filesystem::temp_directory_path() / "vox-e2e-llm-grammar.txt").string());
  ServerProcess server({"--stt-mode", "grammar", "--stt-grammar", grammar, "--tts-voice", kVoice, "--agent", "llm",
                        "--llm-base-url", model->url() + "/v1", "--llm-first-message", kLongGreeting});
  sim::CallerOptions o;
  o.server_url = server.url();
  o.lines = {"can you hear me"};
  o.voice = kVoice;
  o.barge_in_at_ms = 1500;  // talk over the long greeting 1.5 s in
  auto results = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 2);
  sim::transcribe(results, Engines::get().stt);
  ASSERT_TRUE(results[0].ok) << results[0].error << server.log_tail();
  EXPECT_EQ(results[0].clears, 1);
  EXPECT_EQ(results[0].heard.back().transcript, "you said can you hear me") << server.log_tail();
  // The words of the greeting the caller heard, as the server logged them ...
  const std::string log = server.log();
  const auto pos = log.find("barge-in call_sid=");
  ASSERT_NE(pos, std::string::npos) << server.log_tail();
  const auto q = log.find("heard=\"", pos);
  const std::string heard = log.substr(q + 7, log.find('"', q + 7) - q - 7);
  ASSERT_FALSE(heard.empty());
  ASSERT_LT(heard.size(), kLongGreeting.size());
  // ... are exactly the assistant message the model was sent before the caller's words.
  const auto reqs = model_requests(*model);
  ASSERT_EQ(reqs.size(), 1u);
  const auto& msgs = reqs[0].as_object().at("messages").as_array();
  ASSERT_EQ(msgs.size(), 3u) << json::serialize(msgs);
  EXPECT_EQ(msgs[1].as_object().at("role").as_string(), "assistant");
  EXPECT_EQ(msgs[1].as_object().at("content").as_string(), heard);
  EXPECT_EQ(msgs[2].as_object().at("content").as_string(), "can you hear me");
}

// Fifty calls at once, each with its own conversation with the model: every caller hears
// the answer to what they said, and the model received fifty separate histories.
TEST(LlmAgentE2E, FiftyConcurrentCallsEachHearTheirOwnAnswer) {
  auto model = model_emulator(R"([{"match": ".+", "text": "You said {{last}}."}])");
  const auto grammar = write_server_grammar("vox-e2e-llm-grammar.txt");
  ServerProcess server({"--stt-mode", "grammar", "--stt-grammar", grammar, "--tts-voice", kVoice, "--agent", "llm",
                        "--llm-base-url", model->url() + "/v1", "--llm-first-message", kGreeting});
  const auto& phrases = caller_phrases();
  constexpr int kCalls = 50;
  boost::asio::io_context ioc;
  std::vector<sim::CallerResult> results(kCalls);
  std::vector<std::string> said(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    said[i] = phrases[static_cast<std::size_t>(i) % phrases.size()];
    sim::CallerOptions o;
    o.server_url = server.url();
    o.lines = {said[i]};
    o.voice = kVoice;
    o.reply_timeout_ms = 60000;  // fifty utterances are recognized at once
    boost::asio::co_spawn(boost::asio::make_strand(ioc), sim::run_caller(o, sim::CallerEngines{Engines::get().tts}),
                          [&results, i](std::exception_ptr, sim::CallerResult r) { results[i] = std::move(r); });
  }
  std::thread helper([&ioc] { ioc.run(); });
  ioc.run();
  helper.join();
  sim::transcribe(results, Engines::get().stt);

  std::multiset<std::string> heard_answers, expected;
  for (int i = 0; i < kCalls; ++i) {
    const auto& r = results[i];
    SCOPED_TRACE("call " + std::to_string(i) + " " + r.call_sid);
    ASSERT_TRUE(r.ok) << r.error << server.log_tail();
    ASSERT_EQ(r.heard.size(), 2u) << server.log_tail();
    EXPECT_EQ(r.heard[1].transcript, "you said " + said[i]);
    expected.insert(said[i]);
  }
  // The model saw each call's own history: system, greeting, that caller's words.
  const auto reqs = model_requests(*model);
  ASSERT_EQ(reqs.size(), static_cast<std::size_t>(kCalls));
  for (const auto& q : reqs) {
    const auto& msgs = q.as_object().at("messages").as_array();
    ASSERT_EQ(msgs.size(), 3u) << json::serialize(q);
    EXPECT_EQ(msgs[1].as_object().at("content").as_string(), kGreeting);
    heard_answers.insert(std::string(msgs[2].as_object().at("content").as_string()));
  }
  EXPECT_EQ(heard_answers, expected);
  const auto metrics = http("GET", server.url() + "/metrics").body;
  EXPECT_NE(metrics.find("voxbridge_turn_llm_first_token_seconds_count 50"), std::string::npos);
}

}  // namespace
}  // namespace vox::test
