#pragma once
// A simulated caller that behaves as Twilio does towards our server: it posts the
// voice webhook, reads the Stream URL from the TwiML, opens the media socket, sends
// connected/start, streams 20 ms μ-law frames in real time (espeak-ng speech for
// its lines, silence between), plays what it receives in real time, echoes marks
// when the audio queued before them has played, obeys `clear`, sends `stop`, and
// records what it heard.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <memory>
#include <map>
#include <string>
#include <vector>

namespace vox::speech {
class EspeakTts;
class PocketsphinxStt;
}  // namespace vox::speech

namespace vox::sim {

// Drives the 20 ms ticks of many simulated calls on one single-threaded io_context from
// one timer firing every millisecond (20 slots, each call in one) instead of a timer per
// call: a load generator that is cheap enough not to be the bottleneck.
class FrameTicker {
 public:
  explicit FrameTicker(boost::asio::io_context& ioc);
  ~FrameTicker();
  // `tick(late_ms)` runs every 20 ms until it returns false.
  void add(std::function<bool(double late_ms)> tick);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

struct CallerOptions {
  CallerOptions() {}  // not an aggregate: passed by value to a coroutine (see net::TlsOptions)
  std::string server_url = "http://127.0.0.1:8001";  // where the webhook is
  std::string webhook_path = "/twilio-voice";
  std::string webhook_query;                          // appended to the webhook URL, e.g. "agent=script"
  std::string from = "+15550001111";
  std::string to = "+15550002222";
  std::vector<std::string> lines;   // what the caller says, one line per turn; "dtmf:12#" presses keys
  // The audio of `lines` (μ-law 8 kHz, one entry per line), made once and shared by many
  // callers (load tests); empty: each caller synthesizes its lines.
  std::shared_ptr<const std::vector<std::vector<std::uint8_t>>> line_audio;
  // Ticks from a shared ticker (the caller must run on the ticker's io_context); null:
  // the caller keeps its own 20 ms timer.
  FrameTicker* ticker = nullptr;
  int barge_in_at_ms = -1;          // >= 0: speak each line this far into the reply instead of after it
  int pause_ms = 300;               // silence between the end of a reply and the next line
  int greeting_wait_ms = 4000;      // start talking if no greeting has begun by then
  int reply_timeout_ms = 20000;     // give up waiting for a reply after this long
  int max_call_ms = 120000;
  std::string voice = "en-us";      // espeak-ng voice the caller speaks with
  bool hang_up = true;              // send `stop` after the last reply (else wait for the server to close)
  bool keep_heard_audio = true;     // keep each reply's audio in CallerResult::heard (false: only its counts)
  int idle_after_ms = -1;           // >= 0: after the script, stay silent this long without hanging up
  std::string auth_token;           // non-empty: sign the webhook and the media upgrade as Twilio does
  // For the Twilio emulator, which fetched the TwiML itself: skip the webhook, use these.
  std::string twiml;
  std::string call_sid;
  std::string account_sid;
  // Set to true from any thread to hang up now (stop, then close).
  std::shared_ptr<std::atomic<bool>> hangup;
  // Called every 20 ms with what the caller said and what it heard played (the Twilio
  // emulator forks these to <Start><Stream>s). Runs on the caller's executor.
  std::function<void(std::span<const std::uint8_t, 160> said, std::span<const std::uint8_t, 160> heard)> tap;
  // Called with the StreamSid once `start` has been sent.
  std::function<void(const std::string& stream_sid)> on_started;
};

// A stretch of audio the caller heard: from the start of a reply until its
// endOfPlayback mark came back or a `clear` cut it off.
struct HeardSegment {
  std::vector<std::uint8_t> ulaw;
  bool cleared = false;
  std::string transcript;  // filled by transcribe()
};

struct CallerTurn {
  std::string said;
  double reply_latency_ms = -1;  // last speech frame sent → first reply frame received
};

struct CallerResult {
  bool ok = false;
  std::string error;
  std::string call_sid;
  std::string stream_url;
  std::map<std::string, std::string> stream_parameters;
  std::vector<CallerTurn> turns;
  std::vector<HeardSegment> heard;
  int clears = 0;
  double clear_after_speech_ms = -1;  // first `clear` after the caller began a line: barge-in reaction
  int marks_received = 0;
  int marks_echoed = 0;
  bool server_closed = false;     // the server closed the socket before we sent stop
  // The server refused the call cleanly (overload control): its webhook answered 503 or it
  // closed the stream with 1013. Not ok, but not a failure of the server either.
  bool refused = false;
  int close_code = 0;
  double duration_ms = 0;
  std::uint64_t media_bytes_received = 0;
  std::uint64_t media_messages_received = 0;
  // Pacing, as the load tester reports it.
  std::uint64_t frames_sent = 0;        // 20 ms media frames sent
  std::uint64_t late_frames = 0;        // sent more than 20 ms after their time (this side too busy)
  double max_lateness_ms = 0;           // the latest a frame went out
  std::uint64_t reply_gap_frames = 0;   // 20 ms of silence played in the middle of a reply (underrun)
  std::size_t lines_started = 0;  // script lines begun (spoken or keyed)
};

struct CallerEngines {
  speech::EspeakTts& tts;  // makes the caller's speech
};

// The caller's audio for `lines` (μ-law 8 kHz, trailing silence cut; empty for "dtmf:" lines).
std::vector<std::vector<std::uint8_t>> speak_lines(const std::vector<std::string>& lines, const std::string& voice,
                                                   speech::EspeakTts& tts);

// Runs one simulated call to completion. Never throws: failures land in `error`.
boost::asio::awaitable<CallerResult> run_caller(CallerOptions options, CallerEngines engines);

// Transcribes every heard segment of `results` with `stt` (blocking; runs segments in parallel).
void transcribe(std::vector<CallerResult>& results, speech::PocketsphinxStt& stt);

// Extracts <Stream url> and its <Parameter>s from TwiML; returns false when there is no Stream.
bool parse_stream_twiml(const std::string& twiml, std::string& url, std::map<std::string, std::string>& parameters);

// Runs `options` as `calls` concurrent callers on `threads` threads; returns their results.
std::vector<CallerResult> run_callers(const CallerOptions& options, int calls, CallerEngines engines, int threads = 2);

// Returns the p-th percentile (0..100) of `values` (nearest rank), or -1 when empty.
double percentile(std::vector<double> values, double p);

}  // namespace vox::sim
