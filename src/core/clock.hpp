#pragma once
// Injectable time source. Production code takes a `Clock&`; tests pass a ManualClock
// and advance it instead of sleeping.
#include <atomic>
#include <chrono>

namespace vox {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  // Returns the current monotonic time.
  virtual time_point now() const = 0;
};

// The process's monotonic clock.
class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  static SteadyClock& instance() {
    static SteadyClock clock;
    return clock;
  }
};

// A clock that only moves when told to. Safe to read from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point{}) : now_(start.time_since_epoch().count()) {}
  time_point now() const override { return time_point(duration(now_.load())); }
  void advance(duration d) { now_ += d.count(); }

 private:
  std::atomic<duration::rep> now_;
};

// Milliseconds between two time points, as a double.
inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace vox
