#pragma once
// The browser softphone's WebSocket (/phone/ws): a page's microphone becomes a call like
// any phone call. The page sends a start message (its company key, the agent), then its
// microphone as PCM16 8 kHz binary messages; this converts them to μ-law at the edge and
// feeds the call session exactly as Twilio's media socket does. The reply goes back as
// PCM16 8 kHz with marks: the page echoes each mark when its playback reaches it, so the
// words heard and barge-in work as on a phone call. Knows neither agents nor stores: a
// CallStarter makes the call (with no Twilio control: a browser call has no PSTN leg).
// With transport "webrtc" this socket carries the SDP offer/answer and ICE candidates,
// and the audio goes over WebRTC (webrtc_media.hpp); the call starts once the peer
// connection is up.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "call/starter.hpp"
#include "net/router.hpp"

namespace vox::browser {

// A company's place for one more concurrent call (--max-calls-per-company), held by the
// socket until its call has started (from then on the call itself counts) or it closes.
struct CallAdmission {
  virtual ~CallAdmission() = default;
  virtual void call_started() {}
};

struct PhoneSettings {
  // The company a key belongs to; nullopt refuses the key. With no keys configured the
  // server passes every key (and none) as its one open company.
  std::function<std::optional<std::string>(std::string_view key)> authorize;
  std::size_t max_audio_bytes = 16000;  // a binary message: at most 1 s of PCM16 8 kHz
  // The page sends audio every 20 ms while the call lasts: a socket silent this long is
  // dead and its call ends. 0: the server's --ws-idle-timeout applies.
  std::chrono::milliseconds silence_limit{15000};
  // Runs slow work (a WebRTC pipeline's teardown) off the network threads; null: in place.
  std::function<void(std::function<void()>)> run_blocking;
  // Readies WebRTC (GStreamer's first start is slow) off the network threads, then calls
  // `done` from any thread with "" or why WebRTC is unavailable. Null: not available.
  std::function<void(std::function<void(std::string why)> done)> prepare_webrtc;
  // WebRTC calls between their start and a connected peer (each holds a pipeline and its
  // sockets before the call limit counts it): at most this many (null: not counted).
  std::atomic<int>* connecting_webrtc = nullptr;
  int max_connecting_webrtc = 32;
  // Whether `tenant` may start call `call_sid` (its company's concurrent-call limit):
  // calls `done`, from any thread, with the admission or with why not. Null: no limit.
  using AdmitDone = std::function<void(std::unique_ptr<CallAdmission> admission, std::string refusal)>;
  std::function<void(const std::string& tenant, const std::string& call_sid, AdmitDone done)> admit;
};

// A browser call's sid: "WB" and 32 hex digits (random).
std::string new_browser_call_sid();
bool browser_call_sid(std::string_view sid);

class PhoneSocketHandler final : public net::WsHandler {
 public:
  PhoneSocketHandler(const PhoneSettings& settings, call::CallStarter& starter);
  ~PhoneSocketHandler() override;

  void on_open(std::shared_ptr<net::WsConnection> connection) override;
  void on_text(std::string_view message) override;
  void on_binary(std::string_view message) override;
  void on_close(std::string_view reason) override;

  struct Line;  // the call's state; also the session's outbox

 private:
  std::shared_ptr<Line> line_;
};

}  // namespace vox::browser
