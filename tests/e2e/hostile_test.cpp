// What a stranger may send: numbers at the edges of their types on the media socket,
// digits and names that try to forge log lines, call sids that are paths, malformed
// HTTP framing, and a caller that never echoes marks. Each must leave the server up,
// the other calls unharmed, and get a clear answer.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <filesystem>
#include <sstream>

#include "audio/wav.hpp"
#include "e2e_support.hpp"
#include "media_socket.hpp"
#include "server_process.hpp"
#include "sim/sid.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;

// Sends `request` over a fresh TCP connection and returns everything the server wrote
// before closing (or before 5 s of silence).
std::string raw_http(const ServerProcess& server, const std::string& request) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())});
  boost::system::error_code ec;
  asio::write(s, asio::buffer(request), ec);  // the server may stop reading early: that is fine
  ::timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    const auto n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf.data(), n);
  }
  return out;
}

// The status code of the first response in `raw`, or 0.
int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::atoi(raw.c_str() + 9);
}

// Whether any line of `log` begins with `text` (a forged log line would).
bool has_line_starting(const std::string& log, const std::string& text) {
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(text, 0) == 0) return true;
  return false;
}

TEST(Hostile, ForgedMediaTimestampsNeitherCrashNorSwellTheRecording) {
  const auto dir = std::filesystem::temp_directory_path() / ("vox-rec-" + sim::random_sid("d"));
  ServerProcess server({"--greeting", "", "--recording-dir", dir.string()});
  const std::string sid = sim::random_sid("CA");
  {
    MediaSocket m(server, sid);
    const std::vector<std::uint8_t> frame(160, 0xFF);
    m.media(frame, "\"0\"");
    for (const char* ts : {"\"2305843009213693951\"", "\"3600000\"", "\"9223372036854775807\"", "\"-9223372036854775808\"", "\"-20\"",
                           "1e308", "-1e308", "\"NaN\"", "\"86400001\"", "2305843009213693951"})
      m.media(frame, ts);
    m.media(frame, "\"20\"");
    m.stop();
    ASSERT_TRUE(m.wait_closed(10s));
  }
  ASSERT_TRUE(server.wait_for_log("recording written call_sid=" + sid)) << server.log_tail();
  // The server is up and takes the next call.
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200) << server.log_tail();
  {
    MediaSocket again(server, sim::random_sid("CA"));
    ASSERT_TRUE(wait_active_calls(server, 1, 10s)) << server.log_tail();
    again.stop();
    ASSERT_TRUE(again.wait_closed(10s));
  }
  // The recording holds the two honest frames, not hours of padding.
  const auto wav = audio::read_wav((dir / (sid + ".wav")).string());
  ASSERT_TRUE(wav.has_value());
  EXPECT_LE(wav->samples.size(), 2u * 8000u) << "the recording grew to " << wav->samples.size() << " samples";
  EXPECT_TRUE(server.wait_for_log("media.timestamp")) << "forged timestamps are not reported\n" << server.log_tail();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(Hostile, SequenceNumbersAtTheEdgesAreRefused) {
  ServerProcess server({"--greeting", ""});
  const std::string sid = sim::random_sid("CA");
  MediaSocket m(server, sid);
  const std::string payload = "//////////8=";
  for (const char* seq : {"9223372036854775807", "9223372036854775806", "-9223372036854775808"})
    m.send(std::string(R"({"event":"media","sequenceNumber":")") + seq + R"(","streamSid":"MZ1","media":{"track":"inbound","timestamp":"0","payload":")" + payload + "\"}}");
  m.dtmf("\"5\"");
  EXPECT_TRUE(server.wait_for_log("dtmf call_sid=" + sid)) << server.log_tail();
  EXPECT_TRUE(server.wait_for_log("sequenceNumber")) << server.log_tail();
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200);
}

TEST(Hostile, DigitsOutsideTwiliosAlphabetAreRefusedAndForgeNoLogLine) {
  ServerProcess server({"--greeting", ""});
  const std::string sid = sim::random_sid("CA");
  MediaSocket m(server, sid);
  m.dtmf("\"1\\n critical FORGED LINE\"");
  m.dtmf("\"\\u0000\"");
  m.dtmf("\"" + std::string(1000, '7') + "\"");
  m.dtmf("\"12\"");
  m.mark_echo("\"x\\r\\n critical FORGED MARK\"");
  m.dtmf("\"#\"");
  ASSERT_TRUE(server.wait_for_log("dtmf call_sid=" + sid + " digit=#")) << server.log_tail();
  const std::string log = server.log();
  EXPECT_FALSE(has_line_starting(log, " critical FORGED")) << log;
  EXPECT_EQ(log.find(std::string(1000, '7')), std::string::npos) << "a 1000-digit 'digit' reached the log";
  EXPECT_EQ(log.find("digit=12"), std::string::npos) << log;
  EXPECT_NE(log.find("dtmf.digit"), std::string::npos) << "the bad digits are not reported\n" << log;
  EXPECT_EQ(log.find(std::string("digit=\0", 7)), std::string::npos);
}

