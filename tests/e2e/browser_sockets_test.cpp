// The softphone's socket (/phone/ws) and the console's (/console/ws) against the real
// binary: a browser call is a call like any other (its own WB sid, direction "browser",
// the control API acts on it), company keys decide who may call and who sees what, and
// bad input of every kind is answered without breaking the call.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <future>

#include "client_ws.hpp"
#include "e2e_support.hpp"
#include "elevenlabs_support.hpp"
#include "server_process.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;
using ws::Ws;
namespace json = boost::json;

const std::string kBase = "/api/v1/elevenlabs-twilio";
const std::string kAcme = "acme-key-0000001", kGlobex = "globex-key-000001";

std::vector<std::string> server_args() { return {"--agent", "echo", "--greeting", kGreeting, "--tts-voice", kVoice}; }
std::vector<std::string> keyed_env() { return {"VOX_API_KEYS=acme:" + kAcme + ",globex:" + kGlobex}; }

std::string ws_url(const ServerProcess& s, const std::string& path) {
  return "ws://127.0.0.1:" + std::to_string(s.port()) + path;
}

bool is_audio(const json::object& o) { return ws::type_of(o) == "<not a JSON object>"; }

json::object get_call(const ServerProcess& s, const std::string& sid, const std::string& key = {}) {
  net::Headers h;
  if (!key.empty()) h.emplace_back("X-API-KEY", key);
  auto res = http("GET", s.url() + kBase + "/calls/" + sid, {}, h);
  auto o = ws::parse_obj(res.body);
  o["http_status"] = res.status;
  return o;
}

// Opens a browser call and waits until it has started; returns its sid.
std::string start_call(Ws& phone, json::object start = {}) {
  start["type"] = "start";
  phone.send(start);
  auto started = phone.next(ws::type_is("started"), 20s);
  if (!started) return {};
  return ws::str(*started, "call_sid");
}

TEST(PhoneSocket, ABrowserCallIsACallLikeAnyOther) {
  ServerProcess server(server_args());
  Ws phone(ws_url(server, "/phone/ws"));
  const std::string sid = start_call(phone, json::object{{"agent", "echo"}});
  ASSERT_EQ(sid.size(), 34u) << phone.dump();
  EXPECT_EQ(sid.substr(0, 2), "WB");
  // The greeting comes as PCM16 audio with marks; the page echoes each mark as it plays.
  ASSERT_TRUE(phone.find(is_audio, 20s)) << phone.dump();
  auto mark = phone.next(ws::type_is("mark"), 20s);
  ASSERT_TRUE(mark) << phone.dump();
  phone.send(json::object{{"type", "mark"}, {"name", ws::str(*mark, "name")}});
  const auto started_event = phone.find([](const json::object& o) { return ws::str(o, "kind") == "reply_started"; }, 10s);
  ASSERT_TRUE(started_event) << phone.dump();
  EXPECT_EQ(ws::str(*started_event, "text"), kGreeting);
  // The control API sees it, as a browser call, live.
  auto info = get_call(server, sid);
  EXPECT_EQ(ws::number(info, "http_status"), 200) << json::serialize(info);
  EXPECT_EQ(ws::str(info, "direction"), "browser");
  EXPECT_EQ(ws::str(info, "status"), "in-progress");
  // ... and can act on it: text spoken into the call, then the call hung up.
  auto said = http("POST", server.url() + kBase + "/calls/" + sid + "/stream", R"({"text":"One moment please."})",
                   {{"Content-Type", "application/json"}});
  EXPECT_EQ(said.status, 200) << said.body;
  ASSERT_TRUE(phone.find([](const json::object& o) { return ws::str(o, "text") == "One moment please."; }, 20s)) << phone.dump();
  auto ended = http("DELETE", server.url() + kBase + "/calls/" + sid);
  EXPECT_EQ(ended.status, 200) << ended.body;
  ASSERT_TRUE(phone.find(ws::type_is("ended"), 10s)) << phone.dump();
  ASSERT_TRUE(phone.wait_closed(10s));
  EXPECT_EQ(phone.close_code(), 1000);
  EXPECT_EQ(ws::str(get_call(server, sid), "status"), "completed");
}

