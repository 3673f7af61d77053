#pragma once
// A local ElevenLabs: the REST endpoints, the TTS WebSockets (stream-input and
// multi-stream-input) and realtime STT that voxbridge uses, with the status codes,
// error shapes and message flows of the specs in ../shared/specs. Speech is real
// (espeak-ng, encoded in the requested output_format) and so is recognition
// (pocketsphinx), so conversations through it are genuine. Latency and faults can be
// injected per request pattern; every request is recorded for assertions.
//
// Admin endpoints (no key needed):
//   GET/DELETE /emulator/requests   what was received (method, target, headers, body, ws messages)
//   POST /emulator/faults           {"match": "POST /v1/text-to-speech", "kind": "status|reset|stall|close|delay",
//                                    "status": 500, "code": "...", "after_chunks": 0, "times": 1, "delay_ms": 0}
//   DELETE /emulator/faults
//   POST /emulator/latency          {"ttfb_ms": 0, "chunk_interval_ms": 0, "stt_delay_ms": 0}
//   GET /emulator/first-audio       [{"id", "request_us", "first_audio_us"}]: steady-clock µs per TTS generation
#include <memory>
#include <string>
#include <vector>

#include "net/router.hpp"

namespace boost::asio {
class io_context;
}

namespace vox::speech {
class TextToSpeech;
class SpeechToText;
}  // namespace vox::speech

namespace vox::sim {

struct ElevenLabsEmulatorOptions {
  std::vector<std::string> api_keys{"test-key"};  // accepted xi-api-key values
  std::string espeak_voice = "en-us+Alex";        // every emulated voice speaks with this
  int ttfb_ms = 0;                                // delay before the first audio byte
  int chunk_interval_ms = 0;                      // pause between streamed audio chunks
  int chunk_audio_ms = 200;                       // audio per streamed chunk
  int stt_delay_ms = 0;                           // extra delay before a transcript
  int max_concurrent = 0;                         // > 0: generations beyond this get 429
};

class ElevenLabsEmulator {
 public:
  ElevenLabsEmulator(boost::asio::io_context& ioc, ElevenLabsEmulatorOptions options, speech::TextToSpeech& tts,
                     speech::SpeechToText& stt);
  ~ElevenLabsEmulator();

  // Adds the API and admin routes.
  void add_routes(net::Router& router);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::sim
