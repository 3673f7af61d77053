// CachingTts over a fake engine: memory and disk hits, the key, the memory and disk
// bounds, what is not stored (failures, cancels, long texts) and pre-warming. The fake
// delivers either synchronously inside synthesize() or from its own thread.
#include "speech/tts_cache.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vox::speech {
namespace {
namespace fs = std::filesystem;

// spdlog builds its registry on first use; the Debian library is not instrumented, so
// TSan cannot see that this is thread-safe when two engine threads log first. The
// server sets up logging before any thread starts; here a static does it.
const bool kLoggingReady = (spdlog::default_logger(), true);

// Deterministic μ-law for a text: `size` bytes (or 200 + 10 per character) derived from
// the text, in two chunks, with two word timings.
std::vector<std::uint8_t> audio_for(const std::string& text, std::size_t size) {
  if (size == 0) size = 200 + 10 * text.size();
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i) {
    const auto c = text.empty() ? 0u : static_cast<unsigned char>(text[i % text.size()]);
    out[i] = static_cast<std::uint8_t>(c + i * 31u);
  }
  return out;
}

std::vector<WordTiming> words_for(const std::string& text) {
  return {WordTiming{"w0:" + text, 0}, WordTiming{"w1:" + text, 120 + static_cast<int>(text.size())}};
}

class FakeTts final : public TextToSpeech {
 public:
  enum class Delivery { kSync, kThread };

  explicit FakeTts(std::string identity = "fake/model-a/ulaw_8000") : identity_(std::move(identity)) {}
  ~FakeTts() override { wait_idle(); }

  // Settings read at each synthesize() call (set them only while no synthesis runs).
  Delivery delivery = Delivery::kSync;
  std::size_t audio_bytes = 0;            // 0: derived from the text
  std::optional<std::string> fail_with;   // on_done(error) after the audio
  bool hold = false;                      // kThread: wait for release() before on_done

  std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks cb) override {
    calls.fetch_add(1);
    {
      std::lock_guard lock(mu_);
      texts_.push_back(request.text);
    }
    auto token = std::make_shared<CancelToken>();
    auto job = [this, text = request.text, cb = std::move(cb), token, size = audio_bytes, fail = fail_with,
                held = hold && delivery == Delivery::kThread]() {
      const auto audio = audio_for(text, size);
      const auto words = words_for(text);
      const auto half = static_cast<std::ptrdiff_t>(audio.size() / 2);
      if (cb.on_word) cb.on_word(words[0]);
      if (cb.on_audio) cb.on_audio(std::span<const std::uint8_t>(audio.data(), static_cast<std::size_t>(half)));
      if (cb.on_word) cb.on_word(words[1]);
      if (cb.on_audio) cb.on_audio(std::span<const std::uint8_t>(audio.begin() + half, audio.end()));
      if (held) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return released_; });
      }
      // A cancelled synthesis ends with nullopt, as the interface says.
      if (cb.on_done) cb.on_done(token->cancelled() ? std::nullopt : fail);
    };
    if (delivery == Delivery::kSync) {
      job();
    } else {
      std::lock_guard lock(mu_);
      threads_.emplace_back(std::move(job));
    }
    return token;
  }
  std::vector<VoiceInfo> voices() const override { return {}; }
  std::string name() const override { return "fake"; }
  std::string cache_identity() const override { return identity_; }

  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Joins every delivery thread started so far.
  void wait_idle() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  std::vector<std::string> texts() const {
    std::lock_guard lock(mu_);
    return texts_;
  }

  std::atomic<int> calls{0};

 private:
  std::string identity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::thread> threads_;
  std::vector<std::string> texts_;
};

// Collects one synthesis' callbacks (from any thread).
class Sink {
 public:
  TtsCallbacks callbacks() {
    TtsCallbacks cb;
    cb.on_audio = [this](std::span<const std::uint8_t> a) {
      std::lock_guard lock(mu_);
      audio_.insert(audio_.end(), a.begin(), a.end());
    };
    cb.on_word = [this](const WordTiming& w) {
      std::lock_guard lock(mu_);
      words_.push_back(w);
    };
    cb.on_done = [this](std::optional<std::string> error) {
      std::lock_guard lock(mu_);
      ++done_count_;
      error_ = std::move(error);
      cv_.notify_all();
    };
    return cb;
  }
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return done_count_ > 0; });
  }
  int done_count() const {
    std::lock_guard lock(mu_);
    return done_count_;
  }
  std::optional<std::string> error() const {
    std::lock_guard lock(mu_);
    return error_;
  }
  std::vector<std::uint8_t> audio() const {
    std::lock_guard lock(mu_);
    return audio_;
  }
  std::vector<std::string> words() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& w : words_) out.push_back(w.word + "@" + std::to_string(w.start_ms));
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint8_t> audio_;
  std::vector<WordTiming> words_;
  std::optional<std::string> error_;
  int done_count_ = 0;
};

