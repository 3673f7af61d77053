#include "audio/endpointer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace vox::audio {

// Readable failure messages.
inline void PrintTo(EndpointEvent e, std::ostream* os) {
  switch (e) {
    case EndpointEvent::kNone: *os << "kNone"; break;
    case EndpointEvent::kSpeechStarted: *os << "kSpeechStarted"; break;
    case EndpointEvent::kUtteranceEnded: *os << "kUtteranceEnded"; break;
    case EndpointEvent::kUtteranceDiscarded: *os << "kUtteranceDiscarded"; break;
  }
}

namespace {

constexpr int kFrameMs = 20;

// An endpointer on a simulated media clock: every push() advances t by 20 ms.
class Clocked {
 public:
  explicit Clocked(const EndpointingSettings& s = {}) : ep(s, kFrameMs) {}

  // Pushes one frame starting at the current time and advances the clock.
  EndpointEvent push(bool speech) {
    const EndpointEvent e = ep.push(speech, t);
    t += kFrameMs;
    return e;
  }
  // Pushes `n` frames; returns each non-kNone event with the time of its frame.
  std::vector<std::pair<EndpointEvent, std::int64_t>> push_n(bool speech, int n) {
    std::vector<std::pair<EndpointEvent, std::int64_t>> events;
    for (int i = 0; i < n; ++i) {
      const std::int64_t at = t;
      if (const auto e = push(speech); e != EndpointEvent::kNone) events.emplace_back(e, at);
    }
    return events;
  }
  // Pushes frames described by a pattern: 'S' speech, '.' silence.
  std::vector<std::pair<EndpointEvent, std::int64_t>> push_pattern(const std::string& p) {
    std::vector<std::pair<EndpointEvent, std::int64_t>> events;
    for (const char c : p) {
      const std::int64_t at = t;
      if (const auto e = push(c == 'S'); e != EndpointEvent::kNone) events.emplace_back(e, at);
    }
    return events;
  }

