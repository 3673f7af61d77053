// Scenario files of `voxbridge talk`: YAML and JSON parse alike, the defaults, errors
// that say what is wrong and on which line, the checks of a reply against an
// expectation, loading a directory of scenarios, and the shipped examples.
#include "talk/scenario.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vox::talk {
namespace {

using Strings = std::vector<std::string>;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

// The message of the ScenarioError that parsing `text` (named `file`) throws; "" if it
// parses.
std::string parse_error(const std::string& text, const std::string& file = "s.yaml") {
  try {
    parse_scenario(text, file);
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "";
}

// A directory in the temp directory, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("vox_talk_" + std::string(info->name()) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `contents` to `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& contents) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << contents;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

std::int64_t ms(const std::optional<std::chrono::milliseconds>& d) { return d ? d->count() : -1; }

void expect_same(const Expectation& a, const Expectation& b, const std::string& what) {
  EXPECT_EQ(a.contains, b.contains) << what;
  EXPECT_EQ(a.not_contains, b.not_contains) << what;
  EXPECT_EQ(a.regex, b.regex) << what;
  EXPECT_EQ(a.max_latency_ms.value_or(-1), b.max_latency_ms.value_or(-1)) << what;
}

// Every field but `file`.
void expect_same(const Scenario& a, const Scenario& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.persona, b.persona);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.call_timeout.count(), b.call_timeout.count());
  EXPECT_EQ(a.turn_timeout.count(), b.turn_timeout.count());
  EXPECT_EQ(a.talk_timeout_s.value_or(-1), b.talk_timeout_s.value_or(-1));
  EXPECT_EQ(a.wait_for_greeting, b.wait_for_greeting);
  expect_same(a.greeting, b.greeting, "greeting");
  EXPECT_EQ(ms(a.greeting_timeout), ms(b.greeting_timeout));
  ASSERT_EQ(a.turns.size(), b.turns.size());
  for (std::size_t i = 0; i < a.turns.size(); ++i) {
    EXPECT_EQ(a.turns[i].say, b.turns[i].say) << "turn " << i + 1;
    expect_same(a.turns[i].expect, b.turns[i].expect, "turn " + std::to_string(i + 1));
    EXPECT_EQ(ms(a.turns[i].timeout), ms(b.turns[i].timeout)) << "turn " << i + 1;
  }
}

const char* kYaml = R"yaml(# every field
name: order status
persona: A customer asking where their parcel is
metadata: {team: support, priority: 2}
to: "+15550009999"
from: "+15550001111"
timeout_s: 90
turn_timeout_s: 12.5
talk_timeout_s: 60
greeting:
  expect: {contains: welcome}
  timeout_s: 30
turns:
  - say: good morning
    expect:
      contains: [morning]
      not_contains: sorry
      regex: "good (morning|day)"
      max_latency_ms: 4000
    timeout_s: 15
  - wait: true
)yaml";

const char* kJson = R"json({
  "name": "order status",
  "persona": "A customer asking where their parcel is",
  "metadata": {"team": "support", "priority": 2},
  "to": "+15550009999",
  "from": "+15550001111",
  "timeout_s": 90,
  "turn_timeout_s": 12.5,
  "talk_timeout_s": 60,
  "greeting": {"expect": {"contains": "welcome"}, "timeout_s": 30},
  "turns": [
    {"say": "good morning",
     "expect": {"contains": ["morning"], "not_contains": "sorry", "regex": "good (morning|day)", "max_latency_ms": 4000},
     "timeout_s": 15},
    {"wait": true}
  ]
}
)json";

