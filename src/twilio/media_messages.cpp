#include "twilio/media_messages.hpp"

#include <optional>

#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <vector>

#include "core/base64.hpp"

namespace vox::twilio {
namespace json = boost::json;

namespace {

// A media message's tree takes about 1 KB; larger messages (a start with many custom
// parameters) take the rest from the heap.
constexpr std::size_t kArenaBytes = 4 * 1024;

std::string_view str_of(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v && v->is_string()) return v->get_string();
  return {};
}

// Reads a Twilio number that is usually a decimal string ("42") but be liberal:
// accept a JSON integer as well. Returns -1 when absent; when present but malformed or
// outside 0..`max`, returns -1 and names `key` in `bad` (the first such field).
std::int64_t num_of(const json::object& o, std::string_view key, std::int64_t max, std::string_view& bad) {
  const auto* v = o.if_contains(key);
  if (!v) return -1;
  std::int64_t out = -1;
  bool ok = false;
  if (v->is_int64()) {
    out = v->get_int64();
    ok = true;
  } else if (v->is_uint64()) {
    ok = v->get_uint64() <= static_cast<std::uint64_t>(max);
    if (ok) out = static_cast<std::int64_t>(v->get_uint64());
  } else if (v->is_string()) {
    const auto s = v->get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    ok = ec == std::errc{} && p == s.data() + s.size();
  }
  if (ok && out >= 0 && out <= max) return out;
  if (bad.empty()) bad = key;
  return -1;
}

const json::object* obj_of(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v && v->is_object()) return &v->get_object();
  return nullptr;
}

ParseError err(std::string reason) { return ParseError{std::move(reason)}; }

}  // namespace

struct MessageParser::Impl {
  std::size_t max_bytes = 0;
  // The JSON tree lives in `arena` and the parser's scratch space in `scratch`, so a
  // typical message (a ~400-byte media frame) is parsed without heap allocation.
  alignas(std::max_align_t) unsigned char arena[kArenaBytes];
  alignas(std::max_align_t) unsigned char scratch[4096];
  // Rebuilt for every message (a few stores): monotonic_resource::release() keeps the
  // size its next block would have had, so with release() alone every message whose tree
  // outgrew the arena doubled the next block (4 KB, 8 KB, ... ), and about 30 such
  // messages asked for terabytes (found by fuzz/media_stream_fuzz.cpp).
  std::optional<json::monotonic_resource> mr{std::in_place, arena, sizeof(arena)};
  json::parser parser{json::storage_ptr(), json::parse_options{}, scratch, sizeof(scratch)};
  // Move-constructed from the parser's result so it keeps the arena as its storage
  // (assigning into a value with another storage would copy the tree to the heap).
  std::optional<json::value> doc;
};

// `new Impl` rather than make_unique: value-initialization would zero the 20 KB of arena and
// scratch space first, making every page of it resident for every call.
MessageParser::MessageParser(std::size_t max_message_bytes) : impl_(new Impl) {
  impl_->max_bytes = max_message_bytes;
}
MessageParser::~MessageParser() = default;

