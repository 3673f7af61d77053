// Several voxbridge instances acting as one, with the real engines: redis-server for
// ownership and routing, PostgreSQL as the shared call store, HAProxy round-robin in
// front. A call's media stream runs on instance A while its control actions, turns and
// reads go through instance B (or the load balancer, which alternates A and B).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "support/pg_server.hpp"
#include "support/services.hpp"
#include "client_ws.hpp"
#include "twilio/signature.hpp"
#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kAcmeKey = "acme-key-000001";
const std::string kGlobexKey = "globex-key-0001";
const std::string kTurnKey = "turn-key-000001";
const std::string kApi = "/api/v1/elevenlabs-twilio";

net::HttpResponse api(const std::string& method, const std::string& url, const std::string& body = {},
                      const std::string& key = kAcmeKey) {
  net::Headers h = {{"Content-Type", "application/json"}};
  if (!key.empty()) h.emplace_back("X-API-KEY", key);
  return run_io([&]() { return net::http_request(method, url, h, body, std::chrono::seconds(60)); });
}

json::object body_of(const net::HttpResponse& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

std::string str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

net::HttpResponse turn(const std::string& base, const std::string& sid, const std::string& rest = "&timeout=20") {
  const std::string url = base + "/generate?client=t&sid=" + sid + rest;
  return run_io([&]() {
    return net::http_request("GET", url, net::Headers{{"X-API-KEY", kTurnKey}}, "", std::chrono::seconds(120));
  });
}

// Whether the call's transcript (read through `base`) has the agent saying `text` to its end.
bool played(const std::string& base, const std::string& sid, const std::string& text) {
  const auto t = body_of(api("GET", base + kApi + "/calls/" + sid + "/transcript"));
  const auto* turns = t.if_contains("turns");
  if (!turns || !turns->is_array()) return false;
  for (const auto& v : turns->as_array()) {
    const auto& o = v.as_object();
    if (o.at("speaker").as_string() == "agent" && normalized(std::string(o.at("text").as_string())) == text &&
        o.at("end_ms").to_number<double>() >= 0 && !o.at("interrupted").as_bool())
      return true;
  }
  return false;
}

// The client socket of call `sid` on `server`, as company acme.
std::string client_url(const ServerProcess& server, const std::string& sid) {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + "/api/v1/webrtc/twilio-elevenlabs-stream/twilio_" + sid +
         "_t/" + kAcmeKey + "/agent1";
}

// Redis, PostgreSQL, the Twilio emulator (a callee that says two lines, then stays on the
// line), instances A and B sharing Redis and one database, and HAProxy over both.
struct Cluster {
  explicit Cluster(std::vector<std::string> extra = {}, std::vector<std::string> callee = {"hello there", "good morning"},
                   std::vector<std::string> emulator_extra = {}) {
    database = pg.create_database("voxbridge");
    emulator_extra.insert(emulator_extra.end(), {"--callee-idle-ms", "60000"});
    emulator = twilio_emulator(callee, emulator_extra);
    a = instance("a", extra);
    b = instance("b", extra);
    lb = std::make_unique<Haproxy>(std::vector<std::string>{"127.0.0.1:" + std::to_string(a->port()),
                                                            "127.0.0.1:" + std::to_string(b->port())});
  }
  std::unique_ptr<ServerProcess> instance(const std::string& id, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--redis-url", redis.url(), "--instance-id", id, "--cluster-heartbeat-ms", "200",
                                     "--cluster-ttl-ms", "1500", "--store", database, "--api-key",
                                     "acme:" + kAcmeKey + ",globex:" + kGlobexKey, "--generate-api-key", kTurnKey,
                                     "--relaxed-call-sids"};
    args.insert(args.end(), extra.begin(), extra.end());
    return gateway(*emulator, args);
  }
  // Places a call through A's control API: Twilio's webhook and media stream reach A.
  std::string place_on_a() {
    auto placed = api("POST", a->url() + kApi + "/calls", R"({"to_number":"+15550002222","from_number":"+15550001111"})");
    EXPECT_EQ(placed.status, 200) << placed.body;
    return str(body_of(placed), "call_sid");
  }
  // The same, once the call is live on A and its callee has said its lines.
  std::string call_on_a() {
    const auto sid = place_on_a();
    if (!wait_active_calls(*a, 1, 30s)) {
      ADD_FAILURE() << "the call did not start on A\n" << a->log_tail();
      return {};
    }
    // The callee says its two lines and the agent echoes them; then the line is quiet
    // (speech sent now is not cut by a barge-in, and the caller hears it alone).
    if (!eventually([&] { return played(a->url(), sid, "you said good morning"); }, 40s)) {
      ADD_FAILURE() << "the callee's turns did not finish\n" << api("GET", a->url() + kApi + "/calls/" + sid + "/transcript").body;
      return {};
    }
    return sid;
  }

  PgServer pg;
  RedisServer redis;
  std::string database;
  std::unique_ptr<ServerProcess> emulator, a, b;
  std::unique_ptr<Haproxy> lb;
};

