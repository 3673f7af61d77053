#pragma once
// Where a call's outbound media goes: the Twilio Media Streams socket in production
// (twilio_media/), a recorder in tests. Called on the call's strand.
#include <cstdint>
#include <span>
#include <string_view>

namespace vox::call {

// The mark a call sends at its start when it has no greeting (the simulated caller then
// speaks at once instead of waiting for one).
inline constexpr std::string_view kNoGreetingMark = "noGreeting";

class MediaOutbox {
 public:
  virtual ~MediaOutbox() = default;
  virtual void send_media(std::string_view stream_sid, std::span<const std::uint8_t> ulaw) = 0;
  virtual void send_mark(std::string_view stream_sid, std::string_view name) = 0;
  virtual void send_clear(std::string_view stream_sid) = 0;
  // Ends the stream from our side (Twilio then continues with the next TwiML verb).
  virtual void close(std::string_view reason) = 0;
};

}  // namespace vox::call