TEST(TalkScenario, YamlReadsEveryField) {
  const Scenario s = parse_scenario(kYaml, "dir/order.yaml");
  EXPECT_EQ(s.name, "order status");
  EXPECT_EQ(s.file, "dir/order.yaml");
  EXPECT_EQ(s.persona, "A customer asking where their parcel is");
  EXPECT_EQ(s.metadata, (std::map<std::string, std::string>{{"priority", "2"}, {"team", "support"}}));
  EXPECT_EQ(s.to, "+15550009999");
  EXPECT_EQ(s.from, "+15550001111");
  EXPECT_EQ(s.call_timeout.count(), 90000);
  EXPECT_EQ(s.turn_timeout.count(), 12500);
  ASSERT_TRUE(s.talk_timeout_s.has_value());
  EXPECT_DOUBLE_EQ(*s.talk_timeout_s, 60.0);
  EXPECT_TRUE(s.wait_for_greeting);
  EXPECT_EQ(s.greeting.contains, Strings{"welcome"});
  EXPECT_EQ(ms(s.greeting_timeout), 30000);
  ASSERT_EQ(s.turns.size(), 2u);
  const auto& t1 = s.turns[0];
  EXPECT_EQ(t1.say, "good morning");
  EXPECT_EQ(t1.expect.contains, Strings{"morning"});
  EXPECT_EQ(t1.expect.not_contains, Strings{"sorry"});
  EXPECT_EQ(t1.expect.regex, Strings{"good (morning|day)"});
  EXPECT_EQ(t1.expect.max_latency_ms.value_or(-1), 4000);
  EXPECT_EQ(ms(t1.timeout), 15000);
  const auto& t2 = s.turns[1];
  EXPECT_EQ(t2.say, "");  // a wait
  EXPECT_TRUE(t2.expect.empty());
  EXPECT_FALSE(t2.timeout.has_value());
}

TEST(TalkScenario, JsonAndYamlParseTheSame) {
  const Scenario y = parse_scenario(kYaml, "order.yaml");
  const Scenario j = parse_scenario(kJson, "order.json");
  expect_same(y, j);
  EXPECT_EQ(j.file, "order.json");
}

TEST(TalkScenario, DefaultsAndTheNameFromTheFile) {
  const Scenario s = parse_scenario("turns:\n  - say: hello there\n", "/tmp/some dir/order-status.yaml");
  EXPECT_EQ(s.name, "order-status");
  EXPECT_EQ(s.file, "/tmp/some dir/order-status.yaml");
  EXPECT_EQ(s.persona, "");
  EXPECT_TRUE(s.metadata.empty());
  EXPECT_EQ(s.to, "");
  EXPECT_EQ(s.from, "");
  EXPECT_EQ(s.call_timeout.count(), 180000);
  EXPECT_EQ(s.turn_timeout.count(), 20000);
  EXPECT_FALSE(s.talk_timeout_s.has_value());
  EXPECT_TRUE(s.wait_for_greeting);
  EXPECT_TRUE(s.greeting.empty());
  EXPECT_FALSE(s.greeting_timeout.has_value());
  ASSERT_EQ(s.turns.size(), 1u);
  EXPECT_EQ(s.turns[0].say, "hello there");
  EXPECT_TRUE(s.turns[0].expect.empty());
  EXPECT_FALSE(s.turns[0].timeout.has_value());

  // A JSON file is named after its stem too.
  EXPECT_EQ(parse_scenario(R"({"turns": [{"wait": true}]})", "x/refund.json").name, "refund");
  // `description` is another name for `persona`.
  EXPECT_EQ(parse_scenario("description: checks refunds\nturns:\n  - wait: true\n", "r.yaml").persona, "checks refunds");
  // Fractions of seconds, and the bounds.
  EXPECT_EQ(parse_scenario("timeout_s: 0.1\nturns:\n  - say: hi\n", "t.yaml").call_timeout.count(), 100);
  EXPECT_EQ(parse_scenario("timeout_s: 3600\nturns:\n  - say: hi\n", "t.yaml").call_timeout.count(), 3600000);
  EXPECT_EQ(ms(parse_scenario("turns:\n  - say: hi\n    timeout_s: 2.5\n", "t.yaml").turns[0].timeout), 2500);
}

TEST(TalkScenario, GreetingFalseSkipsWaitingForTheOtherSide) {
  const Scenario off = parse_scenario("greeting: false\nturns:\n  - say: good morning\n", "g.yaml");
  EXPECT_FALSE(off.wait_for_greeting);
  EXPECT_TRUE(off.greeting.empty());
  EXPECT_FALSE(parse_scenario(R"({"greeting": false, "turns": [{"say": "hi"}]})", "g.json").wait_for_greeting);
  EXPECT_TRUE(parse_scenario("greeting: true\nturns:\n  - say: good morning\n", "g.yaml").wait_for_greeting);
  // A greeting with only an expectation still waits for it.
  const Scenario with = parse_scenario("greeting:\n  expect: {contains: hello}\nturns:\n  - wait: true\n", "g.yaml");
  EXPECT_TRUE(with.wait_for_greeting);
  EXPECT_EQ(with.greeting.contains, Strings{"hello"});
  const auto err = parse_error("greeting: maybe\nturns:\n  - say: hi\n");
  EXPECT_TRUE(err.starts_with("s.yaml:1: ")) << err;
  EXPECT_CONTAINS(err, "greeting must be true or false");
}