TEST(Cluster, ActionsThroughAnyInstanceReachTheInstanceThatHoldsTheCall) {
  Cluster c;
  const auto sid = c.call_on_a();
  ASSERT_FALSE(sid.empty());
  EXPECT_EQ(active_calls(*c.b), 0);

  // Live info through B is A's: the call is in progress there.
  auto info = api("GET", c.b->url() + kApi + "/calls/" + sid);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(str(body_of(info), "status"), "in-progress");
  EXPECT_EQ(str(body_of(info), "call_sid"), sid);
  // Another company cannot see it through B either.
  EXPECT_EQ(api("GET", c.b->url() + kApi + "/calls/" + sid, {}, kGlobexKey).status, 404);
  // Through the load balancer (A, then B, then A...) every read answers the same.
  for (int i = 0; i < 4; ++i) {
    auto via_lb = api("GET", c.lb->url() + kApi + "/calls/" + sid);
    ASSERT_EQ(via_lb.status, 200) << via_lb.body << c.lb->log_tail();
    EXPECT_EQ(str(body_of(via_lb), "status"), "in-progress");
  }

  // What only instances send each other is stripped or refused at the load balancer: a
  // forged forwarding mark still gets forwarded (twice: one of them lands on B), and a
  // socket claim from outside is not found.
  for (int i = 0; i < 2; ++i) {
    net::Headers forged = {{"Content-Type", "application/json"}, {"X-API-KEY", kAcmeKey}, {"X-Voxbridge-Forwarded", "x"}};
    auto r = http("POST", c.lb->url() + kApi + "/calls/" + sid + "/stop", "", forged);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(http("POST", c.lb->url() + "/cluster/v1/claim", R"({"token":"t","call_sid":"x"})").status, 404);

  // B's client sees A's transcripts: the callee's words, through a turn relayed to A.
  auto heard = turn(c.b->url(), sid);
  ASSERT_EQ(heard.status, 200) << heard.body << c.b->log_tail();
  const auto said = normalized(str(body_of(heard), "response"));
  EXPECT_TRUE(said.find("hello there") != std::string::npos || said.find("good morning") != std::string::npos) << said;

  // What is sent through B is spoken on A, and the caller hears it.
  auto spoken = api("POST", c.b->url() + kApi + "/calls/" + sid + "/stream", R"({"text":"you said open the door"})");
  ASSERT_EQ(spoken.status, 200) << spoken.body;
  EXPECT_TRUE(c.b->wait_for_log("cluster: forwarded POST " + kApi + "/calls/" + sid + "/stream to a -> 200"));
  ASSERT_TRUE(eventually([&] { return played(c.b->url(), sid, "you said open the door"); }, 30s));
  // (The caller's side transcribes what it heard once the call is over.)
  const auto heard_later = [&] { return heard_transcripts(settled_calls(*c.emulator, 1).at(0).as_object()); };

  // Hanging up through B ends the call on A; an unknown call is 404 through either.
  auto ended = api("DELETE", c.b->url() + kApi + "/calls/" + sid);
  EXPECT_EQ(ended.status, 200) << ended.body;
  EXPECT_TRUE(wait_active_calls(*c.a, 0, 30s)) << c.a->log_tail();
  EXPECT_EQ(api("GET", c.b->url() + kApi + "/calls/CAnotacall000").status, 404);
  const auto caller_heard = heard_later();
  EXPECT_NE(std::find(caller_heard.begin(), caller_heard.end(), "you said open the door"), caller_heard.end())
      << json::serialize(json::value_from(caller_heard));
  // The shared store answers the same from both instances once it ended.
  EXPECT_TRUE(eventually([&] { return str(body_of(api("GET", c.b->url() + kApi + "/calls/" + sid)), "status") == "completed"; }, 20s));
  EXPECT_EQ(str(body_of(api("GET", c.a->url() + kApi + "/calls/" + sid)), "status"), "completed");
  auto list_b = body_of(api("GET", c.b->url() + kApi + "/calls"));
  auto list_a = body_of(api("GET", c.a->url() + kApi + "/calls"));
  EXPECT_EQ(json::serialize(list_a.at("calls")), json::serialize(list_b.at("calls")));
}

TEST(Cluster, AKilledInstancesCallsEndWithinTheTtlAsSeenFromAnother) {
  Cluster c;
  const auto sid = c.call_on_a();
  ASSERT_FALSE(sid.empty());
  // A client socket through B, relayed to A.
  ws::Ws client(client_url(*c.b, sid));
  ASSERT_TRUE(client.next(ws::type_is("call_bound"), 20s)) << client.dump() << c.b->log_tail();
  // The callee's lines are taken first; the next turn through B then waits on A.
  ASSERT_EQ(turn(c.b->url(), sid).status, 200);
  auto waiting = std::async(std::launch::async, [&] { return turn(c.b->url(), sid, "&timeout=60"); });
  ASSERT_TRUE(c.a->wait_for_log("/generate", 10s));
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.a->signal_and_wait(SIGKILL, 10s).has_value());

  // The turn waiting through B answers as for an ended call.
  ASSERT_EQ(waiting.wait_for(30s), std::future_status::ready);
  auto answer = waiting.get();
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(str(body_of(answer), "reason"), "instance_lost") << answer.body;
  EXPECT_TRUE(body_of(answer).at("ended").as_bool());
  // The client socket through B is told the call ended, and why.
  auto ended = client.next(ws::type_is("call_ended"), 20s);
  ASSERT_TRUE(ended) << client.dump();
  EXPECT_EQ(ws::str(*ended, "reason"), "instance_lost");
  EXPECT_TRUE(client.wait_closed(10s));

  // B marks the call ended (reason instance_lost) once A's heartbeat has expired.
  ASSERT_TRUE(eventually([&] { return str(body_of(api("GET", c.b->url() + kApi + "/calls/" + sid)), "status") == "completed"; }, 15s))
      << c.b->log_tail();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
  std::cout << "[ cluster ] call of the killed instance ended after " << took.count() << " ms (ttl 1500 ms)\n";
  auto events = api("GET", c.b->url() + kApi + "/calls/" + sid + "/events");
  EXPECT_NE(events.body.find("instance_lost"), std::string::npos) << events.body;
  EXPECT_TRUE(c.b->wait_for_log("instance a stopped heartbeating"));
}

