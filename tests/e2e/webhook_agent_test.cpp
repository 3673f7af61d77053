// The webhook agent end to end: a gateway started with --agent webhook answers a call
// from the Twilio emulator's scripted callee; each final transcript is POSTed (signed)
// to an HTTP endpoint run by the test, and the callee hears the endpoint's answer.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/hash.hpp"
#include "twilio_support.hpp"
#include "webhook_app.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;

TEST(WebhookAgentE2E, TheCalleeHearsTheWebhooksAnswer) {
  const std::string secret = "e2e-webhook-secret";
  auto emulator = twilio_emulator({"good morning"});
  // Not the echo of what the callee says: the answer can only come from the webhook.
  WebhookApp app("You said: what time is it");
  auto server = gateway(*emulator, {"--agent", "webhook", "--agent-webhook-url", app.url(), "--agent-webhook-secret",
                                    secret, "--agent-webhook-timeout-ms", "10000"});
  const auto sid = place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("sid").as_string(), sid);
  EXPECT_EQ(c.at("status").as_string(), "completed");
  EXPECT_EQ(c.at("error").as_string(), "") << json::serialize(c);
  // The greeting, then the webhook's answer to "good morning".
  EXPECT_EQ(heard_transcripts(c), (std::vector<std::string>{normalized(kGreeting), "you said what time is it"}))
      << json::serialize(c) << server->log_tail();

  // The webhook was asked once, about the callee's words, with a valid signature.
  const auto requests = app.requests();
  ASSERT_EQ(requests.size(), 1u) << server->log_tail();
  const auto& r = requests[0];
  EXPECT_NE(r.content_type.find("application/json"), std::string::npos) << r.content_type;
  EXPECT_EQ(r.signature, hmac_sha256_hex(secret, r.body)) << r.body;
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("call_sid").as_string(), sid);
  EXPECT_EQ(body.at("text").as_string(), "good morning");
  EXPECT_EQ(body.at("turn").as_int64(), 1);
  for (const char* key : {"from", "to", "agent_id", "barged_in", "interrupted_reply_heard", "parameters"})
    EXPECT_TRUE(body.contains(key)) << key << " missing in " << r.body;
  EXPECT_FALSE(body.at("barged_in").as_bool());
  EXPECT_TRUE(body.at("parameters").is_object());

  EXPECT_TRUE(server->wait_for_log("caller said call_sid=" + sid + " turn=1 text=\"good morning\"")) << server->log_tail();
  EXPECT_EQ(server->log().find("webhook agent failed"), std::string::npos) << server->log_tail();
}

}  // namespace
}  // namespace vox::test