std::vector<std::string> expected_words(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& w : words_for(text)) out.push_back(w.word + "@" + std::to_string(w.start_ms));
  return out;
}

TtsRequest req(std::string text, std::string voice = {}) {
  TtsRequest r;
  r.text = std::move(text);
  r.voice_id = std::move(voice);
  return r;
}

// Synthesizes through `tts` and waits for on_done.
void speak(TextToSpeech& tts, TtsRequest r, Sink& sink) {
  tts.synthesize(std::move(r), sink.callbacks());
  ASSERT_TRUE(sink.wait()) << "on_done never ran";
}
void speak(TextToSpeech& tts, const std::string& text) {
  Sink sink;
  speak(tts, req(text), sink);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "vox_tts_cache_XXXXXX").string();
    if (char* p = ::mkdtemp(tmpl.data())) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct DirUsage {
  std::size_t files = 0;
  std::uintmax_t bytes = 0;
  std::size_t others = 0;  // anything that is not a .vxc file (left-over temporaries)
};
DirUsage usage(const std::string& dir) {
  DirUsage u;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == ".vxc") {
      ++u.files;
      u.bytes += f.file_size();
    } else {
      ++u.others;
    }
  }
  return u;
}

void expect_served_from_cache(FakeTts::Delivery delivery) {
  FakeTts inner;
  inner.delivery = delivery;
  CachingTts cache(inner, {});

  Sink first;
  speak(cache, req("Hello, how can I help?"), first);
  inner.wait_idle();
  EXPECT_EQ(inner.calls.load(), 1);
  EXPECT_EQ(first.audio(), audio_for("Hello, how can I help?", 0));
  EXPECT_EQ(first.words(), expected_words("Hello, how can I help?"));
  EXPECT_FALSE(first.error());

  Sink second;
  speak(cache, req("Hello, how can I help?"), second);
  inner.wait_idle();
  EXPECT_EQ(inner.calls.load(), 1) << "the repeated phrase reached the engine";
  EXPECT_EQ(second.audio(), first.audio());
  EXPECT_EQ(second.words(), first.words());
  EXPECT_EQ(second.done_count(), 1);
  EXPECT_EQ(second.error(), std::nullopt);

  const auto s = cache.stats();
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.stores, 1);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.memory_bytes, audio_for("Hello, how can I help?", 0).size());
}

TEST(TtsCache, RepeatedPhraseIsServedFromCacheSyncEngine) { expect_served_from_cache(FakeTts::Delivery::kSync); }

TEST(TtsCache, RepeatedPhraseIsServedFromCacheThreadedEngine) {
  expect_served_from_cache(FakeTts::Delivery::kThread);
}

TEST(TtsCache, HitIsDeliveredBeforeSynthesizeReturns) {
  FakeTts inner;
  CachingTts cache(inner, {});
  speak(cache, "Goodbye.");
  Sink sink;
  auto token = cache.synthesize(req("Goodbye."), sink.callbacks());
  EXPECT_NE(token, nullptr);
  EXPECT_EQ(sink.done_count(), 1);
  EXPECT_EQ(sink.audio(), audio_for("Goodbye.", 0));
}

TEST(TtsCache, KeyCoversVoiceSettingsTextAndEngineIdentity) {
  FakeTts inner("fake/model-a");
  CachingTts cache(inner, {});
  const auto base = cache.key(req("Hello there.", "voice-1"));
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(cache.key(req("Hello there.", "voice-1")), base) << "the key must be deterministic";

  EXPECT_NE(cache.key(req("Hello there.", "voice-2")), base);
  EXPECT_NE(cache.key(req("Hello there!", "voice-1")), base);
  auto r = req("Hello there.", "voice-1");
  r.settings.stability = 0.6;
  EXPECT_NE(cache.key(r), base);
  r = req("Hello there.", "voice-1");
  r.settings.similarity_boost = 0.9;
  EXPECT_NE(cache.key(r), base);
  r = req("Hello there.", "voice-1");
  r.settings.speed = 1.1;
  EXPECT_NE(cache.key(r), base);
  r = req("Hello there.", "voice-1");
  r.settings.use_speaker_boost = false;
  EXPECT_NE(cache.key(r), base);
  // Field boundaries matter: moving text between voice and text changes the key.
  EXPECT_NE(cache.key(req("a b", "v")), cache.key(req("b", "v a")));

  FakeTts other("fake/model-b");
  CachingTts other_cache(other, {});
  EXPECT_NE(other_cache.key(req("Hello there.", "voice-1")), base);
  EXPECT_EQ(cache.cache_identity(), "fake/model-a");
}

