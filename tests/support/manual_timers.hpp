#pragma once
// Timers on a ManualClock for tests: nothing fires until the test advances the clock,
// then every timer that has come due runs on its strand (the test polls the io_context).
// No sleeping, so timeouts of seconds are tested in microseconds and never flake.
#include <boost/asio/post.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include "call/timer.hpp"
#include "core/clock.hpp"

namespace vox::test {

class ManualTimers final : public call::Timers {
 public:
  explicit ManualTimers(ManualClock& clock) : clock_(clock) {}

  std::unique_ptr<call::Timer> make(boost::asio::any_io_executor strand) override {
    auto slot = std::make_shared<Slot>();
    slot->strand = std::move(strand);
    slots_.push_back(slot);
    return std::make_unique<Handle>(slot);
  }

  // Moves the clock on by `d`; each timer due by then is posted to its strand.
  void advance(Clock::duration d) {
    clock_.advance(d);
    const auto now = clock_.now();
    for (auto& weak : slots_) {
      auto slot = weak.lock();
      if (!slot || !slot->fn || slot->at > now) continue;
      auto fn = std::move(slot->fn);
      slot->fn = nullptr;
      boost::asio::post(slot->strand, std::move(fn));
    }
    std::erase_if(slots_, [](const auto& w) { return w.expired(); });
  }
  // The earliest deadline set, if any (to advance exactly to it).
  std::optional<Clock::time_point> next() const {
    std::optional<Clock::time_point> out;
    for (const auto& weak : slots_)
      if (auto slot = weak.lock(); slot && slot->fn && (!out || slot->at < *out)) out = slot->at;
    return out;
  }

 private:
  struct Slot {
    boost::asio::any_io_executor strand;
    Clock::time_point at{};
    std::function<void()> fn;
  };
  struct Handle final : call::Timer {
    explicit Handle(std::shared_ptr<Slot> s) : slot(std::move(s)) {}
    void expire_at(Clock::time_point at, std::function<void()> fn) override {
      slot->at = at;
      slot->fn = std::move(fn);
    }
    void cancel() override { slot->fn = nullptr; }
    std::shared_ptr<Slot> slot;
  };
  ManualClock& clock_;
  std::vector<std::weak_ptr<Slot>> slots_;
};

}  // namespace vox::test
