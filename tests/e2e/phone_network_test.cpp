// The Twilio emulator as a small phone network, end to end with real binaries:
// two gateways talking to each other through a bridged call (marks honoured on each
// leg, keys pressed by one agent reaching the other), an agent pressing keys on a call
// and carrying on in the resumed stream, and TwiML verbs (<Start><Stream> fork, <Say>,
// <Pause>, <Play>, <Redirect>) with stream status callbacks.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <mutex>

#include "audio/g711.hpp"
#include "audio/wav.hpp"
#include "core/base64.hpp"
#include "net/router.hpp"
#include "net/server.hpp"
#include "speech/espeak_tts.hpp"
#include "twilio/signature.hpp"
#include "twilio_support.hpp"

namespace vox::test {
namespace {
namespace json = boost::json;

const json::object* find_call(const json::array& calls, std::string_view direction) {
  for (const auto& c : calls)
    if (c.as_object().at("direction").as_string() == direction) return &c.as_object();
  return nullptr;
}

std::vector<std::string> verb_names(const json::object& call) {
  std::vector<std::string> out;
  for (const auto& v : call.at("verbs").as_array()) out.emplace_back(v.as_object().at("verb").as_string());
  return out;
}

std::vector<std::string> callback_events(const json::object& stream) {
  std::vector<std::string> out;
  for (const auto& cb : stream.at("callbacks").as_array()) {
    EXPECT_EQ(cb.as_object().at("response_status").as_int64(), 200) << json::serialize(cb);
    out.emplace_back(cb.as_object().at("event").as_string());
  }
  return out;
}

TEST(PhoneNetwork, TwoGatewaysTalkAndPressKeysThroughTheEmulator) {
  auto emulator = twilio_emulator({});
  // B answers the number: the echo agent with a greeting.
  auto b = gateway(*emulator);
  // A calls it: a script agent that says nothing first, answers each thing it hears
  // with its next line, presses 4 and 2 after the first, and hangs up after the last.
  const auto script = grammar_file("vox-e2e-network-script.txt",
                                   {"good morning [digits 42]", "what time is it", "thank you very much"});
  auto a = gateway(*emulator, {"--agent", "script", "--script", script}, heard_phrases(), "");
  auto reg = http("POST", emulator->url() + "/emulator/numbers",
                  R"({"number":"+15550009999","voice_url":")" + b->url() + R"(/twilio-voice"})");
  ASSERT_EQ(reg.status, 201) << reg.body;

  const auto sid = place_call(*emulator, *a, "+15550009999");
  const auto calls = settled_calls(*emulator, 2, std::chrono::seconds(90));
  ASSERT_EQ(calls.size(), 2u);
  const auto* caller = find_call(calls, "outbound-api");
  const auto* callee = find_call(calls, "inbound");
  ASSERT_TRUE(caller && callee) << json::serialize(calls);
  const std::string callee_sid(callee->at("sid").as_string());
  EXPECT_EQ(caller->at("sid").as_string(), sid);
  EXPECT_EQ(caller->at("peer_sid").as_string(), callee_sid);
  EXPECT_EQ(callee->at("peer_sid").as_string(), sid);
  EXPECT_EQ(caller->at("status").as_string(), "completed");
  EXPECT_EQ(callee->at("status").as_string(), "completed");
  EXPECT_EQ(caller->at("error").as_string(), "") << json::serialize(*caller);
  EXPECT_EQ(callee->at("error").as_string(), "") << json::serialize(*callee);
  // B's own webhook answered the call with B's stream.
  EXPECT_NE(std::string(callee->at("twiml").as_string()).find(b->url().substr(7) + "/media"), std::string::npos);

  // The conversation, as each gateway recognised it.
  EXPECT_TRUE(b->wait_for_log("caller said call_sid=" + callee_sid + " turn=1 text=\"good morning\"")) << b->log_tail();
  EXPECT_TRUE(b->wait_for_log("caller said call_sid=" + callee_sid + " turn=2 text=\"what time is it\"")) << b->log_tail();
  EXPECT_TRUE(a->wait_for_log("caller said call_sid=" + sid + " turn=1 text=\"" + normalized(kGreeting) + "\""))
      << a->log_tail();
  EXPECT_TRUE(a->wait_for_log("text=\"you said good morning\"")) << a->log_tail();
  EXPECT_TRUE(a->wait_for_log("text=\"you said what time is it\"")) << a->log_tail();
  EXPECT_TRUE(a->wait_for_log("agent hung up call_sid=" + sid)) << a->log_tail();
  // A never greeted; B greeted once.
  EXPECT_EQ(count_of(a->log(), "turn=0 text="), 0u);
  EXPECT_EQ(count_of(b->log(), "agent says call_sid=" + callee_sid + " turn=0"), 1u);

  // A's keys crossed the network: played by A's call, heard by B's, and B's gateway
  // received them as dtmf events. A's stream then resumed with the same agent.
  EXPECT_EQ(caller->at("digits_played").as_string(), "42");
  EXPECT_EQ(callee->at("digits_heard").as_string(), "42");
  EXPECT_TRUE(b->wait_for_log("dtmf call_sid=" + callee_sid + " digit=4")) << b->log_tail();
  EXPECT_TRUE(b->wait_for_log("dtmf call_sid=" + callee_sid + " digit=2")) << b->log_tail();
  EXPECT_TRUE(a->wait_for_log("call resumed call_sid=" + sid)) << a->log_tail();
  EXPECT_EQ(verb_names(*caller), (std::vector<std::string>{"Connect", "Play", "Connect"}));

  // Each leg's marks came back once their audio had played on the line.
  const auto& caller_streams = caller->at("streams").as_array();
  const auto& callee_streams = callee->at("streams").as_array();
  ASSERT_EQ(caller_streams.size(), 2u);
  ASSERT_EQ(callee_streams.size(), 1u);
  for (const auto* streams : {&caller_streams, &callee_streams})
    for (const auto& s : *streams) {
      const auto& o = s.as_object();
      EXPECT_GT(o.at("marks_received").as_int64(), 0) << json::serialize(o);
      EXPECT_EQ(o.at("marks_echoed").as_int64(), o.at("marks_received").as_int64()) << json::serialize(o);
      EXPECT_EQ(o.at("protocol_errors").as_int64(), 0);
      EXPECT_EQ(callback_events(o), (std::vector<std::string>{"stream-started", "stream-stopped"}));
    }
  // What A's line carried from B, transcribed by the emulator.
  const auto heard = heard_transcripts(*caller);
  ASSERT_GE(heard.size(), 3u) << json::serialize(*caller);
  EXPECT_EQ(heard[0], normalized(kGreeting));
  EXPECT_EQ(heard[1], "you said good morning");
  EXPECT_EQ(heard[2], "you said what time is it");
}

TEST(PhoneNetwork, AgentPressesKeysAndTheConversationGoesOnInTheResumedStream) {
  auto emulator = twilio_emulator({"good morning", "what time is it"});
  const auto script = grammar_file("vox-e2e-digits-script.txt",
                                   {"you said good morning [digits 12w34]", "you said what time is it"});
  auto server = gateway(*emulator, {"--agent", "script", "--script", script});
  const auto sid = place_call(*emulator, *server);
  const auto calls = settled_calls(*emulator, 1);
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("status").as_string(), "completed");
  EXPECT_EQ(c.at("error").as_string(), "");
  EXPECT_EQ(c.at("digits_played").as_string(), "12w34");
  const std::string update(c.at("redirect_twiml").as_string());
  EXPECT_NE(update.find("<Play digits=\"12w34\"/><Connect><Stream url=\"ws://127.0.0.1"), std::string::npos) << update;
  EXPECT_NE(update.find("<Parameter name=\"direction\" value=\"outbound-api\"/>"), std::string::npos) << update;
  EXPECT_EQ(verb_names(c), (std::vector<std::string>{"Connect", "Play", "Connect"}));
  // The callee heard the greeting once, then both replies: the second after the keys, in
  // the new stream, from the same agent (its second script line).
  EXPECT_EQ(heard_transcripts(c), (std::vector<std::string>{normalized(kGreeting), "you said good morning",
                                                            "you said what time is it"}));
  const auto& streams = c.at("streams").as_array();
  ASSERT_EQ(streams.size(), 2u);
  for (const auto& s : streams)
    EXPECT_EQ(callback_events(s.as_object()), (std::vector<std::string>{"stream-started", "stream-stopped"}));
  EXPECT_TRUE(server->wait_for_log("sending digits call_sid=" + sid + " digits=12w34"));
  EXPECT_TRUE(server->wait_for_log("call resumed call_sid=" + sid));
  EXPECT_TRUE(server->wait_for_log("stream status call_sid=" + sid));
  EXPECT_EQ(count_of(server->log(), "agent says call_sid=" + sid + " turn=0"), 1u) << server->log_tail();
}

// A small app for the TwiML test: serves a WAV for <Play>, takes a forked stream on
// /fork and stream status callbacks on /stream-status, recording all of it.
class TapApp {
 public:
  TapApp() {
    // "you said thank you very much" as 8 kHz PCM16 WAV.
    const auto ulaw = Engines::get().tts.synthesize_blocking("you said thank you very much", kVoice);
    std::vector<std::int16_t> pcm(ulaw.size());
    audio::ulaw_decode(ulaw, pcm);
    wav_ = audio::wav_bytes(pcm, 8000);
    net::Router router;
    router.add("GET", "/tone.wav", [this](const net::HttpRequest&) -> boost::asio::awaitable<net::HttpResponse> {
      co_return net::HttpResponse::text(200, wav_, "audio/x-wav");
    });
    router.add("POST", "/stream-status", [this](const net::HttpRequest& req) -> boost::asio::awaitable<net::HttpResponse> {
      std::lock_guard lock(mu_);
      const auto form = net::parse_form(req.body);
      callbacks_.push_back(form);
      signatures_ok_ = signatures_ok_ && twilio::validate_signature(kToken, url() + "/stream-status", form,
                                                                     req.header("X-Twilio-Signature"));
      co_return net::HttpResponse::text(200, "", "text/plain");
    });
    router.add_ws("/fork", [this](const net::HttpRequest& req, net::HttpResponse&) -> std::unique_ptr<net::WsHandler> {
      std::lock_guard lock(mu_);
      fork_signed_ = twilio::validate_signature(kToken, "ws://127.0.0.1:" + std::to_string(port_) + "/fork", {},
                                                req.header("X-Twilio-Signature"));
      return std::make_unique<Fork>(*this);
    });
    server_ = std::make_unique<net::Server>(io_.context(), std::move(router), net::ServerLimits{});
    port_ = server_->listen("127.0.0.1", 0);
  }
  ~TapApp() { server_->shutdown(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json::object> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::vector<std::vector<std::pair<std::string, std::string>>> callbacks() {
    std::lock_guard lock(mu_);
    return callbacks_;
  }
  bool signatures_ok() {
    std::lock_guard lock(mu_);
    return signatures_ok_ && fork_signed_;
  }

 private:
  struct Fork final : net::WsHandler {
    explicit Fork(TapApp& a) : app(a) {}
    void on_open(std::shared_ptr<net::WsConnection>) override {}
    void on_text(std::string_view m) override {
      std::lock_guard lock(app.mu_);
      app.messages_.push_back(json::parse(m).as_object());
    }
    void on_close(std::string_view) override {}
    TapApp& app;
  };

  IoThread io_;
  std::unique_ptr<net::Server> server_;
  std::uint16_t port_ = 0;
  std::string wav_;
  std::mutex mu_;
  std::vector<json::object> messages_;
  std::vector<std::vector<std::pair<std::string, std::string>>> callbacks_;
  bool signatures_ok_ = true;
  bool fork_signed_ = false;
};

// Counts the bytes of a media message's payload that are not μ-law silence.
std::size_t sound_bytes(const json::object& msg) {
  const auto payload = std::string(msg.at("media").as_object().at("payload").as_string());
  std::vector<std::uint8_t> bytes(base64::max_decoded_size(payload.size()) + 3);
  const auto n = base64::decode(payload, bytes);
  std::size_t loud = 0;
  for (std::size_t i = 0; n && i < *n; ++i)
    if (std::abs(audio::ulaw_decode(bytes[i])) > 300) ++loud;
  return loud;
}

TEST(PhoneNetwork, TwimlVerbsForkSayPausePlayAndRedirect) {
  TapApp app;
  auto emulator = twilio_emulator({"what time is it"});
  auto server = gateway(*emulator);
  IoThread io;
  net::HttpClient http_client(io.context().get_executor());
  twilio::RestClient rest(http_client, twilio::RestConfig{kAccount, kToken, {}, emulator->url()});
  twilio::CreateCall create;
  create.to = "+15550002222";
  create.from = "+15550001111";
  create.status_callback = server->url() + "/api/v1/twilio/call-status";
  create.twiml = "<Response><Start><Stream name=\"tap\" url=\"ws://127.0.0.1:" + app.url().substr(17) +
                 "/fork\" track=\"both_tracks\" statusCallback=\"" + app.url() + "/stream-status\">"
                 "<Parameter name=\"purpose\" value=\"qa\"/></Stream></Start>"
                 "<Say voice=\"alice\">you said good morning</Say><Pause length=\"1\"/>"
                 "<Play>" + app.url() + "/tone.wav</Play>"
                 "<Redirect>" + server->url() + "/twilio-voice</Redirect>"
                 "<Say>never reached: the redirect replaces the rest</Say></Response>";
  const auto sid = io.run([&]() { return rest.create_call(create); }).sid;
  const auto calls = settled_calls(*emulator, 1);
  ASSERT_EQ(calls.size(), 1u);
  const auto& c = calls[0].as_object();
  EXPECT_EQ(c.at("status").as_string(), "completed");
  EXPECT_EQ(c.at("error").as_string(), "") << json::serialize(c);
  EXPECT_EQ(verb_names(c), (std::vector<std::string>{"Start", "Say", "Pause", "Play", "Redirect", "Connect"}));
  // The callee heard <Say>, then <Play>, then our gateway's greeting and reply.
  EXPECT_EQ(heard_transcripts(c), (std::vector<std::string>{"you said good morning", "you said thank you very much",
                                                            normalized(kGreeting), "you said what time is it"}));
  EXPECT_TRUE(server->wait_for_log("incoming call call_sid=" + sid)) << server->log_tail();

  // The fork saw the whole call on both tracks, then `stop`.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<json::object> msgs;
  while (std::chrono::steady_clock::now() < deadline) {
    msgs = app.messages();
    if (!msgs.empty() && msgs.back().at("event").as_string() == "stop") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(msgs.size(), 3u);
  EXPECT_EQ(msgs.front().at("event").as_string(), "connected");
  const auto& start = msgs[1].at("start").as_object();
  EXPECT_EQ(start.at("callSid").as_string(), sid);
  EXPECT_EQ(json::serialize(start.at("tracks")), R"(["inbound","outbound"])");
  EXPECT_EQ(start.at("customParameters").as_object().at("purpose").as_string(), "qa");
  EXPECT_EQ(msgs.back().at("event").as_string(), "stop");
  std::size_t inbound = 0, outbound = 0, inbound_sound = 0, outbound_sound = 0;
  for (const auto& m : msgs) {
    if (m.at("event").as_string() != "media") continue;
    const auto track = m.at("media").as_object().at("track").as_string();
    (track == "inbound" ? inbound : outbound)++;
    (track == "inbound" ? inbound_sound : outbound_sound) += sound_bytes(m);
  }
  EXPECT_EQ(inbound, outbound);
  EXPECT_GT(inbound, 250u);            // over 5 s of call
  EXPECT_GT(inbound_sound, 2000u);     // the callee's line: speech, not silence
  EXPECT_GT(outbound_sound, 8000u * 3);  // <Say>, <Play>, greeting and reply
  // Its status callbacks came signed: started, then stopped when the call ended.
  const auto cbs = app.callbacks();
  ASSERT_EQ(cbs.size(), 2u);
  EXPECT_EQ(net::form_value(cbs[0], "StreamEvent"), "stream-started");
  EXPECT_EQ(net::form_value(cbs[1], "StreamEvent"), "stream-stopped");
  EXPECT_EQ(net::form_value(cbs[0], "StreamName"), "tap");
  EXPECT_EQ(net::form_value(cbs[0], "CallSid"), sid);
  EXPECT_EQ(net::form_value(cbs[0], "StreamSid"), start.at("streamSid").as_string());
  EXPECT_TRUE(app.signatures_ok());
}

}  // namespace
}  // namespace vox::test
