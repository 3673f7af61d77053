#include "browser/webrtc_media.hpp"

#include <boost/asio/as_tuple.hpp>

#include "audio/g711.hpp"

namespace vox::browser {

namespace {
constexpr std::size_t kFrame = 160;  // 20 ms at 8 kHz
constexpr auto kTick = std::chrono::milliseconds(20);
}  // namespace

WebRtcMedia::WebRtcMedia(boost::asio::any_io_executor strand, std::shared_ptr<webrtc::Peer> peer, Hooks hooks)
    : timer_(std::move(strand)), peer_(std::move(peer)), hooks_(std::move(hooks)), frame_(kFrame), in_(kFrame * 10),
      in_ulaw_(kFrame * 10) {}

void WebRtcMedia::start() {
  next_ = std::chrono::steady_clock::now();
  tick();
}

void WebRtcMedia::stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  peer_->stop();
}

void WebRtcMedia::enqueue(std::span<const std::uint8_t> ulaw) {
  if (head_ > 0 && head_ == out_.size()) {
    out_.clear();
    head_ = 0;
  }
  out_.insert(out_.end(), ulaw.begin(), ulaw.end());
  queued_total_ += ulaw.size();
}

void WebRtcMedia::mark(std::string name) {
  // Reported by the next tick at the earliest, never from inside the sender's call.
  marks_.emplace_back(queued_total_, std::move(name));
}

void WebRtcMedia::clear() {
  out_.clear();
  head_ = 0;
  played_total_ = queued_total_;
  // As Twilio does: the marks of what was dropped come back (with the next tick, after
  // the sender has finished cutting its reply).
}

void WebRtcMedia::tick() {
  if (stopped_) return;
  // The browser's audio that arrived since the last tick.
  const std::size_t n = peer_->pull(in_);
  if (n > 0) {
    audio::ulaw_encode(std::span<const std::int16_t>(in_.data(), n), std::span<std::uint8_t>(in_ulaw_.data(), n));
    frames_received_ += n / kFrame;
    if (hooks_.heard_caller) hooks_.heard_caller(std::span<const std::uint8_t>(in_ulaw_.data(), n));
  }
  // One frame of the reply, or silence.
  const std::size_t take = std::min(kFrame, out_.size() - head_);
  if (take > 0)
    audio::ulaw_decode(std::span<const std::uint8_t>(out_.data() + head_, take), std::span<std::int16_t>(frame_.data(), take));
  std::fill(frame_.begin() + static_cast<std::ptrdiff_t>(take), frame_.end(), 0);
  head_ += take;
  played_total_ += take;
  peer_->push_frame(frame_);
  ++frames_sent_;
  while (!marks_.empty() && marks_.front().first <= played_total_) {
    auto name = std::move(marks_.front().second);
    marks_.pop_front();
    if (hooks_.played) hooks_.played(name);
  }
  if (head_ > 64 * 1024 && head_ * 2 > out_.size()) {  // keep the buffer from growing
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  // A steady cadence: the next tick 20 ms after this one was due, not after it ran.
  next_ += kTick;
  const auto now = std::chrono::steady_clock::now();
  if (next_ < now - 5 * kTick) next_ = now;  // fell far behind (a stalled loop): do not burst
  timer_.expires_at(next_);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->tick();
  });
}

}  // namespace vox::browser