TEST(Cluster, AClientSocketThroughBDrivesTheCallOnA) {
  Cluster c;
  const auto sid = c.place_on_a();
  ASSERT_FALSE(sid.empty());
  // Opened through B before the call has started anywhere: it waits, then follows the
  // call to A when it starts there.
  ws::Ws client(client_url(*c.b, sid));
  auto bound = client.next(ws::type_is("call_bound"), 30s);
  ASSERT_TRUE(bound) << client.dump() << c.b->log_tail();
  EXPECT_EQ(ws::str(*bound, "call_sid"), sid);
  EXPECT_TRUE(c.b->wait_for_log("client socket of " + sid + " relayed to a"));
  // B's client sees A's transcripts (the callee's words) and A's replies.
  for (const std::string line : {"hello there", "good morning"})
    EXPECT_TRUE(client.find([&](const json::object& m) {
      return ws::type_of(m) == "transcript" && normalized(ws::str(m, "text")) == line;
    }, 40s)) << line << "\n" << client.dump();
  ASSERT_TRUE(eventually([&] { return played(c.b->url(), sid, "you said good morning"); }, 30s));
  // What it says is spoken on A, to its end.
  client.say("you said open the door");
  auto finished = client.next(ws::with_text("synthesis_finished", "you said open the door"), 30s);
  ASSERT_TRUE(finished) << client.dump();
  EXPECT_FALSE(ws::flag(*finished, "interrupted"));
  EXPECT_TRUE(played(c.a->url(), sid, "you said open the door"));
  // Its controls reach A too: hang up.
  client.control("hangup");
  EXPECT_TRUE(client.find(ws::response_to("hangup"), 20s)) << client.dump();
  EXPECT_TRUE(wait_active_calls(*c.a, 0, 30s));
  EXPECT_TRUE(client.find(ws::type_is("call_ended"), 20s)) << client.dump();
}

