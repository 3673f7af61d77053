#include "sim/multipart.hpp"

#include <gtest/gtest.h>

namespace vox::sim {
namespace {

TEST(Multipart, ReadsFieldsAndTheFile) {
  const std::string body =
      "--b1\r\nContent-Disposition: form-data; name=\"model_id\"\r\n\r\nscribe_v1\r\n"
      "--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nAB\r\nCD\r\n"
      "--b1--\r\n";
  const auto f = parse_multipart("multipart/form-data; boundary=b1", body);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fields.at("model_id"), "scribe_v1");
  ASSERT_TRUE(f->file);
  EXPECT_EQ(*f->file, "AB\r\nCD");
}

TEST(Multipart, QuotedBoundaryAndParametersAfterIt) {
  const std::string body = "--x y\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x y--";
  const auto f = parse_multipart("multipart/form-data; boundary=\"x y\"; charset=utf-8", body);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fields.at("a"), "1");
}

TEST(Multipart, RefusesOtherTypesAndBadBoundaries) {
  EXPECT_FALSE(parse_multipart("application/json", "{}"));
  EXPECT_FALSE(parse_multipart("multipart/form-data", "--x"));
  EXPECT_FALSE(parse_multipart("multipart/form-data; boundary=", "--"));
  EXPECT_FALSE(parse_multipart("multipart/form-data; boundary=\"", "--"));
  EXPECT_FALSE(parse_multipart("multipart/form-data; boundary=" + std::string(71, 'b'), ""));
}

TEST(Multipart, TruncatedPartsAndUnterminatedNamesAreSkipped) {
  const auto f = parse_multipart("multipart/form-data; boundary=b",
                                 "--b\r\nContent-Disposition: form-data; name=\"open\r\n\r\nv\r\n"
                                 "--b\r\nContent-Disposition: form-data; name=\"cut\"\r\n\r\nno end");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->fields.empty());
  EXPECT_FALSE(f->file);
}

}  // namespace
}  // namespace vox::sim
