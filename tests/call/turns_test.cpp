// The turn channels behind GET /generate: what the other side said, playback of our
// input, how a call ended, one waiter per call, bounded memory.
#include <gtest/gtest.h>

#include "call/turns.hpp"

namespace vox::call {
namespace {

TEST(TurnChannel, TranscriptsAreTakenInOrderAndThoseHeardWhileWeSpokeAreSkipped) {
  TurnChannel ch("CA1");
  ch.speech_started();
  ch.transcript("hello");
  // Our input (reply 7) finishes playing after "hello" was heard...
  ch.reply_done(7, false, false, "", 1200);
  ch.speech_started();
  ch.transcript("how can I help");
  const auto played = ch.playback(7);
  ASSERT_TRUE(played);
  EXPECT_FALSE(played->failed);
  EXPECT_DOUBLE_EQ(played->played_ms, 1200);
  EXPECT_FALSE(ch.playback(8));
  // ... so only what came after it is the reply.
  EXPECT_TRUE(ch.has_heard(played->heard_before));
  std::vector<std::string> skipped;
  const auto heard = ch.take_heard(played->heard_before, skipped);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].text, "how can I help");
  EXPECT_GE(heard[0].arrived, heard[0].onset);
  EXPECT_GE(heard[0].onset, played->finished);
  EXPECT_EQ(skipped, std::vector<std::string>{"hello"});
  // Taken: nothing is left.
  EXPECT_FALSE(ch.has_heard(0));
}

TEST(TurnChannel, OneWaiterAtATimeAndWatchersAreWokenOnEveryChange) {
  TurnChannel ch("CA2");
  EXPECT_TRUE(ch.claim());
  EXPECT_FALSE(ch.claim());
  ch.release();
  EXPECT_TRUE(ch.claim());
  int woken = 0;
  const int id = ch.watch([&woken] { ++woken; });
  ch.transcript("a");
  ch.speech_started();
  ch.reply_done(1, true, false, "quota exceeded", 0);
  EXPECT_EQ(woken, 3);
  EXPECT_TRUE(ch.playback(1)->failed);
  EXPECT_EQ(ch.playback(1)->error, "quota exceeded");
  ch.unwatch(id);
  ch.transcript("b");
  EXPECT_EQ(woken, 3);
}

TEST(TurnChannel, AResumedStreamDoesNotEndTheCallButAHangUpDoes) {
  TurnChannel ch("CA3");
  EXPECT_TRUE(ch.pending());
  ch.stream_ended(true, "stop");  // keys pressed: the call goes on in a new stream
  EXPECT_FALSE(ch.ended());
  ch.stream_ended(false, "stop");
  ASSERT_TRUE(ch.ended());
  EXPECT_EQ(ch.ended()->reason, EndReason::hung_up);
  EXPECT_FALSE(ch.live());
  // The first reason stays.
  ch.end(EndReason::shutdown, "server shutdown");
  EXPECT_EQ(ch.ended()->reason, EndReason::hung_up);
}

TEST(TurnChannel, ClassifiesEndReasons) {
  EXPECT_EQ(classify_end("talk timeout"), EndReason::talk_timeout);
  EXPECT_EQ(classify_end("server shutdown"), EndReason::shutdown);
  EXPECT_EQ(classify_end("stop"), EndReason::hung_up);
  EXPECT_EQ(classify_end("agent hung up"), EndReason::hung_up);
  EXPECT_EQ(classify_end("busy"), EndReason::hung_up);
  EXPECT_EQ(classify_end("no-answer"), EndReason::hung_up);
  EXPECT_EQ(classify_end("failed"), EndReason::error);
  EXPECT_EQ(classify_end("websocket read failed: connection reset"), EndReason::error);
  EXPECT_EQ(to_string(EndReason::talk_timeout), "talk_timeout");
  EXPECT_FALSE(describe(EndReason::error).empty());
}

TEST(TurnChannel, KeepsABoundedHistory) {
  TurnChannel ch("CA4");
  for (int i = 0; i < 1000; ++i) ch.transcript("t" + std::to_string(i));
  std::vector<std::string> skipped;
  const auto heard = ch.take_heard(0, skipped);
  EXPECT_LE(heard.size(), 256u);
  EXPECT_EQ(heard.back().text, "t999");
  for (std::uint64_t id = 1; id <= 200; ++id) ch.reply_done(id, false, false, "", 1);
  EXPECT_FALSE(ch.playback(1));
  EXPECT_TRUE(ch.playback(200));
}

TEST(TurnHub, AWaiterCanExpectACallAndAbandonIt) {
  TurnHub hub;
  EXPECT_EQ(hub.find("CAx"), nullptr);
  auto ch = hub.expect("CAx");
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(hub.find("CAx"), ch);
  EXPECT_EQ(hub.expect("CAx"), ch);
  hub.abandon(ch);
  EXPECT_EQ(hub.find("CAx"), nullptr);
  // A call that was seen is kept for later turns (its end is still news).
  auto seen = hub.expect("CAy");
  seen->end(EndReason::hung_up, "stop");
  hub.abandon(seen);
  EXPECT_EQ(hub.find("CAy"), seen);
}

TEST(TurnHub, StatusCallbacksEndCallsThatNeverStreamedAndShutdownEndsAll) {
  TurnHub hub;
  auto a = hub.expect("CAa");
  auto b = hub.expect("CAb");
  hub.call_status("CAa", "ringing");
  EXPECT_FALSE(a->ended());
  hub.call_status("CAa", "no-answer");
  ASSERT_TRUE(a->ended());
  EXPECT_EQ(a->ended()->reason, EndReason::hung_up);
  hub.call_status("CAb", "failed");
  EXPECT_EQ(b->ended()->reason, EndReason::error);
  auto c = hub.expect("CAc");
  hub.shutdown();
  ASSERT_TRUE(c->ended());
  EXPECT_EQ(c->ended()->reason, EndReason::shutdown);
  // After shutdown, a new waiter learns it at once.
  auto d = hub.expect("CAd");
  ASSERT_TRUE(d->ended());
  EXPECT_EQ(d->ended()->reason, EndReason::shutdown);
}

}  // namespace
}  // namespace vox::call
