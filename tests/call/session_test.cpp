// CallSession with fake engines and a recording outbox: outbound pacing by marks,
// endOfPlayback, barge-in bookkeeping, turn flow, hang-up, digits (parking the agent for
// the call's next stream) and resumed streams. No sockets; the session's
// strand runs on a private io_context that the test drives with poll().
#include "call/session.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audio/g711.hpp"
#include "audio/signal.hpp"
#include "call/registry.hpp"
#include "speech/espeak_tts.hpp"
#include "support/manual_timers.hpp"

namespace vox::call {
namespace {

// Speaks every word as 250 ms of a constant μ-law byte, with word timings, at once.
class FakeTts final : public speech::TextToSpeech {
 public:
  std::shared_ptr<speech::CancelToken> synthesize(speech::TtsRequest req, speech::TtsCallbacks cb) override {
    requests.push_back(req.text);
    auto token = std::make_shared<speech::CancelToken>();
    int t = 0;
    std::size_t start = 0;
    while (start < req.text.size()) {
      std::size_t end = req.text.find(' ', start);
      if (end == std::string::npos) end = req.text.size();
      cb.on_word(speech::WordTiming{req.text.substr(start, end - start), t});
      std::vector<std::uint8_t> audio(250 * 8, 0x55);
      cb.on_audio(audio);
      t += 250;
      start = end + 1;
    }
    cb.on_done(std::nullopt);
    return token;
  }
  std::vector<speech::VoiceInfo> voices() const override { return {}; }
  std::string name() const override { return "fake"; }
  std::vector<std::string> requests;
};

class FakeStt final : public speech::SpeechToText {
 public:
  void transcribe(speech::SttRequest req, std::function<void(speech::SttResult)> done) override {
    utterance_bytes.push_back(req.ulaw_8k.size());
    done(speech::SttResult{true, text, ""});
  }
  std::string name() const override { return "fake"; }
  std::string text = "book a table";
  std::vector<std::size_t> utterance_bytes;
};

class EchoAgent final : public call::Agent {
 public:
  explicit EchoAgent(std::string greeting, bool hangup = false) : greeting_(std::move(greeting)), hangup_(hangup) {}
  std::string greeting() override { return greeting_; }
  void on_turn(const call::Turn& turn, std::function<void(call::AgentReply)> reply) override {
    turns.push_back(turn);
    reply(call::AgentReply{"you said " + turn.transcript, hangup_});
  }
  std::vector<call::Turn> turns;

 private:
  std::string greeting_;
  bool hangup_;
};

struct Outbox final : MediaOutbox {
  void send_media(std::string_view, std::span<const std::uint8_t> ulaw) override {
    events.push_back("media:" + std::to_string(ulaw.size()));
    media_bytes += ulaw.size();
  }
  void send_mark(std::string_view, std::string_view name) override {
    events.push_back("mark:" + std::string(name));
    marks.emplace_back(name);
  }
  void send_clear(std::string_view) override {
    events.push_back("clear");
    ++clears;
  }
  void close(std::string_view reason) override { closed = std::string(reason); }
  std::vector<std::string> events;
  std::vector<std::string> marks;
  std::size_t media_bytes = 0;
  int clears = 0;
  std::string closed;
};

// Turn 1: "one moment", then press 12#; later turns: "turn N".
class DigitsAgent final : public call::Agent {
 public:
  explicit DigitsAgent(std::string greeting) : greeting_(std::move(greeting)) {}
  std::string greeting() override { return greeting_; }
  void on_turn(const call::Turn&, std::function<void(call::AgentReply)> reply) override {
    ++turns;
    if (turns == 1)
      reply(call::AgentReply{"one moment", false, "", "12#"});
    else
      reply(call::AgentReply{"turn " + std::to_string(turns), false, "", ""});
  }
  int turns = 0;

 private:
  std::string greeting_;
};

// Records what the session asks of Twilio; keeps the last `done` for the test to call.
class FakeControl final : public CallControl {
 public:
  struct DigitsRequest {
    std::string call_sid, digits, stream_url;
  };
  void transfer(const std::string& call_sid, const std::string& target) override {
    transfers.push_back(call_sid + "->" + target);
  }
  void send_digits(const call::CallContext& call, const std::string& digits,
                   std::function<void(bool ok)> done_cb) override {
    digits_requests.push_back(DigitsRequest{call.call_sid, digits, call.stream_url});
    done = std::move(done_cb);
  }
  void hang_up(const std::string& call_sid, const std::string& why) override {
    hang_ups.push_back(call_sid + ": " + why);
  }
  std::vector<std::string> transfers;
  std::vector<std::string> hang_ups;
  std::vector<DigitsRequest> digits_requests;
  std::function<void(bool ok)> done;
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { settings_.talk_timeout_s = 0; }

