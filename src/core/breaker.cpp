#include "core/breaker.hpp"

namespace vox {

Breaker::Breaker(Settings settings, std::function<void(bool, const std::string&)> on_change, const Clock& clock)
    : settings_(settings), on_change_(std::move(on_change)), clock_(clock) {}

bool Breaker::allow() {
  std::lock_guard lock(mu_);
  if (!open_) return true;
  const auto now = clock_.now();
  if (now < probe_at_) return false;
  probe_at_ = now + settings_.open_for;  // one probe per period
  return true;
}

void Breaker::succeeded() {
  bool was_open = false;
  {
    std::lock_guard lock(mu_);
    was_open = open_;
    open_ = false;
    why_.clear();
  }
  if (was_open && on_change_) on_change_(false, {});
}

void Breaker::failed(const std::string& why) {
  if (settings_.open_for.count() <= 0) return;
  bool was_open = false;
  {
    std::lock_guard lock(mu_);
    was_open = open_;
    open_ = true;
    why_ = why;
    probe_at_ = clock_.now() + settings_.open_for;
  }
  if (!was_open && on_change_) on_change_(true, why);
}

bool Breaker::is_open() const {
  std::lock_guard lock(mu_);
  return open_;
}

std::string Breaker::reason() const {
  std::lock_guard lock(mu_);
  return why_;
}

}  // namespace vox
