// The playout on its own, frame by frame and on a clock the test sets: pacing by marks,
// the end of a reply, cuts with the words heard, and marks that never come back.
#include "call/playout.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vox::call {
namespace {

struct Outbox final : MediaOutbox {
  void send_media(std::string_view, std::span<const std::uint8_t> ulaw) override { media.push_back(ulaw.size()); }
  void send_mark(std::string_view, std::string_view name) override { marks.emplace_back(name); }
  void send_clear(std::string_view) override { ++clears; }
  void close(std::string_view) override {}
  std::vector<std::size_t> media;
  std::vector<std::string> marks;
  int clears = 0;
};

// Records what the playout asks for and reports; continues after every reply.
// Takes the text of a streamed reply the way an engine's feed does.
struct Feed final : speech::TextFeed {
  void append(std::string text) override { appended.push_back(std::move(text)); }
  void close() override { ++closed; }
  std::vector<std::string> appended;
  int closed = 0;
};

struct Listener final : PlayoutListener {
  void synthesize(Reply& r) override {
    started.push_back(r.id);
    started_text.push_back(r.text);
    if (r.text_open) r.feed = feeds.emplace_back(std::make_shared<Feed>());
  }
  std::vector<std::string> started_text;
  std::vector<std::shared_ptr<Feed>> feeds;
  void chunk_sent(const Reply&, std::span<const std::uint8_t> chunk, bool first) override {
    sent += chunk.size();
    firsts += first ? 1 : 0;
  }
  void mark_echoed(const Reply&) override { ++echoed; }
  void underrun(const Reply&) override { ++underruns; }
  void marks_overdue(const Reply& r) override { overdue.push_back(r.id); }
  void reply_ended(const Reply& r, const ReplyEnd& e) override { ended.push_back({r.id, e}); }
  bool after_reply(Reply&) override { return true; }
  std::vector<std::uint64_t> started;
  std::size_t sent = 0;
  int firsts = 0;
  int echoed = 0;
  int underruns = 0;
  std::vector<std::uint64_t> overdue;
  std::vector<std::pair<std::uint64_t, ReplyEnd>> ended;
};

std::vector<std::uint8_t> audio_ms(int ms) { return std::vector<std::uint8_t>(static_cast<std::size_t>(ms) * 8, 0x55); }

class PlayoutTest : public ::testing::Test {
 protected:
  PlayoutSettings settings() {
    PlayoutSettings s;
    s.chunk_ms = 100;
    s.lead_ms = 400;
    s.mark_slack_ms = 1000;
    return s;
  }
  Outbox out_;
  Listener seen_;
  Playout playout_{settings(), "MZ1", out_, seen_};
};

TEST_F(PlayoutTest, AudioGoesOutInChunksUpToTheLeadThenByMarks) {
  const auto id = playout_.enqueue("hello there", 1);
  ASSERT_EQ(seen_.started, (std::vector<std::uint64_t>{id}));
  playout_.audio(id, audio_ms(1000), 0);
  playout_.synthesis_done(id, 0);
  // 400 ms ahead: four chunks of 100 ms, a mark after each.
  EXPECT_EQ(out_.media, (std::vector<std::size_t>{800, 800, 800, 800}));
  ASSERT_EQ(out_.marks.size(), 4u);
  EXPECT_EQ(out_.marks[0], "reply-1-800");
  EXPECT_EQ(seen_.firsts, 1);
  playout_.mark(out_.marks[0], 100);
  EXPECT_EQ(out_.media.size(), 5u);  // one more chunk per mark
  EXPECT_EQ(seen_.echoed, 1);
  for (std::size_t i = 1; out_.marks[i] != Playout::kEndOfPlayback; ++i)
    playout_.mark(out_.marks[i], 100.0 * static_cast<double>(i + 1));
  EXPECT_EQ(out_.media.size(), 10u);
  EXPECT_EQ(out_.marks.back(), Playout::kEndOfPlayback);
  EXPECT_TRUE(seen_.ended.empty()) << "not over before endOfPlayback comes back";
  playout_.mark(Playout::kEndOfPlayback, 1000);
  ASSERT_EQ(seen_.ended.size(), 1u);
  EXPECT_FALSE(seen_.ended[0].second.interrupted);
  EXPECT_EQ(seen_.ended[0].second.heard, "hello there");
  EXPECT_FALSE(playout_.speaking());
  EXPECT_EQ(out_.clears, 0);
}

TEST_F(PlayoutTest, ACutClearsAndReportsTheWordsHeardByTheMarks) {
  const auto id = playout_.enqueue("one two three four", 1);
  const std::vector<std::string> words = {"one", "two", "three", "four"};
  for (std::size_t w = 0; w < words.size(); ++w) playout_.word(id, speech::WordTiming{words[w], static_cast<int>(w) * 250});
  playout_.audio(id, audio_ms(1000), 0);
  playout_.mark(out_.marks[0], 100);
  playout_.mark(out_.marks[1], 200);
  playout_.mark(out_.marks[2], 300);  // 300 ms heard: "one" and "two"
  playout_.enqueue("queued after", 1);
  const auto cut = playout_.cut();
  ASSERT_TRUE(cut.has_value());
  EXPECT_TRUE(cut->interrupted);
  EXPECT_EQ(cut->heard_ms, 300);
  EXPECT_EQ(cut->heard, "one two");
  EXPECT_EQ(out_.clears, 1);
  EXPECT_FALSE(playout_.speaking());
  EXPECT_EQ(playout_.queued(), 0u) << "a cut drops what was queued";
  // Late echoes of the cut reply's marks change nothing.
  const auto sent = out_.media.size();
  playout_.mark(out_.marks[3], 400);
  EXPECT_EQ(out_.media.size(), sent);
}

TEST_F(PlayoutTest, MarksThatNeverComeBackCountAsPlayedAfterTheAudioAndTheSlack) {
  const auto id = playout_.enqueue("a second of speech", 1);
  playout_.audio(id, audio_ms(1000), 0);
  playout_.synthesis_done(id, 0);
  ASSERT_EQ(out_.media.size(), 4u);
  // The first chunk plays 0..100 ms: due at 100 ms, overdue at 1100 ms.
  ASSERT_TRUE(playout_.next_deadline().has_value());
  EXPECT_DOUBLE_EQ(*playout_.next_deadline(), 1100.0);
  playout_.tick(1099);
  EXPECT_TRUE(seen_.overdue.empty());
  EXPECT_EQ(out_.media.size(), 4u);
  playout_.tick(1100);
  EXPECT_EQ(seen_.overdue, (std::vector<std::uint64_t>{id}));
  EXPECT_GT(out_.media.size(), 4u) << "pacing goes on by the clock";
  // Tick at each deadline: the reply ends no later than its audio plus the slack.
  double now = 1100;
  while (playout_.speaking()) {
    const auto next = playout_.next_deadline();
    ASSERT_TRUE(next.has_value());
    ASSERT_GE(*next, now);
    now = *next;
    playout_.tick(now);
  }
  EXPECT_LE(now, 1000.0 + 1000.0 + 100.0);
  ASSERT_EQ(seen_.ended.size(), 1u);
  EXPECT_FALSE(seen_.ended[0].second.interrupted);
  EXPECT_EQ(seen_.overdue.size(), 1u) << "reported once per reply";
  EXPECT_EQ(seen_.echoed, 0) << "a clock's guess is not an echo";
}

TEST_F(PlayoutTest, AnUnderrunIsReportedWhenTheCallerHeardEverythingSentSoFar) {
  const auto id = playout_.enqueue("streaming", 1);
  playout_.audio(id, audio_ms(100), 0);  // synthesis still running
  ASSERT_EQ(out_.marks.size(), 1u);
  playout_.mark(out_.marks[0], 100);
  EXPECT_EQ(seen_.underruns, 1);
}

TEST_F(PlayoutTest, EndCutsTheCurrentReplyAndDropsTheRest) {
  const auto id = playout_.enqueue("going", 1);
  playout_.enqueue("never said", 2);
  playout_.audio(id, audio_ms(200), 0);
  playout_.mark(out_.marks[0], 100);
  playout_.end();
  ASSERT_EQ(seen_.ended.size(), 1u);
  EXPECT_TRUE(seen_.ended[0].second.interrupted);
  EXPECT_EQ(seen_.ended[0].second.heard_ms, 100);
  EXPECT_EQ(seen_.started.size(), 1u) << "the queued reply is never synthesized";
  EXPECT_EQ(out_.clears, 0) << "the stream is over: nothing to clear";
}

TEST_F(PlayoutTest, AStreamedReplyTakesItsTextAsItComesAndActsAfterTheLastPart) {
  const auto a = playout_.enqueue_open("You said good morning,", 1);
  ASSERT_EQ(playout_.open_reply(1), a);
  EXPECT_EQ(playout_.open_reply(2), std::nullopt);
  ASSERT_EQ(seen_.feeds.size(), 1u);  // current at once: synthesis started with the first part
  EXPECT_EQ(seen_.started_text.back(), "You said good morning,");
  playout_.append_text(a, "and thank you.");
  EXPECT_EQ(seen_.feeds[0]->appended, (std::vector<std::string>{"and thank you."}));
  EXPECT_EQ(playout_.current()->text, "You said good morning, and thank you.");
  // The answer to the next turn queues behind it and collects its parts while it waits.
  const auto b = playout_.enqueue_open("Second answer.", 2);
  playout_.append_text(b, "More of it.");
  EXPECT_EQ(seen_.feeds.size(), 1u);
  EXPECT_EQ(playout_.open_reply(2), b);
  // The last part of the first answer: its end and what to do after it.
  playout_.close_text(a, /*hangup=*/false, "", "12");
  EXPECT_EQ(seen_.feeds[0]->closed, 1);
  EXPECT_EQ(playout_.open_reply(1), std::nullopt);
  EXPECT_EQ(playout_.current()->digits, "12");
  playout_.append_text(a, "too late");  // a closed reply takes no more text
  EXPECT_EQ(seen_.feeds[0]->appended.size(), 1u);
  // The second answer was closed before it started: synthesized whole, no feed.
  playout_.close_text(b, /*hangup=*/true);
  playout_.audio(a, audio_ms(200), 0);
  playout_.synthesis_done(a, 0);
  for (std::size_t i = 0; i < out_.marks.size(); ++i) playout_.mark(out_.marks[i], 100.0 * static_cast<double>(i + 1));
  ASSERT_EQ(seen_.started.size(), 2u);
  EXPECT_EQ(seen_.started_text.back(), "Second answer. More of it.");
  EXPECT_EQ(seen_.feeds.size(), 1u);
  EXPECT_TRUE(playout_.current()->hangup);
}

}  // namespace
}  // namespace vox::call
