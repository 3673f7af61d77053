#include "talk/report.hpp"
#include "core/json_text.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>

namespace vox::talk {
namespace json = boost::json;

namespace {
std::int64_t whole(double ms) { return static_cast<std::int64_t>(std::llround(ms)); }

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}
}  // namespace

std::string report_json(const std::vector<ScenarioResult>& results) {
  json::array scenarios;
  int passed = 0;
  for (const auto& r : results) {
    if (r.passed) ++passed;
    json::array turns;
    for (const auto& t : r.turns) {
      json::object o{{"index", t.index}, {"said", t.said}, {"heard", t.heard}, {"duration_ms", whole(t.duration_ms)},
                     {"passed", t.failures.empty()}};
      o["latency_ms"] = t.latency_ms >= 0 ? json::value(whole(t.latency_ms)) : json::value(nullptr);
      o["failures"] = json::value_from(t.failures);
      if (!t.skipped.empty()) o["skipped"] = json::value_from(t.skipped);
      if (!t.tools.empty()) o["tools"] = json::value_from(t.tools);
      turns.push_back(std::move(o));
    }
    scenarios.push_back(json::object{{"name", r.name},
                                     {"file", r.file},
                                     {"persona", r.persona},
                                     {"call_sid", r.call_sid},
                                     {"passed", r.passed},
                                     {"reason", r.reason},
                                     {"ended", r.ended},
                                     {"duration_ms", whole(r.duration_s * 1000)},
                                     {"turns", std::move(turns)}});
  }
  json::object root{{"passed", passed},
                    {"failed", static_cast<int>(results.size()) - passed},
                    {"scenarios", std::move(scenarios)}};
  return vox::json_text(root) + "\n";
}

std::string junit_xml(const std::vector<ScenarioResult>& results, const std::string& suite) {
  int failures = 0;
  double total = 0;
  for (const auto& r : results) {
    if (!r.passed) ++failures;
    total += r.duration_s;
  }
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<testsuites name=\"" + xml_escape(suite) + "\" tests=\"" + std::to_string(results.size()) + "\" failures=\"" +
       std::to_string(failures) + "\" time=\"" + seconds_text(total) + "\">\n";
  x += "  <testsuite name=\"" + xml_escape(suite) + "\" tests=\"" + std::to_string(results.size()) + "\" failures=\"" +
       std::to_string(failures) + "\" errors=\"0\" time=\"" + seconds_text(total) + "\">\n";
  for (const auto& r : results) {
    x += "    <testcase classname=\"" + xml_escape(suite) + "\" name=\"" + xml_escape(r.name) + "\" file=\"" +
         xml_escape(r.file) + "\" time=\"" + seconds_text(r.duration_s) + "\">\n";
    if (!r.passed) x += "      <failure message=\"" + xml_escape(r.reason) + "\">" + xml_escape(transcript(r)) + "</failure>\n";
    x += "      <system-out>" + xml_escape(transcript(r)) + "</system-out>\n";
    x += "    </testcase>\n";
  }
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

std::string transcript(const ScenarioResult& r) {
  std::string t = "# " + r.name + (r.call_sid.empty() ? "" : " (" + r.call_sid + ")") + "\n";
  if (!r.persona.empty()) t += "# persona: " + r.persona + "\n";
  for (const auto& turn : r.turns) {
    if (!turn.said.empty()) t += "us:   " + turn.said + "\n";
    for (const auto& s : turn.skipped) t += "them: " + s + "   (while we spoke)\n";
    if (!turn.heard.empty()) {
      t += "them: " + turn.heard;
      if (turn.latency_ms >= 0) t += "   (" + std::to_string(whole(turn.latency_ms)) + " ms)";
      t += "\n";
    }
    for (const auto& f : turn.failures) t += "  FAIL: " + f + "\n";
  }
  if (!r.ended.empty()) t += "-- " + r.ended + "\n";
  t += r.passed ? "PASSED\n" : "FAILED: " + r.reason + "\n";
  return t;
}

}  // namespace vox::talk
