#include "browser/phone_messages.hpp"

#include <boost/json.hpp>

namespace vox::browser {
namespace json = boost::json;

namespace {
// The string field `name` of `o`, or `fallback`; sets `bad` when it is not a string or too long.
std::string field(const json::object& o, std::string_view name, std::string& bad, std::size_t limit = kMaxPhoneField) {
  const auto* v = o.if_contains(name);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) {
    bad = std::string(name) + " must be a string";
    return {};
  }
  if (v->as_string().size() > limit) {
    bad = std::string(name) + " is longer than " + std::to_string(limit) + " bytes";
    return {};
  }
  return std::string(v->as_string());
}
}  // namespace

PhoneMessage parse_phone_message(std::string_view text) {
  if (text.size() > kMaxPhoneText) return PhoneBad{"message longer than " + std::to_string(kMaxPhoneText) + " bytes"};
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return PhoneBad{"not a JSON object"};
  const auto& o = v.as_object();
  const auto* type = o.if_contains("type");
  if (!type || !type->is_string()) return PhoneBad{"missing \"type\""};
  const std::string_view t = type->as_string();
  std::string bad;
  if (t == "start") {
    PhoneStart s;
    s.key = field(o, "key", bad);
    s.agent = field(o, "agent", bad);
    s.agent_id = field(o, "agent_id", bad);
    s.voice = field(o, "voice", bad);
    if (const auto* g = o.if_contains("greeting"); g && !g->is_null()) {
      s.greeting = field(o, "greeting", bad, kMaxPhoneGreeting);
      s.has_greeting = true;
    }
    const std::string transport = field(o, "transport", bad);
    if (!transport.empty() && transport != "ws" && transport != "webrtc")
      return PhoneBad{"transport must be \"ws\" or \"webrtc\""};
    s.webrtc = transport == "webrtc";
    if (!bad.empty()) return PhoneBad{bad};
    return s;
  }
  if (t == "offer") {
    PhoneOffer offer{field(o, "sdp", bad, kMaxPhoneSdp)};
    if (!bad.empty()) return PhoneBad{bad};
    if (offer.sdp.empty()) return PhoneBad{"offer without an sdp"};
    return offer;
  }
  if (t == "ice") {
    PhoneIce ice{field(o, "candidate", bad, kMaxPhoneCandidate), 0};
    if (const auto* m = o.if_contains("sdpMLineIndex"); m && !m->is_null()) {
      if (!m->is_int64() || m->as_int64() < 0 || m->as_int64() > 16) return PhoneBad{"sdpMLineIndex must be 0-16"};
      ice.mline_index = static_cast<int>(m->as_int64());
    }
    if (!bad.empty()) return PhoneBad{bad};
    return ice;
  }
  if (t == "mark") {
    PhoneMark m{field(o, "name", bad)};
    if (!bad.empty()) return PhoneBad{bad};
    return m;
  }
  if (t == "dtmf") {
    PhoneDtmf d{field(o, "digit", bad)};
    if (!bad.empty()) return PhoneBad{bad};
    if (d.digit.size() != 1 || std::string_view("0123456789*#ABCD").find(d.digit[0]) == std::string_view::npos)
      return PhoneBad{"digit must be one of 0-9, *, #, A-D"};
    return d;
  }
  if (t == "hangup") return PhoneHangup{};
  if (t == "ping") return PhonePing{};
  return PhoneBad{"unknown type \"" + std::string(t.substr(0, 40)) + "\""};
}

std::string phone_started(std::string_view call_sid, std::string_view stream_sid) {
  return json::serialize(json::object{{"type", "started"}, {"call_sid", call_sid}, {"stream_sid", stream_sid}});
}

void write_phone_mark(std::string& out, std::string_view name) {
  out.assign(R"({"type":"mark","name":")");
  // Mark names are ours (the playout's counters); anything JSON would need escaped is dropped.
  for (const char c : name)
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) out += c;
  out += "\"}";
}

std::string phone_clear() { return R"({"type":"clear"})"; }

std::string phone_ended(std::string_view reason) {
  return json::serialize(json::object{{"type", "ended"}, {"reason", reason}});
}

std::string phone_answer(std::string_view sdp) {
  return json::serialize(json::object{{"type", "answer"}, {"sdp", sdp}});
}

std::string phone_ice(std::string_view candidate, int mline_index) {
  return json::serialize(json::object{{"type", "ice"}, {"candidate", candidate}, {"sdpMLineIndex", mline_index}});
}

std::string phone_error(std::string_view detail) {
  return json::serialize(json::object{{"type", "error"}, {"detail", detail}});
}

}  // namespace vox::browser
