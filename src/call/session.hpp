#pragma once
// One phone call's media session. It wires the pieces that do the work, each testable on
// its own: the inbound pipeline (caller audio -> utterances, inbound.hpp), the agent
// (turns -> replies, agent.hpp), the playout (replies -> paced audio, marks, barge-in,
// playout.hpp), the recorder and the turn log. It owns the call's strand, its two timers
// (talk timeout, overdue marks) and its observers. Everything here runs on the call's
// strand; engine callbacks are posted back to it. Per-frame work does not allocate,
// lock or log.
#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "call/agent.hpp"
#include "call/events.hpp"
#include "call/inbound.hpp"
#include "call/outbox.hpp"
#include "call/playout.hpp"
#include "call/recorder.hpp"
#include "call/registry.hpp"
#include "call/settings.hpp"
#include "call/timer.hpp"
#include "call/turn_timing.hpp"
#include "core/clock.hpp"
#include "speech/speech.hpp"

namespace vox::call {

class CallSession;
struct CallMetrics;

// Acts on the live call at Twilio (REST): transfers and keys. Fire and forget; failures
// are logged by the implementation.
class CallControl {
 public:
  virtual ~CallControl() = default;
  // Moves the call to `target` (E.164 number or sip: address); Twilio ends our stream.
  virtual void transfer(const std::string& call_sid, const std::string& target) = 0;
  // Presses `digits` on the call (TwiML <Play digits>), then connects a new media stream
  // to `call.stream_url` with the same parameters. Twilio ends our stream first.
  // `done(ok)` is called from any thread once Twilio accepted (or refused) the update.
  virtual void send_digits(const CallContext& call, const std::string& digits, std::function<void(bool ok)> done) = 0;
  // Ends the call itself (Twilio: Status=completed), not only our stream; `why` is logged.
  virtual void hang_up(const std::string& call_sid, const std::string& why) = 0;
};

struct CallServices {
  const CallSettings& settings;
  speech::TextToSpeech& tts;
  speech::SpeechToText& stt;
  CallRegistry& registry;
  Clock& clock;
  Timers& timers;                    // timers on the call's strand, on `clock`
  CallControl* control = nullptr;    // null when no Twilio account is configured
  CallObserver* journal = nullptr;   // sees every call's events (the call store)
  CallMetrics* metrics = nullptr;    // /metrics (null: not recorded)
  // Runs slow work (disk writes) off the network threads; null: run it in place.
  std::function<void(std::function<void()>)> run_blocking;
  // Runs on the call's strand once a stream's session has started (client sockets bind here).
  std::function<void(const std::shared_ptr<CallSession>&)> on_session_started;
  // Whether a new call may start now (overload control); false refuses its stream with
  // 1013. Empty: only the registry's limit applies.
  std::function<bool()> admit;
};

struct BargeIn {
  std::int64_t media_ms = 0;  // caller speech onset
  std::string heard;          // words of the reply heard before the interruption
  int heard_ms = 0;
  std::string reply;          // the full reply that was interrupted
};

struct SessionStats {
  std::uint64_t utterances = 0;
  std::uint64_t discarded_utterances = 0;
  std::uint64_t marks_echoed = 0;
  std::uint64_t tts_degraded = 0;  // replies (partly) spoken by a fallback engine
  std::uint64_t stt_failures = 0;
};

class CallSession : public std::enable_shared_from_this<CallSession>, private InboundListener, private PlayoutListener {
 public:
  CallSession(CallServices services, boost::asio::any_io_executor strand, std::shared_ptr<MediaOutbox> outbox,
              CallContext context, std::unique_ptr<Agent> agent);
  ~CallSession() override;

  // Begins the conversation (greeting, talk timer). Call once, on the strand. A resumed
  // call (a new stream after the agent pressed digits) is not greeted again.
  void start(bool resumed = false);
  // One `media` message's μ-law payload (already base64-decoded) at Twilio media time
  // `timestamp_ms` (-1 if absent). Any length; audio is cut into 20 ms frames internally.
  void on_media(std::span<const std::uint8_t> ulaw, std::int64_t timestamp_ms);
  void on_mark(std::string_view name);
  void on_dtmf(std::string_view digit);
  // The stream is over (Twilio `stop`, socket loss, shutdown). Idempotent.
  void end(std::string_view reason);

