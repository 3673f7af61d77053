// A call sid belongs to the company that first stored it, for good: after the call has
// ended, after its in-memory record is gone, and after a restart of the server.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "e2e_support.hpp"
#include "media_socket.hpp"
#include "server_process.hpp"
#include "sim/sid.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

const std::string kAcme = "acme-key-1234";
const std::string kGlobex = "globex-key-5678";

std::vector<std::string> args(const std::string& store) {
  return {"--greeting", "", "--store", store, "--api-key", "acme:" + kAcme, "--api-key", "globex:" + kGlobex};
}

net::HttpResponse api(const ServerProcess& s, const std::string& method, const std::string& path, const std::string& key,
                      const std::string& body = {}) {
  return http(method, s.url() + "/api/v1/elevenlabs-twilio" + path, body,
              {{"Content-Type", "application/json"}, {"X-API-KEY", key}});
}

net::HttpResponse register_as(const ServerProcess& s, const std::string& key, const std::string& sid) {
  return api(s, "POST", "/calls/incoming", key, R"({"call_sid":")" + sid + R"("})");
}

void status_callback(const ServerProcess& s, const std::string& sid, const std::string& status) {
  auto res = http("POST", s.url() + "/api/v1/twilio/call-status", "CallSid=" + sid + "&CallStatus=" + status,
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(res.status, 200) << res.body;
}

bool listed(const ServerProcess& s, const std::string& key, const std::string& sid) {
  auto res = api(s, "GET", "/calls?limit=500", key);
  return res.body.find(sid) != std::string::npos;
}

// Checks everything company B may not do with A's call `sid`, and that A still can.
void expect_owned_by_acme(const ServerProcess& s, const std::string& sid) {
  auto taken = register_as(s, kGlobex, sid);
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_NE(taken.body.find("another company"), std::string::npos) << taken.body;
  for (const char* path : {"", "/transcript", "/events", "/latency"})
    EXPECT_EQ(api(s, "GET", "/calls/" + sid + path, kGlobex).status, 404) << path;
  EXPECT_EQ(api(s, "POST", "/calls/" + sid + "/stream", kGlobex, R"({"text":"hi"})").status, 404);
  EXPECT_EQ(api(s, "DELETE", "/calls/" + sid, kGlobex).status, 404);
  EXPECT_FALSE(listed(s, kGlobex, sid));
  auto mine = api(s, "GET", "/calls/" + sid, kAcme);
  EXPECT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(api(s, "GET", "/calls/" + sid + "/transcript", kAcme).status, 200);
  EXPECT_TRUE(listed(s, kAcme, sid));
}

TEST(Ownership, AnEndedCallStaysWithItsCompany) {
  TempDir dir;
  const std::string store = (dir.path / "calls.db").string();
  const std::string sid = sim::random_sid("CA");
  ServerProcess server(args(store));
  ASSERT_EQ(register_as(server, kAcme, sid).status, 200);
  {
    MediaSocket m(server, sid);
    ASSERT_TRUE(wait_active_calls(server, 1, 10s)) << server.log_tail();
    m.stop();
    ASSERT_TRUE(m.wait_closed(10s));
  }
  // Twilio's last callback drops the in-memory record.
  status_callback(server, sid, "completed");
  expect_owned_by_acme(server, sid);
  // Registering it again by its owner is allowed (an update), and keeps it the owner's.
  EXPECT_EQ(register_as(server, kAcme, sid).status, 200);
  expect_owned_by_acme(server, sid);
}

TEST(Ownership, SurvivesARestartOfTheServer) {
  TempDir dir;
  const std::string store = (dir.path / "calls.db").string();
  const std::string ended = sim::random_sid("CA");
  const std::string waiting = sim::random_sid("CA");
  {
    ServerProcess first(args(store));
    ASSERT_EQ(register_as(first, kAcme, ended).status, 200);
    status_callback(first, ended, "completed");
    ASSERT_EQ(register_as(first, kAcme, waiting).status, 200);  // registered, its stream not yet started
  }
  ServerProcess second(args(store));
  expect_owned_by_acme(second, ended);
  expect_owned_by_acme(second, waiting);
}

TEST(Ownership, AStreamCannotHandACallToAnotherCompany) {
  // A <Parameter name="tenant"> on a stream of a call that A owns does not move it to B.
  TempDir dir;
  const std::string store = (dir.path / "calls.db").string();
  const std::string sid = sim::random_sid("CA");
  ServerProcess server(args(store));
  ASSERT_EQ(register_as(server, kAcme, sid).status, 200);
  status_callback(server, sid, "completed");
  {
    MediaSocket m(server, sid, {{"tenant", "globex"}});
    ASSERT_TRUE(server.wait_for_log("call_sid=" + sid)) << server.log_tail();
    m.stop();
    m.wait_closed(10s);
  }
  expect_owned_by_acme(server, sid);
}

}  // namespace
}  // namespace vox::test
