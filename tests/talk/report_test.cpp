// Results of `voxbridge talk`: the JSON report, the JUnit XML (parsed back, one test
// case per scenario, a failure only for failed ones, escaping) and the transcript.
#include "talk/report.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace vox::talk {
namespace {
namespace json = boost::json;
namespace pt = boost::property_tree;

// Parsed back from JUnit XML.
struct JunitCase {
  std::string name, file, time, system_out;
  bool failed = false;
  std::string failure_message, failure_text;
};
struct Junit {
  std::string suites_tests, suites_failures, suite_name, suite_tests, suite_failures, suite_errors;
  std::vector<JunitCase> cases;
};

Junit parse_junit(const std::string& xml) {
  std::istringstream in(xml);
  pt::ptree doc;
  pt::read_xml(in, doc);  // throws on XML that is not well-formed
  Junit j;
  const auto& suites = doc.get_child("testsuites");
  j.suites_tests = suites.get<std::string>("<xmlattr>.tests");
  j.suites_failures = suites.get<std::string>("<xmlattr>.failures");
  const auto& suite = suites.get_child("testsuite");
  j.suite_name = suite.get<std::string>("<xmlattr>.name");
  j.suite_tests = suite.get<std::string>("<xmlattr>.tests");
  j.suite_failures = suite.get<std::string>("<xmlattr>.failures");
  j.suite_errors = suite.get<std::string>("<xmlattr>.errors");
  for (const auto& [key, node] : suite) {
    if (key != "testcase") continue;
    JunitCase c;
    c.name = node.get<std::string>("<xmlattr>.name");
    c.file = node.get<std::string>("<xmlattr>.file");
    c.time = node.get<std::string>("<xmlattr>.time");
    if (const auto out = node.get_child_optional("system-out")) c.system_out = out->data();
    if (const auto f = node.get_child_optional("failure")) {
      c.failed = true;
      c.failure_message = f->get<std::string>("<xmlattr>.message");
      c.failure_text = f->data();
    }
    j.cases.push_back(std::move(c));
  }
  return j;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

ScenarioResult passed_result() {
  ScenarioResult r;
  r.name = "greets and answers";
  r.file = "scenarios/greet.yaml";
  r.persona = "A polite caller";
  r.call_sid = "CA00000000000000000000000000000001";
  r.passed = true;
  r.duration_s = 1.5;
  TurnResult greeting;
  greeting.index = 0;
  greeting.heard = "hello and welcome";
  greeting.latency_ms = -1;
  greeting.duration_ms = 1200;
  TurnResult first;
  first.index = 1;
  first.said = "good morning";
  first.heard = "you said good morning";
  first.latency_ms = 680.4;
  first.duration_ms = 2500.6;
  r.turns = {greeting, first};
  return r;
}

const std::string kReason = "turn 1: expected the reply to contain \"good afternoon\" (heard \"you said good morning\")";

ScenarioResult failed_result() {
  ScenarioResult r;
  r.name = "weird <name> & \"quotes\" 'apos'";
  r.file = "scenarios/a&b.json";
  r.call_sid = "CA00000000000000000000000000000002";
  r.passed = false;
  r.reason = kReason;
  r.ended = "call ended (hung_up): the other side hung up";
  r.duration_s = 12.25;
  TurnResult t;
  t.index = 1;
  t.said = "good morning";
  t.heard = "you said good morning";
  t.latency_ms = 700;
  t.duration_ms = 3000;
  t.failures = {"expected the reply to contain \"good afternoon\""};
  t.skipped = {"hello and welcome"};
  r.turns = {t};
  return r;
}

TEST(TalkReport, JsonHasEveryField) {
  const auto text = report_json({passed_result(), failed_result()});
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const auto root = json::parse(text).as_object();
  EXPECT_EQ(root.at("passed").as_int64(), 1);
  EXPECT_EQ(root.at("failed").as_int64(), 1);
  const auto& scenarios = root.at("scenarios").as_array();
  ASSERT_EQ(scenarios.size(), 2u);

  const auto& ok = scenarios[0].as_object();
  EXPECT_EQ(ok.at("name").as_string(), "greets and answers");
  EXPECT_EQ(ok.at("file").as_string(), "scenarios/greet.yaml");
  EXPECT_EQ(ok.at("persona").as_string(), "A polite caller");
  EXPECT_EQ(ok.at("call_sid").as_string(), "CA00000000000000000000000000000001");
  EXPECT_TRUE(ok.at("passed").as_bool());
  EXPECT_EQ(ok.at("reason").as_string(), "");
  EXPECT_EQ(ok.at("ended").as_string(), "");
  EXPECT_EQ(ok.at("duration_ms").as_int64(), 1500);
  const auto& turns = ok.at("turns").as_array();
  ASSERT_EQ(turns.size(), 2u);
  const auto& g = turns[0].as_object();
  EXPECT_EQ(g.at("index").as_int64(), 0);
  EXPECT_EQ(g.at("said").as_string(), "");
  EXPECT_EQ(g.at("heard").as_string(), "hello and welcome");
  EXPECT_TRUE(g.at("latency_ms").is_null());  // unknown
  EXPECT_EQ(g.at("duration_ms").as_int64(), 1200);
  EXPECT_TRUE(g.at("passed").as_bool());
  EXPECT_TRUE(g.at("failures").as_array().empty());
  EXPECT_FALSE(g.contains("skipped"));
  const auto& t1 = turns[1].as_object();
  EXPECT_EQ(t1.at("index").as_int64(), 1);
  EXPECT_EQ(t1.at("said").as_string(), "good morning");
  EXPECT_EQ(t1.at("heard").as_string(), "you said good morning");
  EXPECT_EQ(t1.at("latency_ms").as_int64(), 680);   // whole milliseconds
  EXPECT_EQ(t1.at("duration_ms").as_int64(), 2501);  // rounded

  const auto& bad = scenarios[1].as_object();
  EXPECT_EQ(bad.at("name").as_string(), "weird <name> & \"quotes\" 'apos'");
  EXPECT_FALSE(bad.at("passed").as_bool());
  EXPECT_EQ(bad.at("reason").as_string(), kReason);
  EXPECT_EQ(bad.at("ended").as_string(), "call ended (hung_up): the other side hung up");
  EXPECT_EQ(bad.at("duration_ms").as_int64(), 12250);
  const auto& bt = bad.at("turns").as_array();
  ASSERT_EQ(bt.size(), 1u);
  const auto& b1 = bt[0].as_object();
  EXPECT_FALSE(b1.at("passed").as_bool());
  ASSERT_EQ(b1.at("failures").as_array().size(), 1u);
  EXPECT_EQ(b1.at("failures").as_array()[0].as_string(), "expected the reply to contain \"good afternoon\"");
  ASSERT_TRUE(b1.contains("skipped"));
  ASSERT_EQ(b1.at("skipped").as_array().size(), 1u);
  EXPECT_EQ(b1.at("skipped").as_array()[0].as_string(), "hello and welcome");
}

TEST(TalkReport, JsonOfNoScenarios) {
  const auto root = json::parse(report_json({})).as_object();
  EXPECT_EQ(root.at("passed").as_int64(), 0);
  EXPECT_EQ(root.at("failed").as_int64(), 0);
  EXPECT_TRUE(root.at("scenarios").as_array().empty());
}

TEST(TalkReport, JunitHasOneTestCasePerScenarioAndAFailureOnlyForFailedOnes) {
  const auto xml = junit_xml({passed_result(), failed_result()});
  EXPECT_TRUE(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")) << xml;
  Junit j;
  ASSERT_NO_THROW(j = parse_junit(xml)) << xml;
  EXPECT_EQ(j.suites_tests, "2");
  EXPECT_EQ(j.suites_failures, "1");
  EXPECT_EQ(j.suite_name, "voxbridge-talk");
  EXPECT_EQ(j.suite_tests, "2");
  EXPECT_EQ(j.suite_failures, "1");
  EXPECT_EQ(j.suite_errors, "0");
  ASSERT_EQ(j.cases.size(), 2u);

  EXPECT_EQ(j.cases[0].name, "greets and answers");
  EXPECT_EQ(j.cases[0].file, "scenarios/greet.yaml");
  EXPECT_EQ(j.cases[0].time, "1.500");
  EXPECT_FALSE(j.cases[0].failed);
  EXPECT_NE(j.cases[0].system_out.find("them: you said good morning"), std::string::npos) << j.cases[0].system_out;

  // Escaped on the way in, the same text on the way out.
  EXPECT_EQ(j.cases[1].name, "weird <name> & \"quotes\" 'apos'");
  EXPECT_EQ(j.cases[1].file, "scenarios/a&b.json");
  EXPECT_EQ(j.cases[1].time, "12.250");
  ASSERT_TRUE(j.cases[1].failed);
  EXPECT_EQ(j.cases[1].failure_message, kReason);
  EXPECT_NE(j.cases[1].failure_text.find("FAILED: " + kReason), std::string::npos) << j.cases[1].failure_text;
  EXPECT_EQ(count_of(xml, "<failure "), 1u) << xml;
  EXPECT_NE(xml.find("name=\"weird &lt;name&gt; &amp; &quot;quotes&quot; &apos;apos&apos;\""), std::string::npos) << xml;

  // Another suite name.
  const auto other = parse_junit(junit_xml({passed_result()}, "smoke <tests>"));
  EXPECT_EQ(other.suite_name, "smoke <tests>");
  EXPECT_EQ(other.suites_failures, "0");
  ASSERT_EQ(other.cases.size(), 1u);
  EXPECT_FALSE(other.cases[0].failed);
}

TEST(TalkReport, JunitOfNoScenariosIsStillADocument) {
  const auto xml = junit_xml({});
  Junit j;
  ASSERT_NO_THROW(j = parse_junit(xml)) << xml;
  EXPECT_EQ(j.suites_tests, "0");
  EXPECT_EQ(j.suites_failures, "0");
  EXPECT_TRUE(j.cases.empty());
}

TEST(TalkReport, JunitHasNoControlCharacters) {
  auto r = failed_result();
  r.reason = "bad\x01" "char\x1b[31m red";
  r.turns[0].heard = std::string("beep\x07 boop\x00 end", 15);
  const auto xml = junit_xml({r});
  for (const char c : xml) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 || c == '\t' || c == '\n' || c == '\r') << "control character " << static_cast<int>(u)
                                                                   << " in:\n" << xml;
  }
  Junit j;
  ASSERT_NO_THROW(j = parse_junit(xml)) << xml;
  ASSERT_EQ(j.cases.size(), 1u);
  // Control characters were dropped.
  EXPECT_EQ(j.cases[0].failure_message, "badchar[31m red");
  EXPECT_NE(j.cases[0].system_out.find("them: beep boop end"), std::string::npos) << j.cases[0].system_out;
}

TEST(TalkReport, XmlEscape) {
  EXPECT_EQ(xml_escape("a<b>&\"'c"), "a&lt;b&gt;&amp;&quot;&apos;c");
  EXPECT_EQ(xml_escape("tab\tnew\nret\r"), "tab\tnew\nret\r");
  EXPECT_EQ(xml_escape(std::string("x\x01y\x1fz", 5)), "xyz");
  EXPECT_EQ(xml_escape(std::string("nul\0end", 7)), "nulend");
  EXPECT_EQ(xml_escape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 passes through
  EXPECT_EQ(xml_escape("&amp;"), "&amp;amp;");  // no double-escape detection: text is text
  EXPECT_EQ(xml_escape(""), "");
}

TEST(TalkReport, TranscriptOfAPassedScenario) {
  EXPECT_EQ(transcript(passed_result()),
            "# greets and answers (CA00000000000000000000000000000001)\n"
            "# persona: A polite caller\n"
            "them: hello and welcome\n"
            "us:   good morning\n"
            "them: you said good morning   (680 ms)\n"
            "PASSED\n");
}

TEST(TalkReport, TranscriptOfAFailedScenario) {
  const auto t = transcript(failed_result());
  EXPECT_EQ(t,
            "# weird <name> & \"quotes\" 'apos' (CA00000000000000000000000000000002)\n"
            "us:   good morning\n"
            "them: hello and welcome   (while we spoke)\n"
            "them: you said good morning   (700 ms)\n"
            "  FAIL: expected the reply to contain \"good afternoon\"\n"
            "-- call ended (hung_up): the other side hung up\n"
            "FAILED: " + kReason + "\n");

  // No call placed, no turns: the reason alone.
  ScenarioResult none;
  none.name = "unplaced";
  none.reason = "could not place the call through Twilio: 401";
  EXPECT_EQ(transcript(none), "# unplaced\nFAILED: could not place the call through Twilio: 401\n");
}

}  // namespace
}  // namespace vox::talk
