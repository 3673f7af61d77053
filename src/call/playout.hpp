#pragma once
// The outbound half of a call: replies queued, their synthesized audio paced out to
// Twilio in chunks with a mark after each, the marks' echoes telling what the caller has
// heard, and barge-in or stop cutting a reply with the words heard so far. Pure logic:
// no Asio, no clock of its own (every call takes the call time `now_ms`), no engines (it
// asks its owner to synthesize); testable frame by frame.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "call/outbox.hpp"
#include "speech/speech.hpp"

namespace vox::call {

struct PlayoutSettings {
  int chunk_ms = 100;       // audio per outbound media message (one mark each)
  int lead_ms = 400;        // audio kept queued at Twilio ahead of playback
  int mark_slack_ms = 2000;  // a mark not echoed this long after its audio should have played counts as played
};

// One reply: what to say and what to do after it, and how far it has got.
struct Reply {
  std::uint64_t id = 0;
  int turn = 0;  // the caller's turn it answers (0: greeting or control-API text)
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
  bool marks_overdue = false;  // counted as played by the clock: the caller's side stopped echoing marks
  std::shared_ptr<speech::CancelToken> token;
  bool text_open = false;                  // a streamed reply: more text may come (append_text)
  std::shared_ptr<speech::TextFeed> feed;  // where that text goes while it is synthesized
  double started_ms = -1;  // call time of the first frame sent

  int heard_ms() const { return static_cast<int>(acked / 8); }
};

// What a reply was when it stopped: played to the end, or cut (barge-in, stop, the end
// of the call) after `heard_ms` with `heard` words.
struct ReplyEnd {
  bool interrupted = false;
  int heard_ms = 0;
  std::string heard;
};

// What the playout asks of and reports to its owner (the call session).
class PlayoutListener {
 public:
  virtual ~PlayoutListener() = default;
  // `reply` becomes current: start synthesizing it (and keep its cancel token in `reply.token`).
  virtual void synthesize(Reply& reply) = 0;
  // A chunk of `reply` went out; `first` for its first one.
  virtual void chunk_sent(const Reply& reply, std::span<const std::uint8_t> chunk, bool first) = 0;
  // A mark of `reply` came back: its audio up to reply.acked has been heard.
  virtual void mark_echoed(const Reply& reply) = 0;
  // The caller had heard everything sent while synthesis still ran (a gap in the reply).
  virtual void underrun(const Reply& reply) = 0;
  // `reply`'s marks stopped coming back; it is now counted as played by the clock.
  virtual void marks_overdue(const Reply& reply) = 0;
  // `reply` stopped (see ReplyEnd). Then, for a reply played to the end, after_reply().
  virtual void reply_ended(const Reply& reply, const ReplyEnd& end) = 0;
  // `reply` played to the end: act on its hangup/transfer/digits; return true to go on
  // with the next queued reply.
  virtual bool after_reply(Reply& reply) = 0;
};

class Playout {
 public:
  Playout(PlayoutSettings settings, std::string stream_sid, MediaOutbox& outbox, PlayoutListener& listener);

  // Queues a reply (spoken after whatever is queued); returns its id.
  std::uint64_t enqueue(std::string text, int turn, bool hangup = false, std::string transfer_to = {},
                        std::string digits = {});
  // A reply whose text streams in (a model's answer): queued like enqueue(), then takes
  // more text with append_text() until close_text() gives its end and what to do after it.
  std::uint64_t enqueue_open(std::string text, int turn);
  // The newest reply for `turn` that still takes text, if any.
  std::optional<std::uint64_t> open_reply(int turn) const;
  void append_text(std::uint64_t id, const std::string& text);
  void close_text(std::uint64_t id, bool hangup = false, std::string transfer_to = {}, std::string digits = {});
  // Synthesis of reply `id` delivered audio, a word timing, or finished.
  void audio(std::uint64_t id, std::span<const std::uint8_t> ulaw, double now_ms);
  void word(std::uint64_t id, const speech::WordTiming& word);
  void synthesis_done(std::uint64_t id, double now_ms);
  // Twilio echoed mark `name`.
  void mark(std::string_view name, double now_ms);
  // Marks that are overdue by now count as played; call at next_deadline(). A reply's
  // first overdue mark is late by the slack; from then on the reply is paced by the clock.
  void tick(double now_ms);
  // The call time at which tick() has work, if any.
  std::optional<double> next_deadline() const;

  // Cuts the current reply (Twilio `clear` when audio went out, or always with
  // `always_clear`) and drops the queue; returns the cut reply's end (nullopt when nothing
  // was playing).
  std::optional<ReplyEnd> cut(bool always_clear = false);
  // The call is over: stop synthesis, report the current reply as cut, drop everything.
  void end();
  // Drops queued replies and pending marks (the call moves to another stream).
  void drop_queue();
  // Starts the next queued reply when none is current (after after_reply() said to wait).
  void resume();

  bool speaking() const { return current_.has_value(); }
  const Reply* current() const { return current_ ? &*current_ : nullptr; }
  Reply* current() { return current_ ? &*current_ : nullptr; }
  std::size_t queued() const { return queued_.size(); }
  std::size_t size() const { return queued_.size() + (current_ ? 1 : 0); }
  std::uint64_t next_id() const { return next_id_; }
  std::uint64_t marks_sent() const { return marks_sent_; }
  std::uint64_t clears_sent() const { return clears_sent_; }

  // Words of `r` heard before `heard_ms` of its audio: from word timings, or estimated
  // from the share of the audio played.
  static std::string heard_words(const Reply& r, int heard_ms);
  static constexpr std::string_view kEndOfPlayback = "endOfPlayback";

 private:
  struct PendingMark {
    std::string name;
    std::size_t end_pos;
    double due_ms;  // call time by which its audio has played, if Twilio plays it on arrival
  };
  void start_next();
  Reply* find(std::uint64_t id);
  void pump(double now_ms);
  void acknowledge(std::deque<PendingMark>::iterator mark, bool echoed, double now_ms);
  void finish(double now_ms);
  double slack() const;  // how long past its time a mark may come back
  std::optional<ReplyEnd> cut_current(bool clear);

  PlayoutSettings settings_;
  std::string stream_sid_;
  MediaOutbox& outbox_;
  PlayoutListener& listener_;
  std::size_t chunk_bytes_;
  std::size_t lead_bytes_;
  std::optional<Reply> current_;
  std::deque<Reply> queued_;
  std::deque<PendingMark> pending_marks_;
  double play_end_ms_ = 0;  // call time when the audio sent so far has finished playing
  std::uint64_t next_id_ = 1;
  std::uint64_t marks_sent_ = 0;
  std::uint64_t clears_sent_ = 0;
  std::string mark_name_;  // reused for every mark's name
};

}  // namespace vox::call
