// Log records are one line each, whatever a stranger puts in them, and never carry a
// registered secret.
#include <gtest/gtest.h>

#include "core/log.hpp"

namespace vox {
namespace {

TEST(LogSafe, ControlCharactersAreEscaped) {
  EXPECT_EQ(log_safe("plain text, with unicode: caf\xc3\xa9"), "plain text, with unicode: caf\xc3\xa9");
  EXPECT_EQ(log_safe("1\n critical FORGED LINE"), "1\\n critical FORGED LINE");
  EXPECT_EQ(log_safe("a\rb\tc"), "a\\rb\\tc");
  EXPECT_EQ(log_safe(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(log_safe("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
}

TEST(LogSafe, RegisteredSecretsAreHidden) {
  redact_in_logs("sk-very-secret-123");
  redact_in_logs("tiny");  // too short to search for: ignored
  EXPECT_EQ(log_safe("path=/x/sk-very-secret-123/y key=sk-very-secret-123"), "path=/x/***/y key=***");
  EXPECT_EQ(log_safe("tiny stays"), "tiny stays");
  // A secret split by an escaped character is not a secret any more; one next to it still hides.
  EXPECT_EQ(log_safe("sk-very-secret-123\nnext"), "***\\nnext");
}

}  // namespace
}  // namespace vox
