#include "call/call_metrics.hpp"

#include "call/turns.hpp"

namespace vox::call {
namespace {
metrics::Histogram& stage(metrics::Registry& r, const char* name, const char* help) {
  return r.histogram(std::string("voxbridge_turn_") + name + "_seconds", help, metrics::latency_buckets());
}
}  // namespace

CallMetrics::CallMetrics(metrics::Registry& r)
    : endpoint(stage(r, "endpoint", "End of the caller's speech (their media timestamps) to the end of the utterance being decided")),
      transcript(stage(r, "transcript", "Utterance decided to final transcript (speech recognition)")),
      agent(stage(r, "agent", "Final transcript to the agent's answer")),
      tts_first_byte(stage(r, "tts_first_byte", "Agent answer to the first synthesized audio (speech synthesis)")),
      gateway(stage(r, "gateway", "First synthesized audio to the first reply frame sent to Twilio (the gateway's own share)")),
      response(stage(r, "response", "Utterance decided to the first reply frame sent to Twilio")),
      heard(stage(r, "heard", "First reply frame sent to its first mark echoed by Twilio (played to the caller)")),
      barge_in(r.histogram("voxbridge_barge_in_reaction_seconds", "Caller speech onset over a reply to the clear sent",
                           metrics::latency_buckets())),
      llm_first_token(stage(r, "llm_first_token", "LLM agent: request to the model's first token (part of the agent stage)")),
      llm_first_piece(stage(r, "llm_first_piece",
                            "LLM agent: first token to the first speakable piece handed to speech (part of the agent stage)")),
      calls_started(r.counter("voxbridge_calls_started_total", "Media streams started")),
      turns(r.counter("voxbridge_turns_total", "Caller utterances handed to recognition")),
      barge_ins(r.counter("voxbridge_barge_ins_total", "Replies cut because the caller spoke over them")),
      media_in(r.counter("voxbridge_media_messages_in_total", "Media messages received from Twilio")),
      frames_in(r.counter("voxbridge_frames_in_total", "20 ms caller audio frames processed")),
      media_in_late(r.counter("voxbridge_media_messages_in_late_total",
                              "Media messages read more than 60 ms behind their timestamp (network or Twilio jitter, "
                              "or a server too busy to read)")),
      sequence_gaps(r.counter("voxbridge_media_sequence_gaps_total",
                              "Media stream messages missing or out of order, by their sequence numbers")),
      media_out(r.counter("voxbridge_media_messages_out_total", "Media messages sent to Twilio")),
      reply_underruns(r.counter("voxbridge_reply_underruns_total",
                                "Times the caller had heard all of a reply we had sent while more was still being "
                                "synthesized (a gap in the reply)")),
      marks_echoed(r.counter("voxbridge_marks_echoed_total", "Marks Twilio echoed (our audio played)")),
      marks_overdue(r.counter("voxbridge_marks_overdue_total",
                              "Replies counted as played by the clock because their marks were not echoed")),
      tts_fallbacks(r.counter("voxbridge_tts_fallbacks_total", "Replies spoken (partly) by a fallback speech engine")),
      stt_failures(r.counter("voxbridge_stt_failures_total", "Utterances whose recognition failed")),
      replies_failed(r.counter("voxbridge_replies_failed_total", "Replies whose synthesis failed on every engine")),
      registry_(r) {
  for (const auto reason : {EndReason::hung_up, EndReason::talk_timeout, EndReason::error, EndReason::shutdown})
    registry_.counter("voxbridge_calls_ended_total", "Media streams ended, by reason", {{"reason", std::string(to_string(reason))}});
}

void CallMetrics::call_ended(std::string_view reason) {
  registry_
      .counter("voxbridge_calls_ended_total", "Media streams ended, by reason",
               {{"reason", std::string(to_string(classify_end(reason)))}})
      .inc();
}

}  // namespace vox::call