TEST(TtsCache, DifferentVoiceOrSettingsAreSynthesizedSeparately) {
  FakeTts inner;
  CachingTts cache(inner, {});
  Sink a, b, c, d;
  speak(cache, req("Thanks.", "voice-1"), a);
  speak(cache, req("Thanks.", "voice-2"), b);
  auto r = req("Thanks.", "voice-1");
  r.settings.stability = 0.2;
  speak(cache, r, c);
  EXPECT_EQ(inner.calls.load(), 3);
  speak(cache, req("Thanks.", "voice-2"), d);
  EXPECT_EQ(inner.calls.load(), 3);
  EXPECT_EQ(cache.stats().hits, 1);
  EXPECT_EQ(cache.stats().misses, 3);
}

TEST(TtsCache, EnginesWithDifferentIdentitiesDoNotShareDiskEntries) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  {
    FakeTts inner("fake/model-a");
    CachingTts cache(inner, opt);
    speak(cache, "Welcome to the line.");
    ASSERT_EQ(cache.stats().stores, 1);
  }
  {
    FakeTts inner("fake/model-b");
    CachingTts cache(inner, opt);
    speak(cache, "Welcome to the line.");
    EXPECT_EQ(inner.calls.load(), 1) << "model-b audio was served from model-a's entry";
    EXPECT_EQ(cache.stats().disk_hits, 0);
  }
  {
    // Control: the same identity does find it.
    FakeTts inner("fake/model-a");
    CachingTts cache(inner, opt);
    speak(cache, "Welcome to the line.");
    EXPECT_EQ(inner.calls.load(), 0);
    EXPECT_EQ(cache.stats().disk_hits, 1);
  }
}

TEST(TtsCache, MemoryIsBoundedAndEvictsLeastRecentlyUsed) {
  FakeTts inner;
  inner.audio_bytes = 1000;
  TtsCacheOptions opt;
  opt.memory_bytes = 3000;
  CachingTts cache(inner, opt);

  for (const char* p : {"one", "two", "three", "four", "five"}) speak(cache, p);
  ASSERT_EQ(inner.calls.load(), 5);
  auto s = cache.stats();
  EXPECT_LE(s.memory_bytes, 3000u);
  EXPECT_EQ(s.memory_bytes, 3000u);
  EXPECT_GE(s.evictions, 2);
  EXPECT_EQ(s.entries, 3u);

  // Recently used: still a hit.
  speak(cache, "five");
  EXPECT_EQ(inner.calls.load(), 5);
  // The oldest was evicted: back to the engine.
  speak(cache, "one");
  EXPECT_EQ(inner.calls.load(), 6);
  EXPECT_LE(cache.stats().memory_bytes, 3000u);
}

TEST(TtsCache, UseRefreshesRecency) {
  FakeTts inner;
  inner.audio_bytes = 1000;
  TtsCacheOptions opt;
  opt.memory_bytes = 3000;
  CachingTts cache(inner, opt);

  speak(cache, "a");
  speak(cache, "b");
  speak(cache, "c");
  speak(cache, "a");  // hit: "a" becomes the most recent, "b" the least
  ASSERT_EQ(inner.calls.load(), 3);
  speak(cache, "d");  // evicts "b", not "a"
  ASSERT_EQ(inner.calls.load(), 4);
  EXPECT_EQ(cache.stats().evictions, 1);

  speak(cache, "a");
  EXPECT_EQ(inner.calls.load(), 4) << "a recently used entry was evicted (FIFO, not LRU)";
  speak(cache, "b");
  EXPECT_EQ(inner.calls.load(), 5);
}

TEST(TtsCache, EntryLargerThanMemoryIsNotKeptInMemory) {
  FakeTts inner;
  inner.audio_bytes = 5000;
  TtsCacheOptions opt;
  opt.memory_bytes = 3000;
  CachingTts cache(inner, opt);
  speak(cache, "too big");
  speak(cache, "too big");
  EXPECT_EQ(inner.calls.load(), 2);
  EXPECT_EQ(cache.stats().memory_bytes, 0u);
}

