#pragma once
// The `/media` WebSocket endpoint: parses Twilio Media Streams messages into structs
// and drives one CallSession per stream. Bad input is logged and dropped; it never
// ends the call or the server.
#include <memory>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "call/session.hpp"
#include "net/router.hpp"
#include "twilio/media_messages.hpp"

namespace vox::call {

class MediaStreamHandler final : public net::WsHandler, public MediaOutbox {
 public:
  // `stream_url` is the URL this stream was opened on (as Twilio saw it).
  MediaStreamHandler(CallServices services, const agent::AgentFactory& agents, std::string stream_url = {});
  ~MediaStreamHandler() override;

  void on_open(std::shared_ptr<net::WsConnection> connection) override;
  void on_text(std::string_view message) override;
  void on_close(std::string_view reason) override;

  void send_media(std::string_view stream_sid, std::span<const std::uint8_t> ulaw) override;
  void send_mark(std::string_view stream_sid, std::string_view name) override;
  void send_clear(std::string_view stream_sid) override;
  void close(std::string_view reason) override;

 private:
  void on_start(const twilio::Start& start);
  // Logs the first few occurrences of a kind of bad input, then every 100th.
  void complain(std::uint64_t& counter, std::string_view what);

  CallServices svc_;
  const agent::AgentFactory& agents_;
  std::string stream_url_;
  std::shared_ptr<net::WsConnection> conn_;
  twilio::MessageParser parser_;
  std::vector<std::uint8_t> payload_;
  std::shared_ptr<CallSession> session_;
  std::string call_sid_ = "-";
  std::int64_t last_sequence_ = 0;
  std::uint64_t bad_messages_ = 0, early_media_ = 0, bad_payloads_ = 0, extra_starts_ = 0;
  std::uint64_t sequence_gaps_ = 0, bad_numbers_ = 0;
};

}  // namespace vox::call