TEST(Hostile, StrangersNamesAreEscapedInTheLog) {
  ServerProcess server({"--greeting", ""});
  const std::string sid = sim::random_sid("CA");
  MediaSocket m(server, sid, {{"from", "+1555\n critical FORGED FROM"}, {"to", "\x1b[31mred"}});
  ASSERT_TRUE(server.wait_for_log("call started call_sid=" + sid)) << server.log_tail();
  const std::string log = server.log();
  EXPECT_FALSE(has_line_starting(log, " critical FORGED")) << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << "an escape sequence reached the log";
  EXPECT_NE(log.find("\\n critical FORGED FROM"), std::string::npos) << log;
}

TEST(Hostile, CallerThatNeverEchoesMarksIsEndedByTheTalkTimeout) {
  // The greeting (~3 s of speech) is sent, its marks never come back; the reply may not
  // count as playing for longer than its audio plus the slack, and the talk timeout
  // counts from then.
  ServerProcess server({"--greeting", "Hello and welcome. Please say something.", "--talk-timeout", "2",
                        "--mark-slack-ms", "1000"});
  const std::string sid = sim::random_sid("CA");
  MediaSocket m(server, sid);
  ASSERT_TRUE(m.wait_events("mark", 1, 10s)) << server.log_tail();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread talker([&] { m.silence(0, 20000); });
  const bool closed = m.wait_closed(20s);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  talker.join();
  EXPECT_TRUE(closed) << "the call was never ended\n" << server.log_tail();
  EXPECT_LT(s, 12.0);
  EXPECT_GE(s, 2.0);  // not before the talk timeout
  EXPECT_TRUE(server.wait_for_log("talk timeout call_sid=" + sid)) << server.log_tail();
  EXPECT_TRUE(server.wait_for_log("marks not echoed")) << server.log_tail();
}

TEST(Hostile, CallSidsMustHaveTwiliosShape) {
  ServerProcess server({});
  const std::string base = server.url() + "/api/v1/elevenlabs-twilio/calls/incoming";
  const net::Headers json_type{{"Content-Type", "application/json"}};
  for (const std::string bad : {R"("../../etc/passwd")", R"("CA1\u0000x")", R"("CA1234567890abcdef")",
                                R"("CA0123456789abcdef0123456789abcdeg")", R"("ca0123456789abcdef0123456789abcdef")"}) {
    auto res = http("POST", base, R"({"call_sid":)" + bad + "}", json_type);
    EXPECT_EQ(res.status, 400) << bad << " -> " << res.body;
    EXPECT_NE(res.body.find("CA followed by 32 hexadecimal digits"), std::string::npos) << res.body;
  }
  auto ok = http("POST", base, R"({"call_sid":"CA0123456789abcdef0123456789ABCDEF"})", json_type);
  EXPECT_EQ(ok.status, 200) << ok.body;
  // A media stream whose start names a path is refused too.
  MediaSocket m(server, "../../etc/passwd");
  EXPECT_TRUE(m.wait_closed(10s));
  EXPECT_EQ(active_calls(server), 0);
}

TEST(Hostile, RelaxedCallSidsAreADocumentedTestSetting) {
  ServerProcess server({"--relaxed-call-sids"});
  const std::string base = server.url() + "/api/v1/elevenlabs-twilio/calls/incoming";
  const net::Headers json_type{{"Content-Type", "application/json"}};
  EXPECT_EQ(http("POST", base, R"({"call_sid":"CA1234567890abcdef"})", json_type).status, 200);
  // Still no paths, controls or overlong ids.
  EXPECT_EQ(http("POST", base, R"({"call_sid":"../../etc/passwd"})", json_type).status, 400);
  EXPECT_EQ(http("POST", base, R"({"call_sid":"CA1\u0000x"})", json_type).status, 400);
}

