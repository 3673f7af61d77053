// The client WebSocket of the control API against the real server binary:
//   /api/v1/webrtc/twilio-elevenlabs-stream/{peer_id}/{company_api_key}/{agent_id}
// A test client binds to a call (by its CallSid or by agent), drives it as the call's
// agent while the simulated caller talks, controls it (voice, stop, hang-up), and is
// refused across tenants and over the socket limit. The call store's durability across
// a SIGKILL of the server is checked here too.
#include <gtest/gtest.h>

#include <signal.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base64.hpp"
#include "client_ws.hpp"
#include "e2e_support.hpp"
#include "server_process.hpp"
#include "sim/sid.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kApi = "/api/v1/elevenlabs-twilio";
const std::string kClientPath = "/api/v1/webrtc/twilio-elevenlabs-stream/";

// Several sentences: a few seconds of speech, long enough to cut off mid-way.
const std::string kLongText =
    "This is a long reply from the client. It talks about the weather, the opening hours and the prices. "
    "It goes on for a good while, sentence after sentence, so that it can be stopped in the middle. "
    "Nobody should ever hear the end of it.";

using namespace ws;

// Tries to open a client socket; returns "" when it opened (and closes it), else the error.
std::string refusal(const std::string& url) {
  try {
    Ws ws(url);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// ---------------------------------------------------------------------------------
// Server, calls and the simulated caller.

std::vector<std::string> server_args(std::vector<std::string> extra = {}) {
  static const std::string grammar =
      write_server_grammar((std::filesystem::temp_directory_path() / "vox-e2e-client-socket-grammar.txt").string());
  std::vector<std::string> args = {"--stt-mode", "grammar", "--stt-grammar", grammar, "--greeting", "",
                                   "--tts-voice", kVoice,   "--talk-timeout", "120"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string ws_url(const ServerProcess& server, const std::string& peer, const std::string& key,
                   const std::string& agent, const std::string& query = "") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + kClientPath + peer + "/" + key + "/" + agent +
         (query.empty() ? "" : "?" + query);
}

net::HttpResponse api(const ServerProcess& server, const std::string& method, const std::string& path,
                      const std::string& body = {}, const std::string& key = {}) {
  net::Headers h;
  if (!body.empty()) h.emplace_back("Content-Type", "application/json");
  if (!key.empty()) h.emplace_back("X-API-KEY", key);
  return http(method, server.url() + kApi + path, body, h);
}

// Registers `sid` for `agent_id` as the customer's webhook would; returns the TwiML that
// connects its media stream ("" on failure, which is reported).
std::string register_call(const ServerProcess& server, const std::string& sid, const std::string& agent_id,
                          const std::string& key = {}) {
  const json::object body{{"call_sid", sid},
                          {"agent_id", agent_id},
                          {"from_number", "+15550001111"},
                          {"to_number", "+15550002222"}};
  auto res = api(server, "POST", "/calls/incoming", json::serialize(body), key);
  EXPECT_EQ(res.status, 200) << res.body;
  return str(parse_obj(res.body), "twiml");
}

// A caller for the registered call `sid` (the TwiML answered at registration).
sim::CallerOptions caller_for(const ServerProcess& server, const std::string& sid, const std::string& twiml,
                              std::vector<std::string> lines) {
  sim::CallerOptions o;
  o.server_url = server.url();
  o.call_sid = sid;
  o.twiml = twiml;
  o.lines = std::move(lines);
  o.voice = kVoice;
  o.max_call_ms = 90000;
  return o;
}

// A caller who says nothing and stays on the line (until the server hangs up).
sim::CallerOptions idle_caller_for(const ServerProcess& server, const std::string& sid, const std::string& twiml) {
  auto o = caller_for(server, sid, twiml, {});
  o.greeting_wait_ms = 0;
  o.idle_after_ms = 60000;
  return o;
}

std::future<sim::CallerResult> start_caller(sim::CallerOptions o) {
  Engines::get();  // loaded here, not on the caller's thread
  return std::async(std::launch::async, [o = std::move(o)] {
    return sim::run_callers(o, 1, sim::CallerEngines{Engines::get().tts}, 1).at(0);
  });
}

// Waits for the caller to finish; transcribes what it heard.
std::optional<sim::CallerResult> finish_caller(std::future<sim::CallerResult>& caller) {
  if (caller.wait_for(150s) != std::future_status::ready) return std::nullopt;
  std::vector<sim::CallerResult> results{caller.get()};
  sim::transcribe(results, Engines::get().stt);
  return std::move(results[0]);
}

// Polls GET /calls/{sid} until its media stream is connected.
bool wait_connected(const ServerProcess& server, const std::string& sid, std::chrono::seconds timeout,
                    const std::string& key = {}) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto res = api(server, "GET", "/calls/" + sid, {}, key);
    if (res.status == 200 && flag(obj(parse_obj(res.body), "elevenlabs_voice_info"), "is_connected")) return true;
    std::this_thread::sleep_for(20ms);  // polling for an event, bounded by the deadline
  }
  return false;
}

// (speaker, text) of GET /calls/{sid}/transcript, in order.
std::vector<std::pair<std::string, std::string>> stored_turns(const ServerProcess& server, const std::string& sid,
                                                              const std::string& key = {}) {
  auto res = api(server, "GET", "/calls/" + sid + "/transcript", {}, key);
  EXPECT_EQ(res.status, 200) << res.body;
  std::vector<std::pair<std::string, std::string>> out;
  const auto o = parse_obj(res.body);
  if (const auto* turns = o.if_contains("turns"); turns && turns->is_array())
    for (const auto& t : turns->as_array())
      if (t.is_object()) out.emplace_back(str(t.as_object(), "speaker"), str(t.as_object(), "text"));
  return out;
}

// What a client acting as the call's agent saw.
struct AgentRun {
  std::optional<json::object> bound;
  std::vector<std::string> transcripts;
  std::optional<json::object> ended;
};

// Acts as the call's agent over `ws` until the call ends (or `timeout`): greets when
// the socket is bound (unless `greeting` is empty) and answers each transcript with
// "you said <text>".
AgentRun drive_agent(Ws& ws, const std::string& greeting, std::chrono::seconds timeout = 120s) {
  AgentRun run;
  const auto deadline = Clock::now() + timeout;
  while (auto m = ws.next(any_type({"call_bound", "transcript", "call_ended"}), remaining(deadline))) {
    const std::string t = type_of(*m);
    if (t == "call_bound") {
      run.bound = *m;
      if (!greeting.empty()) ws.say(greeting);
    } else if (t == "transcript") {
      run.transcripts.push_back(str(*m, "text"));
      ws.say("you said " + str(*m, "text"));
    } else {
      run.ended = *m;
      break;
    }
  }
  return run;
}

// ---------------------------------------------------------------------------------

TEST(ClientSocket, WaitingSocketAnswersPingsAndRefusesWorkUntilBound) {
  ServerProcess server(server_args());
  Ws ws(ws_url(server, "peer123", "company-key", "agent456"));

  auto hello = ws.next(type_is("connection_established"));
  ASSERT_TRUE(hello) << ws.dump();
  EXPECT_EQ(str(*hello, "peer_id"), "peer123");
  ASSERT_TRUE(hello->contains("call_sid"));
  EXPECT_TRUE(hello->at("call_sid").is_null()) << json::serialize(*hello);
  EXPECT_FALSE(str(*hello, "timestamp").empty());

  ws.send(json::object{{"type", "ping"}});
  auto pong = ws.next(any_type({"pong", "error"}));
  ASSERT_TRUE(pong) << ws.dump();
  EXPECT_EQ(type_of(*pong), "pong");

  ws.say("hello before binding");
  auto refused = ws.next(any_type({"synthesis_error", "synthesis_started", "error"}));
  ASSERT_TRUE(refused) << ws.dump();
  EXPECT_EQ(type_of(*refused), "synthesis_error");
  EXPECT_EQ(str(*refused, "text"), "hello before binding");
  EXPECT_NE(str(*refused, "error").find("No call is bound"), std::string::npos) << json::serialize(*refused);

  ws.control("get_call_info");
  auto info = ws.next(any_type({"control_response", "error"}));
  ASSERT_TRUE(info) << ws.dump();
  EXPECT_EQ(type_of(*info), "control_response");
  EXPECT_EQ(str(*info, "action"), "get_call_info");
  EXPECT_FALSE(flag(*info, "success"));
  EXPECT_FALSE(str(*info, "error").empty());

  ws.control("dance");
  auto unknown_action = ws.next(any_type({"control_response", "error"}));
  ASSERT_TRUE(unknown_action) << ws.dump();
  EXPECT_EQ(type_of(*unknown_action), "control_response");
  EXPECT_FALSE(flag(*unknown_action, "success"));
  EXPECT_NE(str(*unknown_action, "error").find("Unknown action"), std::string::npos);

  ws.send_raw("{this is not json");
  auto malformed = ws.next(any_type({"error", "pong", "control_response", "synthesis_error"}));
  ASSERT_TRUE(malformed) << ws.dump();
  EXPECT_EQ(type_of(*malformed), "error");
  EXPECT_NE(str(*malformed, "detail").find("Malformed"), std::string::npos) << json::serialize(*malformed);

  ws.send_raw(R"({"type":"dance","steps":3})");
  auto unknown = ws.next(any_type({"error", "pong", "control_response", "synthesis_error"}));
  ASSERT_TRUE(unknown) << ws.dump();
  EXPECT_EQ(type_of(*unknown), "error");
  EXPECT_NE(str(*unknown, "detail").find("Unknown message type"), std::string::npos) << json::serialize(*unknown);

  ws.send_raw(R"({"text":"no type"})");
  auto untyped = ws.next(any_type({"error", "pong", "control_response", "synthesis_error"}));
  ASSERT_TRUE(untyped) << ws.dump();
  EXPECT_EQ(type_of(*untyped), "error");

  // Still open and answering after all of that.
  ws.send(json::object{{"type", "ping"}});
  EXPECT_TRUE(ws.next(type_is("pong"))) << ws.dump();
  EXPECT_EQ(ws.count(type_is("call_bound")), 0u);
}

TEST(ClientSocket, ClientIsTheAgentOfACallRoutedToItsAgentId) {
  ServerProcess server(server_args());
  const std::string sid = sim::random_sid("CA");
  const std::string twiml = register_call(server, sid, "agent456");
  ASSERT_FALSE(twiml.empty());

  Ws ws(ws_url(server, "peer123", "company-key", "agent456"));
  auto hello = ws.next(type_is("connection_established"));
  ASSERT_TRUE(hello) << ws.dump();
  ASSERT_TRUE(hello->contains("call_sid"));
  EXPECT_TRUE(hello->at("call_sid").is_null());

  const std::vector<std::string> lines = {"good morning", "what time is it"};
  auto o = caller_for(server, sid, twiml, lines);
  o.greeting_wait_ms = 10000;  // the client greets once its socket is bound
  auto caller = start_caller(o);

  const AgentRun run = drive_agent(ws, kGreeting);
  auto result = finish_caller(caller);
  ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
  const auto& r = *result;
  ASSERT_TRUE(r.ok) << r.error << "\n" << ws.dump() << server.log_tail();

  ASSERT_TRUE(run.bound) << ws.dump() << server.log_tail();
  EXPECT_EQ(str(*run.bound, "call_sid"), sid);
  EXPECT_EQ(run.transcripts, lines) << ws.dump();  // grammar mode: exact
  ASSERT_TRUE(run.ended) << ws.dump() << server.log_tail();
  EXPECT_EQ(str(*run.ended, "call_sid"), sid);
  EXPECT_FALSE(str(*run.ended, "reason").empty());

  // Each transcript came once, final, with its turn number.
  int turn = 0;
  for (const auto& m : ws.messages()) {
    if (type_of(m) != "transcript") continue;
    ++turn;
    EXPECT_TRUE(flag(m, "is_final"));
    EXPECT_EQ(number(m, "turn"), turn) << json::serialize(m);
  }
  EXPECT_EQ(turn, 2);

  // Every text the client sent was synthesized and played to the end.
  const std::vector<std::string> spoken = {kGreeting, "you said " + lines[0], "you said " + lines[1]};
  for (const auto& text : spoken) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ws.count(with_text("synthesis_started", text)), 1u) << ws.dump();
    auto finished = ws.find(with_text("synthesis_finished", text), 0ms);
    ASSERT_TRUE(finished) << ws.dump();
    EXPECT_FALSE(flag(*finished, "interrupted"));
    EXPECT_EQ(str(*finished, "heard"), text);
  }
  EXPECT_EQ(ws.count(type_is("synthesis_error")), 0u) << ws.dump();

  // The call's audio came along as μ-law: exactly what the caller received.
  std::size_t audio_messages = 0, audio_total = 0;
  for (const auto& m : ws.messages()) {
    if (type_of(m) != "audio") continue;
    ++audio_messages;
    EXPECT_EQ(str(m, "format"), "ulaw_8000");
    const auto n = audio_bytes(m);
    ASSERT_TRUE(n) << "audio data is not base64";
    EXPECT_GT(*n, 0u);
    audio_total += *n;
  }
  EXPECT_GT(audio_messages, 3u);
  EXPECT_EQ(audio_total, r.media_bytes_received);

  // The caller heard the client's words.
  ASSERT_EQ(r.heard.size(), 3u) << server.log_tail();
  EXPECT_EQ(r.heard[0].transcript, normalized(kGreeting));
  EXPECT_EQ(r.heard[1].transcript, "you said " + lines[0]);
  EXPECT_EQ(r.heard[2].transcript, "you said " + lines[1]);
  EXPECT_EQ(r.clears, 0);

  // And the stored transcript has both sides, in order.
  const std::vector<std::pair<std::string, std::string>> want = {{"agent", kGreeting},
                                                                 {"caller", lines[0]},
                                                                 {"agent", "you said " + lines[0]},
                                                                 {"caller", lines[1]},
                                                                 {"agent", "you said " + lines[1]}};
  EXPECT_EQ(stored_turns(server, sid), want);
}

