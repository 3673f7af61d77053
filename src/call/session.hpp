#pragma once
// One phone call's media session: inbound audio → VAD/endpointing → STT → agent →
// TTS → paced outbound audio with marks; barge-in; talk timeout. Everything here runs
// on the call's strand; engine callbacks are posted back to it. Per-frame work does
// not allocate, lock or log.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "audio/endpointer.hpp"
#include "audio/vad.hpp"
#include "call/events.hpp"
#include "call/registry.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "speech/speech.hpp"

namespace vox::call {

class CallSession;
struct CallMetrics;

// Where a session's outbound Media Streams messages go (the WebSocket in production,
// a recorder in tests). Called on the session's strand.
class MediaOutbox {
 public:
  virtual ~MediaOutbox() = default;
  virtual void send_media(std::string_view stream_sid, std::span<const std::uint8_t> ulaw) = 0;
  virtual void send_mark(std::string_view stream_sid, std::string_view name) = 0;
  virtual void send_clear(std::string_view stream_sid) = 0;
  // Ends the stream from our side (Twilio then continues with the next TwiML verb).
  virtual void close(std::string_view reason) = 0;
};

// Acts on the live call at Twilio (REST): used for transfers. Fire and forget; failures
// are logged by the implementation.
class CallControl {
 public:
  virtual ~CallControl() = default;
  // Moves the call to `target` (E.164 number or sip: address); Twilio ends our stream.
  virtual void transfer(const std::string& call_sid, const std::string& target) = 0;
  // Presses `digits` on the call (TwiML <Play digits>), then connects a new media stream
  // to `call.stream_url` with the same parameters. Twilio ends our stream first.
  // `done(ok)` is called from any thread once Twilio accepted (or refused) the update.
  virtual void send_digits(const agent::CallContext& call, const std::string& digits,
                           std::function<void(bool ok)> done) = 0;
};

struct CallServices {
  const Config& config;
  speech::TextToSpeech& tts;
  speech::SpeechToText& stt;
  CallRegistry& registry;
  Clock& clock;
  CallControl* control = nullptr;  // null when no Twilio account is configured
  // Sees every call's events (the call store). Called on each call's strand.
  CallObserver* journal = nullptr;
  // Latency histograms and counters for /metrics (null: not recorded).
  CallMetrics* metrics = nullptr;
  // Runs on the call's strand once a stream's session has started (client sockets bind here).
  std::function<void(const std::shared_ptr<CallSession>&)> on_session_started;
  // What the call store knows of a call the registry does not hold (after a restart, or
  // once its record was dropped): its owner, agent and voice. Null: nothing stored.
  std::function<std::optional<CallRecord>(const std::string& call_sid)> stored_record;
};

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
};

// A turn's latency by stage, in milliseconds (-1: not reached). See CallMetrics.
struct TurnStages {
  double endpoint = -1, transcript = -1, agent = -1, tts_first_byte = -1, gateway = -1, response = -1, heard = -1;
};
TurnStages stages_of(const TurnRecord& r);

struct BargeIn {
  std::int64_t media_ms = 0;  // caller speech onset
  std::string heard;          // words of the reply heard before the interruption
  int heard_ms = 0;
  std::string reply;          // the full reply that was interrupted
};

struct SessionStats {
  std::uint64_t frames = 0;
  std::uint64_t utterances = 0;
  std::uint64_t discarded_utterances = 0;
  std::uint64_t marks_sent = 0;
  std::uint64_t marks_echoed = 0;
  std::uint64_t clears_sent = 0;
  std::uint64_t tts_degraded = 0;  // replies (partly) spoken by a fallback engine
  std::uint64_t stt_failures = 0;
};

class CallSession : public std::enable_shared_from_this<CallSession> {
 public:
  CallSession(CallServices services, boost::asio::any_io_executor strand, MediaOutbox& outbox,
              agent::CallContext context, std::unique_ptr<agent::Agent> agent);
  ~CallSession();

  // Begins the conversation (greeting, talk timer). Call once, on the strand. A resumed
  // call (a new stream after the agent pressed digits) is not greeted again.
  void start(bool resumed = false);
  // One `media` message's μ-law payload (already base64-decoded) at Twilio media time `timestamp_ms`
  // (-1 if absent). Any length; audio is cut into 20 ms frames internally.
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
  std::size_t audio_queue_size() const { return queued_.size() + (current_ ? 1 : 0); }
  bool greeted() const { return greeted_; }
  // The idle time after which the call is ended (replaces --talk-timeout for this call;
  // 0 = never); the idle clock restarts now.
  void set_talk_timeout(std::chrono::milliseconds timeout);
  // Ends the stream from our side (the call then goes on with Twilio's next verb).
  void hang_up(std::string_view reason);
  void add_observer(std::shared_ptr<CallObserver> observer);
  void remove_observer(const CallObserver* observer);

  const agent::CallContext& context() const { return context_; }
  const SessionStats& stats() const { return stats_; }
  const std::vector<TurnRecord>& turns() const { return turns_; }
  const std::vector<BargeIn>& barge_ins() const { return barge_ins_; }
  bool ended() const { return ended_; }
  boost::asio::any_io_executor executor() const { return strand_; }