  std::shared_ptr<CallSession> make(std::string greeting, bool hangup = false) {
    auto agent = std::make_unique<EchoAgent>(std::move(greeting), hangup);
    agent_ = agent.get();
    call::CallContext ctx{"CA1", "MZ1", "+1", "+2", {}};
    auto s = std::make_shared<CallSession>(CallServices{settings_, tts_, stt_, registry_, clock_, timers_},
                                           boost::asio::make_strand(ioc_), outbox_, ctx, std::move(agent));
    return s;
  }
  static constexpr const char* kStreamUrl = "wss://gw.example.com/media?agent=digits";
  // A session of call CA1 whose agent is a DigitsAgent (also in digits_agent_), with
  // `control` (may be null) and `stream_url`; its outbox is outbox_ unless given.
  std::shared_ptr<CallSession> make_digits(CallControl* control, std::string stream_url = kStreamUrl,
                                           std::string greeting = "", std::shared_ptr<Outbox> outbox = nullptr) {
    auto agent = std::make_unique<DigitsAgent>(std::move(greeting));
    digits_agent_ = agent.get();
    call::CallContext ctx{"CA1", "MZ1", "+1", "+2", {}, std::move(stream_url)};
    CallServices svc{settings_, tts_, stt_, registry_, clock_, timers_};
    svc.control = control;
    return std::make_shared<CallSession>(svc, boost::asio::make_strand(ioc_), outbox ? outbox : outbox_, ctx,
                                         std::move(agent));
  }
  // One caller utterance: a little silence, `speech`, then enough silence to end it.
  void say(CallSession& s, const std::vector<std::uint8_t>& speech, std::int64_t& t) {
    feed(s, silence(300), t);
    feed(s, speech, t);
    feed(s, silence(settings_.inbound.endpointing.silence_ms + 100), t);
  }
  void run() {
    ioc_.restart();
    ioc_.poll();
  }
  // Feeds `ms` of μ-law audio as 20 ms media messages at media time `t` (advanced).
  void feed(CallSession& s, const std::vector<std::uint8_t>& audio, std::int64_t& t) {
    for (std::size_t i = 0; i + 160 <= audio.size(); i += 160) {
      s.on_media(std::span(audio.data() + i, 160), t);
      t += 20;
      run();
    }
  }
  std::vector<std::uint8_t> silence(int ms) { return std::vector<std::uint8_t>(static_cast<std::size_t>(ms) * 8, 0xFF); }
  // Acknowledges every mark sent so far, as Twilio would once the audio has played.
  void ack_all(CallSession& s) {
    while (acked_ < outbox_->marks.size()) {
      s.on_mark(outbox_->marks[acked_++]);
      run();
    }
  }

