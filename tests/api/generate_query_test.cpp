// Parsing of GET /generate's query: the original service's parameters, with clear 400s.
#include <gtest/gtest.h>

#include "api/control_codec.hpp"
#include "api/generate.hpp"

namespace vox::api {
namespace {

int status_of(std::string_view query) {
  try {
    parse_generate_query(query, 100);
  } catch (const ApiError& e) {
    return e.status;
  }
  return 200;
}

std::string detail_of(std::string_view query) {
  try {
    parse_generate_query(query, 100);
  } catch (const ApiError& e) {
    return e.what();
  }
  return "";
}

TEST(GenerateQuery, ParsesEveryParameter) {
  const auto q = parse_generate_query("client=sim&sid=CA123&first=false&timeout=2.5&input=hello%20there&talk_timeout=40", 100);
  EXPECT_EQ(q.client, "sim");
  EXPECT_EQ(q.sid, "CA123");
  EXPECT_FALSE(q.first);
  EXPECT_EQ(q.timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(q.input, "hello there");
  ASSERT_TRUE(q.talk_timeout);
  EXPECT_EQ(*q.talk_timeout, std::chrono::milliseconds(40000));
  const auto d = parse_generate_query("client=&sid=CA9&first=True", 100);
  EXPECT_TRUE(d.first);
  EXPECT_EQ(d.timeout, std::chrono::milliseconds(30000));
  EXPECT_TRUE(d.input.empty());
  EXPECT_FALSE(d.talk_timeout);
}

TEST(GenerateQuery, BoolsAsFastApiReadsThem) {
  for (const char* t : {"true", "TRUE", "1", "yes", "on"}) EXPECT_EQ(parse_bool(t), true) << t;
  for (const char* f : {"false", "0", "no", "Off"}) EXPECT_EQ(parse_bool(f), false) << f;
  for (const char* bad : {"", "2", "yep", "truee"}) EXPECT_FALSE(parse_bool(bad)) << bad;
}

TEST(GenerateQuery, BadParametersAre400sThatNameTheParameter) {
  EXPECT_EQ(status_of("sid=CA1"), 400);
  EXPECT_NE(detail_of("sid=CA1").find("client"), std::string::npos);
  EXPECT_EQ(status_of("client=x"), 400);
  EXPECT_NE(detail_of("client=x&sid=").find("sid"), std::string::npos);
  EXPECT_NE(detail_of("client=x&sid=CA1&first=maybe").find("first"), std::string::npos);
  for (const char* t : {"abc", "-1", "601", "nan", "inf", "1s", ""})
    EXPECT_NE(detail_of(std::string("client=x&sid=CA1&timeout=") + t).find("timeout"), std::string::npos) << t;
  EXPECT_NE(detail_of("client=x&sid=CA1&talk_timeout=-3").find("talk_timeout"), std::string::npos);
  EXPECT_NE(detail_of("client=x&sid=CA1&first=true&input=hi").find("first"), std::string::npos);
  EXPECT_NE(detail_of("client=x&sid=CA1&sid=CA2").find("twice"), std::string::npos);
  EXPECT_EQ(status_of("client=x&sid=" + std::string(65, 'C')), 400);
  EXPECT_EQ(status_of("client=x&sid=CA1&input=" + std::string(101, 'a')), 400);  // over max_input_chars
  EXPECT_EQ(status_of("client=x&sid=CA1&input=%FF%FE"), 400);                    // not UTF-8
  EXPECT_EQ(status_of("client=x&sid=CA1&timeout=600&talk_timeout=0"), 200);
}

}  // namespace
}  // namespace vox::api
