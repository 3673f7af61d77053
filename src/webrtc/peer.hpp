#pragma once
// A WebRTC audio peer on GStreamer's webrtcbin (Debian's gstreamer1.0-plugins-bad and
// gstreamer1.0-nice): it answers a browser's SDP offer, trades ICE candidates, and carries
// Opus both ways over DTLS-SRTP. At its edge the audio is PCM16 mono 8 kHz, the
// pipeline's rate: converted once here (Opus 48 kHz <-> 8 kHz), never again.
//
// Threads: GStreamer runs the pipeline on its own threads. What it reports (the answer,
// local ICE candidates, failure) is posted to the executor given at construction; the
// audio is exchanged without waking anyone: push_frame() and pull() are called by the
// owner's 20 ms pacer. stop() hands the teardown (which joins GStreamer's threads) to
// `run_blocking`, off the network thread.
#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace vox::webrtc {

struct PeerCallbacks {
  std::function<void(std::string sdp)> answer;                        // send to the browser
  std::function<void(std::string candidate, int mline_index)> candidate;  // send to the browser
  std::function<void(std::string why)> failed;                       // the connection is lost or never made
  std::function<void()> connected;                                   // ICE and DTLS are up
};

struct PeerSettings {
  int opus_bitrate = 32000;  // bits/s sent to the browser
  // Runs the teardown off the network threads (null: in place).
  std::function<void(std::function<void()>)> run_blocking;
};

// Whether GStreamer and the elements a peer needs are present (checked once); else why not.
std::string webrtc_unavailable();
// Initialises GStreamer and loads the plugins a peer uses (scanning the registry and
// loading them takes a while the first time): call at start, off the network threads.
void warm_up();

class Peer : public std::enable_shared_from_this<Peer> {
 public:
  // Callbacks run on `executor`.
  static std::shared_ptr<Peer> create(boost::asio::any_io_executor executor, PeerSettings settings, PeerCallbacks callbacks);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // The browser's offer: builds the pipeline for its Opus payload type and answers
  // (asynchronously, through callbacks.answer). Throws std::invalid_argument when the SDP
  // cannot be parsed or offers no Opus audio.
  void offer(const std::string& sdp);
  // A candidate the browser found ("candidate:..." text; empty = end of candidates).
  void add_candidate(const std::string& candidate, int mline_index);
  // 20 ms of the reply (160 samples) to send; silence keeps the stream steady.
  void push_frame(std::span<const std::int16_t> pcm_8k);
  // Up to out.size() samples the browser sent (8 kHz), without waiting; returns how many.
  std::size_t pull(std::span<std::int16_t> out);
  // Ends the connection; idempotent. Callbacks stop.
  void stop();

  struct Impl;

 private:
  Peer() = default;
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::webrtc