TEST(TalkScenario, UnknownKeysAreNamedWithTheirLine) {
  // A typo in an expectation.
  auto err = parse_error("name: typo\nturns:\n  - say: good morning\n    expect:\n      contians: morning\n");
  EXPECT_TRUE(err.starts_with("s.yaml:5: ")) << err;
  EXPECT_CONTAINS(err, "unknown key 'contians' in expect");
  EXPECT_CONTAINS(err, "contains, not_contains, regex, max_latency_ms");  // what it could have been
  // At the top level.
  err = parse_error("name: x\nturn:\n  - say: hi\n");
  EXPECT_TRUE(err.starts_with("s.yaml:2: ")) << err;
  EXPECT_CONTAINS(err, "unknown key 'turn' in the scenario");
  // In a turn.
  err = parse_error("turns:\n  - say: hi\n    expects: {contains: x}\n");
  EXPECT_TRUE(err.starts_with("s.yaml:3: ")) << err;
  EXPECT_CONTAINS(err, "unknown key 'expects' in turn 1");
  // In the greeting.
  err = parse_error("greeting:\n  expect: {contains: hi}\n  timeout: 5\nturns:\n  - wait: true\n");
  EXPECT_TRUE(err.starts_with("s.yaml:3: ")) << err;
  EXPECT_CONTAINS(err, "unknown key 'timeout' in greeting");
}