  CallSettings settings_;
  FakeTts tts_;
  FakeStt stt_;
  CallRegistry registry_;
  ManualClock clock_;
  test::ManualTimers timers_{clock_};
  boost::asio::io_context ioc_;
  std::shared_ptr<Outbox> outbox_ = std::make_shared<Outbox>();
  // After ioc_: its stored `done` holds the session's strand, which must go before ioc_.
  FakeControl control_;
  EchoAgent* agent_ = nullptr;
  DigitsAgent* digits_agent_ = nullptr;
  std::size_t acked_ = 0;
};

TEST_F(SessionTest, GreetingIsPacedByMarksAndEndsWithEndOfPlayback) {
  auto s = make("one two three four");  // 4 words = 1000 ms = 8000 bytes
  s->start();
  run();
  // Only the lead (400 ms = 4 chunks of 100 ms) goes out before any mark returns.
  EXPECT_EQ(outbox_->media_bytes, 3200u);
  ASSERT_EQ(outbox_->marks.size(), 4u);
  EXPECT_EQ(outbox_->events[0], "media:800");
  EXPECT_EQ(outbox_->events[1], "mark:reply-1-800");
  // One mark back frees room for one more chunk.
  s->on_mark(outbox_->marks[0]);
  acked_ = 1;
  run();
  EXPECT_EQ(outbox_->media_bytes, 4000u);
  ack_all(*s);
  EXPECT_EQ(outbox_->media_bytes, 8000u);
  EXPECT_EQ(outbox_->marks.back(), "endOfPlayback");
  EXPECT_EQ(std::count(outbox_->marks.begin(), outbox_->marks.end(), "endOfPlayback"), 1);
  EXPECT_EQ(outbox_->clears, 0);
}

TEST_F(SessionTest, SpeechIsEndpointedTranscribedAndAnswered) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto s = make("");
  s->start();
  std::int64_t t = 0;
  feed(*s, silence(500), t);
  feed(*s, speech, t);
  EXPECT_TRUE(stt_.utterance_bytes.empty()) << "no transcription before the silence window";
  feed(*s, silence(settings_.inbound.endpointing.silence_ms + 100), t);
  ASSERT_EQ(stt_.utterance_bytes.size(), 1u);
  // The utterance holds the speech plus preroll and a short tail, not the whole silence window.
  EXPECT_LT(stt_.utterance_bytes[0], speech.size() + 8u * (settings_.inbound.endpointing.preroll_ms + settings_.inbound.endpointing.tail_ms + 40));
  EXPECT_GT(stt_.utterance_bytes[0], speech.size() / 2);
  ASSERT_EQ(agent_->turns.size(), 1u);
  EXPECT_EQ(agent_->turns[0].transcript, "book a table");
  ASSERT_EQ(tts_.requests.size(), 1u);
  EXPECT_EQ(tts_.requests[0], "you said book a table");
  ASSERT_EQ(s->turns().size(), 1u);
  EXPECT_GT(s->turns()[0].speech_end_media_ms, 500);
  EXPECT_LT(s->turns()[0].speech_end_media_ms, t);
}

TEST_F(SessionTest, BargeInClearsAndRecordsTheWordsHeard) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("Stop, I have a question");
  auto s = make("alpha bravo charlie delta echo foxtrot golf hotel");  // 2 s
  s->start();
  run();
  // Twilio reports 600 ms played (6 chunk marks), then the caller talks over the reply.
  for (int i = 0; i < 6; ++i) {
    s->on_mark(outbox_->marks[static_cast<std::size_t>(i)]);
    run();
  }
  std::int64_t t = 0;
  feed(*s, silence(300), t);
  EXPECT_EQ(outbox_->clears, 0);
  feed(*s, speech, t);
  EXPECT_EQ(outbox_->clears, 1);
  ASSERT_EQ(s->barge_ins().size(), 1u);
  EXPECT_EQ(s->barge_ins()[0].heard_ms, 600);
  EXPECT_EQ(s->barge_ins()[0].heard, "alpha bravo charlie");  // words starting before 600 ms
  // Nothing more of the interrupted reply is sent, even when its marks come back.
  const auto bytes = outbox_->media_bytes;
  for (const auto& m : std::vector<std::string>(outbox_->marks)) s->on_mark(m);
  run();
  EXPECT_EQ(outbox_->media_bytes, bytes);
  // The caller's words are answered, and the agent learns what was heard.
  feed(*s, silence(settings_.inbound.endpointing.silence_ms + 100), t);
  ASSERT_EQ(agent_->turns.size(), 1u);
  EXPECT_TRUE(agent_->turns[0].barged_in);
  EXPECT_EQ(agent_->turns[0].interrupted_reply_heard, "alpha bravo charlie");
}

TEST_F(SessionTest, LoudSteadyNoiseDuringPlaybackDoesNotBargeIn) {
  auto s = make("alpha bravo charlie delta");
  s->start();
  run();
  std::vector<std::uint8_t> noise(8000 * 2);
  const auto pcm = audio::white_noise(2000, 4000);
  audio::ulaw_encode(pcm, noise);
  std::int64_t t = 0;
  feed(*s, noise, t);
  EXPECT_EQ(outbox_->clears, 0);
  EXPECT_TRUE(stt_.utterance_bytes.empty());
}

TEST_F(SessionTest, AgentHangupClosesAfterTheReplyHasPlayed) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("goodbye now");
  auto s = make("", /*hangup=*/true);
  s->start();
  std::int64_t t = 0;
  feed(*s, silence(300), t);
  feed(*s, speech, t);
  feed(*s, silence(settings_.inbound.endpointing.silence_ms + 100), t);
  ASSERT_EQ(tts_.requests.size(), 1u);
  EXPECT_TRUE(outbox_->closed.empty()) << "must not hang up before the goodbye has played";
  ack_all(*s);
  EXPECT_EQ(outbox_->closed, "agent hung up");
}