TEST(Cluster, ASocketWaitingOnBForItsAgentTakesTheAgentsNextCallOnA) {
  Cluster c;
  // Waiting through B for agent "concierge"'s next call, wherever it starts.
  ws::Ws client("ws://127.0.0.1:" + std::to_string(c.b->port()) +
                "/api/v1/webrtc/twilio-elevenlabs-stream/desk-1/" + kAcmeKey + "/concierge");
  ASSERT_TRUE(client.next(ws::type_is("connection_established"), 10s)) << client.dump();
  ws::Ws second("ws://127.0.0.1:" + std::to_string(c.b->port()) +
                "/api/v1/webrtc/twilio-elevenlabs-stream/desk-2/" + kAcmeKey + "/concierge");
  ASSERT_TRUE(second.next(ws::type_is("connection_established"), 10s)) << second.dump();
  auto placed = api("POST", c.a->url() + kApi + "/calls",
                    R"({"to_number":"+15550002222","from_number":"+15550001111","metadata":{"agent_id":"concierge"}})");
  ASSERT_EQ(placed.status, 200) << placed.body;
  const auto sid = str(body_of(placed), "call_sid");
  auto bound = client.next(ws::type_is("call_bound"), 30s);
  ASSERT_TRUE(bound) << client.dump() << c.a->log_tail() << c.b->log_tail();
  EXPECT_EQ(ws::str(*bound, "call_sid"), sid);
  EXPECT_EQ(active_calls(*c.a), 1);
  EXPECT_TRUE(c.a->wait_for_log("taken by a client socket on"));
  // It hears the callee through A, and hangs up through A.
  EXPECT_TRUE(client.find([&](const json::object& m) {
    return ws::type_of(m) == "transcript" && normalized(ws::str(m, "text")) == "hello there";
  }, 40s)) << client.dump();
  client.control("hangup");
  EXPECT_TRUE(wait_active_calls(*c.a, 0, 30s));
  EXPECT_TRUE(client.find(ws::type_is("call_ended"), 20s)) << client.dump();
  // The second socket waiting for the same agent got nothing: one call, one socket.
  EXPECT_EQ(second.count(ws::type_is("call_bound")), 0u) << second.dump();
}

TEST(Cluster, TextSentThroughBBeforeTheCallStartsIsSpokenOnA) {
  // A silent callee, and a call that rings for 3 s before its stream starts.
  Cluster c({}, {}, {"--ring-ms", "3000"});
  const auto sid = c.place_on_a();
  ASSERT_FALSE(sid.empty());
  net::HttpResponse queued;
  ASSERT_TRUE(eventually([&] {  // (once A's record of the call has reached the shared store)
    queued = api("POST", c.b->url() + kApi + "/calls/" + sid + "/stream", R"({"text":"you said open the door"})");
    return queued.status == 200;
  }, 10s)) << queued.body;
  EXPECT_TRUE(body_of(queued).at("queued").as_bool()) << queued.body;
  EXPECT_EQ(active_calls(*c.a), 0);
  ASSERT_TRUE(wait_active_calls(*c.a, 1, 30s));
  EXPECT_TRUE(eventually([&] { return played(c.b->url(), sid, "you said open the door"); }, 30s))
      << api("GET", c.b->url() + kApi + "/calls/" + sid + "/transcript").body;
  EXPECT_EQ(api("DELETE", c.b->url() + kApi + "/calls/" + sid).status, 200);
}