  static constexpr std::string_view kEndOfPlayback = "endOfPlayback";

 private:
  struct Reply {
    std::uint64_t id = 0;
    int turn = 0;
    std::string text;
    bool hangup = false;
    std::string transfer_to;
    std::string digits;
    std::vector<speech::WordTiming> words;
    std::vector<std::uint8_t> audio;  // synthesized μ-law, grows while synthesis streams
    std::size_t sent = 0;             // bytes sent to Twilio
    std::size_t acked = 0;            // bytes whose mark came back (played)
    bool synth_done = false;
    bool end_mark_sent = false;
    bool marks_overdue = false;       // played by the clock: the caller's side stopped echoing marks
    std::shared_ptr<speech::CancelToken> token;
    double started_ms = -1;  // call time of the first frame sent
  };
  struct PendingMark {
    std::string name;
    std::size_t end_pos;
    double due_ms;  // call time by which its audio has played, if Twilio plays it on arrival
  };

  void emit(const CallEvent& event);
  // Reports the current reply as cut after `heard_ms` of audio.
  void report_cut(const Reply& r, int heard_ms, const std::string& heard);
  void process_frame(std::span<const std::uint8_t, 160> ulaw, std::int64_t t_ms);
  void on_utterance_end(std::int64_t speech_end_ms);
  void on_transcript(int turn_index, speech::SttResult result);
  void on_agent_reply(int turn_index, agent::Reply reply);
  void enqueue_reply(std::string text, int turn, bool hangup, std::string transfer_to = {}, std::string digits = {});
  void send_digits(std::string digits);
  void start_next_reply();
  void pump();
  void finish_reply();
  // The audio up to `mark` has played (its echo came, or `echoed` is false: its time passed).
  void acknowledge(std::deque<PendingMark>::iterator mark, bool echoed);
  void arm_mark_timer();
  void on_mark_deadline();
  void barge_in(std::int64_t t_ms);
  bool speaking() const;
  void arm_talk_timer();
  double since_start_ms() const;
  std::string heard_words(const Reply& r, int heard_ms) const;
  // Returns the record of turn `turn` (1-based).
  TurnRecord& record(int turn) { return turns_.at(static_cast<std::size_t>(turn - 1)); }

  CallServices svc_;
  boost::asio::any_io_executor strand_;
  MediaOutbox& outbox_;
  agent::CallContext context_;
  std::unique_ptr<agent::Agent> agent_;
  Clock::time_point started_at_;

  // Inbound path (fixed buffers; no allocation per frame).
  audio::VoiceDetector vad_;
  audio::Endpointer endpointer_;
  std::array<std::uint8_t, 160> frame_buf_{};
  std::size_t frame_fill_ = 0;
  double arrival_offset_min_ms_ = 1e300;  // least (arrival − media timestamp) seen
  std::int64_t media_clock_ms_ = 0;
  std::int64_t endpoint_media_ms_ = 0;  // media time the last utterance was decided at
  std::int64_t frame_ms_ = 0;           // media time of the frame being processed
  // Recording (when config.recording_dir is set): both sides as μ-law at media time.
  std::vector<std::uint8_t> rec_caller_;
  std::vector<std::uint8_t> rec_agent_;
  bool recording_ = false;
  std::int64_t agent_play_end_ms_ = 0;  // where the agent's audio so far ends, in media time
  void record_agent(std::span<const std::uint8_t> ulaw);
  // How far (media ms) the recording may reach now: the call's age plus a little jitter.
  std::int64_t recording_limit_ms() const;
  void write_recording();
  std::vector<std::uint8_t> preroll_;  // ring of the last preroll_ms of audio
  std::size_t preroll_pos_ = 0;
  std::size_t preroll_fill_ = 0;
  std::vector<std::uint8_t> utterance_;
  std::unique_ptr<speech::SttStream> stt_stream_;  // realtime STT of the current utterance
  std::size_t utterance_cap_;

  // Outbound path.
  std::optional<Reply> current_;
  std::deque<Reply> queued_;
  std::deque<PendingMark> pending_marks_;
  double play_end_ms_ = 0;  // call time when the audio sent so far has finished playing
  std::uint64_t next_reply_id_ = 1;
  std::size_t chunk_bytes_;
  std::size_t lead_bytes_;

  int turn_counter_ = 0;
  int agent_turn_ = 0;  // the latest turn handed to the agent
  int cut_turn_ = 0;    // the latest turn whose answer the caller talked over
  std::optional<BargeIn> last_barge_in_;
  std::vector<TurnRecord> turns_;
  std::vector<BargeIn> barge_ins_;
  SessionStats stats_;
  boost::asio::steady_timer talk_timer_;
  boost::asio::steady_timer mark_timer_;  // fires when a pending mark is overdue
  bool mark_timer_armed_ = false;
  std::chrono::milliseconds talk_timeout_;
  bool ended_ = false;
  bool hangup_after_reply_ = false;
  bool handing_over_ = false;  // digits requested: the agent waits in the registry for the next stream
  bool greeted_ = false;
  std::string voice_id_;
  speech::VoiceSettings voice_settings_;
  std::vector<std::shared_ptr<CallObserver>> observers_;
};

}  // namespace vox::call
