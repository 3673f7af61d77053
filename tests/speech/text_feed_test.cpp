// The default streamed utterance (TextToSpeech::synthesize_stream): parts are spoken one
// after another with the engine's synthesize(), as one run of audio and word times.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "speech/speech.hpp"

namespace vox::speech {
namespace {

// Speaks 10 ms of audio per character and one word per part at its start. It answers at
// once (`immediate`, like a cache hit) or when the test calls finish_next().
class FakeEngine final : public TextToSpeech {
 public:
  explicit FakeEngine(bool immediate) : immediate_(immediate) {}
  std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks cb) override {
    texts.push_back(request.text);
    auto token = std::make_shared<CancelToken>();
    tokens.push_back(token);
    pending.push_back({request.text, std::move(cb)});
    if (immediate_) finish_next();
    return token;
  }
  void finish_next(std::optional<std::string> error = std::nullopt) {
    auto [text, cb] = std::move(pending.front());
    pending.erase(pending.begin());
    if (!error) {
      std::vector<std::uint8_t> audio(text.size() * 80, 0x55);
      cb.on_word(WordTiming{text, 0});
      cb.on_audio(audio);
    }
    cb.on_done(std::move(error));
  }
  std::vector<VoiceInfo> voices() const override { return {}; }
  std::string name() const override { return "fake"; }

  std::vector<std::string> texts;
  std::vector<std::shared_ptr<CancelToken>> tokens;
  std::vector<std::pair<std::string, TtsCallbacks>> pending;

 private:
  bool immediate_;
};

struct Heard {
  std::size_t bytes = 0;
  std::vector<WordTiming> words;
  int done = 0;
  std::optional<std::string> error;
  TtsCallbacks callbacks() {
    TtsCallbacks cb;
    cb.on_audio = [this](std::span<const std::uint8_t> a) { bytes += a.size(); };
    cb.on_word = [this](const WordTiming& w) { words.push_back(w); };
    cb.on_done = [this](std::optional<std::string> e) {
      ++done;
      error = std::move(e);
    };
    return cb;
  }
};

TEST(TextFeed, PartsAreSpokenInOrderAsOneUtterance) {
  FakeEngine engine(/*immediate=*/false);
  Heard heard;
  TtsRequest first;
  first.text = "Hello there,";
  auto stream = engine.synthesize_stream(first, heard.callbacks());
  stream.feed->append("how are you?");
  stream.feed->append("");  // nothing to say: ignored
  EXPECT_EQ(engine.texts, (std::vector<std::string>{"Hello there,"})) << "one part at a time";
  engine.finish_next();
  EXPECT_EQ(engine.texts, (std::vector<std::string>{"Hello there,", "how are you?"}));
  EXPECT_EQ(heard.done, 0) << "the text is not complete yet";
  engine.finish_next();
  EXPECT_EQ(heard.done, 0);
  stream.feed->append("Goodbye.");
  engine.finish_next();
  stream.feed->close();
  ASSERT_EQ(heard.done, 1);
  EXPECT_EQ(heard.error, std::nullopt);
  EXPECT_EQ(heard.bytes, std::string("Hello there,how are you?Goodbye.").size() * 80);
  // Word times run on across parts: each part starts where the audio before it ended.
  ASSERT_EQ(heard.words.size(), 3u);
  EXPECT_EQ(heard.words[0].start_ms, 0);
  EXPECT_EQ(heard.words[1].start_ms, 120);  // 12 characters of 10 ms
  EXPECT_EQ(heard.words[2].start_ms, 240);
}

TEST(TextFeed, AnEngineThatAnswersAtOnceAndACloseBeforeTheEnd) {
  FakeEngine engine(/*immediate=*/true);
  Heard heard;
  TtsRequest first;
  first.text = "One.";
  auto stream = engine.synthesize_stream(first, heard.callbacks());
  stream.feed->append("Two.");
  stream.feed->close();
  stream.feed->append("Three.");  // after close: not spoken
  EXPECT_EQ(engine.texts, (std::vector<std::string>{"One.", "Two."}));
  EXPECT_EQ(heard.done, 1);
}

TEST(TextFeed, CancelStopsThePartInFlightAndEndsOnce) {
  FakeEngine engine(/*immediate=*/false);
  Heard heard;
  TtsRequest first;
  first.text = "A long first part.";
  auto stream = engine.synthesize_stream(first, heard.callbacks());
  stream.feed->append("A second part.");
  stream.token->cancel();
  ASSERT_EQ(engine.tokens.size(), 1u);
  EXPECT_TRUE(engine.tokens[0]->cancelled());
  EXPECT_EQ(heard.done, 0) << "the part in flight ends first";
  engine.finish_next();  // the engine reports the cancelled part done
  EXPECT_EQ(heard.done, 1);
  EXPECT_EQ(engine.texts.size(), 1u) << "the queued part is not spoken";
  stream.feed->close();
  EXPECT_EQ(heard.done, 1);
}

TEST(TextFeed, CancelBetweenPartsEndsAtOnce) {
  FakeEngine engine(/*immediate=*/true);
  Heard heard;
  TtsRequest first;
  first.text = "One.";
  auto stream = engine.synthesize_stream(first, heard.callbacks());
  EXPECT_EQ(heard.done, 0);
  stream.token->cancel();
  EXPECT_EQ(heard.done, 1);
  EXPECT_EQ(heard.error, std::nullopt);
}

TEST(TextFeed, AFailedPartEndsTheUtteranceWithItsError) {
  FakeEngine engine(/*immediate=*/false);
  Heard heard;
  TtsRequest first;
  first.text = "One.";
  auto stream = engine.synthesize_stream(first, heard.callbacks());
  stream.feed->append("Two.");
  engine.finish_next(std::string("engine broke"));
  ASSERT_EQ(heard.done, 1);
  EXPECT_EQ(heard.error, "engine broke");
  EXPECT_EQ(engine.texts.size(), 1u);
}

}  // namespace
}  // namespace vox::speech