// The console through B lists A's call (and names A), watches it and listens in through
// A's own console socket; another company sees none of it on either instance.
TEST(Cluster, TheConsoleThroughBShowsWatchesAndListensToACallOnA) {
  Cluster c;
  const auto sid = c.call_on_a();
  ASSERT_FALSE(sid.empty());
  const std::string console_url = "ws://127.0.0.1:" + std::to_string(c.b->port()) + "/console/ws";
  ws::Ws acme(console_url), globex(console_url);
  acme.send(json::object{{"type", "auth"}, {"key", kAcmeKey}});
  globex.send(json::object{{"type", "auth"}, {"key", kGlobexKey}});
  auto row_of = [&](const json::object& m) -> const json::object* {
    if (ws::type_of(m) != "calls") return nullptr;
    for (const auto& r : m.at("calls").as_array())
      if (str(r.as_object(), "call_sid") == sid) return &r.as_object();
    return nullptr;
  };
  auto table = acme.next([&](const json::object& m) { return row_of(m) != nullptr; }, 20s);
  ASSERT_TRUE(table) << acme.dump() << c.b->log_tail();
  EXPECT_EQ(str(*row_of(*table), "instance"), "a");
  EXPECT_FALSE(table->contains("unreachable_instances"));
  auto other = globex.next(ws::type_is("calls"), 20s);
  ASSERT_TRUE(other) << globex.dump();
  EXPECT_EQ(row_of(*other), nullptr);
  // The same rows over REST, through B.
  const auto listed = body_of(api("GET", c.b->url() + kApi + "/live-calls"));
  ASSERT_TRUE(listed.contains("calls")) << json::serialize(listed);
  ASSERT_EQ(listed.at("calls").as_array().size(), 1u) << json::serialize(listed);
  EXPECT_EQ(str(listed.at("calls").as_array()[0].as_object(), "instance"), "a");
  EXPECT_TRUE(body_of(api("GET", c.b->url() + kApi + "/live-calls", {}, kGlobexKey)).at("calls").as_array().empty());
  // The overview through B counts A's call too.
  auto active = [&](const std::string& key) {
    const auto o = body_of(api("GET", c.b->url() + kApi + "/overview", {}, key));
    return o.contains("active_calls") ? o.at("active_calls").to_number<std::int64_t>() : -1;
  };
  EXPECT_EQ(active(kAcmeKey), 1);
  EXPECT_EQ(active(kGlobexKey), 0);

  globex.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  auto refused = globex.next(ws::any_type({"error", "watching"}), 20s);
  ASSERT_TRUE(refused) << globex.dump();
  EXPECT_EQ(ws::type_of(*refused), "error");

  acme.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  ASSERT_TRUE(acme.next(ws::type_is("watching"), 20s)) << acme.dump() << c.b->log_tail();
  acme.send(json::object{{"type", "listen"}, {"on", true}});
  // Something said through B is an event on A that B's console shows, with its audio.
  ASSERT_TRUE(eventually([&] {
    return api("POST", c.b->url() + kApi + "/calls/" + sid + "/stream", R"({"text":"you said open the door"})").status == 200;
  }, 10s));
  EXPECT_TRUE(acme.find([&](const json::object& m) {
    return ws::type_of(m) == "event" && str(m, "kind") == "reply_started" && normalized(str(m, "text")) == "you said open the door";
  }, 30s)) << acme.dump();
  EXPECT_TRUE(acme.find([](const json::object& m) { return ws::type_of(m) == "<not a JSON object>"; }, 20s))
      << "no listen-in audio through B";
  acme.send(json::object{{"type", "unwatch"}});
  EXPECT_TRUE(acme.next(ws::type_is("unwatched"), 20s)) << acme.dump();
  // Watched again, it is listened to at once: the page had not stopped listening.
  acme.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  ASSERT_TRUE(acme.next(ws::type_is("watching"), 20s)) << acme.dump();
  EXPECT_TRUE(acme.next([](const json::object& m) { return ws::type_of(m) == "<not a JSON object>"; }, 20s))
      << "no listen-in audio after watching again";
}

