#pragma once
// ElevenLabs API data as plain structs. JSON lives only in codec.cpp; the rest of
// voxbridge sees these types.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/provider_error.hpp"
#include "core/voice_settings.hpp"


namespace vox {
class Breaker;
}

namespace vox::elevenlabs {

// How a voice sounds (ElevenLabs' voice_settings object).
using VoiceSettings = vox::VoiceSettings;

// Everything voxbridge needs to reach ElevenLabs; the key goes only to the clients here.
struct Settings {
  std::string api_key;
  std::string base_url = "https://api.elevenlabs.io";
  std::string voice_id = "21m00Tcm4TlvDq8ikWAM";  // a premade voice ("Rachel")
  std::string tts_model = "eleven_flash_v2_5";
  std::string stt_model = "scribe_v1";
  std::string realtime_stt_model = "scribe_v2_realtime";
  std::string language;                 // empty: auto / model default
  std::string tts_transport = "websocket";  // websocket (multi-stream-input) | http (/stream/with-timestamps)
  bool realtime_stt = true;             // stream the caller's audio while they speak
  std::string ca_file;                  // extra CA bundle (tests, corporate proxies)
  std::optional<int> optimize_streaming_latency;
  std::vector<int> chunk_length_schedule{50, 90, 120, 150};
  int inactivity_timeout_s = 180;       // TTS WebSocket idle limit (keeps warm sockets open)
  // After a request got no answer in time (a timeout, a stalled stream) the embedded engines
  // answer for this long before one request tries ElevenLabs again (0: every request tries).
  int breaker_ms = 10000;

  // wss://host derived from base_url.
  std::string ws_base() const;
};

// Opens `breaker` (may be null) when `e` (from the REST client or a socket connect) is a
// request that got no answer in time: the failures a breaker counts (core/breaker.hpp).
void trip_on_slow_failure(Breaker* breaker, const std::exception& e);

// An error answered by ElevenLabs (or met reaching it): the one provider error type.
using ApiError = ProviderError;
// Makes one, for provider "elevenlabs".
inline ProviderError api_error(ProviderError::Kind kind, int status, std::string code, const std::string& message) {
  return ProviderError("elevenlabs", kind, status, std::move(code), message);
}

struct Voice {
  std::string voice_id;
  std::string name;
  std::string category;
  std::string description;
  std::map<std::string, std::string> labels;
  std::optional<VoiceSettings> settings;
};

// The request structs below are passed by value to coroutines, so none is an aggregate
// (GCC 12 corrupts aggregate prvalues passed to coroutines; see net::TlsOptions).
struct VoicesQuery {
  VoicesQuery() {}
  int page_size = 100;
  std::string next_page_token;
  std::string search;
  std::string sort;            // created_at_unix | name
  std::string sort_direction;  // asc | desc
  std::string voice_type;
  std::string category;
  bool include_total_count = true;
};

struct VoicesPage {
  std::vector<Voice> voices;
  bool has_more = false;
  std::optional<long> total_count;
  std::string next_page_token;
};

struct Model {
  std::string model_id;
  std::string name;
  bool can_do_text_to_speech = false;
  std::vector<std::string> languages;
  long max_characters = 0;
};

struct Subscription {
  std::string tier;
  std::string status;
  long character_count = 0;
  long character_limit = 0;
};

// Per-character timing of synthesized audio, in milliseconds.
struct Alignment {
  std::vector<std::string> chars;
  std::vector<int> start_ms;
  std::vector<int> duration_ms;
};

struct TtsOptions {
  TtsOptions() {}
  std::string voice_id;
  std::string model_id;
  std::string output_format = "ulaw_8000";
  std::string language_code;
  std::optional<VoiceSettings> voice_settings;
  std::optional<int> optimize_streaming_latency;
  std::string previous_text;
  std::string next_text;
  std::optional<long> seed;
};

// One piece of /with-timestamps output: decoded audio and its alignment.
struct TimedAudio {
  std::string audio;
  std::optional<Alignment> alignment;
};

struct SttOptions {
  SttOptions() {}
  std::string model_id = "scribe_v1";
  std::string language_code;
  std::string file_format = "other";  // other | pcm_s16le_16
  std::string filename = "audio.wav";
  std::string file_content_type = "audio/wav";
  bool tag_audio_events = false;
};

struct TranscriptWord {
  std::string text;
  double start = 0;
  double end = 0;
  std::string type;
};

struct Transcript {
  std::string text;
  std::string language_code;
  std::vector<TranscriptWord> words;
};

// --- TTS WebSocket (stream-input / multi-stream-input) ---------------------------------

struct TtsSocketMessage {
  std::string audio;                  // decoded bytes (empty when absent)
  std::optional<Alignment> alignment;
  std::optional<Alignment> normalized_alignment;
  bool is_final = false;
  std::string context_id;
  std::string error;                  // error/message field of an error object
};

// --- realtime STT ----------------------------------------------------------------------

struct RealtimeMessage {
  enum class Type { kSessionStarted, kPartial, kFinal, kCommitted, kCommittedWithTimestamps, kOther, kError };
  Type type = Type::kOther;
  std::string message_type;
  std::string text;
  std::string error;
  std::string session_id;
};

}  // namespace vox::elevenlabs
