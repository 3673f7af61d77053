#pragma once
// `voxbridge emulate elevenlabs`, `voxbridge say`, `voxbridge voices`.
#include <string>
#include <vector>

#include "app/config.hpp"

namespace vox::app {

struct EmulateElevenLabsOptions {
  std::string host = "127.0.0.1";
  int port = 8002;
  std::string port_file;
  std::vector<std::string> api_keys{"test-key"};
  std::string tls_cert;
  std::string tls_key;
  std::string stt_grammar;  // phrase list: recognise with a grammar (deterministic tests)
  std::string voice = "en-us+Alex";
  int ttfb_ms = 0;
  int chunk_interval_ms = 0;
  int stt_delay_ms = 0;
  int max_concurrent = 0;
  int threads = 2;
  // Load tests: keep the emulator's own compute out of the measurement.
  int tts_cache_mb = 0;         // > 0: synthesize each distinct text once
  std::string stt_fixed_text;   // non-empty: every transcript is this text, without recognition
};
int run_emulate_elevenlabs(const EmulateElevenLabsOptions& options);

struct SayOptions {
  std::string text;
  std::string out;     // file; its extension picks the format unless --format is given
  std::string format;  // mp3 | wav | ulaw
  std::string voice;
};
int run_say(const ServerConfig& config, const SayOptions& options);

int run_voices(const ServerConfig& config, bool json);

}  // namespace vox::app
