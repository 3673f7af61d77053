// End to end with ElevenLabs: the server binary configured with a key and a base URL
// pointing at the ElevenLabs emulator binary (over TLS with a CA made by the test, or
// plain HTTP), called by the simulated Twilio caller. Faults are injected into the
// emulator mid-call through its admin API.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "elevenlabs_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace el;


TEST(ElevenLabsE2E, ConversationOverTlsUsesUlawAndRealtimeStt) {
  Emulator emulator(/*tls=*/true);
  ServerProcess server(server_args(), emulator.server_env());
  ASSERT_TRUE(server.wait_for_log("elevenlabs: key accepted")) << server.log_tail();
  const std::vector<std::string> lines = {"good morning", "what time is it", "thank you very much"};
  auto r = converse(server, lines);
  expect_heard(r, lines, server);
  auto h = health(server);
  EXPECT_EQ(h.at("status").as_string(), "healthy");
  EXPECT_EQ(h.at("providers").as_object().at("elevenlabs").as_string(), "ok");
  EXPECT_EQ(h.at("tts_engine").as_string(), "elevenlabs");

  int tts = 0, realtime = 0, batch = 0, commits = 0;
  for (const auto& v : emulator.requests()) {
    const auto& o = v.as_object();
    const std::string target(o.at("target").as_string());
    if (target.find("/v1/text-to-speech/") != std::string::npos) {
      ++tts;
      EXPECT_NE(target.find("output_format=ulaw_8000"), std::string::npos) << target;
    }
    if (target.find("/v1/speech-to-text/realtime") != std::string::npos) {
      ++realtime;
      for (const auto& m : o.at("ws_messages").as_array())
        if (std::string(m.as_string()).find(R"("commit":true)") != std::string::npos) ++commits;
    }
    if (target == "/v1/speech-to-text") ++batch;
  }
  EXPECT_GE(tts, 1);
  EXPECT_GE(realtime, 3);  // one realtime session per utterance
  EXPECT_EQ(commits, 3);
  EXPECT_EQ(batch, 0);
}

// A model's answer streams into one ElevenLabs context: each speakable part is sent (and
// flushed) as it arrives, and the context is closed once, after the last part.
TEST(ElevenLabsE2E, AStreamedModelAnswerIsOneContextFedAsItArrives) {
  Emulator emulator;
  const auto rules = grammar_file("vox-e2e-el-llm-rules.json",
                                  {R"([{"match": "good morning", "text": "You said good morning, and thank you for )"
                                   R"(calling us today. We are glad you rang. Goodbye for now."}])"});
  // 20 tokens a second: the later parts arrive while the first is already being spoken.
  ServerProcess model({"--rules", rules, "--tokens-per-second", "20"}, {}, "", {"emulate", "openai"});
  ServerProcess server(server_args({"--agent", "llm", "--llm-base-url", model.url() + "/v1", "--llm-first-message",
                                    kGreeting}),
                       emulator.server_env());
  ASSERT_TRUE(server.wait_for_log("elevenlabs: key accepted")) << server.log_tail();
  auto r = converse(server, {"good morning"});
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  ASSERT_GE(r.heard.size(), 2u) << server.log_tail();
  EXPECT_EQ(r.heard[0].transcript, normalized(kGreeting));

  // The context whose text starts the answer, and every text message sent to it.
  std::map<std::string, std::vector<std::string>> texts;
  std::map<std::string, int> closes;
  for (const auto& v : emulator.requests()) {
    const auto& o = v.as_object();
    if (std::string(o.at("target").as_string()).find("multi-stream-input") == std::string::npos) continue;
    for (const auto& m : o.at("ws_messages").as_array()) {
      const auto msg = json::parse(m.as_string()).as_object();
      const auto* ctx = msg.if_contains("context_id");
      if (!ctx) continue;
      const std::string id(ctx->as_string());
      if (msg.contains("close_context")) ++closes[id];
      const auto* t = msg.if_contains("text");
      if (t && !std::string(t->as_string()).empty() && std::string(t->as_string()) != " ")
        texts[id].emplace_back(t->as_string());
    }
  }
  std::string answer;
  for (const auto& [id, parts] : texts)
    if (!parts.empty() && parts.front().rfind("You said good morning", 0) == 0) answer = id;
  ASSERT_FALSE(answer.empty()) << server.log_tail();
  const auto& parts = texts[answer];
  EXPECT_GE(parts.size(), 3u) << "the answer's parts went to one context as they came";
  std::string joined;  // the parts, with single spaces between words
  for (const auto& p : parts) {
    std::istringstream words(p);
    for (std::string w; words >> w;) joined += (joined.empty() ? "" : " ") + w;
  }
  EXPECT_EQ(joined, "You said good morning, and thank you for calling us today. We are glad you rang. Goodbye for now.");
  EXPECT_EQ(closes[answer], 1);
  // The caller heard the whole answer: its audio is far longer than the first part's.
  std::size_t answer_bytes = 0;
  for (std::size_t i = 1; i < r.heard.size(); ++i) answer_bytes += r.heard[i].ulaw.size();
  EXPECT_GT(answer_bytes, 8000u * 4) << server.log_tail();
}

