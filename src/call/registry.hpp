#pragma once
// The live calls of this process, by CallSid. Touched once per call event (start,
// end, lookup), never per frame.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "speech/speech.hpp"

namespace vox::call {

class CallSession;

// What the control plane knows about a call before and while its media stream runs:
// who owns it, which agent and voice it gets, and text waiting to be spoken.
struct CallRecord {
  std::string call_sid;
  std::string tenant;
  std::string agent_id;
  std::string voice_id;  // "" = the engine's default
  speech::VoiceSettings voice_settings;
  std::string direction;  // inbound | outbound-api
  std::string status;     // registered | initiated | ringing | in-progress | completed | ...
  std::string from, to;
  std::string created_at;  // ISO-8601
  std::string metadata_json;
  std::vector<std::string> pending_texts;  // spoken once the stream starts
  std::chrono::steady_clock::time_point since{};
};

// Whether a call status is final (Twilio's: completed, busy, failed, no-answer,
// canceled; a session's end writes "completed").
bool ended_status(std::string_view status);

class Agent;

class CallRegistry {
 public:
  // Adds the call; returns false when the CallSid is already live or the limit is reached.
  bool add(const std::string& call_sid, std::weak_ptr<CallSession> session);
  void remove(const std::string& call_sid, const CallSession* session);
  std::shared_ptr<CallSession> find(const std::string& call_sid) const;
  std::vector<std::shared_ptr<CallSession>> all() const;
  std::size_t size() const;
  void set_limit(std::size_t limit) { limit_ = limit; }
  // Called (outside the lock, on the thread that removed it) once a live call leaves the
  // registry; set before calls start (the cluster unregisters the call).
  void set_on_removed(std::function<void(const std::string& call_sid)> fn) { on_removed_ = std::move(fn); }
  // Whether as many calls as the limit allows are live (a new one would be refused).
  bool at_limit() const { return size() >= limit_; }

  // A call's agent waiting for the call's next media stream (after a redirect that
  // plays digits, Twilio opens a new stream for the same CallSid). Entries older than
  // `kParkedFor` are dropped.
  static constexpr std::chrono::seconds kParkedFor{60};
  void park(const std::string& call_sid, std::unique_ptr<call::Agent> agent);
  std::unique_ptr<call::Agent> unpark(const std::string& call_sid);

  // Control-plane records. Registering a sid again by the same tenant updates it (queued
  // texts kept); it is refused (`other_tenant`) when another tenant holds the sid, and
  // (`full`) when `record_limit` records are held even after dropping stale ones (not
  // live and older than `kRecordTtl`).
  static constexpr std::chrono::minutes kRecordTtl{30};
  enum class Registered { created, updated, other_tenant, full };
  Registered register_call(CallRecord record);
  std::optional<CallRecord> record(const std::string& call_sid) const;
  // Applies `change` to the record if there is one; returns whether there was.
  template <typename F>
  bool update_record(const std::string& call_sid, F&& change) {
    std::lock_guard lock(mu_);
    auto it = records_.find(call_sid);
    if (it == records_.end()) return false;
    change(it->second);
    return true;
  }
  // The calls of `tenant` that count against its concurrent-call limit on this instance:
  // live ones, and registered or placed ones not live yet (ringing) for `ringing_for`
  // after they were registered, unless their status says they have ended.
  std::size_t calls_of(const std::string& tenant, std::chrono::steady_clock::duration ringing_for) const;
  // Returns and clears the record's queued texts.
  std::vector<std::string> take_pending_texts(const std::string& call_sid);
  void forget_record(const std::string& call_sid);
  void set_record_limit(std::size_t limit) { record_limit_ = limit; }

  CallRegistry();
  ~CallRegistry();

 private:
  struct Parked {
    std::unique_ptr<call::Agent> agent;
    std::chrono::steady_clock::time_point since;
  };
  void expire_parked();  // with mu_ held
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<CallSession>> calls_;
  std::unordered_map<std::string, Parked> parked_;
  std::unordered_map<std::string, CallRecord> records_;
  std::size_t record_limit_ = 20000;
  std::function<void(const std::string&)> on_removed_;
  std::size_t limit_ = 100000;
};

}  // namespace vox::call
