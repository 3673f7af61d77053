// CallSession with fake engines and a recording outbox: outbound pacing by marks,
// endOfPlayback, barge-in bookkeeping, turn flow, hang-up. No sockets; the session's
// strand runs on a private io_context that the test drives with poll().
#include "call/session.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "audio/g711.hpp"
#include "audio/signal.hpp"
#include "call/registry.hpp"
#include "speech/espeak_tts.hpp"

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

class EchoAgent final : public agent::Agent {
 public:
  explicit EchoAgent(std::string greeting, bool hangup = false) : greeting_(std::move(greeting)), hangup_(hangup) {}
  std::string greeting() override { return greeting_; }
  void on_turn(const agent::Turn& turn, std::function<void(agent::Reply)> reply) override {
    turns.push_back(turn);
    reply(agent::Reply{"you said " + turn.transcript, hangup_});
  }
  std::vector<agent::Turn> turns;

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

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { config_.talk_timeout_s = 0; }

  std::shared_ptr<CallSession> make(std::string greeting, bool hangup = false) {
    auto agent = std::make_unique<EchoAgent>(std::move(greeting), hangup);
    agent_ = agent.get();
    agent::CallContext ctx{"CA1", "MZ1", "+1", "+2", {}};
    auto s = std::make_shared<CallSession>(CallServices{config_, tts_, stt_, registry_, clock_},
                                           boost::asio::make_strand(ioc_), outbox_, ctx, std::move(agent));
    return s;
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
    while (acked_ < outbox_.marks.size()) {
      s.on_mark(outbox_.marks[acked_++]);
      run();
    }
  }

  Config config_;
  FakeTts tts_;
  FakeStt stt_;
  CallRegistry registry_;
  ManualClock clock_;
  boost::asio::io_context ioc_;
  Outbox outbox_;
  EchoAgent* agent_ = nullptr;
  std::size_t acked_ = 0;
};

TEST_F(SessionTest, GreetingIsPacedByMarksAndEndsWithEndOfPlayback) {
  auto s = make("one two three four");  // 4 words = 1000 ms = 8000 bytes
  s->start();
  run();
  // Only the lead (400 ms = 4 chunks of 100 ms) goes out before any mark returns.
  EXPECT_EQ(outbox_.media_bytes, 3200u);
  ASSERT_EQ(outbox_.marks.size(), 4u);
  EXPECT_EQ(outbox_.events[0], "media:800");
  EXPECT_EQ(outbox_.events[1], "mark:reply-1-800");
  // One mark back frees room for one more chunk.
  s->on_mark(outbox_.marks[0]);
  acked_ = 1;
  run();
  EXPECT_EQ(outbox_.media_bytes, 4000u);
  ack_all(*s);
  EXPECT_EQ(outbox_.media_bytes, 8000u);
  EXPECT_EQ(outbox_.marks.back(), "endOfPlayback");
  EXPECT_EQ(std::count(outbox_.marks.begin(), outbox_.marks.end(), "endOfPlayback"), 1);
  EXPECT_EQ(outbox_.clears, 0);
}

TEST_F(SessionTest, SpeechIsEndpointedTranscribedAndAnswered) {
  speech::EspeakTts espeak(TtsSettings{});
  const auto speech = espeak.synthesize_blocking("I would like to book a table please");
  auto s = make("");
  s->start();
  std::int64_t t = 0;
  feed(*s, silence(500), t);
  feed(*s, speech, t);
  EXPECT_TRUE(stt_.utterance_bytes.empty()) << "no transcription before the silence window";
  feed(*s, silence(config_.endpointing.silence_ms + 100), t);
  ASSERT_EQ(stt_.utterance_bytes.size(), 1u);
  // The utterance holds the speech plus preroll and a short tail, not the whole silence window.
  EXPECT_LT(stt_.utterance_bytes[0], speech.size() + 8u * (config_.endpointing.preroll_ms + config_.endpointing.tail_ms + 40));
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
  speech::EspeakTts espeak(TtsSettings{});
  const auto speech = espeak.synthesize_blocking("Stop, I have a question");
  auto s = make("alpha bravo charlie delta echo foxtrot golf hotel");  // 2 s
  s->start();
  run();
  // Twilio reports 600 ms played (6 chunk marks), then the caller talks over the reply.
  for (int i = 0; i < 6; ++i) {
    s->on_mark(outbox_.marks[static_cast<std::size_t>(i)]);
    run();
  }
  std::int64_t t = 0;
  feed(*s, silence(300), t);
  EXPECT_EQ(outbox_.clears, 0);
  feed(*s, speech, t);
  EXPECT_EQ(outbox_.clears, 1);
  ASSERT_EQ(s->barge_ins().size(), 1u);
  EXPECT_EQ(s->barge_ins()[0].heard_ms, 600);
  EXPECT_EQ(s->barge_ins()[0].heard, "alpha bravo charlie");  // words starting before 600 ms
  // Nothing more of the interrupted reply is sent, even when its marks come back.
  const auto bytes = outbox_.media_bytes;
  for (const auto& m : std::vector<std::string>(outbox_.marks)) s->on_mark(m);
  run();
  EXPECT_EQ(outbox_.media_bytes, bytes);
  // The caller's words are answered, and the agent learns what was heard.
  feed(*s, silence(config_.endpointing.silence_ms + 100), t);
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
  EXPECT_EQ(outbox_.clears, 0);
  EXPECT_TRUE(stt_.utterance_bytes.empty());
}

TEST_F(SessionTest, AgentHangupClosesAfterTheReplyHasPlayed) {
  speech::EspeakTts espeak(TtsSettings{});
  const auto speech = espeak.synthesize_blocking("goodbye now");
  auto s = make("", /*hangup=*/true);
  s->start();
  std::int64_t t = 0;
  feed(*s, silence(300), t);
  feed(*s, speech, t);
  feed(*s, silence(config_.endpointing.silence_ms + 100), t);
  ASSERT_EQ(tts_.requests.size(), 1u);
  EXPECT_TRUE(outbox_.closed.empty()) << "must not hang up before the goodbye has played";
  ack_all(*s);
  EXPECT_EQ(outbox_.closed, "agent hung up");
}

TEST_F(SessionTest, EndStopsEverythingAndIgnoresLaterInput) {
  auto s = make("alpha bravo");
  s->start();
  run();
  s->end("stop");
  const auto events = outbox_.events.size();
  s->on_mark(outbox_.marks[0]);
  std::int64_t t = 0;
  feed(*s, silence(200), t);
  run();
  EXPECT_EQ(outbox_.events.size(), events);
  EXPECT_TRUE(s->ended());
}

}  // namespace
}  // namespace vox::call