TEST(TtsCache, NewInstanceFindsEntryOnDisk) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  const std::string text = "Your table is booked for seven.";
  Sink first;
  {
    FakeTts inner;
    inner.delivery = FakeTts::Delivery::kThread;
    CachingTts cache(inner, opt);
    speak(cache, req(text), first);
    inner.wait_idle();
    ASSERT_EQ(cache.stats().stores, 1);
  }
  const auto u = usage(dir.path());
  EXPECT_EQ(u.files, 1u);
  EXPECT_EQ(u.others, 0u) << "a temporary file was left behind";

  FakeTts fresh;
  CachingTts cache(fresh, opt);
  Sink second;
  speak(cache, req(text), second);
  EXPECT_EQ(fresh.calls.load(), 0);
  const auto s = cache.stats();
  EXPECT_EQ(s.disk_hits, 1);
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(s.misses, 0);
  EXPECT_EQ(second.audio(), first.audio());
  EXPECT_EQ(second.words(), first.words());
  EXPECT_EQ(second.error(), std::nullopt);

  // Now in memory too: the next hit does not count as a disk hit.
  Sink third;
  speak(cache, req(text), third);
  EXPECT_EQ(cache.stats().disk_hits, 1);
  EXPECT_EQ(cache.stats().hits, 2);
  EXPECT_EQ(third.audio(), first.audio());
}

TEST(TtsCache, CorruptDiskEntryIsAMiss) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  FakeTts inner;
  CachingTts cache(inner, opt);
  {
    std::ofstream out(fs::path(dir.path()) / (cache.key(req("Hi.")) + ".vxc"), std::ios::binary);
    out << "VXC1 but not really";
  }
  Sink sink;
  speak(cache, req("Hi."), sink);
  EXPECT_EQ(inner.calls.load(), 1);
  EXPECT_EQ(cache.stats().disk_hits, 0);
  EXPECT_EQ(sink.audio(), audio_for("Hi.", 0));
}

TEST(TtsCache, DiskIsBounded) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  opt.disk_bytes = 5000;
  FakeTts inner;
  inner.audio_bytes = 1000;
  CachingTts cache(inner, opt);
  for (int i = 0; i < 20; ++i) speak(cache, "phrase number " + std::to_string(i));
  ASSERT_EQ(cache.stats().stores, 20);
  const auto u = usage(dir.path());
  EXPECT_LE(u.bytes, opt.disk_bytes);
  EXPECT_GE(u.files, 1u) << "the bound removed everything";
  EXPECT_EQ(u.others, 0u);
}

// The entry just written is the most recently used one: the disk bound must not drop it,
// even when files written close together share a modification time (file systems stamp
// with a coarse clock, so a burst of stores usually does). The phrases are stored in
// descending key order, so the newest file always has the smallest name.
TEST(TtsCache, DiskBoundKeepsNewestEntry) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  opt.disk_bytes = 3500;  // room for three 1000-byte entries
  std::vector<std::pair<std::string, std::string>> phrases;  // key, text
  {
    FakeTts inner;
    inner.audio_bytes = 1000;
    CachingTts cache(inner, opt);
    for (int i = 0; i < 12; ++i) {
      const auto text = "prompt " + std::to_string(i);
      phrases.emplace_back(cache.key(req(text)), text);
    }
    std::sort(phrases.rbegin(), phrases.rend());
    for (const auto& [k, text] : phrases) speak(cache, text);
  }
  const auto u = usage(dir.path());
  EXPECT_LE(u.bytes, opt.disk_bytes);
  EXPECT_GE(u.files, 2u);
  FakeTts fresh;
  CachingTts cache(fresh, opt);
  speak(cache, phrases.back().second);
  EXPECT_EQ(fresh.calls.load(), 0) << "the newest entry was evicted from disk";
  EXPECT_EQ(cache.stats().disk_hits, 1);
}

TEST(TtsCache, FailedSynthesisIsNotStored) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  FakeTts inner;
  inner.fail_with = "engine exploded";
  CachingTts cache(inner, opt);

  Sink first;
  speak(cache, req("Hello."), first);
  EXPECT_EQ(first.error(), std::optional<std::string>("engine exploded")) << "the error must reach the caller";
  EXPECT_EQ(first.audio().size(), audio_for("Hello.", 0).size()) << "partial audio still streams through";
  EXPECT_EQ(cache.stats().stores, 0);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(usage(dir.path()).files, 0u);

  inner.fail_with.reset();
  Sink second;
  speak(cache, req("Hello."), second);
  EXPECT_EQ(inner.calls.load(), 2) << "a failed synthesis was served from the cache";
  EXPECT_EQ(second.error(), std::nullopt);
  EXPECT_EQ(cache.stats().hits, 0);
}

