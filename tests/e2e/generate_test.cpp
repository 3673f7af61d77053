// The turn API (GET /generate) end to end with real binaries: gateway A places calls
// through the Twilio emulator to a number served by gateway B (the echo agent), and a
// test drives A turn by turn over /generate: B's greeting with first=true, our input
// played into the call and B's echo as the answer, the hang-up, several calls at once,
// silence (204), one waiter per call (409), the talk timeout, a shutdown while a turn
// waits, and every error answer (400, 403, 404, 503).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sim/caller.hpp"
#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kKey = "k1";
// The number gateway B answers at the emulator.
const std::string kNumberB = "+15550009999";

// One /generate request as the test saw it.
struct TurnResult {
  int status = 0;      // -1: the request itself failed (see `error`)
  json::object body;   // the JSON answer ({} for 204 or a body that is not a JSON object)
  std::string raw;     // the body as received
  std::string error;   // transport failure
  std::chrono::milliseconds took{0};

  std::string str(std::string_view key) const {
    const auto* v = body.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }
  // The number at `key`, or -1 when absent.
  double num(std::string_view key) const {
    const auto* v = body.if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : -1.0;
  }
  bool flag(std::string_view key) const {
    const auto* v = body.if_contains(key);
    return v && v->is_bool() && v->as_bool();
  }
  bool has(std::string_view key) const { return body.contains(key); }
};

std::string describe(const TurnResult& r) {
  std::string s = "status=" + std::to_string(r.status) + " took_ms=" + std::to_string(r.took.count()) + " body=" + r.raw;
  if (!r.error.empty()) s += " error=" + r.error;
  return s + "\n";
}

// GET /generate?`query` on `server` with X-API-KEY `key` ("" = no header). The client
// waits up to 120 s for the answer (a turn may wait 30 s and more by design).
TurnResult generate(const ServerProcess& server, const std::string& query, const std::string& key = kKey) {
  net::Headers headers;
  if (!key.empty()) headers.emplace_back("X-API-KEY", key);
  const std::string url = server.url() + "/generate?" + query;
  TurnResult r;
  const auto started = Clock::now();
  try {
    const auto res = run_io([&]() { return net::http_request("GET", url, headers, "", std::chrono::seconds(120)); });
    r.status = res.status;
    r.raw = res.body;
    boost::system::error_code ec;
    auto v = json::parse(res.body, ec);
    if (!ec && v.is_object()) r.body = v.as_object();
  } catch (const std::exception& e) {
    r.status = -1;
    r.error = e.what();
  }
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return r;
}

// The query for call `sid` with the required client parameter, then `rest` ("&...").
std::string query(const std::string& sid, const std::string& rest = "") {
  return "client=t&sid=" + twilio::form_encode(sid) + rest;
}

std::string input(const std::string& text) { return "&input=" + twilio::form_encode(text); }

// The emulator, gateway B answering kNumberB (the echo agent; `b_greeting` first, ""
// for none), and gateway A, the turn-driven side: it says nothing by itself, speaks
// what /generate gives it and recognises what B says. Destroyed A first, then B, then
// the emulator.
struct Network {
  std::unique_ptr<ServerProcess> emulator;
  std::unique_ptr<ServerProcess> b;
  std::unique_ptr<ServerProcess> a;
};

Network network(const std::string& b_greeting) {
  Network n;
  n.emulator = twilio_emulator({});
  n.b = gateway(*n.emulator, {}, caller_phrases(), b_greeting);
  const auto reg = http("POST", n.emulator->url() + "/emulator/numbers",
                        R"({"number":")" + kNumberB + R"(","voice_url":")" + n.b->url() + R"(/twilio-voice"})");
  EXPECT_EQ(reg.status, 201) << reg.body;
  n.a = gateway(*n.emulator, {"--agent", "external", "--generate-api-key", kKey}, heard_phrases(), "");
  return n;
}

