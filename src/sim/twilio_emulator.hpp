#pragma once
// A local Twilio for tests and offline development: the Calls REST subset of
// ../shared/specs/twilio_api_v2010_calls.json (Basic auth, form bodies, JSON answers,
// CA… sids, status transitions), and the phone call behind it: on create it fetches the
// call's Url (signed like Twilio) and runs the TwiML — <Say> (espeak-ng), <Play> (a WAV,
// μ-law or MP3 URL, or digits), <Pause>, <Redirect>, <Connect><Stream> with
// <Parameter> (the media WebSocket, signed), <Start>/<Stop><Stream> (forks),
// <Dial>, <Hangup> — with stream status callbacks and call status callbacks (signed) as
// the call goes queued → initiated → ringing → in-progress → completed. A live update
// (Twiml, Url or Status) interrupts the running verb like Twilio does.
//
// The far end of a call is a scripted callee (espeak-ng lines, real-time 20 ms frames),
// or — when the To number is registered here with a voice URL — another app: the
// emulator rings that app (signed webhook, its own TwiML and media stream) and bridges
// the two legs in real time, marks and `clear` honoured on each, digits from <Play
// digits> delivered as `dtmf` events. Everything is recorded for assertions:
//   GET /emulator/calls      each call: status history, callbacks and their answers,
//                            TwiML, verbs run, streams, digits, what it heard (transcribed)
//   GET/POST /emulator/numbers      registered numbers {"number": ..., "voice_url": ...}
//   POST /emulator/inbound          ring an app: {"url" or registered "to", "from"}
//   GET/DELETE /emulator/requests   the REST requests received
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/router.hpp"

namespace boost::asio {
class io_context;
}
namespace vox::speech {
class EspeakTts;
class PocketsphinxStt;
}  // namespace vox::speech

namespace vox::sim {

struct TwilioEmulatorOptions {
  std::string account_sid = "AC00000000000000000000000000000000";
  std::string auth_token = "test-auth-token";
  std::vector<std::string> callee_lines;  // what the called party says, one line per turn
  int callee_idle_ms = -1;                 // >= 0: after its lines the callee stays on silent this long
  std::string voice = "en-us+Alex";
  int ring_ms = 300;                      // ringing before the callee answers
  std::map<std::string, std::string> numbers;  // registered number → its voice URL
};

class TwilioEmulator {
 public:
  TwilioEmulator(boost::asio::io_context& ioc, TwilioEmulatorOptions options, speech::EspeakTts& tts,
                 speech::PocketsphinxStt* stt);
  ~TwilioEmulator();
  void add_routes(net::Router& router);
  // Hangs up every live call (emulator shutdown).
  void hang_up_all();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vox::sim
