// Overload control: the lag rule with made-up times, and the monitor on real loops.
#include "net/load_monitor.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <thread>

#include "core/metrics.hpp"

namespace vox::net {
namespace {
using namespace std::chrono_literals;
using std::chrono::steady_clock;

steady_clock::time_point at(std::chrono::milliseconds ms) { return steady_clock::time_point(1000s + ms); }

TEST(LagWindow, ShedsWithinTheHoldAfterALagOverTheThresholdOnly) {
  LagWindow w;
  w.sample(at(0ms), 2000us, 50ms);
  EXPECT_FALSE(w.over(at(10ms), 2000ms, 1000ms)) << "2 ms of lag is not overload";
  w.sample(at(50ms), 60000us, 50ms);
  EXPECT_TRUE(w.over(at(60ms), 2000ms, 1000ms));
  EXPECT_TRUE(w.over(at(2040ms), 2000ms, 10000ms)) << "still within the hold";
  w.sample(at(2045ms), 1000us, 50ms);
  EXPECT_FALSE(w.over(at(2060ms), 2000ms, 10000ms)) << "the hold has passed";
}

TEST(LagWindow, AThresholdOfZeroNeverSheds) {
  LagWindow w;
  w.sample(at(0ms), 5000000us, 0ms);
  EXPECT_FALSE(w.over(at(1ms), 2000ms, 100000ms));
  EXPECT_EQ(w.max(), 5000000us);
}

TEST(LagWindow, ALoopThatStopsSamplingCountsAsLagging) {
  LagWindow w;
  EXPECT_FALSE(w.over(at(5000ms), 100ms, 200ms)) << "no sample yet: not stuck";
  EXPECT_EQ(w.recent_peak(at(5000ms), 50ms), 0us);
  w.sample(at(0ms), 1000us, 100ms);
  EXPECT_FALSE(w.over(at(150ms), 100ms, 200ms));
  EXPECT_TRUE(w.over(at(450ms), 100ms, 200ms)) << "450 ms without a sample, stuck limit 200 ms";
  EXPECT_EQ(w.recent_peak(at(450ms), 50ms), 400000us);
}

TEST(LagWindow, RecentPeakCoversTheLastFullSecondAndForgetsOlderOnes) {
  LagWindow w;
  w.sample(at(100ms), 30000us, 1000ms);
  w.sample(at(500ms), 5000us, 1000ms);
  EXPECT_EQ(w.recent_peak(at(600ms), 1000ms), 30000us);
  w.sample(at(1100ms), 4000us, 1000ms);  // next second: the previous one's peak still shows
  EXPECT_EQ(w.recent_peak(at(1200ms), 1000ms), 30000us);
  w.sample(at(2100ms), 3000us, 1000ms);  // two seconds on: the 30 ms is forgotten
  EXPECT_EQ(w.recent_peak(at(2200ms), 1000ms), 4000us);
  w.sample(at(5100ms), 1000us, 1000ms);  // a gap of seconds: nothing carried over
  EXPECT_EQ(w.recent_peak(at(5200ms), 1000ms), 1000us);
  EXPECT_EQ(w.max(), 30000us);
}

TEST(LoadMonitor, AdmitCountsWhatItRefusesByKind) {
  boost::asio::io_context ioc;
  metrics::Registry m;
  LoadSettings s;
  LoadMonitor mon({&ioc}, s, &m);
  EXPECT_TRUE(mon.admit(ShedKind::webhook));
  EXPECT_FALSE(mon.admit(ShedKind::webhook, true)) << "at capacity";
  EXPECT_FALSE(mon.admit(ShedKind::media, true));
  EXPECT_EQ(mon.shed(ShedKind::webhook), 1u);
  EXPECT_EQ(mon.shed(ShedKind::media), 1u);
  EXPECT_EQ(mon.shed(ShedKind::control), 0u);
  const auto text = m.exposition();
  EXPECT_NE(text.find("voxbridge_shed_total{kind=\"webhook\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("voxbridge_shed_total{kind=\"generate\"} 0"), std::string::npos) << text;
  EXPECT_EQ(mon.retry_after_s(), 2);
}

// A real loop blocked by a handler for longer than the threshold: the probe wakes up late,
// new work is refused for the hold, and then admitted again.
TEST(LoadMonitor, ABlockedLoopShedsNewWorkUntilTheHoldPasses) {
  boost::asio::io_context ioc;
  LoadSettings s;
  s.probe_interval = 10ms;
  s.shed_lag = 40ms;
  s.hold = 300ms;
  LoadMonitor mon({&ioc}, s, nullptr);
  mon.start();
  std::thread loop([&] {
    auto guard = boost::asio::make_work_guard(ioc);
    ioc.run();
  });
  const auto deadline = steady_clock::now() + 10s;
  EXPECT_FALSE(mon.overloaded());
  // The blocking handler is the fault injected, not a wait for an event.
  boost::asio::post(ioc, [] { std::this_thread::sleep_for(120ms); });
  while (!mon.overloaded() && steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(mon.overloaded()) << "a 120 ms stall never showed as overload";
  EXPECT_GE(mon.max_lag(), 60ms);
  EXPECT_FALSE(mon.admit(ShedKind::generate));
  EXPECT_EQ(mon.shed(ShedKind::generate), 1u);
  while (mon.overloaded() && steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(mon.overloaded()) << "still shedding long after the hold";
  EXPECT_TRUE(mon.admit(ShedKind::generate));
  mon.stop();
  ioc.stop();
  loop.join();
}

}  // namespace
}  // namespace vox::net