  Endpointer ep;
  std::int64_t t = 0;
};

using Events = std::vector<std::pair<EndpointEvent, std::int64_t>>;

TEST(Endpointer, DefaultSettings) {
  const EndpointingSettings s;
  EXPECT_EQ(s.silence_ms, 600);
  EXPECT_EQ(s.min_speech_ms, 200);
  EXPECT_EQ(s.onset_ms, 100);
  EXPECT_EQ(s.max_utterance_ms, 30000);
}

TEST(Endpointer, SilenceNeverStarts) {
  Clocked c;
  EXPECT_TRUE(c.push_n(false, 500).empty());
  EXPECT_FALSE(c.ep.in_speech());
}

TEST(Endpointer, OnsetNeedsOnsetMsOfSpeech) {
  Clocked c;  // onset_ms 100 = 5 frames
  EXPECT_EQ(c.push_pattern("SSSS"), Events{});
  EXPECT_FALSE(c.ep.in_speech());
  EXPECT_EQ(c.push(true), EndpointEvent::kSpeechStarted);  // 5th frame, t = 80
  EXPECT_TRUE(c.ep.in_speech());
  EXPECT_EQ(c.ep.speech_start_ms(), 0);
  EXPECT_EQ(c.ep.last_speech_end_ms(), 100);
}

TEST(Endpointer, OnsetCountsScatteredSpeechWithinTheLast200ms) {
  Clocked c;
  c.push_n(false, 3);  // t = 0..40 silence
  // Speech on every other frame: the 5th speech frame is 9 frames after the 1st.
  EXPECT_EQ(c.push_pattern("S.S.S.S.S"), (Events{{EndpointEvent::kSpeechStarted, 60 + 8 * kFrameMs}}));
  // The onset is the oldest speech frame still in the window.
  EXPECT_EQ(c.ep.speech_start_ms(), 60);
}

TEST(Endpointer, SpeechOlderThan200msDoesNotCountTowardsOnset) {
  Clocked c;
  // 1 speech frame, 6 silent, 4 speech: the first has left the 10-frame window.
  EXPECT_EQ(c.push_pattern("S......SSSS"), Events{});
  EXPECT_FALSE(c.ep.in_speech());
  // One more speech frame makes 5 within the window; the onset is the 8th frame.
  EXPECT_EQ(c.push(true), EndpointEvent::kSpeechStarted);
  EXPECT_EQ(c.ep.speech_start_ms(), 7 * kFrameMs);
}

TEST(Endpointer, SpeechAtTheEdgeOfThe200msWindowCounts) {
  Clocked c;
  // 1 speech frame, 5 silent, 4 speech: exactly 10 frames, all in the window.
  const auto events = c.push_pattern("S.....SSSS");
  EXPECT_EQ(events, (Events{{EndpointEvent::kSpeechStarted, 9 * kFrameMs}}));
  EXPECT_EQ(c.ep.speech_start_ms(), 0);
}

TEST(Endpointer, OnsetMsIsConfigurable) {
  EndpointingSettings s;
  s.onset_ms = 60;  // 3 frames
  Clocked c(s);
  EXPECT_EQ(c.push_pattern("SSS"), (Events{{EndpointEvent::kSpeechStarted, 40}}));

  s.onset_ms = 50;  // rounds up to 3 frames
  Clocked d(s);
  EXPECT_EQ(d.push_pattern("SSS"), (Events{{EndpointEvent::kSpeechStarted, 40}}));
}

TEST(Endpointer, UtteranceEndsExactlyWhenTheSilenceWindowHasPassed) {
  Clocked c;  // silence_ms 600
  EXPECT_EQ(c.push_pattern("SSSSSSSSSSSSSSSSSSSS"), (Events{{EndpointEvent::kSpeechStarted, 80}}));  // 400 ms
  ASSERT_EQ(c.t, 400);
  EXPECT_EQ(c.ep.last_speech_end_ms(), 400);
  // 29 silent frames (580 ms) are not enough...
  EXPECT_EQ(c.push_n(false, 29), Events{});
  EXPECT_TRUE(c.ep.in_speech());
  // ...the 30th, which ends at 400 + 600 ms, ends the utterance.
  ASSERT_EQ(c.t, 980);
  EXPECT_EQ(c.push(false), EndpointEvent::kUtteranceEnded);
  EXPECT_FALSE(c.ep.in_speech());
  EXPECT_EQ(c.ep.speech_start_ms(), 0);
  EXPECT_EQ(c.ep.last_speech_end_ms(), 400);
  // Nothing more until new speech.
  EXPECT_EQ(c.push_n(false, 100), Events{});
}

TEST(Endpointer, ShortBurstIsDiscarded) {
  Clocked c;  // min_speech_ms 200
  // 100 ms of speech is enough to start, not to keep.
  EXPECT_EQ(c.push_pattern("SSSSS"), (Events{{EndpointEvent::kSpeechStarted, 80}}));
  const auto events = c.push_n(false, 40);
  EXPECT_EQ(events, (Events{{EndpointEvent::kUtteranceDiscarded, 100 + 580}}));
  EXPECT_FALSE(c.ep.in_speech());
}

TEST(Endpointer, BurstOfExactlyMinSpeechIsKept) {
  Clocked c;
  c.push_pattern("SSSSSSSSSS");  // 200 ms
  EXPECT_EQ(c.push_n(false, 30), (Events{{EndpointEvent::kUtteranceEnded, 200 + 580}}));
}

TEST(Endpointer, BurstJustUnderMinSpeechIsDiscarded) {
  Clocked c;
  c.push_pattern("SSSSSSSSS");  // 180 ms
  EXPECT_EQ(c.push_n(false, 30), (Events{{EndpointEvent::kUtteranceDiscarded, 180 + 580}}));
}

TEST(Endpointer, MaxUtteranceForcesAnEnd) {
  EndpointingSettings s;
  s.max_utterance_ms = 1000;
  Clocked c(s);
  const auto events = c.push_n(true, 50);  // 0..1000 ms of unbroken speech
  // Started at 0; the frame ending at 1000 ms ends it although speech goes on.
  EXPECT_EQ(events, (Events{{EndpointEvent::kSpeechStarted, 80}, {EndpointEvent::kUtteranceEnded, 980}}));
  EXPECT_FALSE(c.ep.in_speech());
  EXPECT_EQ(c.ep.speech_start_ms(), 0);
  EXPECT_EQ(c.ep.last_speech_end_ms(), 1000);
  // The continuing speech is a new utterance, after a fresh onset.
  EXPECT_EQ(c.push_n(true, 10), (Events{{EndpointEvent::kSpeechStarted, 1080}}));
  EXPECT_EQ(c.ep.speech_start_ms(), 1000);
}

TEST(Endpointer, DefaultMaxUtteranceIs30Seconds) {
  Clocked c;
  const auto events = c.push_n(true, 1500);  // 30 s
  EXPECT_EQ(events, (Events{{EndpointEvent::kSpeechStarted, 80}, {EndpointEvent::kUtteranceEnded, 30000 - kFrameMs}}));
}

TEST(Endpointer, ShortPauseInsideSpeechDoesNotEndIt) {
  Clocked c;
  EXPECT_EQ(c.push_n(true, 15), (Events{{EndpointEvent::kSpeechStarted, 80}}));  // 0..300
  EXPECT_EQ(c.push_n(false, 25), Events{});  // 500 ms pause < 600 ms
  EXPECT_TRUE(c.ep.in_speech());
  EXPECT_EQ(c.ep.last_speech_end_ms(), 300);
  EXPECT_EQ(c.push_n(true, 10), Events{});  // 800..1000: same utterance, no new onset
  EXPECT_EQ(c.ep.last_speech_end_ms(), 1000);
  EXPECT_EQ(c.ep.speech_start_ms(), 0);
  // The silence window restarts at the last speech frame.
  EXPECT_EQ(c.push_n(false, 30), (Events{{EndpointEvent::kUtteranceEnded, 1000 + 580}}));
}

TEST(Endpointer, IsolatedSpeechFramesInsideSilenceWindowExtendIt) {
  Clocked c;
  c.push_n(true, 20);              // 0..400
  c.push_n(false, 20);             // 400..800
  EXPECT_EQ(c.push(true), EndpointEvent::kNone);  // a single frame at 800 counts as speech
  EXPECT_EQ(c.ep.last_speech_end_ms(), 820);
  EXPECT_EQ(c.push_n(false, 30), (Events{{EndpointEvent::kUtteranceEnded, 820 + 580}}));
}

TEST(Endpointer, SilenceWindowOf140ChunksEndsAfterExactly140SilentChunks) {
  // SILENCE_CHUNKS_TRIGGER = 140: the utterance ends on the 140th silent 20 ms chunk.
  EndpointingSettings s;
  s.silence_ms = 140 * kFrameMs;
  Clocked c(s);
  c.push_n(true, 50);  // 1 s
  EXPECT_EQ(c.push_n(false, 139), Events{});
  EXPECT_TRUE(c.ep.in_speech());
  EXPECT_EQ(c.push(false), EndpointEvent::kUtteranceEnded);
  EXPECT_EQ(c.t - c.ep.last_speech_end_ms(), 2800);
  // A pause of 139 chunks inside speech does not end it.
  Clocked d(s);
  d.push_n(true, 50);
  d.push_n(false, 139);
  EXPECT_EQ(d.push_n(true, 5), Events{});
  EXPECT_TRUE(d.ep.in_speech());
}

TEST(Endpointer, EventsFollowTheGivenTimestampsNotTheCallCount) {
  // Timestamps with a gap (lost audio): silence is measured in media time.
  Endpointer ep(EndpointingSettings{}, kFrameMs);
  for (int i = 0; i < 10; ++i) ep.push(true, i * kFrameMs);  // 0..200
  EXPECT_EQ(ep.push(false, 200), EndpointEvent::kNone);
  EXPECT_EQ(ep.push(false, 780), EndpointEvent::kUtteranceEnded);  // ends at 800 = 200 + 600
}

TEST(Endpointer, ResetForgetsAPartialOnsetAndAnUtterance) {
  Clocked c;
  c.push_pattern("SSSS");
  c.ep.reset();
  EXPECT_EQ(c.push(true), EndpointEvent::kNone);  // history gone: 1 of 5 frames
  c.push_n(true, 10);
  EXPECT_TRUE(c.ep.in_speech());
  c.ep.reset();
  EXPECT_FALSE(c.ep.in_speech());
  EXPECT_EQ(c.push_n(false, 100), Events{});  // no end event for an utterance forgotten by reset
}

}  // namespace
}  // namespace vox::audio
