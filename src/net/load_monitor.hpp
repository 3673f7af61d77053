#pragma once
// Overload control. A probe on every network thread's event loop asks to be woken every
// `probe_interval` and measures how late it is woken: that lag is what every call's next
// frame waits behind. While any loop's lag has exceeded `shed_lag` within the last
// `hold`, or the calls are at their limit, new work is refused cheaply instead of being
// queued behind the live calls (webhooks 503 so Twilio uses the number's fallback URL,
// media sockets 1013, control and /generate work 503 with Retry-After); live calls go on.
// The lag, the state and the refusals are on /metrics and /health.
#include <boost/asio/io_context.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace vox::metrics {
class Registry;
class Counter;
}  // namespace vox::metrics

namespace vox::net {

struct LoadSettings {
  std::chrono::milliseconds probe_interval{50};
  // Shed new work while a loop was this late within `hold` (0: never shed on lag).
  std::chrono::milliseconds shed_lag{150};
  std::chrono::milliseconds hold{2000};
};

// What was refused, for the counters.
enum class ShedKind : std::uint8_t { webhook, media, control, generate, client_socket };
inline constexpr std::array<std::string_view, 5> kShedKindNames = {"webhook", "media", "control", "generate",
                                                                    "client_socket"};

// The lag rule on its own, fed with samples and times (the tests drive it with made-up
// times). One per loop; written by that loop's thread, read from any thread.
class LagWindow {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  // Records a probe woken `lag` late at `now`.
  void sample(time_point now, std::chrono::microseconds lag, std::chrono::milliseconds shed_lag);
  // Whether a sample over the threshold came within `hold` of `now`, or the loop has not
  // sampled for `stuck` (its probe waits behind work: that is lag too).
  bool over(time_point now, std::chrono::milliseconds hold, std::chrono::milliseconds stuck) const;
  // The largest lag of the last full second and the current one, or how long the loop has
  // gone without sampling beyond `interval` if that is more (what /metrics shows).
  std::chrono::microseconds recent_peak(time_point now, std::chrono::milliseconds interval) const;
  // The largest lag since start.
  std::chrono::microseconds max() const { return std::chrono::microseconds(max_us_.load(std::memory_order_relaxed)); }

 private:
  static std::int64_t second_of(time_point t);
  std::atomic<std::int64_t> last_over_ns_{INT64_MIN / 2};
  std::atomic<std::int64_t> last_sample_ns_{0};  // 0: none yet
  std::atomic<std::int64_t> second_{0};        // the second `current_us_` belongs to
  std::atomic<std::int64_t> current_us_{0};    // peak within that second
  std::atomic<std::int64_t> previous_us_{0};   // peak within the second before it
  std::atomic<std::int64_t> max_us_{0};
};

class LoadMonitor {
 public:
  LoadMonitor(std::vector<boost::asio::io_context*> loops, LoadSettings settings, metrics::Registry* metrics);
  ~LoadMonitor();
  LoadMonitor(const LoadMonitor&) = delete;
  LoadMonitor& operator=(const LoadMonitor&) = delete;

  // Starts a probe on every loop. Call once, before or while the loops run.
  void start();
  // Ends the probes (each on its own loop); the loops can then run out of work. Idempotent.
  void stop();

  // Whether new work is refused now: a loop lagged over the threshold within `hold`.
  bool overloaded() const;
  // Admission of one unit of new work: true when it may go ahead; otherwise counts it as
  // shed (`kind`) and returns false. `at_capacity` refuses it whatever the lag (a limit
  // such as --max-calls was reached).
  bool admit(ShedKind kind, bool at_capacity = false);
  // Seconds a refused client should wait before retrying (Retry-After).
  int retry_after_s() const;

  std::chrono::microseconds lag() const;      // largest recent peak over the loops
  std::chrono::microseconds max_lag() const;  // largest since start
  std::uint64_t shed(ShedKind kind) const;
  const LoadSettings& settings() const { return settings_; }

  struct Probe;

 private:
  LoadSettings settings_;
  std::vector<std::shared_ptr<Probe>> probes_;
  std::array<std::atomic<std::uint64_t>, kShedKindNames.size()> shed_{};
  std::array<metrics::Counter*, kShedKindNames.size()> shed_counters_{};
  std::atomic<bool> started_{false};
};

}  // namespace vox::net