TEST(PhoneSocket, CompanyKeysDecideWhoMayCallAndWhoSeesTheCall) {
  ServerProcess server(server_args(), keyed_env());
  {
    Ws phone(ws_url(server, "/phone/ws"));
    phone.send(json::object{{"type", "start"}});
    auto err = phone.next(ws::type_is("error"), 10s);
    ASSERT_TRUE(err) << phone.dump();
    EXPECT_NE(ws::str(*err, "detail").find("API key"), std::string::npos);
    ASSERT_TRUE(phone.wait_closed(10s));
    EXPECT_EQ(phone.close_code(), 1008);
  }
  {
    Ws phone(ws_url(server, "/phone/ws"));
    phone.send(json::object{{"type", "start"}, {"key", "wrong-key-123456"}});
    ASSERT_TRUE(phone.next(ws::type_is("error"), 10s)) << phone.dump();
    ASSERT_TRUE(phone.wait_closed(10s));
  }
  Ws phone(ws_url(server, "/phone/ws"));
  const std::string sid = start_call(phone, json::object{{"key", kGlobex}});
  ASSERT_FALSE(sid.empty()) << phone.dump();
  EXPECT_EQ(ws::number(get_call(server, sid, kGlobex), "http_status"), 200);
  EXPECT_EQ(ws::number(get_call(server, sid, kAcme), "http_status"), 404);  // another company's call is not found

  // The consoles: globex sees its call live and may watch it; acme sees nothing of it.
  Ws acme(ws_url(server, "/console/ws"));
  acme.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  auto early = acme.next(ws::type_is("error"), 10s);
  ASSERT_TRUE(early) << acme.dump();
  EXPECT_NE(ws::str(*early, "detail").find("sign in"), std::string::npos);
  acme.send(json::object{{"type", "auth"}, {"key", kAcme}});
  ASSERT_TRUE(acme.next(ws::type_is("hello"), 10s)) << acme.dump();
  auto table = acme.next(ws::type_is("calls"), 10s);
  ASSERT_TRUE(table) << acme.dump();
  EXPECT_TRUE(table->at("calls").as_array().empty()) << json::serialize(*table);
  acme.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  auto refused = acme.next(ws::any_type({"error", "watching"}), 10s);
  ASSERT_TRUE(refused) << acme.dump();
  EXPECT_EQ(ws::type_of(*refused), "error");

  Ws globex(ws_url(server, "/console/ws"));
  globex.send(json::object{{"type", "auth"}, {"key", kGlobex}});
  ASSERT_TRUE(globex.next(ws::type_is("hello"), 10s)) << globex.dump();
  auto rows = globex.next([&](const json::object& o) {
    return ws::type_of(o) == "calls" && o.at("calls").as_array().size() == 1;
  }, 10s);
  ASSERT_TRUE(rows) << globex.dump();
  const auto& row = rows->at("calls").as_array()[0].as_object();
  EXPECT_EQ(ws::str(row, "call_sid"), sid);
  EXPECT_EQ(ws::str(row, "direction"), "browser");
  globex.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  ASSERT_TRUE(globex.next(ws::type_is("watching"), 10s)) << globex.dump();
  globex.send(json::object{{"type", "listen"}, {"on", true}});
  auto said = http("POST", server.url() + kBase + "/calls/" + sid + "/stream", R"({"text":"Hello from the console."})",
                   {{"Content-Type", "application/json"}, {"X-API-KEY", kGlobex}});
  EXPECT_EQ(said.status, 200) << said.body;
  ASSERT_TRUE(globex.find([&](const json::object& o) {
    return ws::type_of(o) == "event" && ws::str(o, "kind") == "reply_started" && ws::str(o, "text") == "Hello from the console.";
  }, 20s)) << globex.dump();
  ASSERT_TRUE(globex.find(is_audio, 10s)) << "listen-in audio";
  // A wrong key on the console is refused and closed.
  Ws stranger(ws_url(server, "/console/ws"));
  stranger.send(json::object{{"type", "auth"}, {"key", "nobody-123456789"}});
  ASSERT_TRUE(stranger.next(ws::type_is("error"), 10s));
  ASSERT_TRUE(stranger.wait_closed(10s));
  EXPECT_EQ(stranger.close_code(), 1008);
}