TEST(ClientSocket, PeerNamingALiveCallBindsAndControlsIt) {
  ServerProcess server(server_args());
  const std::string sid = sim::random_sid("CA");
  const std::string twiml = register_call(server, sid, "agent789");
  ASSERT_FALSE(twiml.empty());
  auto caller = start_caller(idle_caller_for(server, sid, twiml));
  ASSERT_TRUE(wait_connected(server, sid, 30s)) << server.log_tail();

  const std::string peer = "twilio_" + sid + "_x";
  Ws ws(ws_url(server, peer, "company-key", "agent789"));
  auto hello = ws.next(type_is("connection_established"));
  ASSERT_TRUE(hello) << ws.dump();
  EXPECT_EQ(str(*hello, "peer_id"), peer);
  EXPECT_EQ(str(*hello, "call_sid"), sid);
  auto bound = ws.next(type_is("call_bound"), 10s);
  ASSERT_TRUE(bound) << ws.dump() << server.log_tail();
  EXPECT_EQ(str(*bound, "call_sid"), sid);

  ws.control("get_call_info");
  auto info = ws.next(response_to("get_call_info"));
  ASSERT_TRUE(info) << ws.dump();
  EXPECT_TRUE(flag(*info, "success")) << json::serialize(*info);
  const auto call_info = obj(*info, "call_info");
  EXPECT_EQ(str(call_info, "call_sid"), sid);
  EXPECT_EQ(str(call_info, "status"), "in-progress");
  EXPECT_EQ(str(call_info, "agent_id"), "agent789");
  EXPECT_TRUE(flag(obj(call_info, "elevenlabs_voice_info"), "is_connected")) << json::serialize(call_info);

  ws.control("update_voice", json::object{{"voice_id", "es"}, {"voice_settings", json::object{{"stability", 0.3}}}});
  auto updated = ws.next(response_to("update_voice"));
  ASSERT_TRUE(updated) << ws.dump();
  EXPECT_TRUE(flag(*updated, "success")) << json::serialize(*updated);
  EXPECT_EQ(str(*updated, "voice_id"), "es");
  EXPECT_NEAR(number(obj(*updated, "voice_settings"), "stability"), 0.3, 1e-9);
  {
    auto res = api(server, "GET", "/calls/" + sid);
    ASSERT_EQ(res.status, 200) << res.body;
    const auto o = parse_obj(res.body);
    EXPECT_EQ(str(o, "voice_id"), "es") << res.body;
    EXPECT_NEAR(number(obj(o, "voice_settings"), "stability"), 0.3, 1e-9) << res.body;
  }

  ws.control("update_voice", json::object{{"voice_id", "nope"}});
  auto bad_voice = ws.next(response_to("update_voice"));
  ASSERT_TRUE(bad_voice) << ws.dump();
  EXPECT_FALSE(flag(*bad_voice, "success"));
  EXPECT_NE(str(*bad_voice, "error").find("Invalid voice ID"), std::string::npos) << json::serialize(*bad_voice);
  EXPECT_EQ(str(parse_obj(api(server, "GET", "/calls/" + sid).body), "voice_id"), "es");  // unchanged

  ws.control("hangup");
  auto hung_up = ws.find(response_to("hangup"));
  ASSERT_TRUE(hung_up) << ws.dump();
  EXPECT_TRUE(flag(*hung_up, "success"));
  auto ended = ws.find(type_is("call_ended"));
  ASSERT_TRUE(ended) << ws.dump();
  EXPECT_EQ(str(*ended, "call_sid"), sid);

  auto result = finish_caller(caller);
  ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
  EXPECT_TRUE(result->ok) << result->error;
  EXPECT_TRUE(result->server_closed) << "the hang-up must close the media stream";
  EXPECT_EQ(result->close_code, 1000);
  EXPECT_LT(result->duration_ms, 55000) << "ended by the hang-up, not by the caller";
  EXPECT_TRUE(wait_active_calls(server, 0, 10s)) << server.log_tail();
}

