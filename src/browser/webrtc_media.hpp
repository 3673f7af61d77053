#pragma once
// The media half of a WebRTC browser call: the reply's audio queued here and played out
// to the peer in real time, one 20 ms frame per tick (silence between replies), with
// each mark reported as played when the pacer reaches it, as Twilio does for a phone
// call; a clear drops what is queued (the reply stops within a frame) and reports its
// marks. The same tick pulls what the browser said from the peer. One steady timer on
// the call's strand drives both: no thread is woken per frame.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "webrtc/peer.hpp"

namespace vox::browser {

class WebRtcMedia : public std::enable_shared_from_this<WebRtcMedia> {
 public:
  struct Hooks {
    std::function<void(std::span<const std::uint8_t> ulaw)> heard_caller;  // the browser's audio, μ-law 8 kHz
    std::function<void(const std::string& mark)> played;                  // a mark's audio went out
  };
  WebRtcMedia(boost::asio::any_io_executor strand, std::shared_ptr<webrtc::Peer> peer, Hooks hooks);

  void start();  // begins ticking (on the strand)
  void stop();   // stops ticking and the peer; idempotent

  // call::MediaOutbox's work, on the strand.
  void enqueue(std::span<const std::uint8_t> ulaw);
  void mark(std::string name);
  void clear();

  std::uint64_t frames_sent() const { return frames_sent_; }
  std::uint64_t frames_received() const { return frames_received_; }

 private:
  void tick();

  boost::asio::steady_timer timer_;
  std::shared_ptr<webrtc::Peer> peer_;
  Hooks hooks_;
  std::chrono::steady_clock::time_point next_{};
  std::vector<std::uint8_t> out_;  // queued reply audio (μ-law); out_[head_..] not yet played
  std::size_t head_ = 0;
  std::uint64_t queued_total_ = 0, played_total_ = 0;
  std::deque<std::pair<std::uint64_t, std::string>> marks_;  // (queued_total_ when marked, name)
  std::vector<std::int16_t> frame_;   // one outbound frame
  std::vector<std::int16_t> in_;      // pulled inbound samples
  std::vector<std::uint8_t> in_ulaw_;
  std::uint64_t frames_sent_ = 0, frames_received_ = 0;
  bool stopped_ = false;
};

}  // namespace vox::browser
