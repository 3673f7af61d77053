#pragma once
// `voxbridge loadtest`: N simulated Twilio calls against a voxbridge server, started
// over a ramp, each speaking its lines in real time (20 ms frames) and echoing marks as
// Twilio does. Reports caller-side reply latency percentiles, the server's own per-turn
// latencies by stage (GET /calls/{sid}/latency), the gateway's overhead per turn (reply
// latency minus the silence window minus the provider delays), late and lost frames and
// gaps in replies, failures, and the CPU and memory of the server (from /proc, when it
// runs on this machine) and of the load generator itself; writes JSON and an HTML report
// with plots.
#include <string>
#include <vector>

namespace vox::app {

struct LoadtestOptions {
  std::string url = "http://127.0.0.1:8001";  // the server (its /twilio-voice and /media)
  int calls = 20;
  double ramp_s = 5;                          // calls start evenly over this many seconds
  std::vector<std::string> lines;             // what each caller says (default: two lines)
  std::string voice = "en-us+Alex";
  int server_pid = 0;                         // sample this process's CPU and memory (0: none)
  std::string api_key;                        // control API key, to read each call's server-side latency
  std::string json_out;
  std::string html_out;
  int threads = 1;                            // load generator threads
  // Provider latency: set on the ElevenLabs emulator the server talks to (POST
  // /emulator/latency) and subtracted when the gateway's overhead per turn is computed.
  std::string elevenlabs_emulator;            // its base URL; empty: no emulator to set
  int ttfb_ms = 0;                            // TTS time to first byte
  int stt_delay_ms = 0;                       // extra STT delay
  int silence_ms = 600;                       // the server's end-of-speech silence window
};

// Returns 0 when every call completed or was refused cleanly by overload control (webhook
// 503, stream closed with 1013), 1 when some failed, 2 on bad usage.
int run_loadtest(const LoadtestOptions& options);

}  // namespace vox::app