TEST(ClientSocket, StopSynthesisCutsALongReply) {
  ServerProcess server(server_args());
  const std::string sid = sim::random_sid("CA");
  const std::string twiml = register_call(server, sid, "agent789");
  ASSERT_FALSE(twiml.empty());
  auto caller = start_caller(idle_caller_for(server, sid, twiml));
  ASSERT_TRUE(wait_connected(server, sid, 30s)) << server.log_tail();

  Ws ws(ws_url(server, "twilio_" + sid + "_x", "company-key", "agent789"));
  ASSERT_TRUE(ws.next(type_is("call_bound"), 10s)) << ws.dump() << server.log_tail();

  ws.say(kLongText);
  auto started = ws.next(type_is("synthesis_started"));
  ASSERT_TRUE(started) << ws.dump();
  EXPECT_EQ(str(*started, "text"), kLongText);
  ASSERT_TRUE(ws.next(type_is("audio"))) << ws.dump();
  ws.control("stop_synthesis");

  auto stopped = ws.find(response_to("stop_synthesis"));
  ASSERT_TRUE(stopped) << ws.dump();
  EXPECT_TRUE(flag(*stopped, "success"));
  auto finished = ws.find(type_is("synthesis_finished"));
  ASSERT_TRUE(finished) << ws.dump();
  EXPECT_EQ(str(*finished, "text"), kLongText);
  EXPECT_TRUE(flag(*finished, "interrupted")) << json::serialize(*finished);
  EXPECT_LT(str(*finished, "heard").size(), kLongText.size() / 2) << json::serialize(*finished);
  EXPECT_EQ(normalized(kLongText).rfind(normalized(str(*finished, "heard")), 0), 0u)
      << "heard must be a prefix of the text: " << str(*finished, "heard");

  // The stored transcript records the cut reply.
  bool stored_cut = false;
  {
    auto res = api(server, "GET", "/calls/" + sid + "/transcript");
    ASSERT_EQ(res.status, 200) << res.body;
    const auto o = parse_obj(res.body);
    if (const auto* turns = o.if_contains("turns"); turns && turns->is_array())
      for (const auto& t : turns->as_array())
        if (t.is_object() && str(t.as_object(), "text") == kLongText) stored_cut = flag(t.as_object(), "interrupted");
  }
  EXPECT_TRUE(stored_cut);

  ws.control("hangup");
  ASSERT_TRUE(ws.find(type_is("call_ended"))) << ws.dump();
  auto result = finish_caller(caller);
  ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
  EXPECT_TRUE(result->ok) << result->error;
  EXPECT_GE(result->clears, 1) << "stop_synthesis must clear Twilio's playback";
  ASSERT_GE(result->heard.size(), 1u);
  EXPECT_TRUE(result->heard[0].cleared);
  const auto full_ms = Engines::get().tts.synthesize_blocking(kLongText, kVoice).size() / 8;
  EXPECT_LT(result->heard[0].ulaw.size() / 8, full_ms / 2);
}

