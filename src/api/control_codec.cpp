#include "api/control_codec.hpp"

#include "twilio/media_messages.hpp"
#include "core/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>

namespace vox::api {
namespace json = boost::json;

speech::VoiceSettings SettingsPatch::apply(speech::VoiceSettings base) const {
  if (stability) base.stability = *stability;
  if (similarity_boost) base.similarity_boost = *similarity_boost;
  if (style) base.style = *style;
  if (speed) base.speed = *speed;
  if (use_speaker_boost) base.use_speaker_boost = *use_speaker_boost;
  return base;
}

json::object parse_object(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw ApiError(400, "Request body is empty: send a JSON object (Content-Type: application/json)");
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) throw ApiError(400, "Malformed JSON in request body: " + ec.message());
  if (!v.is_object()) throw ApiError(400, "Request body must be a JSON object");
  return std::move(v.as_object());
}

std::string string_field(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) throw ApiError(400, "Field '" + std::string(key) + "' must be a string");
  return std::string(v->as_string());
}

namespace {
std::optional<double> unit_number(const json::object& o, std::string_view key, double lo, double hi) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_number()) throw ApiError(400, "voice_settings." + std::string(key) + " must be a number");
  const double d = v->to_number<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "voice_settings.%.*s must be between %.1f and %.1f (got %g)",
                  static_cast<int>(key.size()), key.data(), lo, hi, d);
    throw ApiError(400, buf);
  }
  return d;
}
}  // namespace

SettingsPatch parse_settings(const json::value& v) {
  if (!v.is_object()) throw ApiError(400, "voice_settings must be an object");
  const auto& o = v.as_object();
  SettingsPatch p;
  p.stability = unit_number(o, "stability", 0.0, 1.0);
  p.similarity_boost = unit_number(o, "similarity_boost", 0.0, 1.0);
  p.style = unit_number(o, "style", 0.0, 1.0);
  p.speed = unit_number(o, "speed", 0.7, 1.2);
  if (const auto* b = o.if_contains("use_speaker_boost"); b && !b->is_null()) {
    if (!b->is_bool()) throw ApiError(400, "voice_settings.use_speaker_boost must be true or false");
    p.use_speaker_boost = b->as_bool();
  }
  return p;
}

std::optional<SettingsPatch> settings_field(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return parse_settings(*v);
}

json::object settings_json(const speech::VoiceSettings& s) {
  return json::object{{"stability", s.stability},
                      {"similarity_boost", s.similarity_boost},
                      {"style", s.style},
                      {"use_speaker_boost", s.use_speaker_boost},
                      {"speed", s.speed}};
}

std::string settings_text(const speech::VoiceSettings& s) { return vox::json_text(settings_json(s)); }

speech::VoiceSettings settings_from_text(std::string_view text) {
  speech::VoiceSettings s;
  if (text.empty()) return s;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return s;
  try {
    return parse_settings(v).apply(s);
  } catch (const ApiError&) {
    return s;
  }
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (const char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

namespace {
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}
}  // namespace

void check_text(std::string_view text, std::size_t max_chars, std::string_view field) {
  const std::string name = "'" + std::string(field) + "'";
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    throw ApiError(400, "Field " + name + " is required and must not be empty");
  if (!valid_utf8(text)) throw ApiError(400, "Field " + name + " is not valid UTF-8");
  const auto n = utf8_length(text);
  if (n > max_chars)
    throw ApiError(400, "Field " + name + " has " + std::to_string(n) + " characters; the limit is " +
                            std::to_string(max_chars) + " (split it into several requests)");
}

CreateCallRequest parse_create_call(std::string_view body) {
  const auto o = parse_object(body);
  CreateCallRequest r;
  r.to_number = string_field(o, "to_number");
  r.from_number = string_field(o, "from_number");
  r.webhook_url = string_field(o, "webhook_url");
  r.voice_id = string_field(o, "voice_id");
  r.voice_settings = settings_field(o, "voice_settings");
  if (const auto* m = o.if_contains("metadata"); m && !m->is_null()) {
    if (!m->is_object()) throw ApiError(400, "Field 'metadata' must be an object");
    r.metadata_json = vox::json_text(*m);
    if (const auto* a = m->as_object().if_contains("agent_id"); a && a->is_string()) r.agent_id = std::string(a->as_string());
  }
  if (r.to_number.empty()) throw ApiError(400, "Field 'to_number' is required (E.164, e.g. +14155550123)");
  return r;
}

IncomingCallRequest parse_incoming_call(std::string_view body, bool relaxed_sids) {
  const auto o = parse_object(body);
  IncomingCallRequest r;
  r.call_sid = string_field(o, "call_sid");
  r.from_number = string_field(o, "from_number");
  r.to_number = string_field(o, "to_number");
  r.company_api_key = string_field(o, "company_api_key");
  r.agent_id = string_field(o, "agent_id");
  r.voice_id = string_field(o, "voice_id");
  r.voice_settings = settings_field(o, "voice_settings");
  if (r.call_sid.empty()) throw ApiError(400, "Field 'call_sid' is required (Twilio's CallSid, CA…)");
  if (relaxed_sids && !twilio::plausible_sid(r.call_sid))
    throw ApiError(400, "Field 'call_sid' must be 1 to 64 letters, digits, '-' or '_'");
  if (!relaxed_sids && !twilio::twilio_call_sid(r.call_sid))
    throw ApiError(400, "Field 'call_sid' must be a Twilio Call SID: CA followed by 32 hexadecimal digits (e.g. "
                        "CA0123456789abcdef0123456789abcdef); test setups may accept other ids with --relaxed-call-sids");
  if (r.agent_id.size() > 128) throw ApiError(400, "Field 'agent_id' is too long (128 characters at most)");
  return r;
}

SynthesizeRequest parse_synthesize(std::string_view body, std::size_t max_chars) {
  const auto o = parse_object(body);
  SynthesizeRequest r;
  r.text = string_field(o, "text");
  r.voice_id = string_field(o, "voice_id");
  r.voice_settings = settings_field(o, "voice_settings");
  check_text(r.text, max_chars);
  return r;
}

ClientMessage parse_client_message(std::string_view text, std::size_t max_text_chars) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) throw ApiError(400, "Malformed message: send a JSON object with a \"type\"");
  const auto& o = v.as_object();
  const auto* type = o.if_contains("type");
  if (!type || !type->is_string()) throw ApiError(400, "Message has no \"type\"");
  ClientMessage m;
  m.type_name = std::string(type->as_string());
  try {
    if (m.type_name == "ping") {
      m.type = ClientMessage::Type::kPing;
    } else if (m.type_name == "text") {
      m.type = ClientMessage::Type::kText;
      m.text = string_field(o, "text");
      check_text(m.text, max_text_chars);
    } else if (m.type_name == "control") {
      m.type = ClientMessage::Type::kControl;
      const auto* a = o.if_contains("action");
      m.action = a && a->is_string() ? std::string(a->as_string()) : std::string();
      if (m.action == "update_voice") {
        m.voice_id = string_field(o, "voice_id");
        m.voice_settings = settings_field(o, "voice_settings");
      }
    }
  } catch (const ApiError& e) {
    m.field_error = e.what();
  }
  return m;
}

}  // namespace vox::api
