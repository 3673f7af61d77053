#pragma once
// `voxbridge call` (place an outbound call through Twilio and follow it) and
// `voxbridge emulate twilio`.
#include <string>
#include <vector>

#include "app/config.hpp"

namespace vox::app {

struct CallOptions {
  std::string to;
  std::string from;        // default TWILIO_PHONE_NUMBER
  std::string voice;
  std::string agent;
  std::string greeting;
  std::string server_url;  // where Twilio reaches our webhooks (default WEBHOOK_BASE_URL)
  int timeout_s = 600;     // give up (and hang up) after this long
};
int run_call(const ServerConfig& config, const CallOptions& options);

struct EmulateTwilioOptions {
  std::string host = "127.0.0.1";
  int port = 8003;
  std::string port_file;
  std::string account_sid = "AC00000000000000000000000000000000";
  std::string auth_token = "test-auth-token";
  std::vector<std::string> callee_say;
  int callee_idle_ms = -1;
  std::string voice = "en-us+Alex";
  std::string stt_grammar;
  int ring_ms = 300;
  std::vector<std::string> numbers;  // "+15550009999=http://127.0.0.1:8001/twilio-voice"
};
int run_emulate_twilio(const EmulateTwilioOptions& options);

}  // namespace vox::app
