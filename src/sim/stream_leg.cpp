#include "sim/stream_leg.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <spdlog/spdlog.h>


#include "core/spawn.hpp"
#include "audio/g711.hpp"
#include "core/base64.hpp"
#include "net/client.hpp"
#include "sim/sid.hpp"
#include "twilio/media_messages.hpp"
#include "twilio/signature.hpp"

namespace vox::sim {
namespace asio = boost::asio;

asio::awaitable<std::shared_ptr<StreamLeg>> StreamLeg::open(StreamLegOptions o) {
  std::shared_ptr<StreamLeg> leg(new StreamLeg());
  leg->opt_ = std::move(o);
  leg->stream_sid_ = random_sid("MZ");
  net::Headers headers;
  if (!leg->opt_.auth_token.empty())
    headers.emplace_back("X-Twilio-Signature", twilio::compute_signature(leg->opt_.auth_token, leg->opt_.url, {}));
  leg->ws_ = co_await net::WsClient::connect(leg->opt_.url, std::move(headers));
  twilio::write_connected(leg->out_);
  leg->ws_->send(leg->out_);
  twilio::Start start;
  start.stream_sid = leg->stream_sid_;
  start.account_sid = leg->opt_.account_sid;
  start.call_sid = leg->opt_.call_sid;
  if (leg->opt_.bidirectional || leg->opt_.track == "inbound_track") start.tracks = {"inbound"};
  else if (leg->opt_.track == "outbound_track") start.tracks = {"outbound"};
  else start.tracks = {"inbound", "outbound"};
  start.custom_parameters = leg->opt_.parameters;
  twilio::write_start(leg->out_, start, leg->seq_++);
  leg->ws_->send(leg->out_);
  vox::spawn(co_await asio::this_coro::executor, read_loop(leg), "stream leg reader");
  co_return leg;
}

StreamLeg::~StreamLeg() = default;

asio::awaitable<void> StreamLeg::read_loop(std::shared_ptr<StreamLeg> self) {
  for (;;) {
    auto msg = co_await self->ws_->read();
    if (!msg) break;
    self->on_text(*msg);
  }
  self->stats_.close_code = self->ws_->close_code();
  self->closed_ = true;
}

void StreamLeg::on_text(const std::string& text) {
  const auto m = parser_.parse(text);
  const bool data = std::holds_alternative<twilio::Media>(m.body) || std::holds_alternative<twilio::Mark>(m.body) ||
                    std::holds_alternative<twilio::Clear>(m.body);
  if (data && !opt_.bidirectional) {
    ++stats_.protocol_errors;
    spdlog::warn("twilio emulator call {}: warning 31924 Stream - WebSocket - Protocol Error: '{}' on the "
                 "unidirectional stream {}", opt_.call_sid, m.event, stream_sid_);
    return;
  }
  if (const auto* media = std::get_if<twilio::Media>(&m.body)) {
    std::vector<std::uint8_t> bytes(base64::max_decoded_size(media->payload.size()) + 3);
    const auto n = base64::decode(media->payload, bytes);
    if (!n) {
      ++stats_.protocol_errors;
      spdlog::warn("twilio emulator call {}: warning 31924 Stream - WebSocket - Protocol Error: media payload is "
                   "not base64", opt_.call_sid);
      return;
    }
    queue_.insert(queue_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(*n));
    enqueued_ += *n;
    stats_.bytes_received += *n;
  } else if (const auto* mark = std::get_if<twilio::Mark>(&m.body)) {
    ++stats_.marks_received;
    marks_.emplace_back(enqueued_, std::string(mark->name));
  } else if (std::holds_alternative<twilio::Clear>(m.body)) {
    ++stats_.clears;
    queue_.clear();
    played_ = enqueued_;
    for (const auto& [pos, name] : marks_) {
      twilio::write_mark_echo(out_, stream_sid_, seq_++, name);
      ws_->send_copy(out_);
      ++stats_.marks_echoed;
    }
    marks_.clear();
  } else if (const auto* err = std::get_if<twilio::ParseError>(&m.body)) {
    ++stats_.protocol_errors;
    spdlog::warn("twilio emulator call {}: warning 31924 Stream - WebSocket - Protocol Error: {}", opt_.call_sid,
                 err->reason);
  }
}

bool StreamLeg::play(std::span<std::uint8_t, 160> out) {
  const std::size_t n = std::min<std::size_t>(160, queue_.size());
  std::copy_n(queue_.begin(), n, out.begin());
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), audio::kUlawSilence);
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  played_ += n;
  while (!stopped_ && !marks_.empty() && marks_.front().first <= played_) {
    twilio::write_mark_echo(out_, stream_sid_, seq_++, marks_.front().second);
    ws_->send_copy(out_);
    ++stats_.marks_echoed;
    marks_.pop_front();
  }
  return n > 0;
}

void StreamLeg::send_frame(std::span<const std::uint8_t, 160> inbound, std::span<const std::uint8_t, 160> outbound) {
  if (stopped_ || closed_) return;
  const bool in = opt_.bidirectional || opt_.track != "outbound_track";
  const bool outb = !opt_.bidirectional && (opt_.track == "outbound_track" || opt_.track == "both_tracks");
  if (in) {
    twilio::write_inbound_media(out_, stream_sid_, seq_++, chunk_in_++, media_ms_, inbound, "inbound");
    ws_->send_copy(out_);
  }
  if (outb) {
    twilio::write_inbound_media(out_, stream_sid_, seq_++, chunk_out_++, media_ms_, outbound, "outbound");
    ws_->send_copy(out_);
  }
  media_ms_ += 20;
  ++stats_.frames_sent;
}

void StreamLeg::send_dtmf(char digit) {
  if (stopped_ || closed_ || !opt_.bidirectional) return;
  twilio::write_dtmf(out_, stream_sid_, seq_++, std::string(1, digit));
  ws_->send_copy(out_);
  ++stats_.dtmf_sent;
}

void StreamLeg::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (closed_) return;
  twilio::write_stop(out_, stream_sid_, seq_++, opt_.account_sid, opt_.call_sid);
  ws_->send_copy(out_);
  ws_->close();
}

}  // namespace vox::sim
