#pragma once
// What happens in a call, as the control plane sees it: transcripts, replies, barge-ins,
// keys, the end. Observers (the call store, client WebSockets, the turn API) receive
// these on the call's strand and must not block: they queue work elsewhere.
#include <cstdint>
#include <span>
#include <string>

#include "call/agent.hpp"

namespace vox::call {

struct TurnRecord;
struct Reply;
struct ReplyEnd;

struct CallEvent {
  enum class Kind {
    started,            // the media stream started (detail: "resumed" for a resumed stream)
    speech_started,     // the caller began to speak (`start_ms`, media time); no transcript yet
    partial_transcript,  // realtime STT's words so far (`text`) in turn `turn`; the final one follows
    transcript,         // the caller said `text` (final) in turn `turn`
    reply_started,      // synthesis of reply `reply_id` (`text`) began
    reply_finished,     // reply played to the end, or was cut (`interrupted`, `heard`)
    reply_failed,       // synthesis failed (`detail`)
    barge_in,           // the caller spoke over a reply: `heard` of `text`, `heard_ms`
    dtmf,               // the caller pressed `text`
    provider_fallback,  // a provider failed and another engine took over (`detail`)
    stt_failure,        // recognition of turn `turn` failed (`detail`)
    ended,              // the stream ended (`detail` is the reason)
    turn_timed,         // turn `turn`'s reply was first heard: `timing` holds the turn's timings
    tool_call,          // the agent used tool `text` in turn `turn`: `detail` is its arguments and result
    transfer,           // the agent handed the call to `text` (`interrupted`: no Twilio account, so it ended instead)
  };
  Kind kind = Kind::started;
  int turn = 0;             // conversation turn (0: greeting or text from the control API)
  std::uint64_t reply_id = 0;
  std::string text;
  std::string heard;
  std::string detail;
  bool interrupted = false;
  bool resuming = false;    // ended: the call goes on in a new stream (the agent pressed keys)
  const TurnRecord* timing = nullptr;  // turn_timed: valid during the call of on_event only
  int heard_ms = 0;
  // Milliseconds since the stream started (caller speech: Twilio media time).
  std::int64_t start_ms = -1, end_ms = -1;
};

// The events a session emits, each built in one place.
namespace event {
CallEvent started(bool resumed);
CallEvent speech_started(std::int64_t onset_ms);
CallEvent partial_transcript(int turn, std::string text);
CallEvent transcript(int turn, std::string text, std::int64_t start_ms, std::int64_t end_ms);
CallEvent reply_started(const Reply& reply);
CallEvent reply_finished(const Reply& reply, const ReplyEnd& end, std::int64_t now_ms);
CallEvent reply_failed(const Reply& reply, std::string detail);
CallEvent barge_in(const Reply& reply, const ReplyEnd& end, std::int64_t onset_ms);
CallEvent dtmf(std::string digit, std::int64_t media_ms);
CallEvent provider_fallback(std::string detail);
CallEvent stt_failure(int turn, std::string detail);
CallEvent ended(std::string reason, bool resuming, std::int64_t now_ms);
CallEvent turn_timed(const TurnRecord& timing);
CallEvent tool_call(int turn, const ToolNote& note);
CallEvent transfer(int turn, std::string target, bool handed_over);
}  // namespace event

class CallObserver {
 public:
  virtual ~CallObserver() = default;
  virtual void on_event(const CallContext& call, const CallEvent& event) = 0;
  // Outbound audio exactly as sent to Twilio (μ-law 8 kHz). Only called while the
  // observer is attached to the session (never for the global journal).
  virtual void on_audio(const CallContext& /*call*/, std::span<const std::uint8_t> /*ulaw*/) {}
  // The caller's audio as it arrives (μ-law 8 kHz), for observers that listen in. Only
  // while attached, like on_audio.
  virtual void on_caller_audio(const CallContext& /*call*/, std::span<const std::uint8_t> /*ulaw*/) {}
};

}  // namespace vox::call