TEST(ElevenLabsE2E, RealtimeSttRefusedFallsBackToBatch) {
  Emulator emulator;
  emulator.fault(json::object{{"match", "WS /v1/speech-to-text/realtime#upgrade"}, {"kind", "status"}, {"status", 503}});
  ServerProcess server(server_args(), emulator.server_env());
  const std::vector<std::string> lines = {"can you hear me", "i am running late"};
  auto r = converse(server, lines);
  expect_heard(r, lines, server);
  int batch = 0;
  for (const auto& v : emulator.requests())
    if (v.as_object().at("target").as_string() == "/v1/speech-to-text") ++batch;
  EXPECT_EQ(batch, 2);
}

// Each TTS fault strikes the first reply after the greeting; the call must complete
// every turn and the server must stay healthy.
// One fault of the TTS socket per test (they run in parallel): the socket closes, is
// reset, or stalls after two chunks of a reply.
class ElevenLabsTtsFault : public ::testing::TestWithParam<const char*> {};

TEST_P(ElevenLabsTtsFault, MidCallDoesNotBreakTheCall) {
  Emulator emulator;
  ServerProcess server(server_args(), emulator.server_env());
  ASSERT_TRUE(server.wait_for_log("elevenlabs: key accepted")) << server.log_tail();
  // "<kind>" or "<kind>@<match>" (the README's match: the TTS sockets' path prefix).
  const std::string param = GetParam();
  const auto at = param.find('@');
  const std::string kind = param.substr(0, at);
  const std::string match = at == std::string::npos ? "multi-stream-input" : param.substr(at + 1);
  json::object fault{{"match", match}, {"kind", kind}, {"after_chunks", 2}, {"times", 1}};
  if (kind == "stall") fault["delay_ms"] = 30000;
  const std::vector<std::string> lines = {"i would like to book a table", "where is my car"};
  // The greeting is cached; the first reply meets the fault on a fresh socket (the
  // fault applies to sockets opened after it is set).
  emulator.fault(fault);
  auto r = converse(server, lines);
  ASSERT_TRUE(r.ok) << r.error << "\n" << server.log_tail();
  ASSERT_EQ(r.heard.size(), lines.size() + 1) << server.log_tail();
  EXPECT_EQ(r.heard[2].transcript, "you said " + lines[1]);
  EXPECT_GT(r.heard[1].ulaw.size(), 8000u);  // the first reply was finished, not cut off
  EXPECT_EQ(health(server).at("status").as_string(), "healthy");
  EXPECT_NE(server.log().find("the fallback engine speaks the rest"), std::string::npos) << server.log_tail();
}

INSTANTIATE_TEST_SUITE_P(ElevenLabsE2E, ElevenLabsTtsFault,
                         ::testing::Values("close", "reset", "stall", "close@WS /v1/text-to-speech"));

TEST(ElevenLabsE2E, ProviderDownRepliesWithTheEmbeddedEngine) {
  Emulator emulator;
  // Every TTS path fails: socket upgrades and REST alike.
  emulator.fault(json::object{{"match", "#upgrade"}, {"kind", "status"}, {"status", 500}});
  emulator.fault(json::object{{"match", "POST /v1/text-to-speech"}, {"kind", "status"}, {"status", 500}});
  ServerProcess server(server_args({"--tts-cache", "false"}), emulator.server_env());
  const std::vector<std::string> lines = {"open the door", "turn off the lights"};
  auto r = converse(server, lines);
  expect_heard(r, lines, server);  // the embedded engine spoke everything, correctly
  EXPECT_EQ(health(server).at("status").as_string(), "healthy");
}

