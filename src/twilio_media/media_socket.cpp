#include "twilio_media/media_socket.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <vector>

#include "call/call_metrics.hpp"
#include "core/base64.hpp"
#include "twilio/media_messages.hpp"

namespace vox::twilio_media {

namespace {
// Messages kept while the call is being started (its record looked up): about 2 s of audio.
constexpr std::size_t kMaxEarlyMessages = 100;
}  // namespace

struct MediaSocketHandler::Stream final : call::MediaOutbox, std::enable_shared_from_this<Stream> {
  Stream(const MediaSocketSettings& s, call::CallStarter& st, std::string url)
      : settings(s),
        starter(st),
        stream_url(std::move(url)),
        parser(s.max_message_bytes) {}

  const MediaSocketSettings& settings;
  call::CallStarter& starter;
  std::string stream_url;
  std::shared_ptr<net::WsConnection> conn;
  twilio::MessageParser parser;
  std::vector<std::uint8_t> payload;  // grows to the largest payload seen (160 bytes on a phone call)
  std::shared_ptr<call::CallSession> session;
  bool starting = false;  // the call is being started: messages wait in `early`
  bool closed = false;
  std::deque<std::string> early;
  std::string call_sid = "-";
  std::int64_t last_sequence = 0;
  std::uint64_t bad_messages = 0, early_media = 0, bad_payloads = 0, extra_starts = 0, sequence_gaps = 0,
                bad_numbers = 0, dropped_early = 0;
  std::string out;  // the outbound message being written (its capacity reused)

  // Logs the first few occurrences of a kind of bad input, then every 100th.
  void complain(std::uint64_t& counter, std::string_view what) {
    ++counter;
    if (counter <= 5 || counter % 100 == 0)
      spdlog::warn("media stream: {} call_sid={} remote={} (occurrence {})", what, call_sid,
                   conn ? conn->remote() : "-", counter);
  }

  void on_text(std::string_view message) {
    if (starting) {
      if (early.size() < kMaxEarlyMessages) early.emplace_back(message);
      else ++dropped_early;
      return;
    }
    handle(message);
  }

  void handle(std::string_view message) {
    const twilio::Message m = parser.parse(message);
    if (!m.bad_field.empty())
      complain(bad_numbers, std::string(m.bad_field) + " is not a number in its range; read as absent");
    if (m.sequence_number > 0) {
      if (last_sequence > 0 && m.sequence_number != last_sequence + 1) {
        ++sequence_gaps;
        if (settings.metrics) settings.metrics->sequence_gaps.inc();
      }
      last_sequence = m.sequence_number;
    }
    std::visit([&](const auto& body) { on_message(m, body); }, m.body);
  }

  void on_message(const twilio::Message& m, const twilio::ParseError& e) {
    complain(bad_messages, "bad message dropped: " + e.reason);
    // A stream whose start cannot be used never becomes a call: do not hold the socket.
    if (m.event == "start" && !session && conn) conn->close(1008, "invalid start message");
  }
  void on_message(const twilio::Message&, const twilio::Connected& c) {
    spdlog::debug("media stream protocol={} version={}", c.protocol, c.version);
  }
  void on_message(const twilio::Message&, const twilio::Start& s) { start(s); }
  void on_message(const twilio::Message&, const twilio::Media& md) {
    if (!session) return complain(early_media, "media before start dropped");
    // The parser bounds the message, so this bounds the buffer; it grows once, not per frame.
    if (const auto need = base64::max_decoded_size(md.payload.size()); payload.size() < need) payload.resize(need);
    const auto n = base64::decode(md.payload, payload);
    if (!n) return complain(bad_payloads, "media payload is not valid base64; frame dropped");
    if (*n == 0) return complain(bad_payloads, "empty media payload dropped");
    if (!md.track.empty() && md.track != "inbound") return;  // only the caller's audio feeds the pipeline
    session->on_media(std::span<const std::uint8_t>(payload.data(), *n), md.timestamp_ms);
  }
  void on_message(const twilio::Message&, const twilio::Mark& mk) {
    if (session) session->on_mark(mk.name);
  }
  void on_message(const twilio::Message&, const twilio::Dtmf& d) {
    if (session) session->on_dtmf(d.digit);
  }
  void on_message(const twilio::Message&, const twilio::Stop&) {
    if (session) session->end("stop");
    if (conn) conn->close(1000, "stream stopped");
  }
  void on_message(const twilio::Message&, const twilio::Clear&) {
    complain(bad_messages, "'clear' is ours to send, not Twilio's; dropped");
  }

