// The history and overview routes the console reads, against the real binary: time and
// text filters (malformed ones refused with what to write), a call's recording served
// when the server records, and the overview counted per company.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "client_ws.hpp"
#include "e2e_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;
using ws::Ws;
namespace json = boost::json;

const std::string kBase = "/api/v1/elevenlabs-twilio";
const std::string kAcme = "acme-key-0000001", kGlobex = "globex-key-000001";

net::HttpResponse get(const ServerProcess& s, const std::string& path, const std::string& key) {
  return http("GET", s.url() + kBase + path, {}, {{"X-API-KEY", key}});
}

// A browser call of `key`'s company that hears `text` spoken into it, then hangs up.
std::string browser_call(const ServerProcess& s, const std::string& key, const std::string& text) {
  Ws phone("ws://127.0.0.1:" + std::to_string(s.port()) + "/phone/ws");
  phone.send(json::object{{"type", "start"}, {"key", key}, {"greeting", ""}});
  auto started = phone.next(ws::type_is("started"), 20s);
  if (!started) return {};
  const std::string sid = ws::str(*started, "call_sid");
  auto said = http("POST", s.url() + kBase + "/calls/" + sid + "/stream", json::serialize(json::object{{"text", text}}),
                   {{"Content-Type", "application/json"}, {"X-API-KEY", key}});
  EXPECT_EQ(said.status, 200) << said.body;
  // Each mark echoed as if played, so the reply finishes.
  auto finished = [&](const json::object& o) { return ws::str(o, "kind") == "reply_finished"; };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!phone.find(finished, 0s) && std::chrono::steady_clock::now() < deadline) {
    auto mark = phone.next(ws::any_type({"mark"}), 1s);
    if (mark) phone.send(json::object{{"type", "mark"}, {"name", ws::str(*mark, "name")}});
  }
  EXPECT_TRUE(phone.find(finished, 0s)) << phone.dump();
  phone.send(json::object{{"type", "hangup"}});
  EXPECT_TRUE(phone.wait_closed(10s));
  return sid;
}

TEST(ConsoleHistory, FiltersRecordingsAndTheOverviewPerCompany) {
  TempDir dir;
  const std::string recordings = (dir.path / "rec").string();
  ServerProcess server({"--agent", "echo", "--tts-voice", kVoice, "--recording-dir", recordings},
                       {"VOX_API_KEYS=acme:" + kAcme + ",globex:" + kGlobex});
  const std::string ours = browser_call(server, kAcme, "Your table is booked for eight.");
  const std::string theirs = browser_call(server, kGlobex, "Your parcel is on its way.");
  ASSERT_FALSE(ours.empty());
  ASSERT_FALSE(theirs.empty());

  // Text and time filters.
  auto found = get(server, "/calls?q=TABLE%20is%20booked", kAcme);
  ASSERT_EQ(found.status, 200) << found.body;
  auto calls = json::parse(found.body).at("calls").as_array();
  ASSERT_EQ(calls.size(), 1u) << found.body;
  EXPECT_EQ(calls[0].at("call_sid").as_string(), ours);
  EXPECT_EQ(calls[0].at("direction").as_string(), "browser");
  EXPECT_TRUE(json::parse(get(server, "/calls?q=parcel", kAcme).body).at("calls").as_array().empty());  // globex's words
  EXPECT_EQ(json::parse(get(server, "/calls?q=parcel", kGlobex).body).at("calls").as_array().size(), 1u);
  EXPECT_TRUE(json::parse(get(server, "/calls?until=2000-01-01", kAcme).body).at("calls").as_array().empty());
  EXPECT_EQ(json::parse(get(server, "/calls?since=2000-01-01T00:00:00Z", kAcme).body).at("calls").as_array().size(), 1u);
  auto bad = get(server, "/calls?since=yesterday", kAcme);
  EXPECT_EQ(bad.status, 422);
  EXPECT_NE(bad.body.find("ISO-8601"), std::string::npos) << bad.body;
  EXPECT_EQ(get(server, "/calls?q=" + std::string(201, 'x'), kAcme).status, 422);

  // The recording: written when the call ended (on a worker), then served as WAV.
  net::HttpResponse rec;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {  // polled until it is there
    rec = get(server, "/calls/" + ours + "/recording", kAcme);
    if (rec.status == 200 || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(rec.status, 200) << rec.body;
  EXPECT_EQ(rec.body.substr(0, 4), "RIFF");
  EXPECT_GT(rec.body.size(), 8000u);  // more than a second of stereo audio
  EXPECT_EQ(get(server, "/calls/" + ours + "/recording", kGlobex).status, 404);  // not theirs

  // The overview, per company.
  auto ov = get(server, "/overview", kAcme);
  ASSERT_EQ(ov.status, 200) << ov.body;
  auto o = json::parse(ov.body).as_object();
  EXPECT_EQ(o.at("calls").as_int64(), 1);
  EXPECT_EQ(o.at("active_calls").as_int64(), 0);
  EXPECT_EQ(o.at("turns_per_minute").as_array().size(), 60u);
  EXPECT_EQ(get(server, "/overview", "wrong-key-0000000").status, 401);
}

TEST(ConsoleHistory, WithoutRecordingTheRecordingIsNotFoundAndSaysWhy) {
  ServerProcess server({"--agent", "echo", "--tts-voice", kVoice});
  const std::string sid = browser_call(server, "", "Hello.");
  ASSERT_FALSE(sid.empty());
  auto rec = http("GET", server.url() + kBase + "/calls/" + sid + "/recording");
  EXPECT_EQ(rec.status, 404);
  EXPECT_NE(rec.body.find("--recording-dir"), std::string::npos) << rec.body;
}

}  // namespace
}  // namespace vox::test
