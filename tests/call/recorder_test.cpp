// The recorder's placement: on the media timeline, checked before any arithmetic, never
// further than the call's age allows.
#include "call/recorder.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace vox::call {
namespace {

std::vector<std::uint8_t> frame() { return std::vector<std::uint8_t>(160, 0x12); }

TEST(Recorder, PlacesBothSidesOnTheMediaTimelineWithSilenceBetween) {
  Recorder r;
  r.caller(0, frame(), 20);
  r.caller(100, frame(), 120);  // 80 ms gap: padded with silence
  r.agent(frame(), 40, 140);    // our audio starts at the caller's media time
  r.agent(frame(), 40, 140);    // and the next follows it back to back
  EXPECT_EQ(r.caller_bytes(), 120u * 8);
  EXPECT_EQ(r.agent_bytes(), 80u * 8);
  const auto pcm = r.take_stereo();
  EXPECT_EQ(pcm.size(), 2u * 120 * 8);
  EXPECT_EQ(r.caller_bytes(), 0u);
}

TEST(Recorder, ForgedTimesNeitherWrapNorSwell) {
  Recorder r;
  for (const std::int64_t at : {std::numeric_limits<std::int64_t>::max(), std::int64_t{2305843009213693951},
                                std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(), std::int64_t{3600000}})
    r.caller(at, frame(), 1000);
  EXPECT_EQ(r.caller_bytes(), 0u) << "nothing placed outside 0..age+2 s";
  r.caller(2900, frame(), 1000);  // within the jitter allowance
  EXPECT_EQ(r.caller_bytes(), 2920u * 8);
  r.agent(frame(), std::numeric_limits<std::int64_t>::max(), 1000);
  EXPECT_EQ(r.agent_bytes(), 0u);
}

}  // namespace
}  // namespace vox::call
