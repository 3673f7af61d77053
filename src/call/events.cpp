#include "call/events.hpp"

namespace vox::call {

std::string_view to_string(CallEvent::Kind kind) {
  switch (kind) {
    case CallEvent::Kind::started: return "started";
    case CallEvent::Kind::transcript: return "transcript";
    case CallEvent::Kind::reply_started: return "reply_started";
    case CallEvent::Kind::reply_finished: return "reply_finished";
    case CallEvent::Kind::reply_failed: return "reply_failed";
    case CallEvent::Kind::barge_in: return "barge_in";
    case CallEvent::Kind::dtmf: return "dtmf";
    case CallEvent::Kind::provider_fallback: return "provider_fallback";
    case CallEvent::Kind::stt_failure: return "stt_failure";
    case CallEvent::Kind::ended: return "ended";
  }
  return "unknown";
}

}  // namespace vox::call
