#pragma once
// JSON ⇄ structs for the control API (REST and client WebSocket). Parsing validates
// types and ranges and throws ApiError with the status and a detail that says what to fix.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "speech/speech.hpp"

namespace vox::api {

// An error answered as {"detail": ...} with `status`.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& detail) : std::runtime_error(detail), status(status) {}
  int status;
};

// Voice settings as sent by a client: only the fields it gave.
struct SettingsPatch {
  std::optional<double> stability, similarity_boost, style, speed;
  std::optional<bool> use_speaker_boost;
  bool empty() const { return !stability && !similarity_boost && !style && !speed && !use_speaker_boost; }
  speech::VoiceSettings apply(speech::VoiceSettings base) const;
};

// Parses a JSON request body that must be an object (400 otherwise).
boost::json::object parse_object(std::string_view body);
// Returns obj[key] as a string; "" when absent or null; 400 when another type.
std::string string_field(const boost::json::object& obj, std::string_view key);
// Parses a voice settings object; 400 for unknown types or values outside their range.
SettingsPatch parse_settings(const boost::json::value& v);
std::optional<SettingsPatch> settings_field(const boost::json::object& obj, std::string_view key);

boost::json::object settings_json(const speech::VoiceSettings& s);
std::string settings_text(const speech::VoiceSettings& s);
// Parses settings written by settings_text (stored calls); defaults for what is missing.
speech::VoiceSettings settings_from_text(std::string_view text);

// Checks a text to speak: 400 when empty, too long (`max_chars` characters) or not UTF-8.
void check_text(std::string_view text, std::size_t max_chars, std::string_view field = "text");
// Returns the number of characters (UTF-8 code points) of `text`.
std::size_t utf8_length(std::string_view text);

struct CreateCallRequest {
  std::string to_number, from_number, webhook_url, voice_id, agent_id;
  std::optional<SettingsPatch> voice_settings;
  std::string metadata_json;  // "" when absent
};
CreateCallRequest parse_create_call(std::string_view body);

struct IncomingCallRequest {
  std::string call_sid, from_number, to_number, company_api_key, agent_id, voice_id;
  std::optional<SettingsPatch> voice_settings;
};
// `call_sid` must be Twilio's shape (CA + 32 hex digits); `relaxed_sids` (a test setting)
// accepts any 1..64 of [A-Za-z0-9_-].
IncomingCallRequest parse_incoming_call(std::string_view body, bool relaxed_sids = false);

struct SynthesizeRequest {
  std::string text, voice_id;
  std::optional<SettingsPatch> voice_settings;
};
SynthesizeRequest parse_synthesize(std::string_view body, std::size_t max_chars);

// A message a client sends on its WebSocket (/ws/client), parsed at the edge.
struct ClientMessage {
  enum class Type { kPing, kText, kControl, kUnknown };
  Type type = Type::kUnknown;
  std::string type_name;  // as sent (for kUnknown's answer)
  std::string text;       // kText: what to say
  std::string action;     // kControl ("" when absent or not a string)
  std::string voice_id;   // kControl update_voice
  std::optional<SettingsPatch> voice_settings;
  // A known message whose fields are wrong (the text, the voice fields): the answer names
  // this, in the message type's own reply (synthesis_error, control_response).
  std::string field_error;
};
// Throws ApiError(400) when `text` is not a JSON object with a string "type".
ClientMessage parse_client_message(std::string_view text, std::size_t max_text_chars);

}  // namespace vox::api