TEST(ClientSocket, BargeInIsReportedToTheClient) {
  ServerProcess server(server_args());
  const std::string sid = sim::random_sid("CA");
  const std::string twiml = register_call(server, sid, "agent456");
  ASSERT_FALSE(twiml.empty());
  Ws ws(ws_url(server, "peer123", "company-key", "agent456"));
  ASSERT_TRUE(ws.next(type_is("connection_established"))) << ws.dump();

  auto o = caller_for(server, sid, twiml, {"can you hear me"});
  o.greeting_wait_ms = 10000;
  o.barge_in_at_ms = 1500;  // talk 1.5 s into the client's long greeting
  auto caller = start_caller(o);
  const AgentRun run = drive_agent(ws, kLongGreeting);
  auto result = finish_caller(caller);
  ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
  ASSERT_TRUE(result->ok) << result->error << "\n" << ws.dump() << server.log_tail();
  ASSERT_TRUE(run.bound) << ws.dump();

  auto barge = ws.find(type_is("barge_in"), 0ms);
  ASSERT_TRUE(barge) << ws.dump() << server.log_tail();
  EXPECT_EQ(str(*barge, "reply"), kLongGreeting);
  EXPECT_GT(number(*barge, "heard_ms"), 0) << json::serialize(*barge);
  EXPECT_LT(str(*barge, "heard").size(), kLongGreeting.size()) << json::serialize(*barge);
  EXPECT_EQ(ws.count(type_is("barge_in")), 1u) << ws.dump();
  auto cut = ws.find(with_text("synthesis_finished", kLongGreeting), 0ms);
  ASSERT_TRUE(cut) << ws.dump();
  EXPECT_TRUE(flag(*cut, "interrupted"));
  EXPECT_EQ(str(*cut, "heard"), str(*barge, "heard"));

  // The caller's words still got through and were answered.
  EXPECT_EQ(run.transcripts, std::vector<std::string>{"can you hear me"});
  EXPECT_GE(result->clears, 1);
  ASSERT_GE(result->heard.size(), 2u);
  EXPECT_TRUE(result->heard[0].cleared);
  EXPECT_EQ(result->heard.back().transcript, "you said can you hear me");
  EXPECT_TRUE(run.ended) << ws.dump();
}

