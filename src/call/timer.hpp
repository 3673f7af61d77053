#pragma once
// Timers on an injectable clock. A session asks its Timers for timers on its strand and
// sets them by the session's Clock; production runs them on Asio's steady timers, tests
// on a manual clock they advance (no sleeping, no flakiness).
#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>

#include "core/clock.hpp"

namespace vox::call {

class Timer {
 public:
  virtual ~Timer() = default;
  // Runs `fn` on the timer's strand at `at` (by the clock the timer was made with),
  // replacing whatever was set before; nothing runs for a cancelled or replaced setting.
  virtual void expire_at(Clock::time_point at, std::function<void()> fn) = 0;
  virtual void cancel() = 0;
};

class Timers {
 public:
  virtual ~Timers() = default;
  virtual std::unique_ptr<Timer> make(boost::asio::any_io_executor strand) = 0;
};

// Timers on Asio's steady clock, set by `clock` (the deadline's distance from clock.now()).
class AsioTimers final : public Timers {
 public:
  explicit AsioTimers(Clock& clock) : clock_(clock) {}
  std::unique_ptr<Timer> make(boost::asio::any_io_executor strand) override;

 private:
  Clock& clock_;
};

}  // namespace vox::call
