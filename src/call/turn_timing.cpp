#include "call/turn_timing.hpp"

namespace vox::call {

TurnStages stages_of(const TurnRecord& r) {
  TurnStages s;
  auto between = [](double a, double b) { return a >= 0 && b >= 0 ? b - a : -1.0; };
  if (r.speech_end_media_ms >= 0 && r.endpoint_media_ms >= 0)
    s.endpoint = static_cast<double>(r.endpoint_media_ms - r.speech_end_media_ms);
  s.transcript = between(r.endpoint_ms, r.transcript_ms);
  s.agent = between(r.transcript_ms, r.agent_ms);
  s.tts_first_byte = between(r.agent_ms, r.tts_first_byte_ms);
  if (r.tts_first_byte_us >= 0 && r.first_frame_us >= 0)
    s.gateway = static_cast<double>(r.first_frame_us - r.tts_first_byte_us) / 1000.0;
  s.response = between(r.endpoint_ms, r.first_frame_sent_ms);
  s.heard = between(r.first_frame_sent_ms, r.first_mark_ms);
  return s;
}

TurnRecord& TurnLog::begin(TurnRecord record) {
  records_.push_back(std::move(record));
  return records_.back();
}

TurnRecord* TurnLog::find(int turn) {
  if (turn < 1 || turn > static_cast<int>(records_.size())) return nullptr;
  return &records_[static_cast<std::size_t>(turn - 1)];
}

}  // namespace vox::call
