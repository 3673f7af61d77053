#pragma once
// How calls behave: listening (VAD, endpointing), speaking (pacing, marks), idling and
// recording. One struct, filled by the app from flags and the environment.
#include <string>

#include "call/inbound.hpp"
#include "call/playout.hpp"

namespace vox::call {

struct CallSettings {
  InboundSettings inbound;
  PlayoutSettings playout;
  int talk_timeout_s = 50;    // idle conversation (neither side speaking) before the call is ended; 0 = never
  std::string recording_dir;  // set: each call is written to <dir>/<CallSid>.wav (caller left, agent right)
  int max_calls = 500;        // live calls at once
};

}  // namespace vox::call