TEST_F(SessionTest, EndStopsEverythingAndIgnoresLaterInput) {
  auto s = make("alpha bravo");
  s->start();
  run();
  s->end("stop");
  const auto events = outbox_->events.size();
  s->on_mark(outbox_->marks[0]);
  std::int64_t t = 0;
  feed(*s, silence(200), t);
  run();
  EXPECT_EQ(outbox_->events.size(), events);
  EXPECT_TRUE(s->ended());
}

TEST_F(SessionTest, DigitsAreSentAfterTheReplyHasPlayedAndTheAgentWaitsForTheNextStream) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto s = make_digits(&control_);
  s->start();
  std::int64_t t = 0;
  say(*s, speech, t);
  ASSERT_EQ(tts_.requests.size(), 1u);
  EXPECT_EQ(tts_.requests[0], "one moment");
  EXPECT_TRUE(control_.digits_requests.empty()) << "no keys before the reply has played";
  ack_all(*s);
  ASSERT_EQ(std::count(outbox_->marks.begin(), outbox_->marks.end(), "endOfPlayback"), 1);
  EXPECT_EQ(outbox_->media_bytes, 2u * 250 * 8) << "the whole reply was sent before the keys";
  ASSERT_EQ(control_.digits_requests.size(), 1u);
  EXPECT_EQ(control_.digits_requests[0].digits, "12#");
  EXPECT_EQ(control_.digits_requests[0].call_sid, "CA1");
  EXPECT_EQ(control_.digits_requests[0].stream_url, kStreamUrl);
  ASSERT_TRUE(static_cast<bool>(control_.done));
  EXPECT_TRUE(control_.transfers.empty());
  EXPECT_TRUE(outbox_->closed.empty()) << "Twilio ends the stream, not us";
  EXPECT_FALSE(s->ended());
  // The agent is parked for the call's next stream (put back after looking).
  {
    auto parked = registry_.unpark("CA1");
    ASSERT_NE(parked.get(), nullptr);
    EXPECT_EQ(parked.get(), digits_agent_);
    registry_.park("CA1", std::move(parked));
  }
  // Twilio accepts; the caller talks before the stream is replaced: the turn is dropped.
  control_.done(true);
  run();
  const auto events = outbox_->events.size();
  say(*s, speech, t);
  EXPECT_EQ(digits_agent_->turns, 1) << "the parked agent must not be asked";
  EXPECT_EQ(tts_.requests.size(), 1u);
  EXPECT_EQ(outbox_->events.size(), events);
  ASSERT_EQ(s->turns().size(), 2u);
  EXPECT_TRUE(s->turns()[1].reply.empty());
  EXPECT_TRUE(outbox_->closed.empty());
  EXPECT_EQ(control_.digits_requests.size(), 1u);
  // Still parked after done(true).
  auto parked = registry_.unpark("CA1");
  ASSERT_NE(parked.get(), nullptr);
  EXPECT_EQ(parked.get(), digits_agent_);
}

TEST_F(SessionTest, RefusedDigitsGiveTheAgentBackAndTheCallGoesOn) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto s = make_digits(&control_);
  s->start();
  std::int64_t t = 0;
  say(*s, speech, t);
  ack_all(*s);
  ASSERT_EQ(control_.digits_requests.size(), 1u);
  ASSERT_TRUE(static_cast<bool>(control_.done));
  // Twilio refuses the update; the callback hops to the session's strand.
  control_.done(false);
  run();
  EXPECT_EQ(registry_.unpark("CA1").get(), nullptr) << "the session took its agent back";
  const auto bytes = outbox_->media_bytes;
  say(*s, speech, t);
  EXPECT_EQ(digits_agent_->turns, 2);
  ASSERT_EQ(tts_.requests.size(), 2u);
  EXPECT_EQ(tts_.requests[1], "turn 2");
  ASSERT_EQ(s->turns().size(), 2u);
  EXPECT_EQ(s->turns()[1].reply, "turn 2");
  EXPECT_GT(outbox_->media_bytes, bytes) << "the second reply is spoken in this stream";
  ack_all(*s);
  EXPECT_EQ(std::count(outbox_->marks.begin(), outbox_->marks.end(), "endOfPlayback"), 2);
  EXPECT_EQ(control_.digits_requests.size(), 1u);
  EXPECT_TRUE(outbox_->closed.empty());
  EXPECT_FALSE(s->ended());
}