TEST(TalkScenario, ATurnSaysOrWaitsNeverBothNorNeither) {
  auto err = parse_error("turns:\n  - say: hi\n    wait: true\n");
  EXPECT_TRUE(err.starts_with("s.yaml:2: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 needs exactly one of `say: <text>` or `wait: true`");
  // The turn is numbered and its own line named.
  err = parse_error("turns:\n  - say: hi\n  - say: there\n    wait: true\n");
  EXPECT_TRUE(err.starts_with("s.yaml:3: ")) << err;
  EXPECT_CONTAINS(err, "turn 2 needs exactly one of");
  err = parse_error("name: x\nturns:\n  - expect: {contains: x}\n");
  EXPECT_TRUE(err.starts_with("s.yaml:3: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 needs exactly one of");
  err = parse_error("turns:\n  - wait: false\n");
  EXPECT_TRUE(err.starts_with("s.yaml:2: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 needs exactly one of");
  err = parse_error("turns:\n  - say: \"  \"\n");
  EXPECT_TRUE(err.starts_with("s.yaml:2: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 says nothing");
  // The same in JSON.
  err = parse_error("{\n  \"turns\": [\n    {\"say\": \"hi\", \"wait\": true}\n  ]\n}\n", "s.json");
  EXPECT_TRUE(err.starts_with("s.json:3: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 needs exactly one of");
}

TEST(TalkScenario, TurnsMustBeANonEmptyList) {
  for (const char* text : {"name: x\nturns: []\n", "name: x\npersona: nobody\n", "name: x\nturns: hello\n"}) {
    const auto err = parse_error(text);
    EXPECT_TRUE(err.starts_with("s.yaml:")) << err;
    EXPECT_CONTAINS(err, "`turns:` must be a list with at least one turn");
  }
}

TEST(TalkScenario, BadRegexIsRejectedWithItsLine) {
  const auto err = parse_error("turns:\n  - say: hi\n    expect:\n      regex: \"good (morning\"\n");
  EXPECT_TRUE(err.starts_with("s.yaml:4: ")) << err;
  EXPECT_CONTAINS(err, "regex 'good (morning' is not valid");
}

TEST(TalkScenario, NumbersOutOfRangeOrNotNumbers) {
  auto err = parse_error("timeout_s: 0\nturns:\n  - say: hi\n");
  EXPECT_TRUE(err.starts_with("s.yaml:1: ")) << err;
  EXPECT_CONTAINS(err, "timeout_s must be between");
  err = parse_error("timeout_s: 3600.5\nturns:\n  - say: hi\n");
  EXPECT_TRUE(err.starts_with("s.yaml:1: ")) << err;
  EXPECT_CONTAINS(err, "timeout_s must be between");
  err = parse_error("name: x\nturns:\n  - say: hi\n    timeout_s: 5000\n");
  EXPECT_TRUE(err.starts_with("s.yaml:4: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 timeout_s must be between");
  err = parse_error("turn_timeout_s: soon\nturns:\n  - say: hi\n");
  EXPECT_TRUE(err.starts_with("s.yaml:1: ")) << err;
  EXPECT_CONTAINS(err, "turn_timeout_s must be a number");
  err = parse_error("turns:\n  - say: hi\n    expect:\n      max_latency_ms: -5\n");
  EXPECT_TRUE(err.starts_with("s.yaml:4: ")) << err;
  EXPECT_CONTAINS(err, "max_latency_ms must be between");
  err = parse_error("greeting:\n  timeout_s: -1\nturns:\n  - wait: true\n");
  EXPECT_TRUE(err.starts_with("s.yaml:2: ")) << err;
  EXPECT_CONTAINS(err, "greeting timeout_s must be between");
}

TEST(TalkScenario, ThingsThatAreNotMappings) {
  // The whole file.
  for (const char* text : {"just some text\n", "- say: hi\n", ""}) {
    const auto err = parse_error(text);
    EXPECT_TRUE(err.starts_with("s.yaml: ")) << err;
    EXPECT_CONTAINS(err, "a scenario is a mapping");
  }
  // A turn.
  auto err = parse_error("name: x\nturns:\n  - hello\n");
  EXPECT_TRUE(err.starts_with("s.yaml:3: ")) << err;
  EXPECT_CONTAINS(err, "turn 1 must be a mapping");
  // An expectation.
  err = parse_error("turns:\n  - say: hi\n    expect: morning\n");
  EXPECT_TRUE(err.starts_with("s.yaml:3: ")) << err;
  EXPECT_CONTAINS(err, "expect must be a mapping");
  // Metadata.
  err = parse_error("metadata: [a]\nturns:\n  - say: hi\n");
  EXPECT_TRUE(err.starts_with("s.yaml:1: ")) << err;
  EXPECT_CONTAINS(err, "metadata must be a mapping");
  // Not YAML at all.
  err = parse_error("name: x\nturns:\n  - say: [unclosed\n");
  EXPECT_TRUE(err.starts_with("s.yaml:")) << err;
  EXPECT_CONTAINS(err, "not valid YAML or JSON");
}

TEST(TalkScenario, NormalizeWords) {
  EXPECT_EQ(normalize_words("  Hello,   WORLD!! it's  "), "hello world it's");
  EXPECT_EQ(normalize_words("You said: good morning."), "you said good morning");
  EXPECT_EQ(normalize_words("...!?"), "");
}

TEST(TalkScenario, ContainsIgnoresCaseAndPunctuationAndMatchesWholeWords) {
  Expectation e;
  e.contains = {"Good Morning!", "you said"};
  EXPECT_TRUE(check(e, "You said: good MORNING.", 100).empty());
  EXPECT_TRUE(check(e, "well, you said good-morning", 100).empty());

  const auto why = check(e, "You said: good evening", 100);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "expected the reply to contain \"Good Morning!\"");

  // Whole words only.
  Expectation part;
  part.contains = {"morn"};
  const auto partial = check(part, "good morning", 100);
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_EQ(partial[0], "expected the reply to contain \"morn\"");
  part.contains = {"ood morn"};
  EXPECT_EQ(check(part, "good morning", 100).size(), 1u);
  // Every one must appear: each missing one is reported.
  Expectation all;
  all.contains = {"alpha", "beta", "gamma"};
  EXPECT_EQ(check(all, "beta", 0).size(), 2u);
  // An empty expectation passes anything, even silence.
  EXPECT_TRUE(check(Expectation{}, "", -1).empty());
}

TEST(TalkScenario, NotContains) {
  Expectation e;
  e.not_contains = {"sorry"};
  EXPECT_TRUE(check(e, "you said good morning", 10).empty());
  EXPECT_TRUE(check(e, "sorryful", 10).empty());  // whole words
  const auto why = check(e, "Sorry, I did not get that.", 10);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "expected the reply not to contain \"sorry\"");
}

TEST(TalkScenario, Regex) {
  Expectation e;
  e.regex = {"good (morning|day)"};
  EXPECT_TRUE(check(e, "GOOD DAY to you", 10).empty());  // case-insensitive
  EXPECT_TRUE(check(e, "you said good morning", 10).empty());
  const auto why = check(e, "good evening", 10);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "expected the reply to match /good (morning|day)/");
  // Anchors apply to the whole reply.
  e.regex = {"^you said"};
  EXPECT_TRUE(check(e, "You said good morning", 10).empty());
  EXPECT_EQ(check(e, "well you said good morning", 10).size(), 1u);
}

TEST(TalkScenario, MaxLatency) {
  Expectation e;
  e.max_latency_ms = 4000;
  EXPECT_TRUE(check(e, "hi", 0).empty());
  EXPECT_TRUE(check(e, "hi", 3999.4).empty());
  EXPECT_TRUE(check(e, "hi", 4000).empty());
  auto why = check(e, "hi", 4001);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "the reply came after 4001 ms (max_latency_ms 4000)");
  // Unknown latency cannot pass a latency bound.
  why = check(e, "hi", -1);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "the reply's latency is unknown (max_latency_ms 4000)");
  // All failures are listed, in order: contains, not_contains, regex, latency.
  Expectation many;
  many.contains = {"morning"};
  many.not_contains = {"sorry"};
  many.regex = {"^good"};
  many.max_latency_ms = 100;
  why = check(many, "sorry, no", 250);
  ASSERT_EQ(why.size(), 4u);
  EXPECT_EQ(why[0], "expected the reply to contain \"morning\"");
  EXPECT_EQ(why[1], "expected the reply not to contain \"sorry\"");
  EXPECT_EQ(why[2], "expected the reply to match /^good/");
  EXPECT_EQ(why[3], "the reply came after 250 ms (max_latency_ms 100)");
}

TEST(TalkScenario, LoadScenariosReadsADirectoryInOrder) {
  TempDir dir;
  dir.write("b-second.yaml", "turns:\n  - say: good morning\n");
  dir.write("a-first.json", R"({"name": "first", "turns": [{"wait": true}]})");
  dir.write("c-third.yml", "name: third\nturns:\n  - say: thank you very much\n");
  dir.write("notes.txt", "not a scenario: {");
  dir.write("README.md", "# scenarios");
  dir.write("d.yaml.bak", "turns: [");
  std::filesystem::create_directories(std::filesystem::path(dir.path()) / "sub.yaml");  // a directory, skipped
  const auto all = load_scenarios(dir.path());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "first");
  EXPECT_EQ(all[1].name, "b-second");
  EXPECT_EQ(all[2].name, "third");
  EXPECT_EQ(std::filesystem::path(all[0].file).filename().string(), "a-first.json");
  EXPECT_EQ(std::filesystem::path(all[2].file).filename().string(), "c-third.yml");
  EXPECT_EQ(all[1].turns[0].say, "good morning");

  // load_scenario reads one file; its errors name it.
  const auto bad = dir.write("bad.txt", "turns:\n  - say: hi\n    expect: {contians: x}\n");
  try {
    load_scenario(bad);
    ADD_FAILURE() << "a bad scenario loaded";
  } catch (const ScenarioError& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(bad + ":3: ")) << e.what();
  }
  try {
    load_scenario(dir.path() + "/none.yaml");
    ADD_FAILURE() << "a missing scenario loaded";
  } catch (const ScenarioError& e) {
    EXPECT_CONTAINS(e.what(), "none.yaml: cannot read the scenario file");
  }
}