TEST(Generate, TurnsFollowTheConversationAndReportTheHangUp) {
  auto phone = network(kGreeting);
  const auto sid = place_call(*phone.emulator, *phone.a, kNumberB);

  // first=true: B speaks first, and its greeting is the answer (the request may come
  // before the call reaches A; it waits for it).
  const auto greeting = generate(*phone.a, query(sid, "&first=true&timeout=30"));
  ASSERT_EQ(greeting.status, 200) << describe(greeting) << phone.a->log_tail();
  EXPECT_EQ(greeting.str("response"), normalized(kGreeting)) << describe(greeting);
  EXPECT_GE(greeting.num("latency_ms"), 0) << describe(greeting);
  EXPECT_GE(greeting.num("wait_ms"), 0) << describe(greeting);
  EXPECT_FALSE(greeting.has("playback_ms")) << describe(greeting);  // we played nothing
  EXPECT_FALSE(greeting.has("ended")) << describe(greeting);
  EXPECT_FALSE(greeting.has("skipped")) << describe(greeting);

  // Our input is played into the call; B hears it and echoes it; the echo is the answer.
  for (const std::string phrase : {"good morning", "what time is it"}) {
    const auto t = generate(*phone.a, query(sid, input(phrase) + "&timeout=30"));
    ASSERT_EQ(t.status, 200) << phrase << ": " << describe(t) << phone.a->log_tail();
    EXPECT_EQ(t.str("response"), "you said " + phrase) << describe(t);
    const double playback = t.num("playback_ms"), latency = t.num("latency_ms"), wait = t.num("wait_ms");
    // Playing the phrase on the line takes well over 300 ms of real time.
    EXPECT_GT(playback, 300) << describe(t);
    // B starts its echo only after it has heard our input end (its endpointing silence,
    // recognition, synthesis), so the latency, counted from the end of our playback, is positive.
    EXPECT_GT(latency, 0) << describe(t);
    // Playback, then the latency, then the echo itself, all within the request.
    EXPECT_LE(playback + latency, wait + 2) << describe(t);
    EXPECT_LE(wait, static_cast<double>(t.took.count()) + 2) << describe(t);
    EXPECT_FALSE(t.has("skipped")) << describe(t);
    EXPECT_FALSE(t.has("ended")) << describe(t);
  }
  EXPECT_TRUE(phone.a->wait_for_log("turn API: call_sid=" + sid + " heard=\"you said what time is it\"")) << phone.a->log_tail();

  // The other side hangs up: the next turn reports the end of the call.
  hang_up_at_twilio(*phone.emulator, sid);
  const auto ended = generate(*phone.a, query(sid, "&timeout=30"));
  ASSERT_EQ(ended.status, 200) << describe(ended) << phone.a->log_tail();
  EXPECT_TRUE(ended.flag("ended")) << describe(ended);
  EXPECT_EQ(ended.str("reason"), "hung_up") << describe(ended);
  EXPECT_EQ(ended.str("response").rfind("call ended", 0), 0u) << describe(ended);
  EXPECT_TRUE(ended.has("detail")) << describe(ended);
  EXPECT_LT(ended.took, 25s) << describe(ended);

  // It stays ended: a later turn, even one with input, gets the same answer at once.
  const auto again = generate(*phone.a, query(sid, input("hello there") + "&timeout=30"));
  ASSERT_EQ(again.status, 200) << describe(again);
  EXPECT_TRUE(again.flag("ended")) << describe(again);
  EXPECT_EQ(again.str("reason"), "hung_up") << describe(again);
  EXPECT_LT(again.took, 10s) << describe(again);
}

// first=true tells a caller waiting for a greeting to go first (here it would wait ten
// minutes), so the first turn's latency is the caller's, not a greeting timeout's.
TEST(Generate, FirstTrueInvitesTheCallerToSpeakFirst) {
  ServerProcess a({"--stt-mode", "grammar", "--stt-grammar", grammar_file("vox-e2e-generate-invite.txt", caller_phrases()),
                   "--tts-voice", kVoice, "--greeting", "", "--agent", "external", "--generate-api-key", kKey});
  const std::string sid = "CA00000000000000000000000000000019";
  sim::CallerOptions o;
  o.server_url = a.url();
  o.call_sid = sid;
  o.lines = {"good morning"};
  o.voice = kVoice;
  o.greeting_wait_ms = 600000;
  o.max_call_ms = 90000;
  auto caller = std::async(std::launch::async, [&o] {
    auto r = sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 1);
    sim::transcribe(r, Engines::get().stt);
    return r.at(0);
  });
  const auto first = generate(a, query(sid, "&first=true&timeout=60"));
  ASSERT_EQ(first.status, 200) << describe(first) << a.log_tail();
  EXPECT_EQ(first.str("response"), "good morning") << describe(first);
  const auto reply = generate(a, query(sid, input("you said good morning") + "&timeout=10"));
  EXPECT_EQ(reply.status, 200) << describe(reply);  // (the caller hangs up after hearing it)
  const auto r = caller.get();
  ASSERT_TRUE(r.ok) << r.error << a.log_tail();
  ASSERT_EQ(r.heard.size(), 1u);
  EXPECT_EQ(r.heard[0].transcript, "you said good morning");
}

