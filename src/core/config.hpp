#pragma once
// Settings of a voxbridge server. Defaults here; the CLI fills them from flags,
// then the environment, then `.env` (flags win).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vox {

struct EndpointingSettings {
  int silence_ms = 600;        // trailing silence that ends an utterance
  int min_speech_ms = 200;     // shorter bursts are dropped as noise
  int onset_ms = 100;          // speech needed in the last 200 ms to start an utterance
  int max_utterance_ms = 30000;
  int preroll_ms = 200;        // audio kept from before the onset
  int tail_ms = 100;           // silence kept after the last speech frame when the utterance is
                               // handed to STT (measured: long silent tails cost pocketsphinx accuracy)
};

struct VadSettings {
  int webrtc_mode = 3;          // 0..3, 3 most aggressive
  double min_rms = 300.0;       // absolute floor (PCM16 RMS) below which nothing is speech
  double snr_db = 9.0;          // required margin over the tracked noise floor
};

struct TtsSettings {
  std::string engine = "espeak";   // espeak (embedded)
  std::string voice = "en-us";
  int rate_wpm = 175;
};

struct SttSettings {
  std::string engine = "pocketsphinx";
  std::string mode = "lm";              // lm | grammar
  std::string grammar_file;             // phrase list, one per line (grammar mode)
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
};

// ElevenLabs: used for speech whenever api_key is set (see README "Using ElevenLabs").
struct ElevenLabsSettings {
  std::string api_key;                 // ELEVENLABS_API_KEY (or ELEVEN_LABS_API_KEY, ELEVENLABS_API_KEY_GAL)
  std::string base_url = "https://api.elevenlabs.io";
  std::string voice_id = "21m00Tcm4TlvDq8ikWAM";
  std::string tts_model = "eleven_flash_v2_5";
  std::string stt_model = "scribe_v1";
  std::string realtime_stt_model = "scribe_v2_realtime";
  std::string language;                // empty: auto-detect / model default
  std::string tts_transport = "websocket";  // websocket | http
  bool realtime_stt = true;
  std::string ca_file;                 // extra trusted CA (PEM), e.g. for a test emulator
};

// Twilio account and webhook security (see README "Security").
struct TwilioSettings {
  std::string account_sid;             // TWILIO_ACCOUNT_SID
  std::string auth_token;              // TWILIO_AUTH_TOKEN: signs webhooks; validated when set
  std::string phone_number;            // TWILIO_PHONE_NUMBER: default caller id
  std::string api_key_sid;             // TWILIO_API_KEY: REST calls with an API key (SK…) instead of the token
  std::string api_key_secret;          // TWILIO_API_SECRET
  std::string api_base_url = "https://api.twilio.com";
  bool validate_signatures = true;     // only when auth_token is set
};

struct TtsCacheSettings {
  bool enabled = true;
  std::size_t memory_mb = 64;
  std::string dir;                     // empty: memory only
  std::size_t disk_mb = 512;
  std::vector<std::string> prewarm;    // phrases synthesized at start (the greeting always is)
};

struct Config {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8001;
  std::string base_url;                 // public URL Twilio reaches us at (WEBHOOK_BASE_URL / BASE_URL)
  std::string log_level = "info";
  int threads = 0;                      // 0 = hardware concurrency
  int talk_timeout_s = 50;
  int shutdown_deadline_ms = 5000;
  std::size_t max_ws_message_bytes = 64 * 1024;
  std::size_t max_http_body_bytes = 1024 * 1024;
  int max_calls = 500;
  std::string greeting = "Hello! I am the voxbridge echo agent. Say something.";
  std::string agent = "echo";           // echo | script | webhook | external
  std::string script_file;
  // The webhook agent (see README "Agents").
  std::string agent_webhook_url;
  int agent_webhook_timeout_ms = 8000;
  std::string agent_fallback_text = "Sorry, I could not get an answer just now. Could you say that again?";
  std::string agent_webhook_secret;     // set: X-Voxbridge-Signature on each request
  // The turn API GET /generate (see README "Turn API"): X-API-KEY must equal this; unset = refused.
  std::string generate_api_key;
  int outbound_lead_ms = 400;           // audio kept queued at Twilio ahead of playback
  int outbound_chunk_ms = 100;          // audio per outbound media message (one mark each)
  // Control API (see README "Control API").
  std::vector<std::string> api_keys;    // "tenant:key" entries (VOX_API_KEYS, comma-separated)
  std::string api_keys_file;            // one "tenant key" per line
  std::string store_path = "voxbridge.db";  // SQLite call store
  std::size_t max_text_chars = 5000;    // per text to speak
  int max_client_sockets_per_key = 20;  // open client WebSockets per company key
  std::string recording_dir;            // set: each call is written to <dir>/<CallSid>.wav (caller left, agent right)
  // Call sids must have Twilio's shape (CA + 32 hex); true accepts any 1..64 of [A-Za-z0-9_-] (tests, demos).
  bool relaxed_call_sids = false;
  // A reply counts as heard once its audio has had time to play plus this slack, even when
  // the caller's side never echoes its marks.
  int mark_slack_ms = 2000;
  // /metrics: a bearer token, and/or a separate listener ("host:port") that serves only it.
  std::string metrics_token;
  std::string metrics_listen;
  // This server's name in the call store (calls it leaves live are closed when it restarts):
  // default hostname:port.
  std::string instance_id;
  EndpointingSettings endpointing;
  VadSettings vad;
  TtsSettings tts;
  SttSettings stt;
  ElevenLabsSettings elevenlabs;
  TwilioSettings twilio;
  TtsCacheSettings tts_cache;
};

// Parses a `.env` file (KEY=VALUE lines, `#` comments, optional quotes and `export `).
// Returns the pairs; a missing file yields an empty map.
std::map<std::string, std::string> read_dotenv(const std::string& path);

// Sets each pair in the process environment unless the variable is already set.
void apply_dotenv(const std::map<std::string, std::string>& vars);

}  // namespace vox
