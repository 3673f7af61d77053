#pragma once
// Speech interfaces. Engines are injected into calls through these; nothing above
// this layer knows which engine is speaking or listening.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/voice_settings.hpp"

namespace vox::speech {

using VoiceSettings = vox::VoiceSettings;

struct VoiceInfo {
  std::string voice_id;
  std::string name;
  std::string category;
  std::string description;
};

// A word of synthesized speech and where it starts in the utterance's audio.
struct WordTiming {
  std::string word;
  int start_ms = 0;
};

struct TtsRequest {
  std::string text;
  std::string voice_id;  // empty: the engine's default
  VoiceSettings settings;
};

// Callbacks of one synthesis. They run on an engine thread, in order; on_done runs
// exactly once, last (with an error text on failure, nullopt on success or cancel).
struct TtsCallbacks {
  std::function<void(std::span<const std::uint8_t> ulaw_8k)> on_audio;
  std::function<void(const WordTiming&)> on_word;
  std::function<void(std::optional<std::string> error)> on_done;
  // Optional: the engine substituted audio (e.g. a fallback engine finished the reply
  // after a provider failure). Runs before on_done; such audio is not cached.
  std::function<void(const std::string& why)> on_degraded;
  // Optional: the provider's id of this synthesis (request or context id), for tracing.
  std::function<void(const std::string& id)> on_request_id;
};

// Cancels a synthesis or transcription in flight; safe from any thread.
class CancelToken {
 public:
  virtual ~CancelToken() = default;
  // Engines may override to stop work at once (e.g. close a remote context); they must
  // call the base.
  virtual void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

// The text of one utterance that arrives in parts while it is spoken (a language
// model's answer). Safe from any thread.
class TextFeed {
 public:
  virtual ~TextFeed() = default;
  // More text of the utterance, spoken after what came before.
  virtual void append(std::string text) = 0;
  // No more text: on_done follows once everything appended has been spoken.
  virtual void close() = 0;
};

// A synthesis whose text arrives through `feed`; `token` cancels it.
struct TtsStream {
  std::shared_ptr<CancelToken> token;
  std::shared_ptr<TextFeed> feed;
};

class TextToSpeech {
 public:
  virtual ~TextToSpeech() = default;
  // Starts an utterance whose text arrives in parts (request.text is the first); the
  // callbacks cover the whole utterance (audio and word times run on across parts).
  // This default speaks part after part with synthesize(); engines that take text while
  // they speak (the ElevenLabs WebSocket) override it.
  virtual TtsStream synthesize_stream(TtsRequest request, TtsCallbacks callbacks);
  // Starts synthesizing `request` to 8 kHz μ-law, streaming chunks as they are made.
  // May be called from any thread.
  virtual std::shared_ptr<CancelToken> synthesize(TtsRequest request, TtsCallbacks callbacks) = 0;
  virtual std::vector<VoiceInfo> voices() const = 0;
  virtual std::string name() const = 0;
  // Everything besides the request that changes the audio (model, format, language):
  // part of the cache key.
  virtual std::string cache_identity() const { return name(); }
};

struct SttRequest {
  std::vector<std::uint8_t> ulaw_8k;  // one finished utterance
  std::string language;               // empty: engine default
};

struct SttResult {
  bool ok = false;
  std::string text;   // empty when nothing was recognised
  std::string error;  // when !ok
};

// Receives audio of an utterance while the caller speaks (realtime engines).
class SttStream {
 public:
  virtual ~SttStream() = default;
  virtual void push(std::span<const std::uint8_t> ulaw_8k) = 0;
  virtual void finish(std::function<void(SttResult)> done) = 0;
  // Receives the engine's partial transcripts while the caller speaks (from the engine's
  // thread; engines without partials never call it). Set before the first push().
  virtual void on_partial(std::function<void(std::string text)> /*partial*/) {}
};

class SpeechToText {
 public:
  virtual ~SpeechToText() = default;
  // Transcribes a finished utterance; `done` runs on an engine thread. Any thread may call.
  virtual void transcribe(SttRequest request, std::function<void(SttResult)> done) = 0;
  // Opens a live stream, or returns nullptr when the engine only does whole utterances.
  virtual std::unique_ptr<SttStream> open_stream() { return nullptr; }
  virtual std::string name() const = 0;
};

}  // namespace vox::speech
