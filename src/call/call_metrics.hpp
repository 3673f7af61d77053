#pragma once
// What calls report to /metrics: per-turn latency by stage, barge-in reaction, media
// volume, provider trouble and how calls end. Registered once at start; sessions update
// them with relaxed atomic adds (no locks on the media path).
#include <string_view>

#include "core/metrics.hpp"

namespace vox::call {

struct CallMetrics {
  explicit CallMetrics(metrics::Registry& registry);

  // Turn stages, in seconds.
  metrics::Histogram& endpoint;        // end of caller speech (media time) -> endpoint decided
  metrics::Histogram& transcript;      // endpoint -> final transcript (STT)
  metrics::Histogram& agent;           // final transcript -> agent answer
  metrics::Histogram& tts_first_byte;  // agent answer -> first synthesized audio (TTS)
  metrics::Histogram& gateway;         // first synthesized audio -> first reply frame sent (ours alone)
  metrics::Histogram& response;        // end of caller speech (endpoint) -> first reply frame sent
  metrics::Histogram& heard;           // first reply frame sent -> its first mark echoed (played)
  metrics::Histogram& barge_in;        // caller speech onset over a reply -> `clear` sent
  metrics::Histogram& llm_first_token; // language-model agents: request -> first token
  metrics::Histogram& llm_first_piece; // first token -> first speakable piece handed to speech
  metrics::Counter& calls_started;
  metrics::Counter& turns;
  metrics::Counter& barge_ins;
  metrics::Counter& media_in;          // media messages received
  metrics::Counter& frames_in;         // 20 ms frames processed
  metrics::Counter& media_in_late;     // media messages that arrived well behind their timestamp
  metrics::Counter& sequence_gaps;     // media messages missing or out of order (by sequence number)
  metrics::Counter& media_out;         // media messages sent
  metrics::Counter& reply_underruns;   // a reply's audio ran out while it was still being synthesized
  metrics::Counter& marks_echoed;
  metrics::Counter& marks_overdue;     // replies counted as played by the clock: their marks never came back
  metrics::Counter& tts_fallbacks;     // replies (partly) spoken by a fallback engine
  metrics::Counter& stt_failures;
  metrics::Counter& replies_failed;

  // Counts a call's end by kind (hung_up, talk_timeout, error, shutdown).
  void call_ended(std::string_view reason);

 private:
  metrics::Registry& registry_;
};

}  // namespace vox::call
