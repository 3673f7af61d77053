#pragma once
// Calls as a sequence of turns, for the turn API (GET /generate): what the other side
// said (final transcripts, in order, until taken), whether a reply we asked for has
// finished playing (its mark came back), and how and why the call ended. One channel
// per CallSid; any number of calls at once. Sessions feed their channel on their
// strand; waiters read it from any thread and are woken through `watch`.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace vox::call {

class CallSession;

enum class EndReason { hung_up, talk_timeout, error, shutdown };
std::string_view to_string(EndReason r);
// A sentence for people ("the other side hung up", ...).
std::string_view describe(EndReason r);
// Classifies a session's end reason (or a Twilio call status) into the four kinds.
EndReason classify_end(std::string_view detail);

class TurnChannel {
 public:
  using Clock = std::chrono::steady_clock;
  struct Heard {
    std::uint64_t seq = 0;
    std::string text;
    Clock::time_point onset{};    // when the other side began this utterance (as detected)
    Clock::time_point arrived{};  // when its transcript was final
  };
  struct Playback {
    bool failed = false;
    bool interrupted = false;
    std::string error;
    std::uint64_t heard_before = 0;  // transcripts with seq below this came in while it played
    Clock::time_point finished{};
    double played_ms = 0;
  };
  struct Ended {
    EndReason reason = EndReason::hung_up;
    std::string detail;
  };

  explicit TurnChannel(std::string sid) : sid_(std::move(sid)), touched_(Clock::now()) {}
  const std::string& sid() const { return sid_; }

  // --- fed by the call (any thread) ---
  void attach(const std::shared_ptr<CallSession>& session);
  void speech_started();
  void transcript(std::string text);
  void reply_done(std::uint64_t reply_id, bool failed, bool interrupted, std::string error, double played_ms);
  void stream_ended(bool resuming, const std::string& detail);
  void end(EndReason reason, std::string detail);

  // --- read by waiters ---
  std::shared_ptr<CallSession> session() const;
  bool live() const;
  std::optional<Ended> ended() const;
  std::optional<Playback> playback(std::uint64_t reply_id) const;
  // Takes every transcript; `skipped` receives those with seq < `from_seq`.
  std::vector<Heard> take_heard(std::uint64_t from_seq, std::vector<std::string>& skipped);
  bool has_heard(std::uint64_t from_seq) const;
  // The talk timeout asked for before the stream started (applied when it does).
  void set_pending_talk_timeout(std::chrono::milliseconds t);
  std::optional<std::chrono::milliseconds> pending_talk_timeout() const;
  // A request waits for the caller to speak first (first=true): the call invites them.
  void set_caller_first();
  bool caller_first() const;

  // One /generate at a time per call: returns false when another holds it.
  bool claim();
  void release();

  // Registers `wake` to be called (from any thread) on every change; returns an id for unwatch.
  int watch(std::function<void()> wake);
  void unwatch(int id);

  Clock::time_point touched() const;
  bool pending() const;  // nothing seen of the call yet (a waiter created the channel)
  bool busy() const;     // a /generate holds it

  // A stream that ended to resume (keys pressed) and has not come back within this is over.
  static constexpr std::chrono::seconds kResumeWithin{60};

 private:
  void changed();  // calls the watchers (without the lock held)
  const std::string sid_;
  mutable std::mutex mu_;
  std::weak_ptr<CallSession> session_;
  bool seen_ = false;
  bool live_ = false;
  bool busy_ = false;
  bool caller_first_ = false;
  mutable std::optional<Ended> ended_;  // also set lazily: a stream that did not resume in time
  std::optional<Clock::time_point> resuming_since_;
  std::deque<Heard> heard_;
  std::uint64_t next_seq_ = 1;
  std::deque<Clock::time_point> onsets_;
  std::map<std::uint64_t, Playback> playbacks_;
  std::optional<std::chrono::milliseconds> talk_timeout_;
  std::map<int, std::function<void()>> watchers_;
  int next_watch_ = 1;
  Clock::time_point touched_;
};

class TurnHub {
 public:
  static constexpr std::size_t kMaxChannels = 20000;
  static constexpr std::chrono::minutes kKeepEnded{15};
  // Waiters holding a call (shutdown waits for their answers to go out).
  std::size_t busy() const;

  // A stream started (on the session's strand): the channel follows the session's events.
  void session_started(const std::shared_ptr<CallSession>& session);
  // A Twilio status callback: a call that ends before any stream (busy, no-answer,
  // failed, canceled) ends its channel too.
  void call_status(const std::string& sid, const std::string& status);
  // Ends every open channel with `shutdown` (the server is stopping).
  void shutdown();

  std::shared_ptr<TurnChannel> find(const std::string& sid);
  // Returns the call's channel, creating a pending one (a waiter expects the call to
  // arrive) unless the hub is full; nullptr then.
  std::shared_ptr<TurnChannel> expect(const std::string& sid);
  // Drops a pending channel nobody waits for any more.
  void abandon(const std::shared_ptr<TurnChannel>& channel);
  std::size_t size() const;

 private:
  std::shared_ptr<TurnChannel> get_or_create(const std::string& sid, bool& full);  // with mu_ held
  void expire();  // with mu_ held
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<TurnChannel>> channels_;
  bool shutting_down_ = false;
};

}  // namespace vox::call