TEST(ClientSocket, AudioFormatPcm16000IsUpsampledUlaw) {
  ServerProcess server(server_args());
  const std::string sid = sim::random_sid("CA");
  const std::string twiml = register_call(server, sid, "agent789");
  ASSERT_FALSE(twiml.empty());

  EXPECT_NE(refusal(ws_url(server, "peer1", "company-key", "agent789", "audio_format=mp3_44100")).find("400"),
            std::string::npos);

  auto caller = start_caller(idle_caller_for(server, sid, twiml));
  ASSERT_TRUE(wait_connected(server, sid, 30s)) << server.log_tail();
  // Two sockets on the same call: both receive the same audio, in their own formats.
  Ws ulaw(ws_url(server, "twilio_" + sid + "_u", "company-key", "agent789", "audio_format=ulaw_8000"));
  Ws pcm(ws_url(server, "twilio_" + sid + "_p", "company-key", "agent789", "audio_format=pcm_16000"));
  ASSERT_TRUE(ulaw.next(type_is("call_bound"), 10s)) << ulaw.dump();
  ASSERT_TRUE(pcm.next(type_is("call_bound"), 10s)) << pcm.dump();

  ulaw.say(kGreeting);
  ASSERT_TRUE(ulaw.find(with_text("synthesis_finished", kGreeting))) << ulaw.dump();
  ASSERT_TRUE(pcm.find(with_text("synthesis_finished", kGreeting))) << pcm.dump();

  std::vector<std::size_t> ulaw_sizes, pcm_sizes;
  for (const auto& m : ulaw.messages())
    if (type_of(m) == "audio") {
      EXPECT_EQ(str(m, "format"), "ulaw_8000");
      ulaw_sizes.push_back(audio_bytes(m).value_or(0));
    }
  for (const auto& m : pcm.messages())
    if (type_of(m) == "audio") {
      EXPECT_EQ(str(m, "format"), "pcm_16000");
      pcm_sizes.push_back(audio_bytes(m).value_or(0));
    }
  ASSERT_FALSE(pcm_sizes.empty()) << pcm.dump();
  ASSERT_EQ(pcm_sizes.size(), ulaw_sizes.size());
  for (std::size_t i = 0; i < pcm_sizes.size(); ++i) {
    EXPECT_GT(pcm_sizes[i], 0u);
    EXPECT_EQ(pcm_sizes[i] % 4, 0u);
    EXPECT_EQ(pcm_sizes[i], 4 * ulaw_sizes[i]) << "message " << i;  // 2x the samples, 2 bytes each
  }

  ulaw.control("hangup");
  EXPECT_TRUE(pcm.find(type_is("call_ended"))) << pcm.dump();
  auto result = finish_caller(caller);
  ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
  EXPECT_TRUE(result->server_closed);
}

