// The inbound pipeline on its own, driven by media time: frames cut from messages of any
// size, an utterance with its pre-roll and a short tail, bursts too short to count,
// and a realtime STT stream fed while the caller speaks.
#include "call/inbound.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "speech/espeak_tts.hpp"

namespace vox::call {
namespace {

struct Seen final : InboundListener {
  void speech_started(std::int64_t onset_ms) override { onsets.push_back(onset_ms); }
  void utterance(Utterance&& u) override { utterances.push_back(std::move(u)); }
  void discarded() override { ++discards; }
  std::vector<std::int64_t> onsets;
  std::vector<Utterance> utterances;
  int discards = 0;
};

// Counts what a realtime engine is fed.
struct CountingStream final : speech::SttStream {
  explicit CountingStream(std::size_t& bytes) : bytes_(bytes) {}
  void push(std::span<const std::uint8_t> ulaw) override { bytes_ += ulaw.size(); }
  void finish(std::function<void(speech::SttResult)>) override {}
  std::size_t& bytes_;
};

std::vector<std::uint8_t> silence(int ms) { return std::vector<std::uint8_t>(static_cast<std::size_t>(ms) * 8, 0xFF); }

// Feeds `audio` in messages of `chunk` bytes stamped with media time; returns the time after.
std::int64_t feed(InboundPipeline& p, const std::vector<std::uint8_t>& audio, std::int64_t t, std::size_t chunk) {
  for (std::size_t i = 0; i < audio.size(); i += chunk) {
    const auto n = std::min(chunk, audio.size() - i);
    p.push(std::span(audio.data() + i, n), t);
    t += static_cast<std::int64_t>(n / 8);
  }
  return t;
}

const std::vector<std::uint8_t>& speech_audio() {
  static const auto audio = [] {
    speech::EspeakTts espeak(speech::EspeakSettings{});
    return espeak.synthesize_blocking("I would like to book a table please");
  }();
  return audio;
}

TEST(InboundPipeline, AnUtteranceIsCutWithItsPrerollAndAShortTail) {
  InboundSettings settings;
  Seen seen;
  std::size_t streamed = 0;
  InboundPipeline p(settings, seen, [&] { return std::make_unique<CountingStream>(streamed); });
  std::int64_t t = feed(p, silence(500), 0, 160);
  t = feed(p, speech_audio(), t, 160);
  EXPECT_EQ(seen.onsets.size(), 1u);
  EXPECT_TRUE(p.in_speech());
  EXPECT_TRUE(seen.utterances.empty()) << "not over before the silence window";
  feed(p, silence(settings.endpointing.silence_ms + 100), t, 160);
  ASSERT_EQ(seen.utterances.size(), 1u);
  const auto& u = seen.utterances[0];
  EXPECT_GE(u.speech_start_ms, 400);
  EXPECT_LT(u.speech_start_ms, 500 + 300);
  EXPECT_GT(u.speech_end_ms, u.speech_start_ms);
  EXPECT_EQ(u.endpoint_ms - u.speech_end_ms, settings.endpointing.silence_ms) << "decided one window after the speech";
  EXPECT_LT(u.ulaw.size(), speech_audio().size() + 8u * (settings.endpointing.preroll_ms + settings.endpointing.tail_ms + 40));
  EXPECT_GT(u.ulaw.size(), speech_audio().size() / 2);
  ASSERT_NE(u.stream, nullptr) << "the realtime stream travels with the utterance";
  EXPECT_GT(streamed, u.ulaw.size() / 2) << "the realtime engine heard the speech while it was spoken";
  EXPECT_FALSE(p.in_speech());
}

TEST(InboundPipeline, MessageSizeDoesNotChangeTheFramesOrTheResult) {
  InboundSettings settings;
  std::vector<std::size_t> sizes;
  // (Whole milliseconds per message, so the test's media clock stays exact.)
  for (const std::size_t chunk : {std::size_t{160}, std::size_t{40}, std::size_t{400}}) {
    Seen seen;
    InboundPipeline p(settings, seen, nullptr);
    std::int64_t t = feed(p, silence(300), 0, chunk);
    t = feed(p, speech_audio(), t, chunk);
    feed(p, silence(settings.endpointing.silence_ms + 200), t, chunk);
    ASSERT_EQ(seen.utterances.size(), 1u) << chunk;
    EXPECT_EQ(seen.utterances[0].stream, nullptr);
    sizes.push_back(seen.utterances[0].ulaw.size());
  }
  EXPECT_EQ(sizes[0], sizes[1]);
  EXPECT_EQ(sizes[0], sizes[2]);
}

TEST(InboundPipeline, ABurstShorterThanMinSpeechIsDiscarded) {
  InboundSettings settings;
  Seen seen;
  InboundPipeline p(settings, seen, nullptr);
  std::int64_t t = feed(p, silence(300), 0, 160);
  const auto& s = speech_audio();
  // 160 ms of speech: enough for an onset, not for min_speech_ms (200).
  std::vector<std::uint8_t> burst(s.begin() + 8000, s.begin() + 8000 + 160 * 8);
  t = feed(p, burst, t, 160);
  feed(p, silence(settings.endpointing.silence_ms + 200), t, 160);
  ASSERT_EQ(seen.onsets.size(), 1u) << "the burst is loud enough to start an utterance";
  EXPECT_TRUE(seen.utterances.empty());
  EXPECT_EQ(seen.discards, 1);
}

TEST(InboundPipeline, StopEndsProcessingMidMessage) {
  InboundSettings settings;
  Seen seen;
  InboundPipeline p(settings, seen, nullptr);
  bool stop = true;
  const auto pushed = p.push(silence(100), 0, &stop);
  EXPECT_EQ(p.frames(), 1u) << "stopped after the first frame";
  EXPECT_EQ(pushed.start_ms, 0);
}

}  // namespace
}  // namespace vox::call
