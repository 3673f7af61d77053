#include "core/dotenv.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace vox {
namespace {

using Vars = std::map<std::string, std::string>;

// A .env file in the temp directory, removed at the end of the test.
class DotenvFile {
 public:
  explicit DotenvFile(const std::string& contents) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("voxbridge_" + std::string(info->name()) + "_" + std::to_string(::getpid()) + ".env");
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~DotenvFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST(Dotenv, ReadsKeyValueLines) {
  DotenvFile f("A=1\nB=two\nURL=https://x.example.com/a?b=c=d\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"A", "1"}, {"B", "two"}, {"URL", "https://x.example.com/a?b=c=d"}}));
}

TEST(Dotenv, SkipsCommentsAndBlankLines) {
  DotenvFile f("# a comment\n\n   \n  # indented comment\nA=1\n\t\nB=2\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"A", "1"}, {"B", "2"}}));
}

TEST(Dotenv, AcceptsExportPrefix) {
  DotenvFile f("export X=1\nexport   Y = 2\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"X", "1"}, {"Y", "2"}}));
}

TEST(Dotenv, TrimsAroundKeyAndValue) {
  DotenvFile f("  KEY  =  spaced value  \r\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"KEY", "spaced value"}}));
}

TEST(Dotenv, QuotedValuesKeepSpacesAndHashes) {
  DotenvFile f(
      "D=\"hello world\"\n"
      "S='single # quoted'\n"
      "H=\"a # not a comment\"\n"
      "E=\"\"\n"
      "P=\"  padded  \"\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"D", "hello world"},
                                         {"S", "single # quoted"},
                                         {"H", "a # not a comment"},
                                         {"E", ""},
                                         {"P", "  padded  "}}));
}

TEST(Dotenv, InlineCommentAfterUnquotedValueIsRemoved) {
  DotenvFile f("PORT=8001 # the port\nNAME=two words   # comment # more\nHASH=abc#def\n");
  const Vars v = read_dotenv(f.path());
  EXPECT_EQ(v.at("PORT"), "8001");
  EXPECT_EQ(v.at("NAME"), "two words");
  EXPECT_EQ(v.at("HASH"), "abc#def");  // no space before '#': part of the value
  EXPECT_EQ(v.size(), 3u);
}

TEST(Dotenv, InlineCommentAfterQuotedValueIsRemoved) {
  DotenvFile f("GREETING=\"Hello there\" # said first\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"GREETING", "Hello there"}}));
}

TEST(Dotenv, MismatchedQuotesAreKeptLiterally) {
  DotenvFile f("A=\"open\nB='mixed\"\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"A", "\"open"}, {"B", "'mixed\""}}));
}

TEST(Dotenv, SkipsLinesWithoutKeyOrEquals) {
  DotenvFile f("JUSTAWORD\n=novalue\nEMPTY=\nOK=1\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"EMPTY", ""}, {"OK", "1"}}));
}

TEST(Dotenv, LaterLinesWin) {
  DotenvFile f("A=1\nA=2\n");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"A", "2"}}));
}

TEST(Dotenv, LastLineWithoutNewline) {
  DotenvFile f("A=1\nB=2");
  EXPECT_EQ(read_dotenv(f.path()), (Vars{{"A", "1"}, {"B", "2"}}));
}

TEST(Dotenv, MissingFileIsEmpty) {
  EXPECT_TRUE(read_dotenv("/nonexistent/voxbridge/.env").empty());
}

TEST(Dotenv, ApplyDoesNotOverwriteExistingVariables) {
  const std::string existing = "VOXBRIDGE_TEST_EXISTING_" + std::to_string(::getpid());
  const std::string fresh = "VOXBRIDGE_TEST_FRESH_" + std::to_string(::getpid());
  ASSERT_EQ(::setenv(existing.c_str(), "from-environment", 1), 0);
  ASSERT_EQ(::unsetenv(fresh.c_str()), 0);

  apply_dotenv({{existing, "from-dotenv"}, {fresh, "from dotenv"}});

  const char* e = std::getenv(existing.c_str());
  const char* f = std::getenv(fresh.c_str());
  ASSERT_NE(e, nullptr);
  ASSERT_NE(f, nullptr);
  EXPECT_STREQ(e, "from-environment");
  EXPECT_STREQ(f, "from dotenv");

  ::unsetenv(existing.c_str());
  ::unsetenv(fresh.c_str());
}

TEST(Dotenv, ApplyKeepsAnExistingEmptyVariable) {
  const std::string name = "VOXBRIDGE_TEST_EMPTY_" + std::to_string(::getpid());
  ASSERT_EQ(::setenv(name.c_str(), "", 1), 0);
  apply_dotenv({{name, "filled"}});
  const char* v = std::getenv(name.c_str());
  ASSERT_NE(v, nullptr);
  EXPECT_STREQ(v, "");
  ::unsetenv(name.c_str());
}

}  // namespace
}  // namespace vox