TEST(ClientSocket, TenantsAreIsolatedBothWays) {
  ServerProcess server(server_args({"--api-key", "acme:acme-key-123", "--api-key", "globex:globex-key-456"}));
  const std::string acme = "acme-key-123", globex = "globex-key-456";

  EXPECT_NE(refusal(ws_url(server, "peer0", "wrong-key-789", "agent-a")).find("401"), std::string::npos);

  // --- An acme call: globex cannot name it, nor take it by agent.
  const std::string a_sid = sim::random_sid("CA");
  const std::string a_twiml = register_call(server, a_sid, "agent-a", acme);
  ASSERT_FALSE(a_twiml.empty());
  EXPECT_NE(refusal(ws_url(server, "twilio_" + a_sid + "_x", globex, "agent-a")).find("404"), std::string::npos);

  Ws globex_agent(ws_url(server, "peer9", globex, "agent-a"));
  ASSERT_TRUE(globex_agent.next(type_is("connection_established"))) << globex_agent.dump();
  Ws acme_agent(ws_url(server, "peer1", acme, "agent-a"));
  ASSERT_TRUE(acme_agent.next(type_is("connection_established"))) << acme_agent.dump();

  {
    auto o = caller_for(server, a_sid, a_twiml, {"good morning"});
    o.greeting_wait_ms = 500;
    auto caller = start_caller(o);
    const AgentRun run = drive_agent(acme_agent, "");
    auto result = finish_caller(caller);
    ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
    EXPECT_TRUE(result->ok) << result->error << server.log_tail();
    ASSERT_TRUE(run.bound) << acme_agent.dump() << server.log_tail();
    EXPECT_EQ(str(*run.bound, "call_sid"), a_sid);
    EXPECT_EQ(run.transcripts, std::vector<std::string>{"good morning"});
    EXPECT_TRUE(run.ended);
    EXPECT_GT(acme_agent.count(type_is("audio")), 0u);
  }
  // A round trip on the globex socket, then: it saw nothing of the acme call.
  globex_agent.send(json::object{{"type", "ping"}});
  ASSERT_TRUE(globex_agent.next(type_is("pong"))) << globex_agent.dump();
  EXPECT_EQ(globex_agent.count(any_type({"call_bound", "transcript", "audio", "synthesis_started",
                                         "synthesis_finished", "call_ended", "barge_in"})),
            0u)
      << globex_agent.dump();
  EXPECT_EQ(api(server, "GET", "/calls/" + a_sid, {}, globex).status, 404);

  // --- A globex call for the same agent id: the reverse.
  const std::string g_sid = sim::random_sid("CA");
  const std::string g_twiml = register_call(server, g_sid, "agent-a", globex);
  ASSERT_FALSE(g_twiml.empty());
  EXPECT_NE(refusal(ws_url(server, "twilio_" + g_sid + "_x", acme, "agent-a")).find("404"), std::string::npos);
  Ws acme_agent2(ws_url(server, "peer2", acme, "agent-a"));
  ASSERT_TRUE(acme_agent2.next(type_is("connection_established"))) << acme_agent2.dump();
  {
    auto o = caller_for(server, g_sid, g_twiml, {"thank you very much"});
    o.greeting_wait_ms = 500;
    auto caller = start_caller(o);
    const AgentRun run = drive_agent(globex_agent, "");
    auto result = finish_caller(caller);
    ASSERT_TRUE(result) << "the caller did not finish\n" << server.log_tail();
    EXPECT_TRUE(result->ok) << result->error << server.log_tail();
    ASSERT_TRUE(run.bound) << globex_agent.dump() << server.log_tail();
    EXPECT_EQ(str(*run.bound, "call_sid"), g_sid);
    EXPECT_EQ(run.transcripts, std::vector<std::string>{"thank you very much"});
    EXPECT_TRUE(run.ended);
  }
  for (Ws* ws : {&acme_agent, &acme_agent2}) {
    ws->send(json::object{{"type", "ping"}});
    ASSERT_TRUE(ws->next(type_is("pong"))) << ws->dump();
  }
  // The first acme socket saw only its own call; the second saw nothing.
  EXPECT_EQ(acme_agent.count(type_is("call_bound")), 1u) << acme_agent.dump();
  EXPECT_EQ(acme_agent.count([&](const json::object& m) { return str(m, "call_sid") == g_sid; }), 0u)
      << acme_agent.dump();
  EXPECT_EQ(acme_agent.count(with_text("transcript", "thank you very much")), 0u) << acme_agent.dump();
  EXPECT_EQ(acme_agent2.count(any_type({"call_bound", "transcript", "audio", "synthesis_started",
                                        "synthesis_finished", "call_ended", "barge_in"})),
            0u)
      << acme_agent2.dump();
}

