#include "core/breaker.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vox {
namespace {
using namespace std::chrono_literals;

struct Changes {
  std::vector<std::string> seen;  // "open: why" / "closed"
  auto hook() {
    return [this](bool open, const std::string& why) { seen.push_back(open ? "open: " + why : "closed"); };
  }
};

TEST(Breaker, ClosedItLetsEverythingThrough) {
  ManualClock clock;
  Breaker b({10s}, {}, clock);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.allow());
  b.succeeded();
  EXPECT_FALSE(b.is_open());
}

TEST(Breaker, AFailureOpensItUntilAProbeSucceeds) {
  ManualClock clock;
  Changes changes;
  Breaker b({10s}, changes.hook(), clock);
  b.failed("timeout");
  EXPECT_TRUE(b.is_open());
  EXPECT_EQ(b.reason(), "timeout");
  EXPECT_FALSE(b.allow());
  clock.advance(9s);
  EXPECT_FALSE(b.allow());
  clock.advance(1s);
  EXPECT_TRUE(b.allow());   // the probe
  EXPECT_FALSE(b.allow());  // only one per period
  b.succeeded();
  EXPECT_FALSE(b.is_open());
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(changes.seen, (std::vector<std::string>{"open: timeout", "closed"}));
}

TEST(Breaker, AFailedProbeOpensItForAnotherPeriod) {
  ManualClock clock;
  Changes changes;
  Breaker b({10s}, changes.hook(), clock);
  b.failed("reset");
  clock.advance(10s);
  ASSERT_TRUE(b.allow());
  b.failed("reset again");
  EXPECT_EQ(b.reason(), "reset again");
  clock.advance(5s);
  EXPECT_FALSE(b.allow());
  clock.advance(5s);
  EXPECT_TRUE(b.allow());
  EXPECT_EQ(changes.seen, (std::vector<std::string>{"open: reset"}));  // it never closed in between
}

TEST(Breaker, AProbeThatNeverReportsIsFollowedByAnother) {
  ManualClock clock;
  Breaker b({10s}, {}, clock);
  b.failed("stall");
  clock.advance(10s);
  ASSERT_TRUE(b.allow());  // a call hung up before its probe reported
  EXPECT_FALSE(b.allow());
  clock.advance(10s);
  EXPECT_TRUE(b.allow());
}

TEST(Breaker, AZeroPeriodNeverOpens) {
  ManualClock clock;
  Breaker b({0ms}, {}, clock);
  b.failed("timeout");
  EXPECT_FALSE(b.is_open());
  EXPECT_TRUE(b.allow());
}

}  // namespace
}  // namespace vox
