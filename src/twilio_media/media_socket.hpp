#pragma once
// The `/media` WebSocket: Twilio Media Streams messages parsed into structs (twilio/)
// drive one call session per stream (call/); the session's audio, marks and clears go
// back as messages. Bad input is logged (rate-limited) and dropped; it never ends the
// call or the server. Knows neither agents nor stores: a CallStarter makes the call.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "call/starter.hpp"
#include "net/router.hpp"

namespace vox::twilio_media {

struct MediaSocketSettings {
  std::size_t max_message_bytes = 64 * 1024;  // a larger message is dropped
  bool relaxed_call_sids = false;             // accept call sids of any shape (tests, demos)
  call::CallMetrics* metrics = nullptr;       // sequence gaps (null: not counted)
  // Twilio sends a media frame every 20 ms for as long as the call lasts: a stream silent
  // this long is dead (a half-open connection, a network black hole), and is dropped, which
  // ends its call. 0: the server's --ws-idle-timeout applies.
  std::chrono::milliseconds silence_limit{10000};
};

class MediaSocketHandler final : public net::WsHandler {
 public:
  // `stream_url` is the URL this stream was opened on (as Twilio saw it).
  MediaSocketHandler(const MediaSocketSettings& settings, call::CallStarter& starter, std::string stream_url = {});
  ~MediaSocketHandler() override;

  void on_open(std::shared_ptr<net::WsConnection> connection) override;
  void on_text(std::string_view message) override;
  void on_close(std::string_view reason) override;

  struct Stream;  // the stream's state; also the session's outbox

 private:
  std::shared_ptr<Stream> stream_;
};

}  // namespace vox::twilio_media