TEST(TalkScenario, LoadScenariosRejectsDuplicateNamesBadFilesAndEmptyDirectories) {
  {
    TempDir dir;
    dir.write("one.yaml", "name: same\nturns:\n  - say: hi\n");
    const auto second = dir.write("two.json", R"({"name": "same", "turns": [{"say": "hi"}]})");
    try {
      load_scenarios(dir.path());
      ADD_FAILURE() << "two scenarios with one name loaded";
    } catch (const ScenarioError& e) {
      EXPECT_CONTAINS(e.what(), second);
      EXPECT_CONTAINS(e.what(), "also named 'same'");
    }
  }
  {
    // A file stem and an explicit name that collide.
    TempDir dir;
    dir.write("greeting.yaml", "turns:\n  - say: hi\n");
    dir.write("other.yaml", "name: greeting\nturns:\n  - say: hi\n");
    EXPECT_THROW(load_scenarios(dir.path()), ScenarioError);
  }
  {
    // One bad file fails the whole directory, naming the file and line.
    TempDir dir;
    dir.write("good.yaml", "turns:\n  - say: hi\n");
    const auto bad = dir.write("worse.yaml", "turns:\n  - say: hi\n    wait: true\n");
    try {
      load_scenarios(dir.path());
      ADD_FAILURE() << "a directory with a bad scenario loaded";
    } catch (const ScenarioError& e) {
      EXPECT_TRUE(std::string(e.what()).starts_with(bad + ":2: ")) << e.what();
    }
  }
  {
    TempDir dir;
    dir.write("notes.txt", "nothing here");
    try {
      load_scenarios(dir.path());
      ADD_FAILURE() << "a directory without scenarios loaded";
    } catch (const ScenarioError& e) {
      EXPECT_CONTAINS(e.what(), dir.path());
      EXPECT_CONTAINS(e.what(), "no *.yaml, *.yml or *.json scenario files");
    }
  }
  {
    TempDir dir;
    try {
      load_scenarios(dir.path() + "/missing");
      ADD_FAILURE() << "a missing directory loaded";
    } catch (const ScenarioError& e) {
      EXPECT_CONTAINS(e.what(), "not a directory of scenario files");
    }
  }
}