TEST(TtsCache, FailedSynthesisOnEngineThreadIsNotStored) {
  FakeTts inner;
  inner.delivery = FakeTts::Delivery::kThread;
  inner.fail_with = "socket closed";
  CachingTts cache(inner, {});
  Sink first;
  speak(cache, req("Hello."), first);
  inner.wait_idle();
  EXPECT_EQ(first.error(), std::optional<std::string>("socket closed"));
  EXPECT_EQ(cache.stats().stores, 0);
  inner.fail_with.reset();
  speak(cache, "Hello.");
  inner.wait_idle();
  EXPECT_EQ(inner.calls.load(), 2);
}

TEST(TtsCache, CancelledSynthesisIsNotStored) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  TtsCacheOptions opt;
  opt.dir = dir.path();
  FakeTts inner;
  inner.delivery = FakeTts::Delivery::kThread;
  inner.hold = true;
  CachingTts cache(inner, opt);

  Sink first;
  auto token = cache.synthesize(req("Let me check that for you."), first.callbacks());
  ASSERT_NE(token, nullptr);
  token->cancel();
  inner.release();
  ASSERT_TRUE(first.wait());
  inner.wait_idle();
  EXPECT_EQ(first.error(), std::nullopt);
  EXPECT_FALSE(first.audio().empty()) << "the fake streams audio before the cancel lands";
  EXPECT_EQ(cache.stats().stores, 0) << "a cancelled (partial) synthesis was stored";
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(usage(dir.path()).files, 0u);

  inner.hold = false;
  inner.delivery = FakeTts::Delivery::kSync;
  speak(cache, "Let me check that for you.");
  EXPECT_EQ(inner.calls.load(), 2);
  EXPECT_EQ(cache.stats().stores, 1);
}

TEST(TtsCache, LongTextsBypassTheCache) {
  FakeTts inner;
  TtsCacheOptions opt;
  opt.max_text_chars = 10;
  CachingTts cache(inner, opt);

  const std::string longer = "eleven char";  // 11
  ASSERT_EQ(longer.size(), 11u);
  Sink a, b;
  speak(cache, req(longer), a);
  speak(cache, req(longer), b);
  EXPECT_EQ(inner.calls.load(), 2);
  EXPECT_EQ(b.audio(), audio_for(longer, 0)) << "a bypassed request must still be delivered";
  EXPECT_EQ(cache.stats().stores, 0);
  EXPECT_EQ(cache.stats().hits, 0);

  // Exactly at the limit is still cached.
  const std::string at_limit = "ten chars!";
  ASSERT_EQ(at_limit.size(), 10u);
  speak(cache, at_limit);
  speak(cache, at_limit);
  EXPECT_EQ(inner.calls.load(), 3);
  EXPECT_EQ(cache.stats().hits, 1);
}

TEST(TtsCache, PrewarmFillsTheCache) {
  FakeTts inner;
  inner.delivery = FakeTts::Delivery::kThread;
  CachingTts cache(inner, {});
  cache.prewarm({"a", "b", ""});
  inner.wait_idle();
  EXPECT_EQ(inner.calls.load(), 2) << "empty phrases are skipped";
  EXPECT_EQ(cache.stats().stores, 2);

  Sink sink;
  speak(cache, req("a"), sink);
  inner.wait_idle();
  EXPECT_EQ(inner.calls.load(), 2) << "a pre-warmed phrase reached the engine";
  EXPECT_EQ(sink.audio(), audio_for("a", 0));
  EXPECT_EQ(sink.words(), expected_words("a"));

  // Pre-warming what is already cached does not synthesize again.
  cache.prewarm({"a", "b"});
  inner.wait_idle();
  EXPECT_EQ(inner.calls.load(), 2);
}

TEST(TtsCache, PrewarmWithVoice) {
  FakeTts inner;
  CachingTts cache(inner, {});
  cache.prewarm({"Hi."}, "voice-7");
  ASSERT_EQ(inner.calls.load(), 1);
  Sink sink;
  speak(cache, req("Hi.", "voice-7"), sink);
  EXPECT_EQ(sink.audio(), audio_for("Hi.", 0));
  EXPECT_EQ(inner.calls.load(), 1);
  speak(cache, "Hi.");  // default voice: a different entry
  EXPECT_EQ(inner.calls.load(), 2);
}

}  // namespace
}  // namespace vox::speech
