#include "call/registry.hpp"

#include <utility>

#include "call/agent.hpp"
#include "call/session.hpp"

namespace vox::call {

bool CallRegistry::add(const std::string& call_sid, std::weak_ptr<CallSession> session) {
  std::lock_guard lock(mu_);
  if (calls_.size() >= limit_) return false;
  auto [it, inserted] = calls_.try_emplace(call_sid, session);
  if (!inserted) {
    if (!it->second.expired()) return false;
    it->second = std::move(session);
  }
  return true;
}

void CallRegistry::remove(const std::string& call_sid, const CallSession* session) {
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(call_sid);
    if (it == calls_.end()) return;
    auto live = it->second.lock();
    if (live && live.get() != session) return;
    calls_.erase(it);
  }
  if (on_removed_) on_removed_(call_sid);
}

CallRegistry::CallRegistry() = default;
CallRegistry::~CallRegistry() = default;

void CallRegistry::expire_parked() {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(parked_, [&](const auto& kv) { return now - kv.second.since > kParkedFor; });
}

void CallRegistry::park(const std::string& call_sid, std::unique_ptr<call::Agent> agent) {
  std::lock_guard lock(mu_);
  expire_parked();
  parked_[call_sid] = Parked{std::move(agent), std::chrono::steady_clock::now()};
}

std::unique_ptr<call::Agent> CallRegistry::unpark(const std::string& call_sid) {
  std::lock_guard lock(mu_);
  expire_parked();
  auto it = parked_.find(call_sid);
  if (it == parked_.end()) return nullptr;
  auto agent = std::move(it->second.agent);
  parked_.erase(it);
  return agent;
}

std::shared_ptr<CallSession> CallRegistry::find(const std::string& call_sid) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(call_sid);
  return it == calls_.end() ? nullptr : it->second.lock();
}

std::vector<std::shared_ptr<CallSession>> CallRegistry::all() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<CallSession>> out;
  for (auto& [sid, weak] : calls_)
    if (auto s = weak.lock()) out.push_back(std::move(s));
  return out;
}

bool ended_status(std::string_view s) {
  return s == "completed" || s == "busy" || s == "failed" || s == "no-answer" || s == "canceled";
}

std::size_t CallRegistry::calls_of(const std::string& tenant, std::chrono::steady_clock::duration ringing_for) const {
  const auto now = std::chrono::steady_clock::now();
  std::size_t n = 0;
  // Released after the lock: a session whose last reference this is removes itself.
  std::vector<std::shared_ptr<CallSession>> held;
  {
    std::lock_guard lock(mu_);
    for (const auto& [sid, weak] : calls_)
      if (auto s = weak.lock()) {
        if (s->context().tenant == tenant) ++n;
        held.push_back(std::move(s));
      }
    for (const auto& [sid, rec] : records_) {
      if (rec.tenant != tenant || now - rec.since > ringing_for || ended_status(rec.status)) continue;
      auto live = calls_.find(sid);
      if (live == calls_.end() || live->second.expired()) ++n;
    }
  }
  return n;
}

CallRegistry::Registered CallRegistry::register_call(CallRecord record) {
  std::lock_guard lock(mu_);
  record.since = std::chrono::steady_clock::now();
  auto it = records_.find(record.call_sid);
  if (it != records_.end()) {
    if (it->second.tenant != record.tenant) return Registered::other_tenant;
    record.pending_texts = std::move(it->second.pending_texts);
    if (record.created_at.empty()) record.created_at = it->second.created_at;
    it->second = std::move(record);
    return Registered::updated;
  }
  if (records_.size() >= record_limit_) {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(records_, [&](const auto& kv) {
      auto live = calls_.find(kv.first);
      return (live == calls_.end() || live->second.expired()) && now - kv.second.since > kRecordTtl;
    });
    if (records_.size() >= record_limit_) return Registered::full;
  }
  records_.emplace(record.call_sid, std::move(record));
  return Registered::created;
}

std::optional<CallRecord> CallRegistry::record(const std::string& call_sid) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(call_sid);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> CallRegistry::take_pending_texts(const std::string& call_sid) {
  std::lock_guard lock(mu_);
  auto it = records_.find(call_sid);
  if (it == records_.end()) return {};
  return std::exchange(it->second.pending_texts, {});
}

void CallRegistry::forget_record(const std::string& call_sid) {
  std::lock_guard lock(mu_);
  records_.erase(call_sid);
}

std::size_t CallRegistry::size() const {
  std::lock_guard lock(mu_);
  return calls_.size();
}

}  // namespace vox::call