TEST(Cluster, RedisOutageKeepsCallsGoingAndCrossInstanceActionsAnswer503UntilItReturns) {
  Cluster c;
  const auto sid = c.call_on_a();
  ASSERT_FALSE(sid.empty());
  ASSERT_EQ(api("GET", c.b->url() + kApi + "/calls/" + sid).status, 200);

  c.redis.stop();
  // B cannot tell where the call is: 503 saying Redis is unreachable.
  auto refused = api("POST", c.b->url() + kApi + "/calls/" + sid + "/stream", R"({"text":"you said open the door"})");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(str(body_of(refused), "detail").find("Redis is unreachable"), std::string::npos) << refused.body;
  EXPECT_TRUE(eventually([&] { return http("GET", c.b->url() + "/health/ready").status == 503; }, 10s));
  EXPECT_NE(http("GET", c.b->url() + "/health").body.find("unreachable"), std::string::npos);
  // Every instance is not ready now; the load balancer still passes traffic (its backups).
  EXPECT_TRUE(eventually([&] { return http("GET", c.a->url() + "/health/ready").status == 503; }, 10s));
  EXPECT_EQ(http("GET", c.lb->url() + "/health/live").status, 200) << c.lb->log_tail();
  // The call goes on at A, and A still acts on it.
  EXPECT_EQ(active_calls(*c.a), 1);
  EXPECT_EQ(api("POST", c.a->url() + kApi + "/calls/" + sid + "/stream", R"({"text":"you said turn off the lights"})").status, 200);

  c.redis.start();
  // Both reconnect by themselves; B reaches the call again.
  EXPECT_TRUE(eventually([&] { return http("GET", c.b->url() + "/health/ready").status == 200; }, 20s)) << c.b->log_tail();
  EXPECT_TRUE(eventually([&] {
    return api("POST", c.b->url() + kApi + "/calls/" + sid + "/stream", R"({"text":"you said open the door"})").status == 200;
  }, 20s)) << c.b->log_tail();
  EXPECT_EQ(active_calls(*c.a), 1);
  ASSERT_TRUE(eventually([&] { return played(c.b->url(), sid, "you said open the door"); }, 30s))
      << api("GET", c.b->url() + kApi + "/calls/" + sid + "/transcript").body << c.a->log_tail();
  EXPECT_TRUE(played(c.b->url(), sid, "you said turn off the lights"));
  EXPECT_EQ(api("DELETE", c.b->url() + kApi + "/calls/" + sid).status, 200);
  // The caller heard both: what A said during the outage, and what came through B after it.
  const auto heard = heard_transcripts(settled_calls(*c.emulator, 1).at(0).as_object());
  for (const std::string want : {"you said turn off the lights", "you said open the door"})
    EXPECT_NE(std::find(heard.begin(), heard.end(), want), heard.end()) << want;
}

TEST(Cluster, ACompanysCallAndSocketLimitsHoldAcrossInstances) {
  Cluster c({"--max-calls-per-company", "2", "--max-client-sockets", "2"});
  auto reg = [&](const ServerProcess& s, const std::string& sid, const std::string& key) {
    return api("POST", s.url() + kApi + "/calls/incoming", R"({"call_sid":")" + sid + R"(","agent_id":"x"})", key);
  };
  EXPECT_EQ(reg(*c.a, "CAlimit1", kAcmeKey).status, 200);
  EXPECT_EQ(reg(*c.b, "CAlimit2", kAcmeKey).status, 200);
  // A third call through either instance is over the company's limit...
  auto third = reg(*c.a, "CAlimit3", kAcmeKey);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_NE(str(body_of(third), "detail").find("concurrent calls"), std::string::npos);
  EXPECT_EQ(reg(*c.b, "CAlimit4", kAcmeKey).status, 429);
  {  // ... and so is a browser call.
    ws::Ws phone("ws://127.0.0.1:" + std::to_string(c.b->port()) + "/phone/ws");
    phone.send(json::object{{"type", "start"}, {"key", kAcmeKey}});
    auto refused = phone.next(ws::any_type({"error", "started"}), 10s);
    ASSERT_TRUE(refused) << phone.dump();
    EXPECT_NE(ws::str(*refused, "detail").find("across the cluster"), std::string::npos) << phone.dump();
  }
  // ... registering one again is not a new call; another company has its own limit.
  EXPECT_EQ(reg(*c.b, "CAlimit1", kAcmeKey).status, 200);
  EXPECT_EQ(reg(*c.b, "CAlimit5", kGlobexKey).status, 200);

  // Client sockets: one on each instance, and a third on either is over the limit.
  const auto socket_url = [](const ServerProcess& s, const std::string& key) {
    return "ws://127.0.0.1:" + std::to_string(s.port()) + "/api/v1/webrtc/twilio-elevenlabs-stream/p/" + key + "/agent9";
  };
  ws::Ws one(socket_url(*c.a, kAcmeKey));
  ASSERT_TRUE(one.next(ws::type_is("connection_established"), 10s)) << one.dump();
  ws::Ws two(socket_url(*c.b, kAcmeKey));
  ASSERT_TRUE(two.next(ws::type_is("connection_established"), 10s)) << two.dump();
  ws::Ws three(socket_url(*c.a, kAcmeKey));
  auto refused = three.next(ws::type_is("error"), 10s);
  ASSERT_TRUE(refused) << three.dump();
  EXPECT_NE(ws::str(*refused, "detail").find("across the cluster"), std::string::npos);
  EXPECT_TRUE(three.wait_closed(10s));
  // Another company is not affected; a closed socket frees its place.
  ws::Ws other(socket_url(*c.b, kGlobexKey));
  EXPECT_TRUE(other.next(ws::type_is("connection_established"), 10s)) << other.dump();
  one.close();
  ASSERT_TRUE(one.wait_closed(10s));
  EXPECT_TRUE(eventually([&] {
    ws::Ws again(socket_url(*c.b, kAcmeKey));
    return again.next(ws::type_is("connection_established"), 5s).has_value();
  }, 20s));
}

