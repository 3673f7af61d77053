#pragma once
// A TTS cache in front of any engine: a bounded in-memory LRU plus an optional bounded
// disk directory. The key covers everything that changes the audio: the engine's
// identity (model, format, language), the voice, the settings and the text. A hit is
// delivered at once, so a cached reply's first frame leaves without waiting on anyone.
#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/blocking.hpp"
#include "speech/speech.hpp"

namespace vox::speech {

struct TtsCacheOptions {
  std::size_t memory_bytes = 64u << 20;  // audio bytes kept in memory
  std::string dir;                       // empty: no disk cache
  std::size_t disk_bytes = 512u << 20;
  std::size_t max_text_chars = 400;      // longer replies are not cached
};

struct TtsCacheStats {
  long hits = 0;
  long disk_hits = 0;
  long misses = 0;
  long stores = 0;
  long evictions = 0;
  std::size_t entries = 0;
  std::size_t memory_bytes = 0;
};

class CachingTts final : public TextToSpeech {
 public:
  // Disk reads and writes run on `blocking` (null: in place, for tools and tests), never
  // on the caller's thread: a slow disk does not stall a call.
  CachingTts(TextToSpeech& inner, TtsCacheOptions options, BlockingPool* blocking = nullptr);

  std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks callbacks) override;
  // Streamed utterances (a model's answers) go straight to the engine, uncached.
  TtsStream synthesize_stream(TtsRequest request, TtsCallbacks callbacks) override {
    return inner_.synthesize_stream(std::move(request), std::move(callbacks));
  }
  std::vector<VoiceInfo> voices() const override { return inner_.voices(); }
  std::string name() const override { return inner_.name(); }
  std::string cache_identity() const override { return inner_.cache_identity(); }

  // Synthesizes `phrases` into the cache in the background (greetings, fixed prompts).
  void prewarm(const std::vector<std::string>& phrases, const std::string& voice = {});
  TtsCacheStats stats() const;
  // The cache key of a request (hex SHA-256).
  std::string key(const TtsRequest& request) const;

 private:
  // Entries and their bounds live in a shared store: a synthesis may finish (and store
  // its audio) after this object is gone, e.g. a pre-warm still running at shutdown.
  struct Store;
  // Synthesizes `request` with the inner engine, keeping complete audio under `key`.
  std::shared_ptr<CancelToken> synthesize_and_keep(const std::string& key, TtsRequest request, TtsCallbacks callbacks);
  TextToSpeech& inner_;
  std::shared_ptr<Store> store_;
  BlockingPool* blocking_;
};

}  // namespace vox::speech