// A file asked for in a voice does not come back in another one: when ElevenLabs fails,
// /synthesize answers 502 (and counts the fallback) instead of returning espeak-ng audio.
TEST(ElevenLabsE2E, SynthesizeRefusesAudioInAnotherVoiceWhenTheProviderFails) {
  Emulator emulator;
  ServerProcess server(server_args({"--tts-cache", "false"}), emulator.server_env());
  ASSERT_TRUE(server.wait_for_log("elevenlabs: key accepted")) << server.log_tail();
  const std::string base = server.url() + "/api/v1/elevenlabs-twilio/calls/";
  const std::string sid = "CA00000000000000000000000000000017";
  ASSERT_EQ(http("POST", base + "incoming", R"({"call_sid":")" + sid + R"("})").status, 200);
  // Working: MP3 in the asked voice.
  auto ok = http("POST", base + sid + "/synthesize", R"({"text":"good morning"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  // Every TTS path fails: the warm socket, a new one, and REST.
  emulator.fault(json::object{{"match", "WS /v1/text-to-speech"}, {"kind", "reset"}});
  emulator.fault(json::object{{"match", "#upgrade"}, {"kind", "status"}, {"status", 500}});
  emulator.fault(json::object{{"match", "POST /v1/text-to-speech"}, {"kind", "status"}, {"status", 500}});
  auto failed = http("POST", base + sid + "/synthesize", R"({"text":"what time is it"})");
  EXPECT_EQ(failed.status, 502) << failed.body.substr(0, 300);
  EXPECT_NE(failed.body.find("no audio in another voice"), std::string::npos) << failed.body.substr(0, 300);
  const auto metrics = http("GET", server.url() + "/metrics").body;
  EXPECT_NE(metrics.find("voxbridge_tts_fallbacks_total 1\n"), std::string::npos);
}

// A call registered without a voice reports the voice it speaks with (VOICE_ID), not "".
TEST(ElevenLabsE2E, ACallWithoutAVoiceReportsTheDefaultVoice) {
  Emulator emulator;
  auto env = emulator.server_env();
  env.push_back("VOICE_ID=IKne3meq5aSn9XLyUdCD");
  ServerProcess server(server_args(), env);
  const std::string base = server.url() + "/api/v1/elevenlabs-twilio/calls/";
  const std::string sid = "CA00000000000000000000000000000018";
  auto reg = http("POST", base + "incoming", R"({"call_sid":")" + sid + R"("})");
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_EQ(json::parse(reg.body).as_object().at("voice_id").as_string(), "IKne3meq5aSn9XLyUdCD");
  const auto info = json::parse(http("GET", base + sid).body).as_object();
  EXPECT_EQ(info.at("voice_id").as_string(), "IKne3meq5aSn9XLyUdCD") << json::serialize(info);
  EXPECT_EQ(info.at("elevenlabs_voice_info").as_object().at("voice_id").as_string(), "IKne3meq5aSn9XLyUdCD");
}

TEST(ElevenLabsE2E, RejectedKeyIsReportedAndCallsStillWork) {
  Emulator emulator;
  ServerProcess server(server_args(), emulator.server_env("not-a-valid-key"));
  ASSERT_TRUE(server.wait_for_log("the API key was rejected")) << server.log_tail();
  auto h = health(server);
  EXPECT_EQ(h.at("status").as_string(), "degraded");
  EXPECT_NE(std::string(h.at("providers").as_object().at("elevenlabs").as_string()).find("invalid_api_key"),
            std::string::npos);
  const std::vector<std::string> lines = {"hello there"};
  auto r = converse(server, lines);
  expect_heard(r, lines, server);
}

TEST(ElevenLabsE2E, GreetingComesFromTheCache) {
  Emulator emulator;
  ServerProcess server(server_args(), emulator.server_env());
  ASSERT_TRUE(server.wait_for_log("tts cache: pre-warmed")) << server.log_tail();
  for (int i = 0; i < 2; ++i) {
    auto r = converse(server, {"good morning"});
    expect_heard(r, {"good morning"}, server);
  }
  // The greeting was synthesized once (pre-warm), though two calls heard it; the
  // repeated reply "you said good morning" was synthesized once as well.
  int greeting = 0, reply = 0;
  for (const auto& v : emulator.requests())
    for (const auto& m : v.as_object().at("ws_messages").as_array()) {
      const std::string s(m.as_string());
      if (s.find("Hello and welcome.") != std::string::npos) ++greeting;
      if (s.find("You said: good morning") != std::string::npos) ++reply;
    }
  EXPECT_EQ(greeting, 1);
  EXPECT_EQ(reply, 1);
}

}  // namespace
}  // namespace vox::test