TEST(Cluster, TwoInstancesMigrateOneFreshDatabaseAtOnce) {
  PgServer pg;
  const auto database = pg.create_database("fresh");
  auto start = [&](const std::string& id) {
    return std::make_unique<ServerProcess>(std::vector<std::string>{"--store", database, "--instance-id", id});
  };
  // Both start at the same moment against the empty database; both come up.
  auto first = std::async(std::launch::async, start, "m1");
  auto second = std::async(std::launch::async, start, "m2");
  std::unique_ptr<ServerProcess> m1, m2;
  ASSERT_NO_THROW(m1 = first.get());
  ASSERT_NO_THROW(m2 = second.get());
  // One schema, applied once: each says so, and a call written by one is read by the other.
  for (const auto* m : {m1.get(), m2.get()})
    EXPECT_NE(m->log().find("call store: postgresql 127.0.0.1:" + std::to_string(pg.port()) + "/fresh, schema"),
              std::string::npos) << m->log_tail();
  auto reg = http("POST", m1->url() + kApi + "/calls/incoming",
                  R"({"call_sid":"CA0123456789abcdef0123456789abcdef","agent_id":"x"})", {{"Content-Type", "application/json"}});
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_TRUE(eventually([&] {
    return http("GET", m2->url() + kApi + "/calls/CA0123456789abcdef0123456789abcdef").status == 200;
  }, 10s));
}

TEST(Cluster, BadClusterSettingsStopTheStartWithWhatToFix) {
  RedisServer redis;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--redis-url", "http://127.0.0.1:6379"}, "redis:// or rediss://"},
      {{"--redis-url", redis.url(), "--advertise-url", "10.0.0.11:8001"}, "--advertise-url 10.0.0.11:8001"},
      {{"--redis-url", redis.url(), "--cluster-heartbeat-ms", "1000", "--cluster-ttl-ms", "1500"},
       "at least twice the heartbeat"},
  };
  for (const auto& [args, says] : cases) {
    try {
      ServerProcess server(args);
      ADD_FAILURE() << "started with " << args.back();
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  }
}

TEST(Cluster, HealthProbesAndDrainOnSigterm) {
  Cluster c({"--drain-timeout", "60"});
  EXPECT_EQ(http("GET", c.a->url() + "/health/live").status, 200);
  EXPECT_EQ(http("GET", c.a->url() + "/health/ready").status, 200);
  const auto sid = c.call_on_a();
  ASSERT_FALSE(sid.empty());
  ::kill(c.a->pid(), SIGTERM);
  // Draining: not ready, new calls refused (Twilio would use the fallback URL), the live
  // call goes on and is still reachable through B.
  EXPECT_TRUE(eventually([&] { return http("GET", c.a->url() + "/health/ready").status == 503; }, 10s));
  const std::string form = "CallSid=CA0123456789abcdef0123456789abcdef&From=%2B15550001111&To=%2B15550002222";
  const std::string signature = twilio::compute_signature(kToken, c.a->url() + "/twilio-voice", net::parse_form(form));
  auto webhook = http("POST", c.a->url() + "/twilio-voice", form,
                      {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Twilio-Signature", signature}});
  EXPECT_EQ(webhook.status, 503) << webhook.body;
  EXPECT_EQ(active_calls(*c.a), 1);
  EXPECT_EQ(api("GET", c.b->url() + kApi + "/calls/" + sid).status, 200);
  // Once the call ends, A exits cleanly.
  EXPECT_EQ(api("DELETE", c.b->url() + kApi + "/calls/" + sid).status, 200);
  const auto code = c.a->signal_and_wait(0, 30s);
  ASSERT_TRUE(code.has_value()) << c.a->log_tail();
  EXPECT_EQ(*code, 0) << c.a->log_tail();
}

}  // namespace
}  // namespace vox::test