  // Control from outside (REST, client WebSocket): call these on the strand.
  // Speaks `text` after whatever is queued; returns the reply's id.
  std::uint64_t say(std::string text);
  // Stops the reply being spoken (Twilio `clear`) and drops the queued ones; returns
  // whether anything was playing or queued.
  bool stop_speaking();
  // The voice of the next reply on.
  void set_voice(std::string voice_id, speech::VoiceSettings settings);
  const std::string& voice_id() const { return voice_id_; }
  const speech::VoiceSettings& voice_settings() const { return voice_settings_; }
  // Replies playing or waiting.
  std::size_t audio_queue_size() const { return playout_.size(); }
  bool greeted() const { return greeted_; }
  // The idle time after which the call is ended (replaces the configured talk timeout
  // for this call; 0 = never); the idle clock restarts now.
  void set_talk_timeout(std::chrono::milliseconds timeout);
  // Tells the caller it may speak first (a kNoGreetingMark), unless anything was said or
  // queued on this call already. On the session's strand.
  void invite_caller();
  // Ends the stream from our side (the call then goes on with Twilio's next verb).
  void hang_up(std::string_view reason);
  void add_observer(std::shared_ptr<CallObserver> observer);
  void remove_observer(const CallObserver* observer);

  const CallContext& context() const { return context_; }
  // What the console's table shows of a live call. On the strand.
  struct LiveSummary {
    LiveSummary() {}  // not an aggregate: it travels through a coroutine's return
    int turns = 0;
    std::size_t replies_queued = 0;
    bool speaking = false;  // a reply is playing
    std::uint64_t fallbacks = 0, stt_failures = 0;
    std::size_t barge_ins = 0;
    std::string voice_id;
    double age_ms = 0;  // since the stream started
    std::string tts, stt;  // the engines' names
  };
  LiveSummary summary() const;
  const SessionStats& stats() const { return stats_; }
  std::uint64_t frames() const { return inbound_.frames(); }
  std::uint64_t marks_sent() const { return playout_.marks_sent(); }
  std::uint64_t clears_sent() const { return playout_.clears_sent(); }
  const std::vector<TurnRecord>& turns() const { return turns_.all(); }
  const std::vector<BargeIn>& barge_ins() const { return barge_ins_; }
  bool ended() const { return ended_; }
  boost::asio::any_io_executor executor() const { return strand_; }

  static constexpr std::string_view kEndOfPlayback = Playout::kEndOfPlayback;

 private:
  // InboundListener
  void speech_started(std::int64_t onset_ms) override;
  void utterance(Utterance&& u) override;
  void discarded() override;
  // PlayoutListener
  void synthesize(Reply& reply) override;
  void chunk_sent(const Reply& reply, std::span<const std::uint8_t> chunk, bool first) override;
  void mark_echoed(const Reply& reply) override;
  void underrun(const Reply& reply) override;
  void marks_overdue(const Reply& reply) override;
  void reply_ended(const Reply& reply, const ReplyEnd& end) override;
  bool after_reply(Reply& reply) override;

  void emit(const CallEvent& event);
  std::unique_ptr<speech::SttStream> open_stt_stream();
  void on_transcript(int turn_index, speech::SttResult result);
  void on_agent_reply(int turn_index, AgentReply reply);
  void send_digits(std::string digits);
  void barge_in(std::int64_t onset_ms);
  void arm_talk_timer();
  void arm_mark_timer();
  void write_recording();
  double now_ms() const;  // call time: milliseconds since the session started

  CallServices svc_;
  boost::asio::any_io_executor strand_;
  std::shared_ptr<MediaOutbox> outbox_;  // the transport holds the session too: it lets go when the stream ends
  CallContext context_;
  std::unique_ptr<Agent> agent_;
  Clock::time_point started_at_;
  InboundPipeline inbound_;
  Playout playout_;
  std::unique_ptr<Recorder> recorder_;  // when recording
  TurnLog turns_;
  double arrival_offset_min_ms_ = 1e300;  // least (arrival - media timestamp) seen

  int turn_counter_ = 0;
  int agent_turn_ = 0;  // the latest turn handed to the agent
  int cut_turn_ = 0;    // the latest turn whose answer the caller talked over
  std::optional<BargeIn> last_barge_in_;
  // Set while a barge-in cuts the current reply, so its end is reported as a barge-in too.
  struct BargeInNote {
    int turn = 0;
    std::uint64_t reply_id = 0;
    std::string text;
    std::int64_t onset_ms = 0;
  };
  std::optional<BargeInNote> barging_;
  std::vector<BargeIn> barge_ins_;
  SessionStats stats_;
  std::unique_ptr<Timer> talk_timer_;
  std::unique_ptr<Timer> mark_timer_;
  std::optional<double> mark_timer_at_;  // call time the mark timer is set for
  std::chrono::milliseconds talk_timeout_;
  bool ended_ = false;
  bool hangup_after_reply_ = false;
  bool handing_over_ = false;  // digits requested: the agent waits in the registry for the next stream
  bool greeted_ = false;
  bool invited_ = false;
  std::string voice_id_;
  speech::VoiceSettings voice_settings_;
  std::vector<std::shared_ptr<CallObserver>> observers_;
};

}  // namespace vox::call