  void start(const twilio::Start& s) {
    if (session || starting) return complain(extra_starts, "second start ignored");
    const bool sid_ok = settings.relaxed_call_sids ? twilio::plausible_sid(s.call_sid) : twilio::twilio_call_sid(s.call_sid);
    if (!sid_ok) {
      complain(bad_messages, "start.callSid is not a Twilio Call SID (CA + 32 hex digits); stream refused");
      conn->close(1008, "invalid callSid");
      return;
    }
    call_sid = s.call_sid;
    if (!s.encoding.empty() && s.encoding != "audio/x-mulaw")
      spdlog::warn("media stream encoding {} is not audio/x-mulaw; treating it as μ-law call_sid={}", s.encoding,
                   call_sid);
    call::StreamStart req;
    req.call_sid = s.call_sid;
    req.stream_sid = s.stream_sid;
    req.stream_url = stream_url;
    req.parameters = s.custom_parameters;
    starting = true;
    starter.start_for(shared_from_this(), std::move(req), conn->executor());
  }

  void started(call::CallStarter::Started s) {
    starting = false;
    if (closed) {
      if (s.session) s.session->end("socket closed while starting");
      return;
    }
    if (!s.session) {
      conn->close(static_cast<std::uint16_t>(s.close_code), s.reason);
      early.clear();
      return;
    }
    session = std::move(s.session);
    // What came while the call was being started, in order.
    while (!early.empty() && !closed) {
      const std::string msg = std::move(early.front());
      early.pop_front();
      handle(msg);
    }
    if (dropped_early > 0) complain(bad_messages, std::to_string(dropped_early) + " messages dropped while the call started");
  }

  // The socket is gone (or the handler is): end the call.
  void finish(std::string_view reason) {
    if (closed) return;
    closed = true;
    if (session) session->end(reason);
    session.reset();  // the session holds this stream as its outbox: let go of each other
    early.clear();
    if (sequence_gaps + bad_messages + early_media + bad_payloads + extra_starts + bad_numbers > 0)
      spdlog::info("media stream closed call_sid={} sequence_gaps={} bad_messages={} early_media={} bad_payloads={} "
                   "extra_starts={} bad_numbers={}",
                   call_sid, sequence_gaps, bad_messages, early_media, bad_payloads, extra_starts, bad_numbers);
  }

  // call::MediaOutbox
  void send_media(std::string_view stream_sid, std::span<const std::uint8_t> ulaw) override {
    twilio::write_media(out, stream_sid, ulaw);
    conn->send_text_copy(out);
  }
  void send_mark(std::string_view stream_sid, std::string_view name) override {
    twilio::write_mark(out, stream_sid, name);
    conn->send_text_copy(out);
  }
  void send_clear(std::string_view stream_sid) override {
    twilio::write_clear(out, stream_sid);
    conn->send_text(out);
  }
  void close(std::string_view reason) override { conn->close(1000, std::string(reason)); }
};

MediaSocketHandler::MediaSocketHandler(const MediaSocketSettings& settings, call::CallStarter& starter,
                                       std::string stream_url)
    : stream_(std::make_shared<Stream>(settings, starter, std::move(stream_url))) {}

MediaSocketHandler::~MediaSocketHandler() { stream_->finish("handler destroyed"); }

void MediaSocketHandler::on_open(std::shared_ptr<net::WsConnection> connection) {
  stream_->conn = std::move(connection);
  if (stream_->settings.silence_limit.count() > 0) stream_->conn->set_idle_limit(stream_->settings.silence_limit);
  spdlog::debug("media stream connected remote={}", stream_->conn->remote());
}

void MediaSocketHandler::on_text(std::string_view message) { stream_->on_text(message); }

void MediaSocketHandler::on_close(std::string_view reason) { stream_->finish(reason); }

}  // namespace vox::twilio_media