// A digits reply whose keys cannot be sent (no Twilio account, or no stream URL to come
// back to) plays, parks nothing, and the next turn is answered in the same stream.
TEST_F(SessionTest, DigitsWithoutCallControlAreSkippedAndTheCallGoesOn) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto s = make_digits(/*control=*/nullptr);
  s->start();
  std::int64_t t = 0;
  say(*s, speech, t);
  ASSERT_EQ(tts_.requests.size(), 1u);
  EXPECT_EQ(tts_.requests[0], "one moment");
  ack_all(*s);
  EXPECT_EQ(outbox_->media_bytes, 2u * 250 * 8);
  EXPECT_EQ(std::count(outbox_->marks.begin(), outbox_->marks.end(), "endOfPlayback"), 1);
  EXPECT_EQ(registry_.unpark("CA1").get(), nullptr);
  say(*s, speech, t);
  EXPECT_EQ(digits_agent_->turns, 2);
  ASSERT_EQ(tts_.requests.size(), 2u);
  EXPECT_EQ(tts_.requests[1], "turn 2");
  ASSERT_EQ(s->turns().size(), 2u);
  EXPECT_EQ(s->turns()[1].reply, "turn 2");
  EXPECT_GT(outbox_->media_bytes, 2u * 250 * 8);
  EXPECT_TRUE(outbox_->closed.empty());
  EXPECT_FALSE(s->ended());
}

TEST_F(SessionTest, DigitsWithoutAStreamUrlAreSkippedAndTheCallGoesOn) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto s = make_digits(&control_, /*stream_url=*/"");
  s->start();
  std::int64_t t = 0;
  say(*s, speech, t);
  ASSERT_EQ(tts_.requests.size(), 1u);
  ack_all(*s);
  EXPECT_EQ(outbox_->media_bytes, 2u * 250 * 8);
  EXPECT_TRUE(control_.digits_requests.empty()) << "without a URL the call could not resume";
  EXPECT_EQ(registry_.unpark("CA1").get(), nullptr);
  say(*s, speech, t);
  EXPECT_EQ(digits_agent_->turns, 2);
  ASSERT_EQ(tts_.requests.size(), 2u);
  EXPECT_EQ(tts_.requests[1], "turn 2");
  ASSERT_EQ(s->turns().size(), 2u);
  EXPECT_EQ(s->turns()[1].reply, "turn 2");
  EXPECT_TRUE(outbox_->closed.empty());
  EXPECT_FALSE(s->ended());
}

