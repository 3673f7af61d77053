#pragma once
// Twilio Media Streams messages (../shared/specs/twilio_media_streams.md) as structs,
// parsed from and written to JSON text here at the edge; the call core never sees JSON.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vox::twilio {

struct Connected {
  std::string_view protocol;
  std::string_view version;
};
struct Start {
  std::string stream_sid;
  std::string account_sid;
  std::string call_sid;
  std::vector<std::string> tracks;
  std::map<std::string, std::string> custom_parameters;
  std::string encoding;
  int sample_rate = 0;
  int channels = 0;
};
struct Media {
  std::string_view track;
  std::int64_t chunk = 0;         // -1 when absent or out of range
  std::int64_t timestamp_ms = 0;  // -1 when absent or outside 0..kMaxMediaTimestampMs
  std::string_view payload;  // base64
};
struct Mark {
  std::string_view name;
};
struct Dtmf {
  std::string_view track;
  std::string_view digit;
};
struct Stop {
  std::string_view account_sid;
  std::string_view call_sid;
};
struct Clear {};
struct ParseError {
  std::string reason;
};

using Body = std::variant<ParseError, Connected, Start, Media, Mark, Dtmf, Stop, Clear>;

struct Message {
  Body body;
  std::string_view event;
  std::string_view stream_sid;  // empty on `connected`
  std::int64_t sequence_number = -1;  // -1 when absent (messages we send carry none)
  // A field that was present but not a number in its range (it reads as absent, -1):
  // the message is still used; the caller reports it. Empty when all was well.
  std::string_view bad_field;
};

// The ranges the numbers of a message must lie in; outside them a number reads as absent.
inline constexpr std::int64_t kMaxMediaTimestampMs = 24LL * 3600 * 1000;  // Twilio ends calls long before a day
inline constexpr std::int64_t kMaxSequenceNumber = (1LL << 53);          // JSON's exact integers

// Returns whether `digit` is one key of Twilio's DTMF alphabet: 0-9, *, # or A-D.
bool valid_dtmf_digit(std::string_view digit);
// Returns whether `sid` has the shape Twilio gives a Call SID: "CA" and 32 hex digits.
bool twilio_call_sid(std::string_view sid);

// Parses Media Streams messages in either direction. Views in the result point into
// the parser and stay valid until the next parse(). Small messages do not touch the
// heap (a fixed arena backs the JSON tree). One parser per connection; not thread-safe.
class MessageParser {
 public:
  explicit MessageParser(std::size_t max_message_bytes = 64 * 1024);
  ~MessageParser();
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  Message parse(std::string_view text);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Returns whether `sid` looks like a Twilio SID: 2 letters + 32 hex (we accept 1..64 of [A-Za-z0-9_-]).
bool plausible_sid(std::string_view sid);

// Writers of the messages we send to Twilio. Each replaces the contents of `out`
// (so the caller can reuse its capacity).
void write_media(std::string& out, std::string_view stream_sid, std::span<const std::uint8_t> ulaw);
void write_mark(std::string& out, std::string_view stream_sid, std::string_view name);
void write_clear(std::string& out, std::string_view stream_sid);

// Writers of the messages Twilio sends (used by the simulated caller / emulator).
void write_connected(std::string& out);
void write_start(std::string& out, const Start& start, std::int64_t sequence_number);
void write_inbound_media(std::string& out, std::string_view stream_sid, std::int64_t sequence_number,
                         std::int64_t chunk, std::int64_t timestamp_ms, std::span<const std::uint8_t> ulaw,
                         std::string_view track = "inbound");
void write_mark_echo(std::string& out, std::string_view stream_sid, std::int64_t sequence_number,
                     std::string_view name);
void write_dtmf(std::string& out, std::string_view stream_sid, std::int64_t sequence_number, std::string_view digit);
void write_stop(std::string& out, std::string_view stream_sid, std::int64_t sequence_number,
                std::string_view account_sid, std::string_view call_sid);

// Appends `s` as a JSON string literal (quoted, escaped).
void append_json_string(std::string& out, std::string_view s);

}  // namespace vox::twilio