// --max-calls-per-company counts browser calls with the control API's, per company.
TEST(PhoneSocket, ACompanysCallLimitCountsBrowserCalls) {
  auto args = server_args();
  args.insert(args.end(), {"--max-calls-per-company", "1"});
  ServerProcess server(args, keyed_env());
  Ws first(ws_url(server, "/phone/ws"));
  const std::string sid = start_call(first, json::object{{"key", kAcme}});
  ASSERT_FALSE(sid.empty()) << first.dump();
  {
    Ws second(ws_url(server, "/phone/ws"));
    second.send(json::object{{"type", "start"}, {"key", kAcme}});
    auto refused = second.next(ws::type_is("error"), 10s);
    ASSERT_TRUE(refused) << second.dump();
    EXPECT_NE(ws::str(*refused, "detail").find("concurrent calls"), std::string::npos) << second.dump();
    ASSERT_TRUE(second.wait_closed(10s));
    EXPECT_EQ(second.close_code(), 1013);
  }
  // The control API counts the browser call too.
  auto registered = http("POST", server.url() + kBase + "/calls/incoming", R"({"call_sid":"CA)" + std::string(32, '7') + R"("})",
                         {{"Content-Type", "application/json"}, {"X-API-KEY", kAcme}});
  EXPECT_EQ(registered.status, 429) << registered.body;
  // Another company has its own limit.
  Ws other(ws_url(server, "/phone/ws"));
  EXPECT_FALSE(start_call(other, json::object{{"key", kGlobex}}).empty()) << other.dump();
  // A call that ended gives its place back.
  first.send(json::object{{"type", "hangup"}});
  ASSERT_TRUE(first.wait_closed(10s));
  EXPECT_TRUE(eventually([&] {
    Ws again(ws_url(server, "/phone/ws"));
    return !start_call(again, json::object{{"key", kAcme}}).empty();
  }, 20s));
}

TEST(PhoneSocket, BadInputIsAnsweredAndTheCallGoesOn) {
  ServerProcess server(server_args());
  {
    Ws phone(ws_url(server, "/phone/ws"));
    phone.send(json::object{{"type", "start"}, {"agent", "nonsense"}});
    auto err = phone.next(ws::type_is("error"), 10s);
    ASSERT_TRUE(err) << phone.dump();
    EXPECT_NE(ws::str(*err, "detail").find("Unknown agent"), std::string::npos);
    ASSERT_TRUE(phone.wait_closed(10s));
  }
  Ws phone(ws_url(server, "/phone/ws"));
  phone.send_binary(std::string(320, '\0'));  // audio before the start: dropped
  phone.send_raw("{not json");
  auto e1 = phone.next(ws::type_is("error"), 10s);
  ASSERT_TRUE(e1) << phone.dump();
  EXPECT_EQ(ws::str(*e1, "detail"), "not a JSON object");
  phone.send_raw(R"({"type":"teleport"})");
  ASSERT_TRUE(phone.next(ws::type_is("error"), 10s)) << phone.dump();
  const std::string sid = start_call(phone);
  ASSERT_FALSE(sid.empty()) << phone.dump();
  phone.send(json::object{{"type", "start"}});  // a second start: ignored
  phone.send_binary(std::string(321, '\0'));    // odd length: not PCM16
  phone.send_binary(std::string(64000, '\0'));  // 4 s in one message: over the limit
  phone.send(json::object{{"type", "offer"}, {"sdp", "v=0"}});  // an offer on a WebSocket call
  auto e2 = phone.next(ws::type_is("error"), 10s);
  ASSERT_TRUE(e2) << phone.dump();
  EXPECT_NE(ws::str(*e2, "detail").find("offer"), std::string::npos);
  phone.send(json::object{{"type", "dtmf"}, {"digit", "5"}});
  ASSERT_TRUE(phone.find([](const json::object& o) { return ws::str(o, "kind") == "dtmf" && ws::str(o, "digit") == "5"; }, 10s))
      << phone.dump();
  EXPECT_EQ(ws::str(get_call(server, sid), "status"), "in-progress");
  phone.send(json::object{{"type", "hangup"}});
  ASSERT_TRUE(phone.wait_closed(10s));
  EXPECT_EQ(ws::str(get_call(server, sid), "status"), "completed");
  const auto log = server.log_tail();
  EXPECT_NE(log.find("bytes dropped"), std::string::npos) << log;
}

// A page of another site cannot open the phone or the console sockets in the user's
// browser (the browser names the page's origin); this server's own pages can.
TEST(PhoneSocket, PagesOfOtherSitesAreRefused) {
  ServerProcess server(server_args());
  for (const std::string path : {"/phone/ws", "/console/ws"}) {
    try {
      Ws evil(ws_url(server, path), {{"Origin", "https://evil.example"}});
      ADD_FAILURE() << path << " accepted a page of another site";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("403"), std::string::npos) << path << ": " << e.what();
    }
    Ws ours(ws_url(server, path), {{"Origin", "http://127.0.0.1:" + std::to_string(server.port())}});
    ours.send(json::object{{"type", path == "/phone/ws" ? "start" : "auth"}});
    EXPECT_TRUE(ours.next(ws::any_type({"started", "hello"}), 20s)) << path << ": " << ours.dump();
  }
}