TEST(Generate, ConcurrentCallsEachGetTheirOwnAnswers) {
  auto phone = network(kGreeting);
  const std::vector<std::string> phrases = {"good morning", "what time is it"};
  std::vector<std::string> sids;
  for (std::size_t i = 0; i < phrases.size(); ++i) sids.push_back(place_call(*phone.emulator, *phone.a, kNumberB));
  ASSERT_NE(sids[0], sids[1]);

  // Each call driven from its own thread, at the same time: greeting, then its own phrase.
  auto drive = [&](std::size_t i) {
    std::vector<TurnResult> out;
    out.push_back(generate(*phone.a, query(sids[i], "&first=true&timeout=30")));
    out.push_back(generate(*phone.a, query(sids[i], input(phrases[i]) + "&timeout=30")));
    return out;
  };
  auto first = std::async(std::launch::async, drive, std::size_t{0});
  auto second = std::async(std::launch::async, drive, std::size_t{1});
  const std::vector<std::vector<TurnResult>> results = {first.get(), second.get()};

  for (std::size_t i = 0; i < results.size(); ++i) {
    SCOPED_TRACE("call " + sids[i]);
    const auto& greeting = results[i][0];
    const auto& echo = results[i][1];
    ASSERT_EQ(greeting.status, 200) << describe(greeting) << phone.a->log_tail();
    EXPECT_EQ(greeting.str("response"), normalized(kGreeting)) << describe(greeting);
    ASSERT_EQ(echo.status, 200) << describe(echo) << phone.a->log_tail();
    // Its own echo, not the other call's.
    EXPECT_EQ(echo.str("response"), "you said " + phrases[i]) << describe(echo);
    EXPECT_GT(echo.num("playback_ms"), 0) << describe(echo);
    EXPECT_FALSE(echo.has("skipped")) << describe(echo);
  }
}

TEST(Generate, SilenceOneWaiterPerCallAndTheTalkTimeout) {
  auto phone = network("");  // B says nothing until spoken to
  const auto sid = place_call(*phone.emulator, *phone.a, kNumberB);
  ASSERT_TRUE(phone.a->wait_for_log("call started call_sid=" + sid, 30s)) << phone.a->log_tail();

  // Nothing said within the timeout: 204, after about the timeout.
  const auto quiet_first = generate(*phone.a, query(sid, "&first=true&timeout=0.5"));
  EXPECT_EQ(quiet_first.status, 204) << describe(quiet_first);
  const auto quiet = generate(*phone.a, query(sid, "&timeout=0.5"));
  EXPECT_EQ(quiet.status, 204) << describe(quiet);
  EXPECT_TRUE(quiet.raw.empty()) << describe(quiet);
  EXPECT_GE(quiet.took, 400ms) << describe(quiet);
  EXPECT_LT(quiet.took, 10s) << describe(quiet);

  // Two turns at once on the same call: one waits out its timeout (204), the other is
  // refused at once (409).
  auto other = std::async(std::launch::async, [&] { return generate(*phone.a, query(sid, "&timeout=3")); });
  const auto mine = generate(*phone.a, query(sid, "&timeout=3"));
  const auto theirs = other.get();
  std::vector<int> statuses = {mine.status, theirs.status};
  std::sort(statuses.begin(), statuses.end());
  ASSERT_EQ(statuses, (std::vector<int>{204, 409})) << describe(mine) << describe(theirs);
  const auto& refused = mine.status == 409 ? mine : theirs;
  const auto& waited = mine.status == 409 ? theirs : mine;
  EXPECT_FALSE(refused.str("detail").empty()) << describe(refused);
  EXPECT_GE(waited.took, 2500ms) << describe(waited);
  EXPECT_LT(refused.took, waited.took) << describe(refused) << describe(waited);

  // Both are done: the call takes a turn again.
  const auto free_again = generate(*phone.a, query(sid, "&timeout=0.2"));
  EXPECT_EQ(free_again.status, 204) << describe(free_again);

  // talk_timeout: nobody speaks for 1 s, so the call is ended, and the waiting turn
  // says so long before its own timeout.
  const auto ended = generate(*phone.a, query(sid, "&talk_timeout=1&timeout=20"));
  ASSERT_EQ(ended.status, 200) << describe(ended) << phone.a->log_tail();
  EXPECT_TRUE(ended.flag("ended")) << describe(ended);
  EXPECT_EQ(ended.str("reason"), "talk_timeout") << describe(ended);
  EXPECT_EQ(ended.str("response").rfind("call ended", 0), 0u) << describe(ended);
  EXPECT_GE(ended.took, 900ms) << describe(ended);
  EXPECT_LT(ended.took, 15s) << describe(ended);
  EXPECT_TRUE(phone.a->wait_for_log("talk timeout call_sid=" + sid)) << phone.a->log_tail();

  // The end is kept for later turns.
  const auto after = generate(*phone.a, query(sid, "&timeout=5"));
  ASSERT_EQ(after.status, 200) << describe(after);
  EXPECT_TRUE(after.flag("ended")) << describe(after);
  EXPECT_EQ(after.str("reason"), "talk_timeout") << describe(after);
}

