// Network faults between the gateway and Twilio: the fault proxy sits in front of the
// Twilio emulator's REST API (calls placed through the control API), or between the
// emulator's media leg and the gateway (the TwiML's stream URL is the proxy's, since the
// webhook was fetched through it). A Twilio API that resets or says nothing gives the
// control-API client a clear 502 in bounded time; a media stream that is reset or goes
// silent ends its call on the gateway; nothing is left behind, and the next call works.
#include <gtest/gtest.h>

#include <iostream>

#include "faults_support.hpp"
#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kCalls = "/api/v1/elevenlabs-twilio/calls";
const std::string kPlace = R"({"to_number":"+15550002222","from_number":"+15550001111"})";

net::HttpResponse place_through_api(const ServerProcess& server) {
  // (The control API's Twilio requests are bounded at 10 s; the test waits longer.)
  return run_io([&]() {
    return net::http_request("POST", server.url() + kCalls, {{"Content-Type", "application/json"}}, kPlace, 30s);
  });
}

std::string detail_of(const net::HttpResponse& res) {
  try {
    return std::string(json::parse(res.body).as_object().at("detail").as_string());
  } catch (const std::exception&) {
    return res.body;
  }
}

class TwilioApiOutage : public ::testing::TestWithParam<const char*> {};

TEST_P(TwilioApiOutage, PlacingACallFailsClearlyAndWorksOnceItHeals) {
  auto emulator = twilio_emulator({"good morning"});
  auto proxy = proxy_to(*emulator);
  auto server = gateway_at(proxy->url());
  if (std::string(GetParam()) == "reset") {
    proxy->set(Faults{.reset_new = true});
  } else {
    proxy->set(Faults{.blackhole = true});
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto failed = place_through_api(*server);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "  failed after " << took.count() << " ms\n";
  EXPECT_EQ(failed.status, 502) << failed.body;
  EXPECT_EQ(detail_of(failed), "Could not reach Twilio; try again shortly") << failed.body;
  EXPECT_LT(took, 15s);  // the request's budget (10 s), not a client's patience
  EXPECT_EQ(json::parse(http("GET", server->url() + kCalls).body).as_object().at("calls").as_array().size(), 0u);
  EXPECT_EQ(http("GET", server->url() + "/health").status, 200);

  proxy->clear();
  auto placed = place_through_api(*server);
  ASSERT_EQ(placed.status, 200) << placed.body;
  const auto calls = settled_calls(*emulator, 1, 90s);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(heard_transcripts(calls[0].as_object()), (std::vector<std::string>{normalized(kGreeting), "you said good morning"}))
      << server->log_tail();
}

INSTANTIATE_TEST_SUITE_P(Faults, TwilioApiOutage, ::testing::Values("reset", "blackhole"));

// The media leg: "reset" breaks it, "blackhole" silences it (the gateway drops a stream
// that has sent nothing for --media-timeout).
class MediaStreamOutage : public ::testing::TestWithParam<const char*> {};

TEST_P(MediaStreamOutage, MidCallTheGatewayEndsTheCallAndTheNextOneWorks) {
  const bool reset = std::string(GetParam()) == "reset";
  // The callee talks for a while, so the call is live when the fault comes.
  auto emulator = twilio_emulator({"good morning", "what time is it", "thank you very much"});
  auto server = gateway(*emulator, {"--media-timeout", "2"});
  const auto proxy = proxy_to(*server);
  const int fds_before = open_fds(server->pid());
  place_call(*emulator, *server, "+15550002222", proxy->url());
  ASSERT_TRUE(wait_active_calls(*server, 1, 30s)) << server->log_tail();
  ASSERT_TRUE(proxy->wait_accepted(2, 10s));  // the webhook and the media stream came through it
  if (reset) {
    proxy->set(Faults{.reset_new = true});
    proxy->reset_all();
  } else {
    proxy->set(Faults{.blackhole = true});
  }
  // The gateway ends the call: no stuck call, its socket closed.
  EXPECT_TRUE(eventually([&] { return active_calls(*server) == 0; }, 20s)) << server->log_tail();
  if (!reset) {
    EXPECT_TRUE(server->wait_for_log("ws peer sent nothing for 2000 ms", 1s)) << server->log_tail();
  }
  EXPECT_TRUE(eventually([&] { return open_fds(server->pid()) <= fds_before + 2; }, 20s))
      << open_fds(server->pid()) << " open descriptors, " << fds_before << " before";
  EXPECT_EQ(http("GET", server->url() + "/health").status, 200);

  // The network heals: the next call through the same proxy is whole.
  proxy->clear();
  place_call(*emulator, *server, "+15550002222", proxy->url());
  const auto calls = settled_calls(*emulator, 2, 120s);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(heard_transcripts(calls[1].as_object()),
            (std::vector<std::string>{normalized(kGreeting), "you said good morning", "you said what time is it",
                                      "you said thank you very much"}))
      << json::serialize(calls) << server->log_tail();
}

INSTANTIATE_TEST_SUITE_P(Faults, MediaStreamOutage, ::testing::Values("reset", "blackhole"));

}  // namespace
}  // namespace vox::test
