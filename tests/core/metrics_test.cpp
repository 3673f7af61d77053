// The Prometheus exposition: names, HELP/TYPE lines, labels, cumulative histograms.
#include <gtest/gtest.h>

#include <thread>

#include "core/metrics.hpp"

namespace vox::metrics {
namespace {

TEST(Metrics, CountersAndGaugesAreExposedWithHelpAndType) {
  Registry r;
  auto& c = r.counter("x_requests_total", "Requests\nseen \\ here");
  c.inc();
  c.inc(4);
  double gauge = 2.5;
  r.callback("x_queue_depth", "Queued items", [&gauge] { return gauge; });
  const auto text = r.exposition();
  EXPECT_NE(text.find("# HELP x_requests_total Requests\\nseen \\\\ here\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE x_requests_total counter\nx_requests_total 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE x_queue_depth gauge\nx_queue_depth 2.5\n"), std::string::npos) << text;
  gauge = 7;
  EXPECT_NE(r.exposition().find("x_queue_depth 7\n"), std::string::npos);
}

TEST(Metrics, LabelledCountersShareOneFamilyAndEscapeValues) {
  Registry r;
  r.counter("x_ended_total", "Ended", {{"reason", "hung_up"}}).inc();
  r.counter("x_ended_total", "Ended", {{"reason", "a\"b\\c\nd"}}).inc(2);
  EXPECT_EQ(&r.counter("x_ended_total", "Ended", {{"reason", "hung_up"}}),
            &r.counter("x_ended_total", "Ended", {{"reason", "hung_up"}}));
  const auto text = r.exposition();
  EXPECT_EQ(text.find("# TYPE x_ended_total counter"), text.rfind("# TYPE x_ended_total counter"));
  EXPECT_NE(text.find("x_ended_total{reason=\"hung_up\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_ended_total{reason=\"a\\\"b\\\\c\\nd\"} 2\n"), std::string::npos) << text;
  EXPECT_THROW(r.histogram("x_ended_total", "Ended", {1.0}), std::logic_error);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("x_latency_seconds", "Latency", {0.01, 0.1, 1});
  for (const double v : {0.005, 0.01, 0.05, 0.5, 3.0}) h.observe(v);
  const auto text = r.exposition();
  EXPECT_NE(text.find("# TYPE x_latency_seconds histogram\n"
                      "x_latency_seconds_bucket{le=\"0.01\"} 2\n"
                      "x_latency_seconds_bucket{le=\"0.1\"} 3\n"
                      "x_latency_seconds_bucket{le=\"1\"} 4\n"
                      "x_latency_seconds_bucket{le=\"+Inf\"} 5\n"
                      "x_latency_seconds_sum 3.565\n"
                      "x_latency_seconds_count 5\n"),
            std::string::npos)
      << text;
  auto& labelled = r.histogram("x_stage_seconds", "Stage", {1}, {{"stage", "stt"}});
  labelled.observe(2);
  EXPECT_NE(r.exposition().find("x_stage_seconds_bucket{stage=\"stt\",le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_THROW(Histogram({1, 1}), std::invalid_argument);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& c = r.counter("x_total", "n");
  auto& h = r.histogram("x_seconds", "h", latency_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.002);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_NEAR(s.sum, 80.0, 1e-6);
}

TEST(Metrics, ValuesAreFormattedTheWayPrometheusReadsThem) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
  EXPECT_EQ(render_labels({}), "");
  EXPECT_EQ(render_labels({{"a", "x"}, {"b", "y"}}), "{a=\"x\",b=\"y\"}");
}

}  // namespace
}  // namespace vox::metrics
