#include "call/events.hpp"

#include "call/playout.hpp"
#include "call/turn_timing.hpp"

namespace vox::call::event {
namespace {
CallEvent of(CallEvent::Kind kind) {
  CallEvent e;
  e.kind = kind;
  return e;
}
// An event about reply `r` and what was heard of it.
CallEvent of_reply(CallEvent::Kind kind, const Reply& r, const ReplyEnd& end) {
  auto e = of(kind);
  e.turn = r.turn;
  e.reply_id = r.id;
  e.text = r.text;
  e.heard = end.heard;
  e.heard_ms = end.heard_ms;
  return e;
}
}  // namespace

CallEvent started(bool resumed) {
  auto e = of(CallEvent::Kind::started);
  if (resumed) e.detail = "resumed";
  return e;
}

CallEvent speech_started(std::int64_t onset_ms) {
  auto e = of(CallEvent::Kind::speech_started);
  e.start_ms = onset_ms;
  return e;
}

CallEvent partial_transcript(int turn, std::string text) {
  auto e = of(CallEvent::Kind::partial_transcript);
  e.turn = turn;
  e.text = std::move(text);
  return e;
}

CallEvent transcript(int turn, std::string text, std::int64_t start_ms, std::int64_t end_ms) {
  auto e = of(CallEvent::Kind::transcript);
  e.turn = turn;
  e.text = std::move(text);
  e.start_ms = start_ms;
  e.end_ms = end_ms;
  return e;
}

CallEvent reply_started(const Reply& r) {
  auto e = of(CallEvent::Kind::reply_started);
  e.turn = r.turn;
  e.reply_id = r.id;
  e.text = r.text;
  return e;
}

CallEvent reply_finished(const Reply& r, const ReplyEnd& end, std::int64_t now_ms) {
  auto e = of_reply(CallEvent::Kind::reply_finished, r, end);
  e.interrupted = end.interrupted;
  e.start_ms = static_cast<std::int64_t>(r.started_ms);
  e.end_ms = now_ms;
  return e;
}

CallEvent reply_failed(const Reply& r, std::string detail) {
  auto e = of(CallEvent::Kind::reply_failed);
  e.turn = r.turn;
  e.reply_id = r.id;
  e.text = r.text;
  e.detail = std::move(detail);
  return e;
}

CallEvent barge_in(const Reply& r, const ReplyEnd& end, std::int64_t onset_ms) {
  auto e = of_reply(CallEvent::Kind::barge_in, r, end);
  e.start_ms = onset_ms;
  return e;
}

CallEvent dtmf(std::string digit, std::int64_t media_ms) {
  auto e = of(CallEvent::Kind::dtmf);
  e.text = std::move(digit);
  e.start_ms = media_ms;
  return e;
}

CallEvent tool_call(int turn, const ToolNote& note) {
  auto e = of(CallEvent::Kind::tool_call);
  e.turn = turn;
  e.text = note.name;
  e.detail = note.arguments + " -> " + (note.ok ? "" : "failed: ") + note.result;
  e.interrupted = !note.ok;
  return e;
}

CallEvent provider_fallback(std::string detail) {
  auto e = of(CallEvent::Kind::provider_fallback);
  e.detail = std::move(detail);
  return e;
}

CallEvent stt_failure(int turn, std::string detail) {
  auto e = of(CallEvent::Kind::stt_failure);
  e.turn = turn;
  e.detail = std::move(detail);
  return e;
}

CallEvent ended(std::string reason, bool resuming, std::int64_t now_ms) {
  auto e = of(CallEvent::Kind::ended);
  e.detail = std::move(reason);
  e.resuming = resuming;
  e.end_ms = now_ms;
  return e;
}

CallEvent turn_timed(const TurnRecord& timing) {
  auto e = of(CallEvent::Kind::turn_timed);
  e.turn = timing.index;
  e.timing = &timing;
  return e;
}

CallEvent transfer(int turn, std::string target, bool handed_over) {
  auto e = of(CallEvent::Kind::transfer);
  e.turn = turn;
  e.text = std::move(target);
  e.interrupted = !handed_over;
  return e;
}

}  // namespace vox::call::event
