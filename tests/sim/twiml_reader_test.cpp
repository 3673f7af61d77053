#include <gtest/gtest.h>

#include "sim/caller.hpp"
#include "twilio/twiml.hpp"

namespace vox::sim {
namespace {

TEST(TwimlReader, ReadsWhatOurTwimlBuilderWrites) {
  twilio::StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.parameters = {{"from", "+1555"}, {"note", "a<b & \"c\" 'd'"}};
  std::string url;
  std::map<std::string, std::string> params;
  ASSERT_TRUE(parse_stream_twiml(twilio::connect_stream(s), url, params));
  EXPECT_EQ(url, "wss://gw.example.com/media");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params["from"], "+1555");
  EXPECT_EQ(params["note"], "a<b & \"c\" 'd'");
}

TEST(TwimlReader, AcceptsSingleQuotesAndOtherAttributeOrder) {
  std::string url;
  std::map<std::string, std::string> params;
  ASSERT_TRUE(parse_stream_twiml(
      "<Response><Connect><Stream name='x' url='ws://h/m'><Parameter value='v' name='k'/></Stream></Connect></Response>",
      url, params));
  EXPECT_EQ(url, "ws://h/m");
  EXPECT_EQ(params.at("k"), "v");
}

TEST(TwimlReader, RejectsTwimlWithoutAStream) {
  std::string url;
  std::map<std::string, std::string> params;
  EXPECT_FALSE(parse_stream_twiml("<Response><Say>hi</Say></Response>", url, params));
  EXPECT_FALSE(parse_stream_twiml("<Response><Connect><StreamX url=\"u\"/></Connect></Response>", url, params));
}

TEST(Percentile, UsesNearestRank) {
  EXPECT_EQ(percentile({}, 50), -1);
  EXPECT_EQ(percentile({5}, 99), 5);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50), 5);
  EXPECT_EQ(percentile({10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, 90), 9);
  EXPECT_EQ(percentile({1, 2, 3}, 100), 3);
}

}  // namespace
}  // namespace vox::sim
