#pragma once
// The live calls of this process, by CallSid. Touched once per call event (start,
// end, lookup), never per frame.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace vox::call {

class CallSession;

}  // namespace vox::call
namespace vox::agent {
class Agent;
}
namespace vox::call {

class CallRegistry {
 public:
  // Adds the call; returns false when the CallSid is already live or the limit is reached.
  bool add(const std::string& call_sid, std::weak_ptr<CallSession> session);
  void remove(const std::string& call_sid, const CallSession* session);
  std::shared_ptr<CallSession> find(const std::string& call_sid) const;
  std::vector<std::shared_ptr<CallSession>> all() const;
  std::size_t size() const;
  void set_limit(std::size_t limit) { limit_ = limit; }

  // A call's agent waiting for the call's next media stream (after a redirect that
  // plays digits, Twilio opens a new stream for the same CallSid). Entries older than
  // `kParkedFor` are dropped.
  static constexpr std::chrono::seconds kParkedFor{60};
  void park(const std::string& call_sid, std::unique_ptr<agent::Agent> agent);
  std::unique_ptr<agent::Agent> unpark(const std::string& call_sid);

  CallRegistry();
  ~CallRegistry();

 private:
  struct Parked {
    std::unique_ptr<agent::Agent> agent;
    std::chrono::steady_clock::time_point since;
  };
  void expire_parked();  // with mu_ held
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<CallSession>> calls_;
  std::unordered_map<std::string, Parked> parked_;
  std::size_t limit_ = 100000;
};

}  // namespace vox::call
