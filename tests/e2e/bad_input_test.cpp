// Bad input on the media socket: each kind is logged clearly and dropped; the call
// and the server carry on, and nothing leaks.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "e2e_support.hpp"
#include "media_socket.hpp"
#include "server_process.hpp"
#include "twilio/media_messages.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;

std::string start_message(const std::string& call_sid) {
  twilio::Start s;
  s.stream_sid = "MZ" + call_sid.substr(2);
  s.account_sid = "AC00000000000000000000000000000000";
  s.call_sid = call_sid;
  s.tracks = {"inbound"};
  std::string out;
  twilio::write_start(out, s, 1);
  return out;
}

TEST(BadInput, EveryKindIsLoggedAndDroppedAndTheCallSurvives) {
  ServerProcess server({"--greeting", ""});
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/media";
  const std::string sid = "CA11111111111111111111111111111111";
  IoThread io;
  auto ws = io.run([&]() -> asio::awaitable<std::shared_ptr<net::WsClient>> {
    auto c = co_await net::WsClient::connect(url);
    c->send("this is not json");
    c->send("[1,2,3]");
    c->send(R"({"event":"bogus","streamSid":"MZ1"})");
    c->send(R"({"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"/////w=="},"streamSid":"MZ1"})");
    c->send(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
    c->send(start_message(sid));
    c->send(start_message(sid));  // a second start
    c->send(R"({"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"!!!!"},"streamSid":"MZ1"})");
    c->send(R"({"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"20","payload":""},"streamSid":"MZ1"})");
    c->send(R"({"event":"media","sequenceNumber":"5","media":{"track":"inbound","chunk":"3","timestamp":"40","payload":"AAAA"},"streamSid":"MZ1"})");  // 3 bytes: odd length is fine
    c->send(R"({"event":"media","sequenceNumber":"6","media":{"track":"inbound","chunk":"4","timestamp":"60"},"streamSid":"MZ1"})");
    c->send(std::string(R"({"event":"media","pad":")") + std::string(100 * 1024, 'x') + "\"}");  // over the 64 KiB limit
    c->send(R"({"event":"mark","sequenceNumber":"7","streamSid":"MZ1","mark":{"name":"nobody-sent-this"}})");
    c->send(R"({"event":"dtmf","sequenceNumber":"8","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"5"}})");
    co_return c;
  });
  // The call is live despite all of that.
  ASSERT_TRUE(wait_active_calls(server, 1, std::chrono::seconds(10))) << server.log();
  // Wait until the last message was processed (the dtmf line is logged), then check each complaint.
  EXPECT_TRUE(server.wait_for_log("dtmf call_sid=" + sid + " digit=5")) << server.log();
  const std::string log = server.log();
  for (const char* expected : {"malformed JSON", "message is not a JSON object", "unknown event \"bogus\"",
                               "media before start dropped", "second start ignored", "not valid base64",
                               "empty media payload dropped", "no \"media.payload\" string", "exceeds the limit"}) {
    EXPECT_NE(log.find(expected), std::string::npos) << "missing log line: " << expected << "\n" << log;
  }
  // An abrupt disconnect frees the call.
  asio::post(io.context(), [ws] { ws->abort(); });
  EXPECT_TRUE(wait_active_calls(server, 0, std::chrono::seconds(10))) << server.log();
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200);
}

TEST(BadInput, AHugeMessageClosesOnlyThatSocket) {
  ServerProcess server({"--greeting", ""});
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/media";
  auto closed = run_io([&]() -> asio::awaitable<bool> {
    auto c = co_await net::WsClient::connect(url);
    c->send(std::string(2 * 1024 * 1024, 'x'));
    auto msg = co_await c->read();  // the server answers by closing (1009)
    co_return !msg.has_value();
  });
  EXPECT_TRUE(closed);
  EXPECT_TRUE(server.wait_for_log("ws message over")) << server.log();
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200);
  EXPECT_EQ(active_calls(server), 0);
}

// A media socket that goes silent (no message, no ping) is dropped after the idle limit;
// one that keeps streaming beside it stays up.
TEST(BadInput, ASilentWebSocketIsDroppedAfterTheIdleLimit) {
  ServerProcess server({"--greeting", "", "--ws-idle-timeout", "1"});
  MediaSocket silent(server, "CA44444444444444444444444444444444");
  MediaSocket talking(server, "CA55555555555555555555555555555555");
  talking.silence(0, 2500);  // 2.5 s of frames in real time (returns when sent)
  EXPECT_TRUE(silent.wait_closed(std::chrono::seconds(5)));
  EXPECT_TRUE(server.wait_for_log("ws peer sent nothing for 1000 ms"));
  EXPECT_FALSE(talking.wait_closed(std::chrono::milliseconds(0))) << "a streaming socket was dropped as idle";
}

TEST(BadInput, UnknownWebSocketPathIsRefused) {
  ServerProcess server({});
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/elsewhere";
  EXPECT_THROW(run_io([&]() { return net::WsClient::connect(url); }), std::runtime_error);
}

}  // namespace
}  // namespace vox::test