TEST(Generate, ShutdownAnswersAWaitingTurn) {
  auto phone = network("");
  const auto sid = place_call(*phone.emulator, *phone.a, kNumberB);
  ASSERT_TRUE(phone.a->wait_for_log("call started call_sid=" + sid, 30s)) << phone.a->log_tail();
  // The call is followed by the turn API (and nobody has spoken).
  const auto here = generate(*phone.a, query(sid, "&first=true&timeout=0.5"));
  ASSERT_EQ(here.status, 204) << describe(here);

  auto waiting = std::async(std::launch::async, [&] {
    return generate(*phone.a, query(sid, input("good morning") + "&timeout=30"));
  });
  // Once our input plays, the request is waiting inside the server (for the playback,
  // then for B's answer).
  ASSERT_TRUE(phone.a->wait_for_log("turn API: playing input call_sid=" + sid, 30s)) << phone.a->log_tail();
  const auto code = phone.a->signal_and_wait(SIGTERM, 20s);
  ASSERT_TRUE(code.has_value()) << phone.a->log_tail();
  EXPECT_EQ(*code, 0) << phone.a->log_tail();

  const auto r = waiting.get();
  ASSERT_EQ(r.status, 200) << describe(r) << phone.a->log_tail();
  EXPECT_TRUE(r.flag("ended")) << describe(r);
  EXPECT_EQ(r.str("reason"), "shutdown") << describe(r);
  EXPECT_EQ(r.str("response").rfind("call ended", 0), 0u) << describe(r);
  EXPECT_LT(r.took, 25s) << describe(r);
}