TEST(ClientSocket, SocketLimitPerKeyRefusesWith429UntilOneCloses) {
  ServerProcess server(server_args({"--max-client-sockets", "2"}));
  auto first = std::make_unique<Ws>(ws_url(server, "peer1", "company-key", "agent1"));
  Ws second(ws_url(server, "peer2", "company-key", "agent1"));
  ASSERT_TRUE(first->next(type_is("connection_established"))) << first->dump();
  ASSERT_TRUE(second.next(type_is("connection_established"))) << second.dump();

  const std::string third = refusal(ws_url(server, "peer3", "company-key", "agent1"));
  EXPECT_NE(third.find("429"), std::string::npos) << third;

  first->close();
  ASSERT_TRUE(first->wait_closed(10s));
  first.reset();

  // The server frees the slot once it has seen the close.
  std::unique_ptr<Ws> replacement;
  std::string last_error;
  const auto deadline = Clock::now() + 10s;
  while (!replacement && Clock::now() < deadline) {
    try {
      replacement = std::make_unique<Ws>(ws_url(server, "peer4", "company-key", "agent1"));
    } catch (const std::exception& e) {
      last_error = e.what();
      std::this_thread::sleep_for(20ms);  // polling for an event, bounded by the deadline
    }
  }
  ASSERT_TRUE(replacement) << "no socket accepted after one closed: " << last_error << "\n" << server.log_tail();
  EXPECT_TRUE(replacement->next(type_is("connection_established"))) << replacement->dump();
  // Two open again: the next is refused again.
  const std::string fourth = refusal(ws_url(server, "peer5", "company-key", "agent1"));
  EXPECT_NE(fourth.find("429"), std::string::npos) << fourth;
}

