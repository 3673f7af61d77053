#pragma once
// The live calls of this process, by CallSid. Touched once per call event (start,
// end, lookup), never per frame.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace vox::call {

class CallSession;

class CallRegistry {
 public:
  // Adds the call; returns false when the CallSid is already live or the limit is reached.
  bool add(const std::string& call_sid, std::weak_ptr<CallSession> session);
  void remove(const std::string& call_sid, const CallSession* session);
  std::shared_ptr<CallSession> find(const std::string& call_sid) const;
  std::vector<std::shared_ptr<CallSession>> all() const;
  std::size_t size() const;
  void set_limit(std::size_t limit) { limit_ = limit; }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<CallSession>> calls_;
  std::size_t limit_ = 100000;
};

}  // namespace vox::call
