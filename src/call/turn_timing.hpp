#pragma once
// Each turn's timings, from the end of the caller's speech to the first reply frame the
// caller heard, and the latency stages computed from them (GET /calls/{sid}/latency,
// /metrics). Plain data; the session fills it on its strand.
#include <cstdint>
#include <string>
#include <vector>

namespace vox::call {

// One turn's timings (milliseconds since the call's start on the session clock,
// -1 when not reached).
struct TurnRecord {
  int index = 0;
  std::string transcript;
  std::string reply;
  std::int64_t speech_start_media_ms = -1;  // start of caller speech, by Twilio's media timestamps
  std::int64_t speech_end_media_ms = -1;    // end of caller speech
  std::int64_t endpoint_media_ms = -1;      // when the utterance was decided, in media time
  double endpoint_ms = -1, transcript_ms = -1, agent_ms = -1, tts_first_byte_ms = -1, first_frame_sent_ms = -1,
         first_mark_ms = -1;
  // Steady-clock microseconds (comparable across processes on one host) for tracing the
  // reply path: provider audio received -> first media frame written.
  std::int64_t tts_first_byte_us = -1, first_frame_us = -1;
  std::string tts_request_id;
  double llm_first_token_ms = -1, llm_first_piece_ms = -1;  // LLM agents: durations, parts of the agent stage
};

// A turn's latency by stage, in milliseconds (-1: not reached). See CallMetrics.
struct TurnStages {
  double endpoint = -1, transcript = -1, agent = -1, tts_first_byte = -1, gateway = -1, response = -1, heard = -1;
};
TurnStages stages_of(const TurnRecord& r);

// The records of a call's turns, numbered from 1.
class TurnLog {
 public:
  // Starts turn `record.index` (the next number).
  TurnRecord& begin(TurnRecord record);
  // Returns the record of turn `turn` (1-based); nullptr when there is none.
  TurnRecord* find(int turn);
  int count() const { return static_cast<int>(records_.size()); }
  const std::vector<TurnRecord>& all() const { return records_; }

 private:
  std::vector<TurnRecord> records_;
};

}  // namespace vox::call
