// Network faults between the gateway's agents and their endpoints: the fault proxy sits
// between the server binary and the OpenAI-compatible emulator (the llm agent) or a
// customer's webhook (the webhook agent); the Twilio emulator's scripted callee places the
// call. A slow link still answers; an endpoint that resets or turns into a black hole
// mid-call makes the agent speak its fallback line in time, and the next turn, once the
// network heals, is the endpoint's again.
#include <gtest/gtest.h>

#include "faults_support.hpp"
#include "twilio_support.hpp"
#include "webhook_app.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

std::unique_ptr<ServerProcess> model_server(const std::string& rules, std::vector<std::string> extra = {}) {
  const auto path = grammar_file("vox-e2e-faults-rules-" + std::to_string(rules.size()) + ".json", {rules});
  std::vector<std::string> args = {"--rules", path};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(args, std::vector<std::string>{}, "", std::vector<std::string>{"emulate", "openai"});
}

const std::string kRules = R"([{"match": "good morning", "text": "You said good morning."},
                               {"match": "what time", "text": "You said what time is it."}])";

std::vector<std::string> llm_args(const FaultProxy& proxy) {
  return {"--agent", "llm", "--llm-base-url", proxy.url() + "/v1", "--llm-model", "emu-1", "--llm-first-message",
          kGreeting, "--llm-timeout-ms", "2000", "--llm-retry-budget-ms", "1000", "--llm-fallback",
          "You said thank you very much."};
}

TEST(Faults, ModelServerOverASlowLinkStillAnswers) {
  auto model = model_server(kRules, {"--tokens-per-second", "40"});
  auto proxy = proxy_to(*model);
  proxy->set(Faults{.latency = 80ms, .jitter = 40ms, .bytes_per_second = 2000, .slow_close = 1000ms});
  auto emulator = twilio_emulator({"good morning", "what time is it"});
  auto server = gateway(*emulator, llm_args(*proxy));
  place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1, 90s);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(heard_transcripts(calls[0].as_object()),
            (std::vector<std::string>{normalized(kGreeting), "you said good morning", "you said what time is it"}))
      << server->log_tail();
  EXPECT_EQ(server->log().find("llm agent failed"), std::string::npos) << server->log_tail();
}

// The model server disappears after the greeting ("reset": connections reset, new ones
// refused; "blackhole": nothing comes back) and comes back once the agent has failed.
class ModelServerOutage : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelServerOutage, MidCallTheFallbackIsSpokenAndTheModelAnswersAfter) {
  auto model = model_server(kRules);
  auto proxy = proxy_to(*model);
  auto emulator = twilio_emulator({"good morning", "what time is it"});
  auto server = gateway(*emulator, llm_args(*proxy));
  place_call(*emulator, *server);
  ASSERT_TRUE(wait_active_calls(*server, 1, 30s)) << server->log_tail();
  if (std::string(GetParam()) == "reset") {
    proxy->set(Faults{.reset_new = true});
    proxy->reset_all();
  } else {
    proxy->set(Faults{.blackhole = true});
  }
  // The first turn meets the outage; the network heals before the second.
  ASSERT_TRUE(server->wait_for_log("llm agent failed", 30s)) << server->log_tail();
  proxy->clear();
  const auto calls = settled_calls(*emulator, 1, 90s);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(heard_transcripts(calls[0].as_object()),
            (std::vector<std::string>{normalized(kGreeting), "you said thank you very much", "you said what time is it"}))
      << server->log_tail();
  EXPECT_TRUE(eventually([&] { return active_calls(*server) == 0; }, 10s));
  // The blackholed connection was given up, not kept.
  EXPECT_TRUE(eventually([&] { return proxy->live() <= 1; }, 20s)) << proxy->live() << " connections open";
}

INSTANTIATE_TEST_SUITE_P(Faults, ModelServerOutage, ::testing::Values("reset", "blackhole"));

class WebhookOutage : public ::testing::TestWithParam<const char*> {};

TEST_P(WebhookOutage, MidCallTheFallbackIsSpokenAndTheWebhookAnswersAfter) {
  WebhookApp app("You said what time is it.");  // whatever the callee says
  FaultProxy proxy("127.0.0.1", app.port());
  auto emulator = twilio_emulator({"good morning", "what time is it"});
  auto server = gateway(*emulator, {"--agent", "webhook", "--agent-webhook-url", proxy.url() + "/agent",
                                    "--agent-webhook-timeout-ms", "2000", "--agent-fallback",
                                    "You said thank you very much."});
  place_call(*emulator, *server);
  ASSERT_TRUE(wait_active_calls(*server, 1, 30s)) << server->log_tail();
  if (std::string(GetParam()) == "reset") {
    proxy.set(Faults{.reset_new = true});
    proxy.reset_all();
  } else {
    proxy.set(Faults{.blackhole = true});
  }
  ASSERT_TRUE(server->wait_for_log("webhook agent failed", 30s)) << server->log_tail();
  proxy.clear();
  const auto calls = settled_calls(*emulator, 1, 90s);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(heard_transcripts(calls[0].as_object()),
            (std::vector<std::string>{normalized(kGreeting), "you said thank you very much", "you said what time is it"}))
      << server->log_tail();
  EXPECT_EQ(app.requests().size(), 1u);  // only the healed turn reached it
  EXPECT_TRUE(eventually([&] { return active_calls(*server) == 0; }, 10s));
  EXPECT_TRUE(eventually([&] { return proxy.live() <= 1; }, 20s)) << proxy.live() << " connections open";
}

INSTANTIATE_TEST_SUITE_P(Faults, WebhookOutage, ::testing::Values("reset", "blackhole"));

}  // namespace
}  // namespace vox::test
