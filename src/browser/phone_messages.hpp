#pragma once
// The browser softphone's WebSocket protocol (/phone/ws), parsed into structs at the edge.
//
// Text messages are JSON objects with a "type":
//   page -> server: start {key?, agent?, agent_id?, voice?, greeting?, transport?}  (first)
//                   offer {sdp}, ice {candidate, sdpMLineIndex}  (transport "webrtc")
//                   ping            keeps the socket alive (a WebRTC call's socket is quiet)
//                   mark {name}     the page's playback reached this mark
//                   dtmf {digit}    a key pressed on the page's keypad
//                   hangup          the caller hangs up
//   server -> page: started {call_sid, stream_sid}, mark {name}, clear, event {...},
//                   ended {reason}, error {detail}; answer {sdp}, ice {...} (webrtc)
// With transport "ws" (the default) binary messages carry the audio both ways: PCM16
// little-endian, mono, 8 kHz. With "webrtc" the audio is Opus over DTLS-SRTP and this
// socket carries only the signalling and the events.
#include <string>
#include <string_view>
#include <variant>

namespace vox::browser {

struct PhoneStart {
  std::string key;       // the company's API key ("" when the server has none)
  std::string agent;     // a built-in agent (echo, script, webhook, llm) or "external"; "" = default
  std::string agent_id;  // the company's own agent id (sockets and turns bound to it drive the call)
  std::string voice;     // a voice id for the replies; "" = the server's
  std::string greeting;  // replaces the agent's greeting; absent = the agent's own
  bool has_greeting = false;
  bool webrtc = false;   // transport "webrtc" (else "ws")
};
struct PhoneOffer {
  std::string sdp;
};
struct PhoneIce {
  std::string candidate;  // "candidate:..." ("" = end of candidates)
  int mline_index = 0;
};
struct PhoneMark {
  std::string name;
};
struct PhoneDtmf {
  std::string digit;
};
struct PhoneHangup {};
struct PhonePing {};
struct PhoneBad {
  std::string reason;  // what is wrong, fit to send back to the page
};

using PhoneMessage = std::variant<PhoneStart, PhoneMark, PhoneDtmf, PhoneHangup, PhonePing, PhoneOffer, PhoneIce, PhoneBad>;

// Limits on what a page may send.
inline constexpr std::size_t kMaxPhoneText = 32768;     // a text message's bytes (an SDP offer fits)
inline constexpr std::size_t kMaxPhoneSdp = 30000;      // an offer's bytes
inline constexpr std::size_t kMaxPhoneCandidate = 1024;  // an ICE candidate's bytes
inline constexpr std::size_t kMaxPhoneField = 256;      // a key, agent, voice or mark name
inline constexpr std::size_t kMaxPhoneGreeting = 1000;  // a greeting's characters

PhoneMessage parse_phone_message(std::string_view text);

// Server -> page messages.
std::string phone_started(std::string_view call_sid, std::string_view stream_sid);
void write_phone_mark(std::string& out, std::string_view name);  // into a reused buffer
std::string phone_clear();
std::string phone_ended(std::string_view reason);
std::string phone_error(std::string_view detail);
std::string phone_answer(std::string_view sdp);
std::string phone_ice(std::string_view candidate, int mline_index);

}  // namespace vox::browser
