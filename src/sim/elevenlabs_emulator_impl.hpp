#pragma once
// The ElevenLabs emulator's insides (private to sim/): its shared state and request
// handling (Impl), the audio helpers, and the WebSocket handlers. The REST endpoints are
// in elevenlabs_emulator_rest.cpp, the sockets in elevenlabs_emulator_sockets.cpp.
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audio/formats.hpp"
#include "sim/elevenlabs_emulator.hpp"
#include "speech/speech.hpp"

namespace vox::sim {
namespace asio = boost::asio;
namespace json = boost::json;
using net::HttpRequest;
using net::HttpResponse;

namespace emu {

constexpr auto kAwait = boost::asio::use_awaitable;

// Microseconds on the steady clock (request timing in the log).
std::int64_t now_us();
// ElevenLabs' error answer: {"detail": {"status": code, "message": message}}.
net::HttpResponse el_error(int status, std::string_view code, std::string_view message);
// FastAPI's 422 answer for each (location, message).
net::HttpResponse validation_error(std::vector<std::pair<std::vector<std::string>, std::string>> problems);
struct Synth {
  std::vector<std::uint8_t> ulaw;  // 8 kHz
  std::vector<speech::WordTiming> words;
  std::string error;
};

// A fault rule: applies to requests whose "METHOD path" (or "WS path") contains `match`.
struct Fault {
  std::string match;
  std::string kind;  // status | reset | stall | close | delay
  int status = 500;
  std::string code = "internal_error";
  int after_chunks = 0;
  int times = -1;
  int delay_ms = 0;
};

// Per-character alignment for `text` from word start times (ms) and total length.
struct CharTimes {
  std::vector<std::string> chars;
  std::vector<int> start_ms;
  std::vector<int> dur_ms;
};
CharTimes align_text(std::string_view text, const std::vector<speech::WordTiming>& words, int total_ms);
// Cuts leading and trailing silence to 100 ms.
void trim_silence(std::vector<std::uint8_t>& ulaw);
std::vector<std::int16_t> to_pcm(const std::vector<std::uint8_t>& ulaw);
// `ulaw` (8 kHz) in the requested output format.
std::vector<std::uint8_t> encode(const std::vector<std::uint8_t>& ulaw, const audio::OutputFormat& fmt);
// An uploaded file as 8 kHz μ-law, or nullopt when it cannot be read.
std::optional<std::vector<std::uint8_t>> decode_upload(std::string_view data, std::string_view file_format);

}  // namespace emu

struct ElevenLabsEmulator::Impl : std::enable_shared_from_this<ElevenLabsEmulator::Impl> {
  using Fault = emu::Fault;
  using Synth = emu::Synth;
  using CharTimes = emu::CharTimes;
  asio::io_context& ioc;
  ElevenLabsEmulatorOptions opt;
  speech::TextToSpeech& tts;
  speech::SpeechToText& stt;
  std::mutex mu;
  std::vector<Fault> faults;
  json::array requests;
  json::array first_audio;
  std::atomic<int> active{0};
  std::atomic<std::uint64_t> next_id{1};
  // Latency knobs the admin endpoint changes while generations run.
  std::atomic<int> ttfb_ms{0}, chunk_interval_ms{0}, stt_delay_ms{0};

  Impl(asio::io_context& io, ElevenLabsEmulatorOptions o, speech::TextToSpeech& t, speech::SpeechToText& s)
      : ioc(io), opt(std::move(o)), tts(t), stt(s), ttfb_ms(opt.ttfb_ms), chunk_interval_ms(opt.chunk_interval_ms),
        stt_delay_ms(opt.stt_delay_ms) {}

  bool key_ok(std::string_view key) const;

  std::optional<Fault> take_fault(const std::string& what);

  std::size_t record(const HttpRequest& req, int status);

  void record_ws_message(std::size_t index, std::string_view msg);

  void record_first_audio(const std::string& id, std::int64_t request_us);

  // Synthesizes with the embedded engine; resumes on the caller's executor.
  asio::awaitable<Synth> synth(std::string text);

  // Recognizes 8 kHz μ-law with the embedded engine. Silence around the speech is
  // trimmed to 100 ms first: a real recogniser ignores it, pocketsphinx's grammar search
  // sometimes loses a phrase followed by a long silent tail.
  asio::awaitable<speech::SttResult> recognize(std::vector<std::uint8_t> ulaw);

  asio::awaitable<void> sleep_ms(int ms);

  // --- REST ------------------------------------------------------------------------

  json::object voice_json(std::string_view id, std::string_view name, std::string_view accent) const;

  json::array all_voices() const;

  bool voice_exists(std::string_view id) const;

  json::object model_json(std::string_view id, std::string_view name, bool tts_model) const;

  asio::awaitable<HttpResponse> handle(const HttpRequest& req);

  // A 200 whose body breaks: a reset or a stall after some chunks.
  HttpResponse faulty_stream(Fault f);

  asio::awaitable<HttpResponse> text_to_speech(const HttpRequest& req, const std::vector<std::pair<std::string, std::string>>& form);

  json::object alignment_seconds(const CharTimes& ct, std::size_t from, std::size_t to) const;

  asio::awaitable<HttpResponse> speech_to_text(const HttpRequest& req);

  json::object transcript_json(const std::string& text, double duration) const;

  HttpResponse admin(const HttpRequest& req);
};

// The TTS stream-input sockets (multi-stream-input with `multi`) and realtime STT: the
// handler for an upgrade request, or nullptr with `reject` filled.
std::unique_ptr<net::WsHandler> tts_socket(std::shared_ptr<ElevenLabsEmulator::Impl> em, const net::HttpRequest& req,
                                           net::HttpResponse& reject, bool multi);
std::unique_ptr<net::WsHandler> realtime_stt_socket(std::shared_ptr<ElevenLabsEmulator::Impl> em,
                                                    const net::HttpRequest& req, net::HttpResponse& reject);

}  // namespace vox::sim
