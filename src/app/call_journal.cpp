#include "app/call_journal.hpp"

#include "call/turn_timing.hpp"

namespace vox::app {
using store::StoredCall;
using store::StoredLatency;
using store::StoredTurn;

using Kind = call::CallEvent::Kind;

namespace {
// The turn an event speaks of, as the store keeps it.
StoredTurn turn_of(const call::CallEvent& e, std::string speaker) {
  StoredTurn t;
  t.index = e.turn;
  t.speaker = std::move(speaker);
  t.text = e.text;
  t.start_ms = e.start_ms;
  t.end_ms = e.end_ms;
  t.reply_id = e.reply_id;
  return t;
}
}  // namespace

void CallJournal::on_event(const call::CallContext& call, const call::CallEvent& e) {
  const std::string& sid = call.call_sid;
  if (sid.empty()) return;
  switch (e.kind) {
    case Kind::started: {
      StoredCall c;
      c.call_sid = sid;
      c.tenant = call.tenant;
      c.agent_id = call.agent_id;
      c.from = call.from;
      c.to = call.to;
      if (auto it = call.parameters.find("direction"); it != call.parameters.end()) c.direction = it->second;
      c.status = "in-progress";
      c.instance_id = instance_id_;
      store_.upsert_call(std::move(c));
      store_.add_event(sid, "stream_started", e.detail.empty() ? call.stream_sid : e.detail + " " + call.stream_sid);
      break;
    }
    case Kind::transcript:
      store_.add_turn(sid, turn_of(e, "caller"));
      break;
    case Kind::reply_started: {
      // Stored as it starts, so a crash cannot lose a reply the caller was hearing.
      StoredTurn t = turn_of(e, "agent");
      t.start_ms = t.end_ms = -1;
      store_.add_turn(sid, std::move(t));
      break;
    }
    case Kind::reply_finished: {
      StoredTurn t = turn_of(e, "agent");
      t.interrupted = e.interrupted;
      if (e.interrupted) t.heard = e.heard;
      store_.finish_turn(sid, std::move(t));
      break;
    }
    case Kind::barge_in:
      store_.add_event(sid, "barge_in", "heard_ms=" + std::to_string(e.heard_ms) + " heard=\"" + e.heard + "\"");
      break;
    case Kind::dtmf:
      store_.add_event(sid, "dtmf", e.text);
      break;
    case Kind::provider_fallback:
      store_.add_event(sid, "provider_fallback", e.detail);
      break;
    case Kind::reply_failed:
      store_.add_event(sid, "error", "synthesis failed: " + e.detail);
      break;
    case Kind::stt_failure:
      store_.add_event(sid, "error", "recognition failed in turn " + std::to_string(e.turn) + ": " + e.detail);
      break;
    case Kind::ended:
      store_.add_event(sid, "stream_ended", e.resuming ? e.detail + " (resumes after keys)" : e.detail);
      if (!e.resuming) store_.set_status(sid, "completed", true);
      break;
    case Kind::turn_timed:
      if (e.timing) {
        const auto st = call::stages_of(*e.timing);
        StoredLatency l;
        l.turn = e.turn;
        l.endpoint_ms = st.endpoint;
        l.transcript_ms = st.transcript;
        l.agent_ms = st.agent;
        l.tts_first_byte_ms = st.tts_first_byte;
        l.gateway_ms = st.gateway;
        l.response_ms = st.response;
        l.heard_ms = st.heard;
        l.llm_first_token_ms = e.timing->llm_first_token_ms;
        l.llm_first_piece_ms = e.timing->llm_first_piece_ms;
        store_.add_latency(sid, std::move(l));
      }
      break;
    case Kind::tool_call:
      store_.add_event(sid, "tool_call", "turn=" + std::to_string(e.turn) + " " + e.text + " " + e.detail);
      break;
    case Kind::transfer:
      store_.add_event(sid, "transfer", e.interrupted ? e.text + " (no Twilio account: ended instead)" : e.text);
      break;
    case Kind::speech_started:
    case Kind::partial_transcript:  // the final transcript is what is kept
      break;
  }
}

}  // namespace vox::app
