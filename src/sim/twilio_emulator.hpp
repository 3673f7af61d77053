#pragma once
// A local Twilio for tests and offline development: the Calls REST subset of
// ../shared/specs/twilio_api_v2010_calls.json (Basic auth, form bodies, JSON answers,
// CA… sids, status transitions), and the phone call behind it: on create it fetches the
// call's Url (signed like Twilio), reads the TwiML, opens the <Connect><Stream> media
// WebSocket (signed) and plays a scripted callee in real time (the simulated caller),
// sending status callbacks (signed) as the call goes queued → initiated → ringing →
// in-progress → completed. Everything it did is recorded for assertions:
//   GET /emulator/calls      each call: status history, callbacks and their answers,
//                            TwiML, what the callee heard (transcribed)
//   GET/DELETE /emulator/requests   the REST requests received
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
  std::string voice = "en-us+Alex";
  int ring_ms = 300;                      // ringing before the callee answers
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
