#pragma once
// Twilio's side of one Media Streams WebSocket, for the emulator's phone network: it
// connects to an app's stream URL (signed), sends `connected` and `start`, then, driven
// by its owner every 20 ms, sends the line's audio as `media`, plays out what the app
// sends back in real time, echoes each mark once the audio before it has played, drops
// the queue on `clear` (returning pending marks), and ends with `stop`. A
// unidirectional stream (<Start><Stream>) only forks audio to the app; anything the app
// sends on it is a protocol error (Twilio warning 31924).
#include <boost/asio/awaitable.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "twilio/media_messages.hpp"

namespace vox::net {
class WsClient;
}

namespace vox::sim {

struct StreamLegOptions {
  StreamLegOptions() {}  // not an aggregate: passed by value to a coroutine
  std::string url;
  std::string name;
  std::string auth_token;  // signs the upgrade (X-Twilio-Signature over the url)
  std::string account_sid;
  std::string call_sid;
  std::map<std::string, std::string> parameters;  // <Parameter>s → start.customParameters
  bool bidirectional = true;                      // <Connect><Stream>; false for <Start><Stream>
  std::string track = "inbound_track";            // <Start>: inbound_track, outbound_track, both_tracks
};

struct StreamLegStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_received = 0;  // μ-law the app sent
  int marks_received = 0;
  int marks_echoed = 0;
  int clears = 0;
  int dtmf_sent = 0;
  int protocol_errors = 0;  // bad JSON, bad base64, or media/mark/clear on a unidirectional stream
  int close_code = 0;
};

class StreamLeg : public std::enable_shared_from_this<StreamLeg> {
 public:
  // Opens the socket on the current executor and starts reading; throws
  // net::TransportError when the upgrade fails (Twilio warning 31920).
  static boost::asio::awaitable<std::shared_ptr<StreamLeg>> open(StreamLegOptions options);
  ~StreamLeg();

  const std::string& stream_sid() const { return stream_sid_; }
  const StreamLegOptions& options() const { return opt_; }
  const StreamLegStats& stats() const { return stats_; }
  // The app closed the socket, or it failed.
  bool closed() const { return closed_; }

  // The next 20 ms of what the app sent, played out (silence when nothing is queued);
  // echoes the marks reached. Returns whether any app audio played.
  bool play(std::span<std::uint8_t, 160> out);
  // Forks 20 ms of the line to the app: `inbound` is what the far party said, `outbound`
  // what this call's app side played (sent only for outbound/both tracks).
  void send_frame(std::span<const std::uint8_t, 160> inbound, std::span<const std::uint8_t, 160> outbound);
  // A key the far party pressed (bidirectional streams only, as Twilio does).
  void send_dtmf(char digit);
  // Sends `stop` and closes (idempotent).
  void stop();

 private:
  StreamLeg() = default;
  static boost::asio::awaitable<void> read_loop(std::shared_ptr<StreamLeg> self);
  void on_text(const std::string& text);

  StreamLegOptions opt_;
  twilio::MessageParser parser_{1024 * 1024};
  std::shared_ptr<net::WsClient> ws_;
  std::string stream_sid_;
  std::string out_;
  std::int64_t seq_ = 1;
  std::int64_t chunk_in_ = 1, chunk_out_ = 1;
  std::int64_t media_ms_ = 0;
  std::deque<std::uint8_t> queue_;
  std::uint64_t enqueued_ = 0, played_ = 0;
  std::deque<std::pair<std::uint64_t, std::string>> marks_;
  StreamLegStats stats_;
  bool closed_ = false;
  bool stopped_ = false;
};

}  // namespace vox::sim