bool plausible_sid(std::string_view sid) {
  if (sid.empty() || sid.size() > 64) return false;
  for (const char c : sid) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_dtmf_digit(std::string_view digit) {
  if (digit.size() != 1) return false;
  const char c = digit[0];
  return (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D');
}

bool twilio_call_sid(std::string_view sid) {
  if (sid.size() != 34 || sid[0] != 'C' || sid[1] != 'A') return false;
  for (const char c : sid.substr(2))
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

Message MessageParser::parse(std::string_view text) {
  Message m;
  if (text.size() > impl_->max_bytes) {
    m.body = err("message of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                 std::to_string(impl_->max_bytes));
    return m;
  }
  // Release the previous tree before reusing its arena.
  impl_->doc.reset();
  impl_->mr.emplace(impl_->arena, sizeof(impl_->arena));
  impl_->parser.reset(json::storage_ptr(&*impl_->mr));
  boost::system::error_code ec;
  impl_->parser.write(text, ec);
  if (!ec) impl_->doc.emplace(impl_->parser.release());
  if (ec) {
    m.body = err("malformed JSON: " + ec.message());
    return m;
  }
  if (!impl_->doc->is_object()) {
    m.body = err("message is not a JSON object");
    return m;
  }
  const auto& o = impl_->doc->get_object();
  m.event = str_of(o, "event");
  m.stream_sid = str_of(o, "streamSid");
  m.sequence_number = num_of(o, "sequenceNumber", kMaxSequenceNumber, m.bad_field);
  if (m.event.empty()) {
    m.body = err("message has no \"event\" string");
    return m;
  }
  if (m.event == "connected") {
    m.body = Connected{str_of(o, "protocol"), str_of(o, "version")};
    return m;
  }
  if (m.event == "media") {
    const auto* md = obj_of(o, "media");
    if (!md) return m.body = err("media message has no \"media\" object"), m;
    Media media{str_of(*md, "track"), -1, -1, str_of(*md, "payload")};
    std::string_view bad_media;
    media.chunk = num_of(*md, "chunk", kMaxSequenceNumber, bad_media);
    media.timestamp_ms = num_of(*md, "timestamp", kMaxMediaTimestampMs, bad_media);
    if (m.bad_field.empty() && !bad_media.empty()) m.bad_field = bad_media == "chunk" ? "media.chunk" : "media.timestamp";
    if (!md->contains("payload") || !(*md).at("payload").is_string())
      return m.body = err("media message has no \"media.payload\" string"), m;
    m.body = media;
    return m;
  }
  if (m.event == "mark") {
    const auto* mk = obj_of(o, "mark");
    if (!mk || str_of(*mk, "name").empty()) return m.body = err("mark message has no \"mark.name\""), m;
    m.body = Mark{str_of(*mk, "name")};
    return m;
  }
  if (m.event == "start") {
    const auto* st = obj_of(o, "start");
    if (!st) return m.body = err("start message has no \"start\" object"), m;
    Start s;
    s.stream_sid = std::string(str_of(*st, "streamSid"));
    if (s.stream_sid.empty()) s.stream_sid = std::string(m.stream_sid);
    s.account_sid = std::string(str_of(*st, "accountSid"));
    s.call_sid = std::string(str_of(*st, "callSid"));
    if (!plausible_sid(s.stream_sid)) return m.body = err("start message has no valid streamSid"), m;
    if (!plausible_sid(s.call_sid)) return m.body = err("start message has no valid start.callSid"), m;
    if (const auto* tr = st->if_contains("tracks"); tr && tr->is_array())
      for (const auto& t : tr->get_array())
        if (t.is_string()) s.tracks.emplace_back(t.get_string());
    if (const auto* cp = obj_of(*st, "customParameters"))
      for (const auto& [k, v] : *cp)
        if (v.is_string()) s.custom_parameters.emplace(std::string(k), std::string(v.get_string()));
    if (const auto* mf = obj_of(*st, "mediaFormat")) {
      s.encoding = std::string(str_of(*mf, "encoding"));
      std::string_view ignored;
      s.sample_rate = static_cast<int>(num_of(*mf, "sampleRate", 192000, ignored));
      s.channels = static_cast<int>(num_of(*mf, "channels", 8, ignored));
    }
    m.body = std::move(s);
    return m;
  }
  if (m.event == "dtmf") {
    const auto* d = obj_of(o, "dtmf");
    if (!d || str_of(*d, "digit").empty()) return m.body = err("dtmf message has no \"dtmf.digit\""), m;
    if (!valid_dtmf_digit(str_of(*d, "digit")))
      return m.body = err("dtmf.digit is not one key of 0-9, *, #, A-D (" +
                          std::to_string(str_of(*d, "digit").size()) + " bytes); dropped"), m;
    m.body = Dtmf{str_of(*d, "track"), str_of(*d, "digit")};
    return m;
  }
  if (m.event == "stop") {
    Stop s;
    if (const auto* st = obj_of(o, "stop")) s = Stop{str_of(*st, "accountSid"), str_of(*st, "callSid")};
    m.body = s;
    return m;
  }
  if (m.event == "clear") {
    m.body = Clear{};
    return m;
  }
  m.body = err("unknown event \"" + std::string(m.event.substr(0, 64)) + "\"");
  return m;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

void write_media(std::string& out, std::string_view stream_sid, std::span<const std::uint8_t> ulaw) {
  out.clear();
  out += R"({"event":"media","streamSid":)";
  append_json_string(out, stream_sid);
  out += R"(,"media":{"payload":")";
  base64::append(out, ulaw);
  out += "\"}}";
}

void write_mark(std::string& out, std::string_view stream_sid, std::string_view name) {
  out.clear();
  out += R"({"event":"mark","streamSid":)";
  append_json_string(out, stream_sid);
  out += R"(,"mark":{"name":)";
  append_json_string(out, name);
  out += "}}";
}

void write_clear(std::string& out, std::string_view stream_sid) {
  out.clear();
  out += R"({"event":"clear","streamSid":)";
  append_json_string(out, stream_sid);
  out += "}";
}

void write_connected(std::string& out) { out = R"({"event":"connected","protocol":"Call","version":"1.0.0"})"; }

void write_start(std::string& out, const Start& s, std::int64_t seq) {
  out.clear();
  out += R"({"event":"start","sequenceNumber":")" + std::to_string(seq) + R"(","start":{"accountSid":)";
  append_json_string(out, s.account_sid);
  out += R"(,"streamSid":)";
  append_json_string(out, s.stream_sid);
  out += R"(,"callSid":)";
  append_json_string(out, s.call_sid);
  out += R"(,"tracks":[)";
  for (std::size_t i = 0; i < s.tracks.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, s.tracks[i]);
  }
  out += R"(],"customParameters":{)";
  bool first = true;
  for (const auto& [k, v] : s.custom_parameters) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
    append_json_string(out, v);
  }
  out += R"(},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":)";
  append_json_string(out, s.stream_sid);
  out += '}';
}

void write_inbound_media(std::string& out, std::string_view stream_sid, std::int64_t seq, std::int64_t chunk,
                         std::int64_t timestamp_ms, std::span<const std::uint8_t> ulaw, std::string_view track) {
  out.clear();
  out += R"({"event":"media","sequenceNumber":")";
  out += std::to_string(seq);
  out += R"(","media":{"track":")";
  out += track;
  out += R"(","chunk":")";
  out += std::to_string(chunk);
  out += R"(","timestamp":")";
  out += std::to_string(timestamp_ms);
  out += R"(","payload":")";
  base64::append(out, ulaw);
  out += R"("},"streamSid":)";
  append_json_string(out, stream_sid);
  out += '}';
}

