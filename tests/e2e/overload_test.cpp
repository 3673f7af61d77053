// Overload control against the real server: at the call limit, and while its event loop
// lags (the server is stopped with SIGSTOP for a while: a stall its probe must notice),
// new work is refused the way each client understands (webhook 503 so Twilio uses the
// number's fallback, media 1013, API 503 with Retry-After), counted on /health and
// /metrics; live calls go on, and new work is taken again once the lag is gone.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <csignal>

#include "e2e_support.hpp"
#include "media_socket.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kKey = "turn-key-123456";

std::string header_of(const net::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return {};
}

net::HttpResponse voice_webhook(const ServerProcess& server, const std::string& sid) {
  return http("POST", server.url() + "/twilio-voice", "CallSid=" + sid + "&From=%2B15550001111&To=%2B15550002222",
              {{"Content-Type", "application/x-www-form-urlencoded"}});
}

json::object load_of(const ServerProcess& server) {
  const auto res = http("GET", server.url() + "/health");
  return json::parse(res.body).as_object().at("load").as_object();
}

std::int64_t shed_of(const ServerProcess& server, const char* kind) {
  return load_of(server).at("shed").as_object().at(kind).as_int64();
}

bool wait_overloaded(const ServerProcess& server, bool want, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (load_of(server).at("overloaded").as_bool() == want) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);  // polling /health for the state, bounded by the deadline
  }
}

TEST(Overload, AtTheCallLimitNewCallsAreRefusedAndTheLiveOneGoesOn) {
  ServerProcess server({"--greeting", "", "--max-calls", "1"});
  MediaSocket live(server, "CA10000000000000000000000000000001");
  ASSERT_TRUE(wait_active_calls(server, 1, 10s)) << server.log();

  const auto refused = voice_webhook(server, "CA10000000000000000000000000000002");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(header_of(refused, "Retry-After"), "2");
  EXPECT_NE(refused.body.find("retry after"), std::string::npos) << refused.body;

  MediaSocket second(server, "CA10000000000000000000000000000003");
  ASSERT_TRUE(second.wait_closed(10s)) << "the stream beyond the limit stayed open";
  EXPECT_EQ(second.close_code(), 1013);

  EXPECT_EQ(shed_of(server, "webhook"), 1);
  EXPECT_EQ(shed_of(server, "media"), 1);
  const auto metrics = http("GET", server.url() + "/metrics").body;
  EXPECT_NE(metrics.find("voxbridge_shed_total{kind=\"webhook\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("voxbridge_shed_total{kind=\"media\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("voxbridge_event_loop_lag_seconds"), std::string::npos);

  // The live call was not touched; once it ends, a new call is taken.
  EXPECT_FALSE(live.wait_closed(0ms));
  EXPECT_EQ(active_calls(server), 1);
  live.stop();
  ASSERT_TRUE(wait_active_calls(server, 0, 10s)) << server.log();
  EXPECT_EQ(voice_webhook(server, "CA10000000000000000000000000000004").status, 200);
}

TEST(Overload, AStalledEventLoopShedsNewWorkKeepsLiveCallsAndRecovers) {
  ServerProcess server({"--greeting", "", "--shed-lag-ms", "100", "--shed-hold-ms", "3000", "--generate-api-key", kKey});
  MediaSocket live(server, "CA20000000000000000000000000000001");
  ASSERT_TRUE(wait_active_calls(server, 1, 10s)) << server.log();
  EXPECT_FALSE(load_of(server).at("overloaded").as_bool());
  EXPECT_EQ(voice_webhook(server, "CA20000000000000000000000000000002").status, 200);

  // The fault: the whole process stands still for 400 ms, as under a CPU it cannot get.
  ASSERT_EQ(::kill(server.pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(400ms);
  ASSERT_EQ(::kill(server.pid(), SIGCONT), 0);

  ASSERT_TRUE(wait_overloaded(server, true, 5s)) << server.log();
  const auto load = load_of(server);
  EXPECT_GE(load.at("event_loop_lag_max_ms").as_double(), 200.0) << json::serialize(load);
  EXPECT_EQ(json::parse(http("GET", server.url() + "/health").body).at("status").as_string(), "overloaded");

  // New work of every kind is refused, each the way its client understands.
  const auto webhook = voice_webhook(server, "CA20000000000000000000000000000003");
  EXPECT_EQ(webhook.status, 503);
  EXPECT_EQ(header_of(webhook, "Retry-After"), "3");
  const auto placed = http("POST", server.url() + "/api/v1/elevenlabs-twilio/calls",
                           R"({"to_number":"+15550003333","agent_id":"a"})", {{"Content-Type", "application/json"}});
  EXPECT_EQ(placed.status, 503) << placed.body;
  EXPECT_EQ(header_of(placed, "Retry-After"), "3");
  const auto turn = http("GET", server.url() + "/generate?client=t&sid=CA20000000000000000000000000000009&first=true&timeout=1",
                         {}, {{"X-API-KEY", kKey}});
  EXPECT_EQ(turn.status, 503) << turn.body;
  const std::string client_url =
      "ws://127.0.0.1:" + std::to_string(server.port()) + "/api/v1/webrtc/twilio-elevenlabs-stream/p1/anykey/agent1";
  try {
    run_io([&]() { return net::WsClient::connect(client_url); });
    ADD_FAILURE() << "a client socket was accepted while overloaded";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("503"), std::string::npos) << e.what();
  }
  MediaSocket refused(server, "CA20000000000000000000000000000004");
  ASSERT_TRUE(refused.wait_closed(10s));
  EXPECT_EQ(refused.close_code(), 1013);

  const auto shed = load_of(server).at("shed").as_object();
  for (const char* kind : {"webhook", "control", "generate", "client_socket", "media"})
    EXPECT_GE(shed.at(kind).as_int64(), 1) << kind << ": " << json::serialize(shed);
  // Actions on live calls and reads still go ahead while shedding.
  EXPECT_EQ(http("GET", server.url() + "/api/v1/elevenlabs-twilio/calls/CA20000000000000000000000000000001").status, 200);

  // The live call is untouched; once the hold passes, new calls are taken again.
  EXPECT_FALSE(live.wait_closed(0ms));
  ASSERT_TRUE(wait_overloaded(server, false, 15s)) << server.log();
  EXPECT_EQ(voice_webhook(server, "CA20000000000000000000000000000005").status, 200);
  MediaSocket later(server, "CA20000000000000000000000000000006");
  EXPECT_TRUE(wait_active_calls(server, 2, 10s)) << server.log();
  EXPECT_FALSE(live.wait_closed(0ms));
}

}  // namespace
}  // namespace vox::test