TEST(CallStore, SurvivesSigkillOfTheServerWithTheCallerTurns) {
  TempDir dir;
  const std::string db = (dir.path / "calls.db").string();
  const std::string sid = sim::random_sid("CA");
  const std::vector<std::string> lines = {"please call me back", "i would like some coffee"};
  std::future<sim::CallerResult> caller;
  {
    ServerProcess first(server_args({"--store", db}));
    const std::string twiml = register_call(first, sid, "echo");
    ASSERT_FALSE(twiml.empty());
    auto o = caller_for(first, sid, twiml, lines);
    o.greeting_wait_ms = 500;
    caller = start_caller(o);
    ASSERT_TRUE(first.wait_for_log("caller said call_sid=" + sid + " turn=2 ", 90s)) << first.log_tail();
    // Kill it once the second turn is committed (the store writes on its own thread; the
    // log line comes first): what was committed must survive kill -9 and a restart.
    const auto committed_by = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < committed_by &&
           api(first, "GET", "/calls/" + sid + "/transcript").body.find(lines[1]) == std::string::npos)
      std::this_thread::sleep_for(20ms);  // polling for the commit, bounded by the deadline
    const auto code = first.signal_and_wait(SIGKILL, 10s);  // no shutdown, no flush: kill -9
    ASSERT_TRUE(code.has_value()) << "the server outlived SIGKILL";
    EXPECT_EQ(*code, 128 + SIGKILL);
    // `first` knows it has exited, so its destructor sends no SIGTERM and expects nothing.
  }
  ASSERT_EQ(caller.wait_for(60s), std::future_status::ready) << "the caller did not notice the server died";
  const auto r = caller.get();
  EXPECT_TRUE(r.server_closed || !r.ok) << "the media stream died with the server";

  ServerProcess second(server_args({"--store", db}));
  auto res = api(second, "GET", "/calls/" + sid + "/transcript");
  ASSERT_EQ(res.status, 200) << res.body << second.log_tail();
  std::vector<std::pair<int, std::string>> caller_turns;
  const auto o = parse_obj(res.body);
  EXPECT_EQ(str(o, "call_sid"), sid);
  if (const auto* turns = o.if_contains("turns"); turns && turns->is_array())
    for (const auto& t : turns->as_array())
      if (t.is_object() && str(t.as_object(), "speaker") == "caller")
        caller_turns.emplace_back(static_cast<int>(number(t.as_object(), "index")), str(t.as_object(), "text"));
  const std::vector<std::pair<int, std::string>> want = {{1, lines[0]}, {2, lines[1]}};
  EXPECT_EQ(caller_turns, want) << res.body;

  auto info = api(second, "GET", "/calls/" + sid);
  ASSERT_EQ(info.status, 200) << info.body;
  const auto call = parse_obj(info.body);
  EXPECT_EQ(str(call, "call_sid"), sid);
  EXPECT_EQ(str(call, "agent_id"), "echo");
  // The stream never ended cleanly; the restarted server closed the call it left behind.
  EXPECT_EQ(str(call, "status"), "completed") << info.body;
  EXPECT_FALSE(flag(obj(call, "elevenlabs_voice_info"), "is_connected"));
}

}  // namespace
}  // namespace vox::test
