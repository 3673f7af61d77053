// Server lifecycle: SIGTERM with live calls, health, the webhook's HTTP contract.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <future>

#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {

TEST(Lifecycle, HealthReportsStatusTimestampAndActiveCalls) {
  ServerProcess server({});
  auto res = http("GET", server.url() + "/health");
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "application/json");
  auto j = boost::json::parse(res.body).as_object();
  EXPECT_EQ(j.at("status").as_string(), "healthy");
  EXPECT_EQ(j.at("active_calls").as_int64(), 0);
  const std::string ts(j.at("timestamp").as_string());
  EXPECT_EQ(ts.size(), 24u) << ts;  // 2026-11-21T10:04:23.367Z
  EXPECT_EQ(ts.back(), 'Z');
}

TEST(Lifecycle, WebhookAnswersTwimlThatConnectsTheStream) {
  ServerProcess server({});
  auto res = http("POST", server.url() + "/twilio-voice?agent=echo",
                  "CallSid=CA0123&AccountSid=AC1&From=%2B15551234567&To=%2B15557654321&Direction=inbound",
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "text/xml");
  const std::string port = std::to_string(server.port());
  EXPECT_EQ(res.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream url=\"ws://127.0.0.1:" + port +
                "/media\" statusCallback=\"http://127.0.0.1:" + port +
                "/api/v1/twilio/stream-status\" statusCallbackMethod=\"POST\"><Parameter name=\"from\" value=\"+15551234567\"/><Parameter name=\"to\" "
                "value=\"+15557654321\"/><Parameter name=\"direction\" value=\"inbound\"/><Parameter "
                "name=\"accountSid\" value=\"AC1\"/><Parameter name=\"agent\" value=\"echo\"/></Stream></Connect></Response>");
}

TEST(Lifecycle, WebhookUsesThePublicBaseUrlAndEscapesXml) {
  ServerProcess server({"--base-url", "https://gw.example.com/"});
  auto res = http("POST", server.url() + "/twilio-voice", "CallSid=CA1&From=%3Cx%26y%3E%22",
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(res.status, 200);
  EXPECT_NE(res.body.find("<Stream url=\"wss://gw.example.com/media\" "
                          "statusCallback=\"https://gw.example.com/api/v1/twilio/stream-status\""),
            std::string::npos)
      << res.body;
  EXPECT_NE(res.body.find("value=\"&lt;x&amp;y&gt;&quot;\""), std::string::npos) << res.body;
}

TEST(Lifecycle, BadHttpRequestsGetClearErrors) {
  ServerProcess server({});
  auto missing = http("POST", server.url() + "/twilio-voice", "From=%2B1555");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("\"detail\":\"Missing CallSid"), std::string::npos) << missing.body;
  EXPECT_EQ(http("GET", server.url() + "/nowhere").status, 404);
  EXPECT_EQ(http("GET", server.url() + "/twilio-voice").status, 405);
  auto big = http("POST", server.url() + "/twilio-voice", std::string(2 * 1024 * 1024, 'a'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200);  // still serving
}

TEST(Lifecycle, SettingsComeFromFlagsThenEnvironmentThenDotenv) {
  ServerProcess server({"--talk-timeout", "11"}, {"TALK_TIMEOUT=9", "MIN_SPEECH_MS=250"},
                       "# a comment\nGREETING=\"Hi from dotenv\" # greeting\nTALK_TIMEOUT=7\nMIN_SPEECH_MS=300\n"
                       "SILENCE_CHUNKS_TRIGGER=30\nexport VAD_MODE=2\n");
  // The line after the settings line: the settings line is then whole in the log.
  EXPECT_TRUE(server.wait_for_log("voxbridge listening on")) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("greeting=\"Hi from dotenv\""), std::string::npos) << log;  // only in .env
  EXPECT_NE(log.find("talk_timeout_s=11 "), std::string::npos) << log;          // flag beats env and .env
  EXPECT_NE(log.find("min_speech_ms=250 "), std::string::npos) << log;          // env beats .env
  EXPECT_NE(log.find("silence_ms=600 "), std::string::npos) << log;             // 30 frames of 20 ms
  EXPECT_NE(log.find("vad_mode=2 "), std::string::npos) << log;
}

TEST(Lifecycle, SigtermWithLiveCallsClosesThemAndExitsZero) {
  ServerProcess server({"--greeting", "", "--talk-timeout", "120"});
  sim::CallerOptions o;
  o.server_url = server.url();
  o.hang_up = false;
  o.greeting_wait_ms = 0;
  o.idle_after_ms = 60000;
  o.max_call_ms = 90000;
  auto callers = std::async(std::launch::async, [&] {
    return sim::run_callers(o, 3, sim::CallerEngines{Engines::get().tts}, 1);
  });
  ASSERT_TRUE(wait_active_calls(server, 3, std::chrono::seconds(20))) << server.log();
  const auto t0 = std::chrono::steady_clock::now();
  auto code = server.signal_and_wait(SIGTERM, std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "server did not exit within 10 s of SIGTERM\n" << server.log();
  EXPECT_EQ(*code, 0) << server.log();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 6.0);
  auto results = callers.get();
  for (const auto& r : results) {
    EXPECT_TRUE(r.server_closed) << r.error;
    EXPECT_EQ(r.close_code, 1001);  // going away
    EXPECT_LT(r.duration_ms, 60000);
  }
  EXPECT_NE(server.log().find("all calls closed; exiting"), std::string::npos) << server.log();
}

}  // namespace
}  // namespace vox::test
