// What the call store keeps when the server stops with calls on the line: every reply
// that had begun (stored when it starts, updated with what was heard when it ends or is
// cut), through a clean SIGTERM and through SIGKILL; calls a killed server left live are
// closed as `server_restart` when it comes back.
#include <gtest/gtest.h>

#include <signal.h>

#include <boost/json.hpp>

#include "e2e_support.hpp"
#include "media_socket.hpp"
#include "server_process.hpp"
#include "sim/sid.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

std::vector<std::string> args(const std::string& store) {
  return {"--greeting", kLongGreeting, "--store", store, "--talk-timeout", "120", "--tts-voice", kVoice};
}

json::object get(const ServerProcess& s, const std::string& path) {
  auto res = http("GET", s.url() + "/api/v1/elevenlabs-twilio" + path);
  EXPECT_EQ(res.status, 200) << path << " -> " << res.body;
  boost::system::error_code ec;
  auto v = json::parse(res.body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object();
}

// A JSON string's text, or "" for anything else.
std::string text(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : std::string(); }

// The stored agent turns of `sid`.
std::vector<json::object> agent_turns(const ServerProcess& s, const std::string& sid) {
  std::vector<json::object> out;
  auto t = get(s, "/calls/" + sid + "/transcript");
  if (const auto* turns = t.if_contains("turns"); turns && turns->is_array())
    for (const auto& turn : turns->as_array())
      if (turn.is_object() && text(turn.as_object().at("speaker")) == "agent") out.push_back(turn.as_object());
  return out;
}

// Starts `n` calls on `server` and waits until each one's greeting is playing.
std::vector<std::unique_ptr<MediaSocket>> calls_hearing_the_greeting(const ServerProcess& server, int n) {
  std::vector<std::unique_ptr<MediaSocket>> calls;
  for (int i = 0; i < n; ++i) calls.push_back(std::make_unique<MediaSocket>(server, sim::random_sid("CA")));
  for (auto& c : calls) EXPECT_TRUE(c->wait_events("media", 1, 20s)) << server.log_tail();
  return calls;
}

TEST(Durability, SigtermStoresTheRepliesThatWerePlaying) {
  TempDir dir;
  const std::string store = (dir.path / "calls.db").string();
  std::vector<std::string> sids;
  {
    ServerProcess first(args(store));
    auto calls = calls_hearing_the_greeting(first, 5);
    for (auto& c : calls) sids.push_back(c->call_sid());
    const auto code = first.signal_and_wait(SIGTERM, 20s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << first.log_tail();
  }
  ServerProcess second(args(store));
  for (const auto& sid : sids) {
    const auto turns = agent_turns(second, sid);
    ASSERT_EQ(turns.size(), 1u) << sid;
    EXPECT_EQ(text(turns[0].at("text")), kLongGreeting);
    EXPECT_TRUE(turns[0].at("interrupted").is_bool() && turns[0].at("interrupted").as_bool()) << json::serialize(turns[0]);  // cut by the shutdown
    EXPECT_TRUE(turns[0].at("heard").is_string()) << json::serialize(turns[0]);
    EXPECT_EQ(text(get(second, "/calls/" + sid).at("status")), "completed");
  }
}

TEST(Durability, SigkillKeepsTheRepliesStoredAsTheyStartedAndTheRestartClosesTheCalls) {
  TempDir dir;
  const std::string store = (dir.path / "calls.db").string();
  std::vector<std::string> sids;
  {
    ServerProcess first(args(store));
    auto calls = calls_hearing_the_greeting(first, 5);
    for (auto& c : calls) sids.push_back(c->call_sid());
    // Each greeting is in the store while it is still playing (a read waits for the
    // writes queued before it, so this does not race the writer thread). SIGKILL comes
    // while every greeting still plays: nothing more is written for any of them.
    for (const auto& sid : sids) {
      const auto playing = agent_turns(first, sid);
      ASSERT_EQ(playing.size(), 1u) << sid;
      EXPECT_TRUE(playing[0].at("heard").is_null()) << json::serialize(playing[0]);  // not finished yet
    }
    const auto code = first.signal_and_wait(SIGKILL, 10s);
    ASSERT_TRUE(code.has_value());
  }
  ServerProcess second(args(store));
  ASSERT_TRUE(second.wait_for_log("server_restart")) << second.log_tail();
  for (const auto& sid : sids) {
    const auto turns = agent_turns(second, sid);
    ASSERT_EQ(turns.size(), 1u) << sid;
    EXPECT_EQ(text(turns[0].at("text")), kLongGreeting);
    const auto call = get(second, "/calls/" + sid);
    EXPECT_EQ(text(call.at("status")), "completed") << json::serialize(call);
    EXPECT_FALSE(call.at("ended_at").is_null()) << json::serialize(call);
    const auto events = get(second, "/calls/" + sid + "/events");
    EXPECT_NE(json::serialize(events).find("server_restart"), std::string::npos) << json::serialize(events);
  }
}

}  // namespace
}  // namespace vox::test
