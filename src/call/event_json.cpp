#include "call/event_json.hpp"

#include "call/turn_timing.hpp"

namespace vox::call {
namespace json = boost::json;

namespace {
// Milliseconds rounded to 0.1 ms; -1 (not reached) stays -1.
double ms(double v) { return v < 0 ? -1 : static_cast<double>(static_cast<std::int64_t>(v * 10 + 0.5)) / 10; }
}  // namespace

json::object event_json(const CallEvent& e) {
  using K = CallEvent::Kind;
  json::object o;
  switch (e.kind) {
    case K::started:
      o = {{"kind", "started"}, {"resumed", e.detail == "resumed"}};
      break;
    case K::speech_started:
      o = {{"kind", "speech_started"}, {"start_ms", e.start_ms}};
      break;
    case K::partial_transcript:
      o = {{"kind", "partial_transcript"}, {"turn", e.turn}, {"text", e.text}};
      break;
    case K::transcript:
      o = {{"kind", "transcript"}, {"turn", e.turn}, {"text", e.text}, {"start_ms", e.start_ms}, {"end_ms", e.end_ms}};
      break;
    case K::reply_started:
      o = {{"kind", "reply_started"}, {"turn", e.turn}, {"reply_id", e.reply_id}, {"text", e.text}};
      break;
    case K::reply_finished:
      o = {{"kind", "reply_finished"}, {"turn", e.turn},         {"reply_id", e.reply_id},
           {"text", e.text},           {"interrupted", e.interrupted}, {"heard", e.heard}};
      break;
    case K::reply_failed:
      o = {{"kind", "reply_failed"}, {"turn", e.turn}, {"text", e.text}};
      break;
    case K::barge_in:
      o = {{"kind", "barge_in"}, {"turn", e.turn}, {"reply_id", e.reply_id}, {"reply", e.text}, {"heard", e.heard},
           {"heard_ms", e.heard_ms}};
      break;
    case K::dtmf:
      o = {{"kind", "dtmf"}, {"digit", e.text}};
      break;
    case K::provider_fallback:
      o = {{"kind", "fallback"}, {"detail", e.detail}};
      break;
    case K::stt_failure:
      o = {{"kind", "stt_failure"}, {"turn", e.turn}};
      break;
    case K::ended:
      o = {{"kind", "ended"}, {"reason", e.detail}, {"resuming", e.resuming}};
      break;
    case K::turn_timed: {
      if (!e.timing) break;
      const TurnStages s = stages_of(*e.timing);
      o = {{"kind", "turn_timed"},
           {"turn", e.turn},
           {"stages",
            json::object{{"endpoint", ms(s.endpoint)},
                         {"transcript", ms(s.transcript)},
                         {"agent", ms(s.agent)},
                         {"tts_first_byte", ms(s.tts_first_byte)},
                         {"gateway", ms(s.gateway)},
                         {"response", ms(s.response)},
                         {"heard", ms(s.heard)}}}};
      break;
    }
    case K::transfer:
      o = {{"kind", "transfer"}, {"turn", e.turn}, {"target", e.text}, {"handed_over", !e.interrupted}};
      break;
    case K::tool_call:
      o = {{"kind", "tool_call"}, {"turn", e.turn}, {"name", e.text}, {"ok", !e.interrupted}};
      break;
  }
  return o;
}

}  // namespace vox::call