TEST_F(SessionTest, ResumedStreamIsNotGreetedButAFreshOneIs) {
  speech::EspeakTts espeak(speech::EspeakSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto resumed = make_digits(&control_, kStreamUrl, "welcome to the bistro");
  resumed->start(/*resumed=*/true);
  run();
  EXPECT_TRUE(tts_.requests.empty());
  EXPECT_TRUE(outbox_->events.empty());
  EXPECT_EQ(outbox_->media_bytes, 0u);
  // The resumed conversation still answers the caller.
  std::int64_t t = 0;
  say(*resumed, speech, t);
  ASSERT_EQ(tts_.requests.size(), 1u);
  EXPECT_EQ(tts_.requests[0], "one moment");
  EXPECT_GT(outbox_->media_bytes, 0u);
  // The same kind of agent on a new call's stream is greeted.
  auto fresh_outbox = std::make_shared<Outbox>();
  auto fresh = make_digits(&control_, kStreamUrl, "welcome to the bistro", fresh_outbox);
  fresh->start();
  run();
  ASSERT_EQ(tts_.requests.size(), 2u);
  EXPECT_EQ(tts_.requests[1], "welcome to the bistro");
  EXPECT_GT(fresh_outbox->media_bytes, 0u);
  ASSERT_FALSE(fresh_outbox->events.empty());
  EXPECT_EQ(fresh_outbox->events[0], "media:800");
}

// --- On the manual clock: the talk timeout and overdue marks, to the millisecond ---

// Advances the clock by `d` in steps of `step` and lets the session act after each.
void advance(test::ManualTimers& timers, boost::asio::io_context& ioc, std::chrono::milliseconds d,
             std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  for (auto done = std::chrono::milliseconds(0); done < d; done += step) {
    timers.advance(step);
    ioc.restart();
    ioc.poll();
  }
}

TEST_F(SessionTest, TalkTimeoutEndsAnIdleCallExactlyWhenItExpires) {
  settings_.talk_timeout_s = 3;
  auto s = make("");
  s->start();
  run();
  advance(timers_, ioc_, std::chrono::milliseconds(2990));
  EXPECT_FALSE(s->ended());
  EXPECT_TRUE(outbox_->closed.empty());
  advance(timers_, ioc_, std::chrono::milliseconds(20));
  EXPECT_TRUE(s->ended());
  EXPECT_EQ(outbox_->closed, "talk timeout");
}

TEST_F(SessionTest, WithNoGreetingOneMarkSaysSoAndAGreetingSendsNone) {
  auto quiet = make("");
  quiet->start();
  run();
  EXPECT_EQ(outbox_->marks, (std::vector<std::string>{std::string(kNoGreetingMark)}));
  EXPECT_EQ(outbox_->media_bytes, 0u);
  outbox_->marks.clear();
  auto greeter = make("welcome");
  greeter->start();
  run();
  EXPECT_EQ(std::count(outbox_->marks.begin(), outbox_->marks.end(), std::string(kNoGreetingMark)), 0);
}

TEST_F(SessionTest, TalkTimeoutHangsUpTheCallItselfNotOnlyTheStream) {
  settings_.talk_timeout_s = 2;
  auto s = make_digits(&control_);
  s->start();
  run();
  advance(timers_, ioc_, std::chrono::milliseconds(1990));
  EXPECT_TRUE(control_.hang_ups.empty());
  advance(timers_, ioc_, std::chrono::milliseconds(20));
  EXPECT_TRUE(s->ended());
  EXPECT_EQ(control_.hang_ups, (std::vector<std::string>{"CA1: talk timeout"}));
}

TEST_F(SessionTest, TalkTimeoutCountsFromTheLastPlayedAudio) {
  settings_.talk_timeout_s = 2;
  auto s = make("hello there general kenobi");  // four words: a second of audio from the fake engine
  s->start();
  run();
  // Twilio plays 100 ms a mark: one mark comes back every 100 ms until endOfPlayback.
  int steps = 0;
  while (acked_ < outbox_->marks.size() && steps++ < 100) {
    advance(timers_, ioc_, std::chrono::milliseconds(100));
    const bool last = outbox_->marks[acked_] == CallSession::kEndOfPlayback;
    s->on_mark(outbox_->marks[acked_++]);
    run();
    if (last) break;
  }
  ASSERT_GE(steps, 10) << "the greeting played for its second";
  ASSERT_FALSE(s->ended()) << "not idle while the greeting played";
  // Idle from the end of playback: still on the line 1.9 s later, ended by 2.1 s.
  advance(timers_, ioc_, std::chrono::milliseconds(1900));
  EXPECT_FALSE(s->ended()) << "counted from the start of the call instead of the last audio";
  advance(timers_, ioc_, std::chrono::milliseconds(200));
  EXPECT_TRUE(s->ended());
}

TEST_F(SessionTest, MarksNeverEchoedEndTheReplyByTheClockThenTheTalkTimeout) {
  settings_.talk_timeout_s = 2;
  settings_.playout.mark_slack_ms = 500;
  auto s = make("hello there general kenobi");  // 1 s of audio, whose marks never come back
  s->start();
  run();
  ASSERT_FALSE(outbox_->marks.empty());
  // The reply lasts no longer than its audio plus the slack (1.5 s); the talk timeout
  // counts from its end: still on the line at 3 s, ended by 3.7 s.
  advance(timers_, ioc_, std::chrono::milliseconds(1600));
  EXPECT_EQ(outbox_->media_bytes, 8000u) << "the whole reply went out, paced by the clock";
  advance(timers_, ioc_, std::chrono::milliseconds(1400));
  EXPECT_FALSE(s->ended()) << "the talk timeout did not wait for the reply's audio";
  advance(timers_, ioc_, std::chrono::milliseconds(700));
  EXPECT_TRUE(s->ended()) << "a socket that never echoes marks held the call open";
  EXPECT_EQ(outbox_->closed, "talk timeout");
}

}  // namespace
}  // namespace vox::call