void write_mark_echo(std::string& out, std::string_view stream_sid, std::int64_t seq, std::string_view name) {
  out.clear();
  out += R"({"event":"mark","sequenceNumber":")" + std::to_string(seq) + R"(","streamSid":)";
  append_json_string(out, stream_sid);
  out += R"(,"mark":{"name":)";
  append_json_string(out, name);
  out += "}}";
}

void write_dtmf(std::string& out, std::string_view stream_sid, std::int64_t seq, std::string_view digit) {
  out.clear();
  out += R"({"event":"dtmf","streamSid":)";
  append_json_string(out, stream_sid);
  out += R"(,"sequenceNumber":")" + std::to_string(seq) + R"(","dtmf":{"track":"inbound_track","digit":)";
  append_json_string(out, digit);
  out += "}}";
}

void write_stop(std::string& out, std::string_view stream_sid, std::int64_t seq, std::string_view account_sid,
                std::string_view call_sid) {
  out.clear();
  out += R"({"event":"stop","sequenceNumber":")" + std::to_string(seq) + R"(","streamSid":)";
  append_json_string(out, stream_sid);
  out += R"(,"stop":{"accountSid":)";
  append_json_string(out, account_sid);
  out += R"(,"callSid":)";
  append_json_string(out, call_sid);
  out += "}}";
}

}  // namespace vox::twilio