TEST(TalkScenario, ShippedExamplesParse) {
  // VOX_TEST_DATA is <repo>/tests/data.
  const auto examples = std::filesystem::path(VOX_TEST_DATA).parent_path().parent_path() / "examples" / "scenarios";
  ASSERT_TRUE(std::filesystem::is_directory(examples)) << examples.string();
  const auto all = load_scenarios(examples.string());
  ASSERT_EQ(all.size(), 2u);

  const auto& greet = all[0];
  EXPECT_EQ(std::filesystem::path(greet.file).filename().string(), "greeting-and-two-turns.yaml");
  EXPECT_EQ(greet.name, "echo agent repeats what it hears");
  EXPECT_EQ(greet.persona, "A caller checking that the agent listens");
  EXPECT_EQ(greet.metadata, (std::map<std::string, std::string>{{"team", "demo"}}));
  EXPECT_EQ(greet.turn_timeout.count(), 20000);
  EXPECT_EQ(greet.call_timeout.count(), 120000);
  EXPECT_TRUE(greet.wait_for_greeting);
  EXPECT_EQ(greet.greeting.contains, Strings{"echo agent"});
  EXPECT_EQ(ms(greet.greeting_timeout), 30000);
  ASSERT_EQ(greet.turns.size(), 2u);
  EXPECT_EQ(greet.turns[0].say, "good morning");
  EXPECT_EQ(greet.turns[0].expect.contains, (Strings{"you said", "good morning"}));
  EXPECT_EQ(greet.turns[0].expect.not_contains, Strings{"sorry"});
  EXPECT_EQ(greet.turns[0].expect.max_latency_ms.value_or(-1), 8000);
  EXPECT_EQ(greet.turns[1].say, "what time is it");
  EXPECT_EQ(greet.turns[1].expect.regex, Strings{"what time (is|was) it"});
  // What the echo agent answers passes.
  EXPECT_TRUE(check(greet.greeting, "hello i am the echo agent say something", -1).empty());
  EXPECT_TRUE(check(greet.turns[0].expect, "you said good morning", 700).empty());
  EXPECT_TRUE(check(greet.turns[1].expect, "you said what time is it", 700).empty());

  const auto& wrong = all[1];
  EXPECT_EQ(std::filesystem::path(wrong.file).filename().string(), "wrong-expectation.json");
  EXPECT_EQ(wrong.name, "a failing expectation");
  EXPECT_TRUE(wrong.wait_for_greeting);
  ASSERT_EQ(wrong.turns.size(), 2u);
  EXPECT_EQ(wrong.turns[0].say, "good morning");
  EXPECT_EQ(wrong.turns[0].expect.contains, Strings{"good afternoon"});
  EXPECT_EQ(wrong.turns[1].say, "thank you very much");
  EXPECT_TRUE(wrong.turns[1].expect.empty());
  // ... and what it shows.
  const auto why = check(wrong.turns[0].expect, "you said good morning", 700);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "expected the reply to contain \"good afternoon\"");
}

}  // namespace
}  // namespace vox::talk
