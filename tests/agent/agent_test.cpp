// AgentFactory and the built-in agents: the script agent's lines, its [digits …] and
// [transfer …] directives and its hang-up after the last line; the echo agent; factory
// errors. Script files are written to the temp directory and removed afterwards.
#include "agent/agent.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace vox::agent {
namespace {
using call::Agent;
using call::CallContext;
using call::Turn;
using Reply = call::AgentReply;

// A script file with `contents`, removed on destruction.
class ScriptFile {
 public:
  explicit ScriptFile(const std::string& contents) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("vox_agent_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".txt");
    std::ofstream out(path_, std::ios::binary);
    out << contents;
  }
  ~ScriptFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  ScriptFile(const ScriptFile&) = delete;
  ScriptFile& operator=(const ScriptFile&) = delete;
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

AgentSettings script_settings(const ScriptFile& file) {
  AgentSettings s;
  s.default_agent = "script";
  s.script_file = file.path();
  return s;
}

// Runs one turn; the built-in agents reply synchronously, exactly once.
Reply take_turn(Agent& agent, int index, const std::string& transcript = "something") {
  Turn t;
  t.index = index;
  t.transcript = transcript;
  int calls = 0;
  std::optional<Reply> got;
  agent.on_turn(t, [&](Reply r) {
    ++calls;
    got = std::move(r);
  });
  EXPECT_EQ(calls, 1) << "turn " << index;
  return got.value_or(Reply{"<no reply>", false, "<no reply>", "<no reply>"});
}

TEST(ScriptAgent, DigitsDirectiveOnTheLastLineDoesNotHangUp) {
  ScriptFile file("Hello, how can I help?\nOne moment. [digits 12w34#]\n");
  AgentFactory factory(script_settings(file));
  auto agent = factory.create(CallContext{});
  ASSERT_NE(agent.get(), nullptr);

  const Reply first = take_turn(*agent, 1);
  EXPECT_EQ(first.text, "Hello, how can I help?");
  EXPECT_FALSE(first.hangup);
  EXPECT_EQ(first.digits, "");
  EXPECT_EQ(first.transfer_to, "");

  const Reply second = take_turn(*agent, 2);
  EXPECT_EQ(second.text, "One moment.");
  EXPECT_EQ(second.digits, "12w34#");
  EXPECT_EQ(second.transfer_to, "");
  EXPECT_FALSE(second.hangup);
}

TEST(ScriptAgent, TransferDirective) {
  ScriptFile file("Let me transfer you. [transfer +15550009999]\n");
  AgentFactory factory(script_settings(file));
  auto agent = factory.create(CallContext{});
  const Reply r = take_turn(*agent, 1);
  EXPECT_EQ(r.text, "Let me transfer you.");
  EXPECT_EQ(r.transfer_to, "+15550009999");
  EXPECT_EQ(r.digits, "");
  EXPECT_FALSE(r.hangup);
}

TEST(ScriptAgent, TransferToASipAddressInTheMiddleOfTheScript) {
  ScriptFile file("Connecting.  [transfer sip:desk@example.com]\nStill here.\n");
  AgentFactory factory(script_settings(file));
  auto agent = factory.create(CallContext{});
  const Reply r = take_turn(*agent, 1);
  EXPECT_EQ(r.text, "Connecting.");
  EXPECT_EQ(r.transfer_to, "sip:desk@example.com");
  EXPECT_FALSE(r.hangup);
  const Reply last = take_turn(*agent, 2);
  EXPECT_EQ(last.text, "Still here.");
  EXPECT_TRUE(last.hangup);
  EXPECT_EQ(last.transfer_to, "");
}

TEST(ScriptAgent, PlainLastLineHangsUpAndLaterTurnsAreSilentHangUps) {
  ScriptFile file("First.\nSecond.\nGoodbye.\n");
  AgentFactory factory(script_settings(file));
  auto agent = factory.create(CallContext{});
  const Reply r1 = take_turn(*agent, 1);
  EXPECT_EQ(r1.text, "First.");
  EXPECT_FALSE(r1.hangup);
  const Reply r2 = take_turn(*agent, 2);
  EXPECT_EQ(r2.text, "Second.");
  EXPECT_FALSE(r2.hangup);
  const Reply r3 = take_turn(*agent, 3);
  EXPECT_EQ(r3.text, "Goodbye.");
  EXPECT_TRUE(r3.hangup);
  EXPECT_EQ(r3.digits, "");
  EXPECT_EQ(r3.transfer_to, "");
  for (int i = 4; i <= 5; ++i) {
    const Reply after = take_turn(*agent, i);
    EXPECT_EQ(after.text, "") << "turn " << i;
    EXPECT_TRUE(after.hangup) << "turn " << i;
    EXPECT_EQ(after.digits, "") << "turn " << i;
    EXPECT_EQ(after.transfer_to, "") << "turn " << i;
  }
}

TEST(ScriptAgent, AfterADirectiveOnTheLastLineTheNextTurnHangsUp) {
  ScriptFile file("One moment. [digits 12w34#]");  // no trailing newline
  AgentFactory factory(script_settings(file));
  auto agent = factory.create(CallContext{});
  const Reply r = take_turn(*agent, 1);
  EXPECT_EQ(r.text, "One moment.");
  EXPECT_EQ(r.digits, "12w34#");
  EXPECT_FALSE(r.hangup);
  const Reply after = take_turn(*agent, 2);
  EXPECT_EQ(after.text, "");
  EXPECT_TRUE(after.hangup);
  EXPECT_EQ(after.digits, "");
}

TEST(ScriptAgent, SkipsCommentsAndBlankLinesAndStripsCarriageReturns) {
  ScriptFile file("# a comment\r\n\r\n   \r\nLine one.\r\n\t\n# another\nLine two.\r\n");
  AgentFactory factory(script_settings(file));
  auto agent = factory.create(CallContext{});
  const Reply r1 = take_turn(*agent, 1);
  EXPECT_EQ(r1.text, "Line one.");
  EXPECT_FALSE(r1.hangup);
  const Reply r2 = take_turn(*agent, 2);
  EXPECT_EQ(r2.text, "Line two.");
  EXPECT_TRUE(r2.hangup);
}

TEST(ScriptAgent, EachAgentStartsAtTheTopOfTheScript) {
  ScriptFile file("A.\nB.\n");
  AgentFactory factory(script_settings(file));
  auto first = factory.create(CallContext{});
  EXPECT_EQ(take_turn(*first, 1).text, "A.");
  EXPECT_EQ(take_turn(*first, 2).text, "B.");
  auto second = factory.create(CallContext{});
  EXPECT_EQ(take_turn(*second, 1).text, "A.");
}

TEST(AgentFactory, GreetingFromSettingsOrTheCallParameter) {
  ScriptFile file("A.\n");
  AgentSettings s = script_settings(file);
  s.greeting = "Welcome.";
  AgentFactory factory(s);
  EXPECT_EQ(factory.create(CallContext{})->greeting(), "Welcome.");
  CallContext call;
  call.parameters = {{"greeting", "Hi from TwiML."}};
  EXPECT_EQ(factory.create(call)->greeting(), "Hi from TwiML.");
}

TEST(AgentFactory, CallParameterPicksTheAgent) {
  ScriptFile file("Scripted.\n");
  AgentFactory factory(script_settings(file));
  CallContext call;
  call.parameters = {{"agent", "echo"}};
  auto echo = factory.create(call);
  EXPECT_EQ(take_turn(*echo, 1, "book a table").text, "You said: book a table");
  EXPECT_FALSE(take_turn(*echo, 2, "x").hangup);
  auto script = factory.create(CallContext{});
  EXPECT_EQ(take_turn(*script, 1).text, "Scripted.");
}

TEST(AgentFactory, Errors) {
  {
    AgentFactory factory(AgentSettings{});
    CallContext call;
    call.parameters = {{"agent", "nonesuch"}};
    EXPECT_THROW(factory.create(call), std::invalid_argument);
    call.parameters = {{"agent", "script"}};  // no script file configured
    EXPECT_THROW(factory.create(call), std::invalid_argument);
  }
  {
    AgentSettings s;
    s.default_agent = "script";
    s.script_file = (std::filesystem::temp_directory_path() / "vox_agent_test_no_such_dir" / "none.txt").string();
    EXPECT_THROW(AgentFactory{s}, std::invalid_argument);
  }
}

}  // namespace
}  // namespace vox::agent
