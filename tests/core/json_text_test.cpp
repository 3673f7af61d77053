// JSON text as voxbridge writes it: plain decimals, never exponent form.
#include "core/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cmath>
#include <limits>

namespace vox {
namespace {
namespace json = boost::json;

TEST(JsonText, NumbersWithAFractionArePlainDecimals) {
  json::object o{{"stability", 0.7}, {"uptime_s", 4.004}, {"small", 0.00001}, {"neg", -0.5}, {"whole", 2.0}};
  EXPECT_EQ(json_text(o), R"({"stability":0.7,"uptime_s":4.004,"small":0.00001,"neg":-0.5,"whole":2.0})");
  EXPECT_EQ(json_text(json::value(1e21)), "1000000000000000000000.0");
  // Whole numbers stay floating-point ones when read back.
  EXPECT_TRUE(json::parse(json_text(json::value(2.0))).is_double());
}

TEST(JsonText, EveryDoubleReadsBackAsItself) {
  for (double d : {0.1, 1.0 / 3.0, 123456.789, 5e-7, 0.8, 2.5e-3, 9007199254740993.0}) {
    const auto text = json_text(json::value(d));
    EXPECT_EQ(text.find_first_of("eE"), std::string::npos) << text;
    EXPECT_EQ(json::parse(text).to_number<double>(), d) << text;
  }
}

TEST(JsonText, EverythingElseIsWrittenAsBoostWritesIt) {
  json::value v = json::parse(R"({"a":[1,-2,true,false,null,"q\"\n\u0001"],"b":{"c":18446744073709551615}})");
  EXPECT_EQ(json_text(v), json::serialize(v));
  EXPECT_EQ(json_text(v.as_object().at("a").as_array()), json::serialize(v.as_object().at("a")));
  EXPECT_EQ(json_text(std::string_view("tab\there")), R"("tab\there")");
}

TEST(JsonText, NumbersJsonCannotHoldAreNull) {
  json::array a{std::nan(""), std::numeric_limits<double>::infinity()};
  EXPECT_EQ(json_text(a), "[null,null]");
}

}  // namespace
}  // namespace vox