TEST(Hostile, MalformedHttpFramingGetsAStatusBeforeTheClose) {
  ServerProcess server({});
  const std::string big_header = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n";
  EXPECT_EQ(status_of(raw_http(server, big_header)), 431);
  std::string many = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 20000; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  EXPECT_EQ(status_of(raw_http(server, many + "\r\n")), 431);
  const std::string long_url = "GET /" + std::string(100 * 1024, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  const int url_status = status_of(raw_http(server, long_url));
  EXPECT_TRUE(url_status == 414 || url_status == 431) << url_status;
  EXPECT_EQ(status_of(raw_http(server, "POST /twilio-voice HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000000000\r\n\r\n")), 400);
  EXPECT_EQ(status_of(raw_http(server, "POST /twilio-voice HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")), 400);
  EXPECT_EQ(status_of(raw_http(server, "POST /twilio-voice HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")), 400);
  // A load balancer's HEAD /health: the GET answer's status and headers, no body.
  const std::string head = raw_http(server, "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(head), 200) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
  // And the server is fine.
  EXPECT_EQ(http("GET", server.url() + "/health").status, 200);
}

TEST(Hostile, MetricsNeedTheirTokenOnceAnythingIsProtected) {
  {
    ServerProcess open_server({});
    EXPECT_EQ(http("GET", open_server.url() + "/metrics").status, 200);
  }
  {
    ServerProcess keyed({"--api-key", "acme:acme-key-123"});
    auto res = http("GET", keyed.url() + "/metrics");
    EXPECT_EQ(res.status, 401) << res.body;
    EXPECT_NE(res.body.find("--metrics-token"), std::string::npos) << res.body;
    EXPECT_EQ(http("GET", keyed.url() + "/metrics", "", {{"X-API-KEY", "acme-key-123"}}).status, 401);
  }
  {
    ServerProcess tokened({"--api-key", "acme:acme-key-123", "--metrics-token", "scrape-token-456"});
    EXPECT_EQ(http("GET", tokened.url() + "/metrics").status, 401);
    EXPECT_EQ(http("GET", tokened.url() + "/metrics", "", {{"Authorization", "Bearer wrong-token"}}).status, 401);
    auto ok = http("GET", tokened.url() + "/metrics", "", {{"Authorization", "Bearer scrape-token-456"}});
    EXPECT_EQ(ok.status, 200);
    EXPECT_NE(ok.body.find("voxbridge_active_calls"), std::string::npos);
  }
  {
    const auto port_file = std::filesystem::temp_directory_path() / ("vox-metrics-port-" + sim::random_sid("p"));
    ServerProcess split({"--api-key", "acme:acme-key-123", "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
                         port_file.string()});
    int port = 0;
    std::ifstream(port_file) >> port;
    ASSERT_GT(port, 0);
    auto res = http("GET", "http://127.0.0.1:" + std::to_string(port) + "/metrics");
    EXPECT_EQ(res.status, 200);
    EXPECT_NE(res.body.find("voxbridge_active_calls"), std::string::npos);
    // Not on the public port.
    EXPECT_EQ(http("GET", split.url() + "/metrics").status, 404);
    std::filesystem::remove(port_file);
  }
}

TEST(Hostile, ApiKeyRuleIsExplainedInHelpAndAtStart) {
  TempDir dir;
  const std::string log = (dir.path / "help.log").string();
  const pid_t pid = spawn_voxbridge({"serve", "--help"}, {}, dir.path, log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream in(log);
  const std::string help((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(help.find("at least 8 characters"), std::string::npos) << help;

  const std::string start_log = (dir.path / "start.log").string();
  const pid_t bad = spawn_voxbridge({"serve", "--port", "0", "--api-key", "acme:k1"}, {}, dir.path, start_log);
  ::waitpid(bad, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
  std::ifstream sin(start_log);
  const std::string said((std::istreambuf_iterator<char>(sin)), std::istreambuf_iterator<char>());
  EXPECT_NE(said.find("at least 8 characters"), std::string::npos) << said;
  EXPECT_EQ(said.find("k1"), std::string::npos) << "the short key was echoed: " << said;
}

}  // namespace
}  // namespace vox::test

namespace vox::test {
namespace {

TEST(Hostile, RefusedClientSocketsLeaveNoKeyInTheLog) {
  const std::string key = "acme-secret-key-42";
  const std::string wrong = "wrong-key-99999";
  ServerProcess server({"--api-key", "acme:" + key, "--max-client-sockets", "1"});
  const std::string base = "ws://127.0.0.1:" + std::to_string(server.port()) + "/api/v1/webrtc/twilio-elevenlabs-stream/";
  auto refused = [&](const std::string& url) {
    try {
      run_io([&]() { return net::WsClient::connect(url); });
      return std::string("accepted");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
  // Hold the one socket the key may have.
  IoThread io;
  auto held = io.run([&]() { return net::WsClient::connect(base + "peer1/" + key + "/agent1"); });
  EXPECT_NE(refused(base + "peer2/" + key + "/agent1").find("429"), std::string::npos);                  // over the limit
  EXPECT_NE(refused(base + "peer3/" + key + "/agent1?audio_format=flac").find("400"), std::string::npos);  // bad query
  EXPECT_NE(refused(base + "peer4/" + key + "/agent1/extra").find("404"), std::string::npos);            // no such path
  EXPECT_NE(refused(base + "peer5/" + wrong + "/agent1").find("401"), std::string::npos);                // wrong key
  EXPECT_NE(refused("ws://127.0.0.1:" + std::to_string(server.port()) + "/media/" + key).find("404"), std::string::npos);
  EXPECT_EQ(http("GET", server.url() + "/nowhere/" + key).status, 404);
  boost::asio::post(io.context(), [held] { held->abort(); });
  ASSERT_TRUE(server.wait_for_log("refused")) << server.log_tail();
  const std::string log = server.log();
  EXPECT_EQ(log.find(key), std::string::npos) << log;
  EXPECT_EQ(log.find(wrong), std::string::npos) << log;
}

}  // namespace
}  // namespace vox::test