TEST(PhoneSocket, AWebRtcOfferThatCannotBeUsedIsRefused) {
  ServerProcess server(server_args());
  Ws phone(ws_url(server, "/phone/ws"));
  phone.send(json::object{{"type", "start"}, {"transport", "webrtc"}});
  // A page gets at most 50 candidates (each one makes the server send connectivity checks).
  for (int i = 0; i < 55; ++i)
    phone.send(json::object{{"type", "ice"}, {"candidate", "candidate:1 1 udp 2122260223 127.0.0." + std::to_string(i + 1) + " 50000 typ host"}});
  phone.send(json::object{{"type", "offer"}, {"sdp", "this is not sdp"}});
  auto e1 = phone.next(ws::type_is("error"), 20s);
  ASSERT_TRUE(e1) << phone.dump();
  EXPECT_NE(ws::str(*e1, "detail").find("SDP"), std::string::npos) << phone.dump();
  Ws second(ws_url(server, "/phone/ws"));
  second.send(json::object{{"type", "start"}, {"transport", "webrtc"}});
  second.send(json::object{{"type", "offer"},
                           {"sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
                                   "c=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\n"}});
  auto e2 = second.next(ws::type_is("error"), 20s);
  ASSERT_TRUE(e2) << second.dump();
  EXPECT_NE(ws::str(*e2, "detail").find("Opus"), std::string::npos) << ws::str(*e2, "detail");
  // No call was started by either.
  EXPECT_EQ(phone.count(ws::type_is("started")) + second.count(ws::type_is("started")), 0u);
  EXPECT_TRUE(server.wait_for_log("ICE candidate ignored")) << server.log_tail();
}

// With ElevenLabs' realtime STT the console sees the caller's words while they speak:
// partial transcripts, then the final one.
TEST(ConsoleSocket, PartialTranscriptsComeWhileTheCallerSpeaks) {
  // The emulator "hears" a fixed text: its partial transcripts do not depend on how
  // well pocketsphinx recognises half an utterance.
  ServerProcess emulator({"--stt-fixed-text", "i would like some coffee", "--voice", kVoice}, {}, "",
                         {"emulate", "elevenlabs"});
  ServerProcess server(el::server_args({"--agent", "echo"}),
                       {"ELEVENLABS_API_KEY=test-key", "ELEVENLABS_BASE_URL=" + emulator.url()});
  Ws console(ws_url(server, "/console/ws"));
  console.send(json::object{{"type", "auth"}});
  ASSERT_TRUE(console.next(ws::type_is("hello"), 10s)) << console.dump();
  auto caller = std::async(std::launch::async, [&] { return el::converse(server, {"good morning", "i would like some coffee"}); });
  auto row = console.next([](const json::object& o) { return ws::type_of(o) == "calls" && !o.at("calls").as_array().empty(); }, 20s);
  ASSERT_TRUE(row) << console.dump();
  const std::string sid = ws::str(row->at("calls").as_array()[0].as_object(), "call_sid");
  console.send(json::object{{"type", "watch"}, {"call_sid", sid}});
  ASSERT_TRUE(console.next(ws::type_is("watching"), 10s)) << console.dump();
  // The second line: its partials, then its transcript, all for the same turn.
  auto final = console.next([](const json::object& o) {
    return ws::str(o, "kind") == "transcript" && ws::str(o, "text") == "i would like some coffee";
  }, 40s);
  ASSERT_TRUE(final) << console.dump();
  const auto turn = ws::number(*final, "turn");
  const auto all = console.messages();
  std::size_t partials = 0;
  for (const auto& m : all) {
    if (ws::str(m, "kind") == "partial_transcript" && ws::number(m, "turn") == turn) {
      ++partials;
      EXPECT_FALSE(ws::str(m, "text").empty());
    }
    if (&m == &all.back()) break;
  }
  EXPECT_GE(partials, 1u) << console.dump();
  const auto r = caller.get();
  EXPECT_TRUE(r.ok) << r.error;
}

}  // namespace
}  // namespace vox::test