TEST(Generate, ErrorsForKeysParametersAndUnknownCalls) {
  auto emulator = twilio_emulator({});
  auto a = gateway(*emulator, {"--generate-api-key", kKey}, caller_phrases(), "");
  auto keyless = gateway(*emulator, {}, caller_phrases(), "");
  // No call has this sid.
  const std::string unknown = "CA00000000000000000000000000000001";

  // 503: no key configured on the server, whatever the request carries.
  for (const std::string& key : {kKey, std::string()}) {
    const auto r = generate(*keyless, query(unknown), key);
    EXPECT_EQ(r.status, 503) << describe(r);
    EXPECT_NE(r.str("detail").find("API_KEY"), std::string::npos) << describe(r);
  }

  // 403: a missing or wrong key, checked before the parameters.
  for (const std::string& key : {std::string(), std::string("k2"), std::string("k1x"), std::string("K1")}) {
    const auto r = generate(*a, query(unknown), key);
    EXPECT_EQ(r.status, 403) << "key '" << key << "': " << describe(r);
    EXPECT_NE(r.str("detail").find("X-API-KEY"), std::string::npos) << describe(r);
  }
  EXPECT_EQ(generate(*a, "first=maybe", "wrong").status, 403);

  // 400: each bad parameter, named in the detail.
  struct Bad {
    std::string query;
    std::string names;
  };
  const std::vector<Bad> bad = {
      {"sid=" + unknown, "client"},
      {"client=t", "sid"},
      {"client=t&sid=", "sid"},
      {"client=t&sid=" + std::string(65, 'C'), "sid"},
      {"client=t&client=u&sid=" + unknown, "client"},
      {query(unknown, "&sid=" + unknown), "sid"},
      {query(unknown, "&first=maybe"), "first"},
      {query(unknown, "&first="), "first"},
      {query(unknown, "&first=true&first=false"), "first"},
      {query(unknown, "&timeout=soon"), "timeout"},
      {query(unknown, "&timeout="), "timeout"},
      {query(unknown, "&timeout=-1"), "timeout"},
      {query(unknown, "&timeout=600.5"), "timeout"},
      {query(unknown, "&timeout=nan"), "timeout"},
      {query(unknown, "&timeout=inf"), "timeout"},
      {query(unknown, "&timeout=2s"), "timeout"},
      {query(unknown, "&timeout=1&timeout=2"), "timeout"},
      {query(unknown, "&talk_timeout=x"), "talk_timeout"},
      {query(unknown, "&talk_timeout=-5"), "talk_timeout"},
      {query(unknown, "&first=true" + input("good morning")), "input"},
      {query(unknown, input("good morning") + input("hello there")), "input"},
  };
  for (const auto& b : bad) {
    const auto r = generate(*a, b.query);
    EXPECT_EQ(r.status, 400) << b.query << ": " << describe(r);
    EXPECT_NE(r.str("detail").find(b.names), std::string::npos) << b.query << ": " << describe(r);
  }
  // Input that cannot be spoken: only blanks, or over the text limit (5000 characters).
  // (The detail of these names the field 'text', not 'input'; see the report.)
  for (const std::string& text : {std::string("   "), std::string(5001, 'a')}) {
    const auto r = generate(*a, query(unknown, input(text)));
    EXPECT_EQ(r.status, 400) << describe(r);
  }

  // 404: an unknown call, at once (not after the timeout); boundary timeouts are valid.
  for (const std::string t : {"30", "0", "600", "1e1"}) {
    const auto r = generate(*a, query(unknown, "&timeout=" + t));
    EXPECT_EQ(r.status, 404) << "timeout=" << t << ": " << describe(r);
    EXPECT_NE(r.str("detail").find(unknown), std::string::npos) << describe(r);
    EXPECT_LT(r.took, 5s) << describe(r);
  }
  // first=true waits for the call to arrive, up to the timeout, then 404...
  const std::string never = "CA00000000000000000000000000000002";
  const auto waited = generate(*a, query(never, "&first=true&timeout=0.5"));
  EXPECT_EQ(waited.status, 404) << describe(waited);
  EXPECT_NE(waited.str("detail").find(never), std::string::npos) << describe(waited);
  EXPECT_GE(waited.took, 400ms) << describe(waited);
  EXPECT_LT(waited.took, 10s) << describe(waited);
  // ... and forgets it: without first it is unknown at once.
  const auto forgotten = generate(*a, query(never, "&timeout=30"));
  EXPECT_EQ(forgotten.status, 404) << describe(forgotten);
  EXPECT_LT(forgotten.took, 5s) << describe(forgotten);

  // 409: two waiters for the same expected call; one is refused at once.
  const std::string expected = "CA00000000000000000000000000000003";
  auto other = std::async(std::launch::async, [&] { return generate(*a, query(expected, "&first=true&timeout=2")); });
  const auto mine = generate(*a, query(expected, "&first=true&timeout=2"));
  const auto theirs = other.get();
  std::vector<int> statuses = {mine.status, theirs.status};
  std::sort(statuses.begin(), statuses.end());
  EXPECT_EQ(statuses, (std::vector<int>{404, 409})) << describe(mine) << describe(theirs);

  // The key may come from the environment (API_KEY) instead of --generate-api-key.
  ServerProcess by_env({"--stt-mode", "grammar", "--stt-grammar", grammar_file("vox-e2e-generate-env.txt", caller_phrases()),
                        "--tts-voice", kVoice, "--greeting", ""},
                       {"API_KEY=env-key", "TWILIO_ACCOUNT_SID=" + kAccount, "TWILIO_AUTH_TOKEN=" + kToken,
                        "TWILIO_BASE_URL=" + emulator->url()});
  EXPECT_TRUE(by_env.wait_for_log("turn API: GET /generate enabled")) << by_env.log_tail();
  EXPECT_EQ(generate(by_env, query(unknown), "env-key").status, 404);
  EXPECT_EQ(generate(by_env, query(unknown), kKey).status, 403);
  EXPECT_EQ(keyless->log().find("turn API: GET /generate enabled"), std::string::npos);
}

}  // namespace
}  // namespace vox::test
