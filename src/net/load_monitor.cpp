#include "net/load_monitor.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <string>

#include "core/metrics.hpp"

namespace vox::net {
namespace asio = boost::asio;
using std::chrono::steady_clock;

std::int64_t LagWindow::second_of(time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void LagWindow::sample(time_point now, std::chrono::microseconds lag, std::chrono::milliseconds shed_lag) {
  // Only the loop's own thread writes; relaxed stores are enough for readers that want a
  // recent value, not a consistent snapshot.
  const std::int64_t us = std::max<std::int64_t>(0, lag.count());
  const std::int64_t sec = second_of(now);
  const std::int64_t current_sec = second_.load(std::memory_order_relaxed);
  if (sec != current_sec) {
    previous_us_.store(sec == current_sec + 1 ? current_us_.load(std::memory_order_relaxed) : 0,
                       std::memory_order_relaxed);
    current_us_.store(us, std::memory_order_relaxed);
    second_.store(sec, std::memory_order_relaxed);
  } else if (us > current_us_.load(std::memory_order_relaxed)) {
    current_us_.store(us, std::memory_order_relaxed);
  }
  if (us > max_us_.load(std::memory_order_relaxed)) max_us_.store(us, std::memory_order_relaxed);
  if (shed_lag.count() > 0 && lag > shed_lag)
    last_over_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  last_sample_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

bool LagWindow::over(time_point now, std::chrono::milliseconds hold, std::chrono::milliseconds stuck) const {
  const auto last = steady_clock::duration(last_over_ns_.load(std::memory_order_relaxed));
  if (now.time_since_epoch() - last < hold) return true;
  const auto sampled = last_sample_ns_.load(std::memory_order_relaxed);
  return sampled != 0 && now.time_since_epoch() - steady_clock::duration(sampled) > stuck;
}

std::chrono::microseconds LagWindow::recent_peak(time_point now, std::chrono::milliseconds interval) const {
  const std::int64_t sampled = last_sample_ns_.load(std::memory_order_relaxed);
  if (sampled == 0) return std::chrono::microseconds(0);
  const std::int64_t sec = second_of(now);
  const std::int64_t s = second_.load(std::memory_order_relaxed);
  std::int64_t peak = 0;
  if (s == sec) peak = std::max(current_us_.load(std::memory_order_relaxed), previous_us_.load(std::memory_order_relaxed));
  else if (s == sec - 1) peak = current_us_.load(std::memory_order_relaxed);
  // A probe that has not sampled for longer than its interval waits behind work.
  const auto silent = std::chrono::duration_cast<std::chrono::microseconds>(
      now.time_since_epoch() - steady_clock::duration(sampled) - interval);
  return std::chrono::microseconds(std::max<std::int64_t>(peak, silent.count()));
}

// One loop's probe: a timer re-armed after each wake-up, living on that loop only.
struct LoadMonitor::Probe : std::enable_shared_from_this<Probe> {
  Probe(asio::io_context& ioc, const LoadSettings& s) : timer(ioc), settings(s) {}
  asio::steady_timer timer;
  const LoadSettings settings;  // a copy: a cancelled wait may complete after the monitor is gone
  LagWindow window;
  steady_clock::time_point due{};
  std::atomic<bool> stopped{false};

  void arm() {
    if (stopped.load(std::memory_order_relaxed)) return;
    due = steady_clock::now() + settings.probe_interval;
    timer.expires_at(due);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped.load(std::memory_order_relaxed)) return;
      const auto now = steady_clock::now();
      self->window.sample(now, std::chrono::duration_cast<std::chrono::microseconds>(now - self->due),
                          self->settings.shed_lag);
      self->arm();
    });
  }
};

LoadMonitor::LoadMonitor(std::vector<asio::io_context*> loops, LoadSettings settings, metrics::Registry* metrics)
    : settings_(settings) {
  for (auto* ioc : loops) probes_.push_back(std::make_shared<Probe>(*ioc, settings_));
  if (!metrics) return;
  for (std::size_t i = 0; i < kShedKindNames.size(); ++i)
    shed_counters_[i] = &metrics->counter("voxbridge_shed_total",
                                          "New work refused because the server was overloaded or at its call limit "
                                          "(webhook: 503 to Twilio, media: 1013, control/generate/client_socket: 503)",
                                          {{"kind", std::string(kShedKindNames[i])}});
  metrics->callback("voxbridge_event_loop_lag_seconds",
                    "How late the network threads' event loops wake up: the largest over the last 1-2 s",
                    [this] { return std::chrono::duration<double>(lag()).count(); });
  metrics->callback("voxbridge_event_loop_lag_max_seconds", "The largest event-loop lag since start",
                    [this] { return std::chrono::duration<double>(max_lag()).count(); });
  metrics->callback("voxbridge_overloaded", "1 while new work is refused because the event loops lag",
                    [this] { return overloaded() ? 1.0 : 0.0; });
}

LoadMonitor::~LoadMonitor() { stop(); }

void LoadMonitor::start() {
  if (started_.exchange(true)) return;
  for (auto& p : probes_) asio::post(p->timer.get_executor(), [p] { p->arm(); });
}

void LoadMonitor::stop() {
  for (auto& p : probes_) {
    if (p->stopped.exchange(true)) continue;
    if (started_) asio::post(p->timer.get_executor(), [p] { p->timer.cancel(); });
  }
}

bool LoadMonitor::overloaded() const {
  if (settings_.shed_lag.count() <= 0) return false;
  const auto now = steady_clock::now();
  for (const auto& p : probes_)
    if (!p->stopped.load(std::memory_order_relaxed) && p->window.over(now, settings_.hold, settings_.shed_lag + settings_.probe_interval)) return true;
  return false;
}

bool LoadMonitor::admit(ShedKind kind, bool at_capacity) {
  if (!at_capacity && !overloaded()) return true;
  const auto i = static_cast<std::size_t>(kind);
  shed_[i].fetch_add(1, std::memory_order_relaxed);
  if (shed_counters_[i]) shed_counters_[i]->inc();
  return false;
}

int LoadMonitor::retry_after_s() const {
  return std::max<int>(1, static_cast<int>((settings_.hold.count() + 999) / 1000));
}

std::chrono::microseconds LoadMonitor::lag() const {
  const auto now = steady_clock::now();
  std::chrono::microseconds peak{0};
  // Before the probes start (or after they stop) there is nothing to report.
  if (!started_ || probes_.empty() || probes_.front()->stopped) return peak;
  for (const auto& p : probes_) peak = std::max(peak, p->window.recent_peak(now, settings_.probe_interval));
  return peak;
}

std::chrono::microseconds LoadMonitor::max_lag() const {
  std::chrono::microseconds m{0};
  for (const auto& p : probes_) m = std::max(m, p->window.max());
  return m;
}

std::uint64_t LoadMonitor::shed(ShedKind kind) const {
  return shed_[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
}

}  // namespace vox::net
