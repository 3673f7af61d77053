#include "elevenlabs/codec.hpp"
#include "core/json_text.hpp"

#include <boost/json.hpp>

#include <cmath>

#include "core/base64.hpp"

namespace vox::elevenlabs::codec {
namespace json = boost::json;

namespace {

json::value parse(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) throw std::invalid_argument("invalid JSON from ElevenLabs: " + ec.message());
  return v;
}

const json::object& as_object(const json::value& v, const char* what) {
  if (!v.is_object()) throw std::invalid_argument(std::string("expected a JSON object for ") + what);
  return v.get_object();
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

double num(const json::value* v, double fallback = 0) {
  if (!v) return fallback;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return fallback;
}

// A provider's count (characters, voices) as a long, clamped to 0..10^15: a number too
// large for a long (or NaN) must not reach the cast, whose result would be undefined.
long count_of(const json::value* v) {
  const double d = num(v);
  if (!(d > 0)) return 0;
  return d >= 1e15 ? 1000000000000000L : static_cast<long>(d);
}

// A provider's millisecond figure as an int, clamped to 0..1 day (NaN and infinities read
// as 0): the cast of an out-of-range double is undefined behaviour.
int clamped_ms(double ms) {
  if (!(ms > 0)) return 0;
  return ms >= 86400000.0 ? 86400000 : static_cast<int>(std::lround(ms));
}

bool boolean(const json::object& o, std::string_view key, bool fallback = false) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() ? v->get_bool() : fallback;
}

std::string decode_b64(std::string_view b64) {
  std::string out(base64::max_decoded_size(b64.size()), '\0');
  auto n = base64::decode(b64, std::span(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
  if (!n) throw std::invalid_argument("invalid base64 audio from ElevenLabs");
  out.resize(*n);
  return out;
}

VoiceSettings settings_from(const json::object& o) {
  VoiceSettings s;
  s.stability = num(o.if_contains("stability"), s.stability);
  s.similarity_boost = num(o.if_contains("similarity_boost"), s.similarity_boost);
  s.style = num(o.if_contains("style"), s.style);
  s.use_speaker_boost = boolean(o, "use_speaker_boost", s.use_speaker_boost);
  s.speed = num(o.if_contains("speed"), s.speed);
  return s;
}

Voice voice_from(const json::object& o) {
  Voice v;
  v.voice_id = str(o, "voice_id");
  v.name = str(o, "name");
  v.category = str(o, "category");
  v.description = str(o, "description");
  if (const auto* l = o.if_contains("labels"); l && l->is_object())
    for (const auto& [k, val] : l->get_object())
      if (val.is_string()) v.labels[std::string(k)] = std::string(val.get_string());
  if (const auto* s = o.if_contains("settings"); s && s->is_object()) v.settings = settings_from(s->get_object());
  return v;
}

// Alignment in seconds (REST) or milliseconds (WebSocket).
std::optional<Alignment> alignment_from(const json::value* v) {
  if (!v || !v->is_object()) return std::nullopt;
  const auto& o = v->get_object();
  Alignment a;
  const auto* chars = o.if_contains("characters");
  if (!chars) chars = o.if_contains("chars");
  if (!chars || !chars->is_array()) return std::nullopt;
  for (const auto& c : chars->get_array()) a.chars.push_back(c.is_string() ? std::string(c.get_string()) : std::string());
  if (const auto* st = o.if_contains("character_start_times_seconds"); st && st->is_array()) {
    const auto* en = o.if_contains("character_end_times_seconds");
    const auto& starts = st->get_array();
    for (std::size_t i = 0; i < starts.size(); ++i) {
      const double s = num(&starts[i]);
      double e = s;
      if (en && en->is_array() && i < en->get_array().size()) e = num(&en->get_array()[i]);
      a.start_ms.push_back(clamped_ms(s * 1000));
      a.duration_ms.push_back(clamped_ms((e - s) * 1000));
    }
  } else {
    if (const auto* st = o.if_contains("charStartTimesMs"); st && st->is_array())
      for (const auto& x : st->get_array()) a.start_ms.push_back(clamped_ms(num(&x)));
    const auto* du = o.if_contains("charDurationsMs");
    if (!du) du = o.if_contains("charsDurationsMs");
    if (du && du->is_array())
      for (const auto& x : du->get_array()) a.duration_ms.push_back(clamped_ms(num(&x)));
  }
  const auto n = a.chars.size();
  a.start_ms.resize(n, a.start_ms.empty() ? 0 : a.start_ms.back());
  a.duration_ms.resize(n, 0);
  return a;
}

}  // namespace

ApiError parse_error(int status, std::string_view body) {
  std::string code;
  std::string message;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const auto* d = v.get_object().if_contains("detail");
    if (d && d->is_object()) {
      code = str(d->get_object(), "status");
      if (code.empty()) code = str(d->get_object(), "code");
      message = str(d->get_object(), "message");
    } else if (d && d->is_string()) {
      message = std::string(d->get_string());
    } else if (d && d->is_array()) {
      code = "validation_error";
      for (const auto& item : d->get_array()) {
        if (!item.is_object()) continue;
        std::string loc;
        if (const auto* l = item.get_object().if_contains("loc"); l && l->is_array())
          for (const auto& p : l->get_array()) loc += (loc.empty() ? "" : ".") + (p.is_string() ? std::string(p.get_string()) : vox::json_text(p));
        if (!message.empty()) message += "; ";
        message += loc + ": " + str(item.get_object(), "msg");
      }
    }
  }
  if (message.empty()) message = std::string(body.substr(0, 200));
  using K = ApiError::Kind;
  K kind = K::kInvalid;
  if (code == "quota_exceeded") kind = K::kQuota;
  else if (status == 401 || status == 403) kind = K::kAuth;
  else if (status == 404 || code == "voice_not_found") kind = K::kNotFound;
  else if (status == 429) kind = K::kRateLimited;
  else if (status >= 500) kind = K::kServer;
  std::string what = "ElevenLabs answered " + std::to_string(status);
  if (!code.empty()) what += " " + code;
  what += ": " + message;
  return api_error(kind, status, code, what);
}

Voice parse_voice(std::string_view text) { return voice_from(as_object(parse(text), "voice")); }

std::vector<Voice> parse_voices_v1(std::string_view text) {
  auto v = parse(text);
  std::vector<Voice> out;
  const auto* arr = as_object(v, "voices response").if_contains("voices");
  if (!arr || !arr->is_array()) throw std::invalid_argument("voices response has no voices array");
  for (const auto& item : arr->get_array())
    if (item.is_object()) out.push_back(voice_from(item.get_object()));
  return out;
}

VoicesPage parse_voices_v2(std::string_view text) {
  auto v = parse(text);
  const auto& o = as_object(v, "voices page");
  VoicesPage p;
  if (const auto* arr = o.if_contains("voices"); arr && arr->is_array())
    for (const auto& item : arr->get_array())
      if (item.is_object()) p.voices.push_back(voice_from(item.get_object()));
  p.has_more = boolean(o, "has_more");
  if (const auto* t = o.if_contains("total_count"); t && (t->is_int64() || t->is_uint64()))
    p.total_count = count_of(t);
  p.next_page_token = str(o, "next_page_token");
  return p;
}

VoiceSettings parse_voice_settings(std::string_view text) {
  return settings_from(as_object(parse(text), "voice settings"));
}

std::vector<Model> parse_models(std::string_view text) {
  auto v = parse(text);
  if (!v.is_array()) throw std::invalid_argument("models response is not an array");
  std::vector<Model> out;
  for (const auto& item : v.get_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.get_object();
    Model m;
    m.model_id = str(o, "model_id");
    m.name = str(o, "name");
    m.can_do_text_to_speech = boolean(o, "can_do_text_to_speech");
    m.max_characters = count_of(o.if_contains("maximum_text_length_per_request"));
    if (const auto* l = o.if_contains("languages"); l && l->is_array())
      for (const auto& lang : l->get_array())
        if (lang.is_object()) m.languages.push_back(str(lang.get_object(), "language_id"));
    out.push_back(std::move(m));
  }
  return out;
}

Subscription parse_subscription(std::string_view text) {
  auto v = parse(text);
  const auto& o = as_object(v, "subscription");
  Subscription s;
  s.tier = str(o, "tier");
  s.status = str(o, "status");
  s.character_count = count_of(o.if_contains("character_count"));
  s.character_limit = count_of(o.if_contains("character_limit"));
  return s;
}

Transcript parse_transcript(std::string_view text) {
  auto v = parse(text);
  const auto& o = as_object(v, "transcript");
  Transcript t;
  t.text = str(o, "text");
  t.language_code = str(o, "language_code");
  if (const auto* w = o.if_contains("words"); w && w->is_array()) {
    for (const auto& item : w->get_array()) {
      if (!item.is_object()) continue;
      const auto& wo = item.get_object();
      t.words.push_back({str(wo, "text"), num(wo.if_contains("start")), num(wo.if_contains("end")), str(wo, "type")});
    }
  }
  return t;
}

TimedAudio parse_timed_audio(std::string_view text) {
  auto v = parse(text);
  const auto& o = as_object(v, "timestamped audio");
  TimedAudio t;
  t.audio = decode_b64(str(o, "audio_base64"));
  t.alignment = alignment_from(o.if_contains("alignment"));
  return t;
}

std::string voice_settings_json(const VoiceSettings& s) {
  return vox::json_text(json::object{{"stability", s.stability},
                                      {"similarity_boost", s.similarity_boost},
                                      {"style", s.style},
                                      {"use_speaker_boost", s.use_speaker_boost},
                                      {"speed", s.speed}});
}

std::string tts_body(std::string_view text, const TtsOptions& opt) {
  json::object o;
  o["text"] = text;
  if (!opt.model_id.empty()) o["model_id"] = opt.model_id;
  if (!opt.language_code.empty()) o["language_code"] = opt.language_code;
  if (opt.voice_settings) o["voice_settings"] = json::parse(voice_settings_json(*opt.voice_settings));
  if (!opt.previous_text.empty()) o["previous_text"] = opt.previous_text;
  if (!opt.next_text.empty()) o["next_text"] = opt.next_text;
  if (opt.seed) o["seed"] = *opt.seed;
  return vox::json_text(o);
}

TtsSocketMessage parse_tts_socket_message(std::string_view text) {
  auto v = parse(text);
  const auto& o = as_object(v, "TTS socket message");
  TtsSocketMessage m;
  if (const auto* a = o.if_contains("audio"); a && a->is_string()) m.audio = decode_b64(a->get_string());
  m.alignment = alignment_from(o.if_contains("alignment"));
  m.normalized_alignment = alignment_from(o.if_contains("normalizedAlignment"));
  const auto* fin = o.if_contains("isFinal");
  if (!fin) fin = o.if_contains("is_final");
  m.is_final = fin && fin->is_bool() && fin->get_bool();
  m.context_id = str(o, "contextId");
  if (m.context_id.empty()) m.context_id = str(o, "context_id");
  if (o.contains("error") || (o.contains("message") && !o.contains("audio"))) {
    m.error = str(o, "message");
    const auto e = str(o, "error");
    if (!e.empty()) m.error = m.error.empty() ? e : e + ": " + m.error;
    if (m.error.empty()) m.error = "error";
  }
  return m;
}

std::string tts_socket_init(std::string_view context_id, const std::optional<VoiceSettings>& settings,
                            const std::vector<int>& chunk_schedule) {
  json::object o;
  o["text"] = " ";
  o["context_id"] = context_id;
  if (settings) o["voice_settings"] = json::parse(voice_settings_json(*settings));
  if (!chunk_schedule.empty()) {
    json::array a;
    for (int x : chunk_schedule) a.push_back(x);
    o["generation_config"] = json::object{{"chunk_length_schedule", std::move(a)}};
  }
  return vox::json_text(o);
}

std::string tts_socket_text(std::string_view context_id, std::string_view text, bool flush) {
  json::object o{{"text", text}, {"context_id", context_id}};
  if (flush) o["flush"] = true;
  return vox::json_text(o);
}

std::string tts_socket_close_context(std::string_view context_id) {
  return vox::json_text(json::object{{"context_id", context_id}, {"close_context", true}});
}

std::string tts_socket_keepalive(std::string_view context_id) {
  return vox::json_text(json::object{{"context_id", context_id}, {"text", ""}});
}

RealtimeMessage parse_realtime_message(std::string_view text) {
  auto v = parse(text);
  const auto& o = as_object(v, "realtime STT message");
  RealtimeMessage m;
  m.message_type = str(o, "message_type");
  m.text = str(o, "text");
  m.error = str(o, "error");
  m.session_id = str(o, "session_id");
  using T = RealtimeMessage::Type;
  if (m.message_type == "session_started") m.type = T::kSessionStarted;
  else if (m.message_type == "partial_transcript") m.type = T::kPartial;
  else if (m.message_type == "final_transcript") m.type = T::kFinal;
  else if (m.message_type == "committed_transcript") m.type = T::kCommitted;
  else if (m.message_type == "committed_transcript_with_timestamps") m.type = T::kCommittedWithTimestamps;
  else if (o.contains("error")) m.type = T::kError;
  return m;
}

std::string realtime_audio_chunk(std::string_view audio_base64, bool commit, int sample_rate) {
  std::string out;
  out.reserve(audio_base64.size() + 96);
  out += R"({"message_type":"input_audio_chunk","audio_base_64":")";
  out += audio_base64;
  out += R"(","commit":)";
  out += commit ? "true" : "false";
  out += R"(,"sample_rate":)";
  out += std::to_string(sample_rate);
  out += '}';
  return out;
}

}  // namespace vox::elevenlabs::codec
