#pragma once
// Process metrics in the Prometheus text exposition format (GET /metrics). Metrics are
// registered once (at start, or the first time a label value is seen) and then updated
// without locks: counters and histogram buckets are relaxed atomics, so recording on a
// call's path costs an atomic add. Gauges are read by callbacks at scrape time.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace vox::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, increasing (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds for latencies from 1 ms to 10 s.
std::vector<double> latency_buckets();

class Registry {
 public:
  // Returns the counter `name{labels}`, creating it (and its family, with `help`) on first use.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                       const Labels& labels = {});
  // A value read at scrape time (`kind` "gauge" or "counter").
  void callback(const std::string& name, const std::string& help, std::function<double()> read,
                const std::string& kind = "gauge");
  // The whole exposition (text/plain; version=0.0.4).
  std::string exposition() const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<Counter>> counters;      // by rendered labels
    std::map<std::string, std::unique_ptr<Histogram>> histograms;  // by rendered labels
    std::function<double()> read;
  };
  Family& family(const std::string& name, const std::string& help, const std::string& type);
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Renders labels as {a="x",b="y"} with values escaped ("" for none).
std::string render_labels(const Labels& labels);
// Formats a sample value as Prometheus expects (+Inf, -Inf, NaN, shortest round-trip).
std::string format_value(double v);

}  // namespace vox::metrics
