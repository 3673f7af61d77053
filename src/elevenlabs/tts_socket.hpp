#pragma once
// One multi-stream-input WebSocket to ElevenLabs text-to-speech: several independent
// generations ("contexts") share a warm, authenticated connection. All methods are
// safe from any thread; listener callbacks run on the socket's strand, in order.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "elevenlabs/types.hpp"
#include "net/client.hpp"

namespace vox::elevenlabs {

struct TtsSocketKey {
  TtsSocketKey() {}  // not an aggregate: see net::TlsOptions
  std::string voice_id;
  std::string model_id;
  std::string output_format;
  std::string language_code;
  auto operator<=>(const TtsSocketKey&) const = default;
};

class TtsSocket : public std::enable_shared_from_this<TtsSocket> {
 public:
  struct Listener {
    std::function<void(TtsSocketMessage&)> on_audio;  // audio chunk (maybe with alignment)
    std::function<void()> on_final;                   // isFinal for this context
    std::function<void(std::string)> on_error;        // the socket failed or closed
  };

  // Connects (wss/ws per config.base_url) with the key in the xi-api-key header. Must be
  // awaited on a strand; throws ApiError on failure.
  static boost::asio::awaitable<std::shared_ptr<TtsSocket>> connect(const Settings& config, TtsSocketKey key);

  // Starts a context (in a slot taken with try_reserve()): sends the init message.
  // Text follows with send_text().
  void start_context(std::string context_id, std::optional<VoiceSettings> settings,
                     std::vector<int> chunk_schedule, Listener listener);
  void send_text(std::string context_id, std::string text, bool flush);
  // Stops a context: no more audio is delivered to its listener.
  void close_context(std::string context_id);
  // Asks the server to close the connection.
  void close();
  // Drops the connection at once (a stalled or half-open socket).
  void abort();
  // Takes a context slot if fewer than `max` are in use; start_context() uses it and the
  // end of the context frees it. release() frees a slot that was not used.
  bool try_reserve(int max);
  void release() { --active_; }

  bool alive() const { return alive_.load(); }
  int active_contexts() const { return active_.load(); }
  const TtsSocketKey& key() const { return key_; }
  std::string url() const { return url_; }

  ~TtsSocket();

 private:
  TtsSocket(std::shared_ptr<net::WsClient> ws, TtsSocketKey key, std::string url);
  boost::asio::awaitable<void> read_loop();
  void fail_all(const std::string& why);

  std::shared_ptr<net::WsClient> ws_;
  TtsSocketKey key_;
  std::string url_;
  std::map<std::string, Listener> listeners_;  // strand only
  std::atomic<bool> alive_{true};
  std::atomic<int> active_{0};
};

// Splits text into pieces to send: sentence ends (.!?) followed by a space close a
// piece; every piece ends with a single space, as the service expects.
std::vector<std::string> split_sentences(std::string_view text);

}  // namespace vox::elevenlabs
