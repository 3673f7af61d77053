#include "talk/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/regex.hpp>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace vox::talk {
namespace {

[[noreturn]] void fail(const std::string& file, const YAML::Node& at, const std::string& what) {
  std::string where = file;
  if (at.IsDefined() && at.Mark().line >= 0) where += ":" + std::to_string(at.Mark().line + 1);
  throw ScenarioError(where + ": " + what);
}

void only_keys(const std::string& file, const YAML::Node& map, const std::string& what,
               std::initializer_list<const char*> known) {
  if (!map.IsMap()) fail(file, map, what + " must be a mapping (key: value)");
  for (const auto& kv : map) {
    // A complex key ("? [a, b]" or "? {a: b}") is not a name: as<std::string>() would throw
    // YAML's own exception past ScenarioError (found by fuzz/config_files_fuzz.cpp).
    if (!kv.first.IsScalar()) fail(file, kv.first, "a key in " + what + " is not a plain name");
    const auto key = kv.first.as<std::string>();
    if (std::none_of(known.begin(), known.end(), [&key](const char* k) { return key == k; })) {
      std::string list;
      for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
      fail(file, kv.first, "unknown key '" + key + "' in " + what + " (known: " + list + ")");
    }
  }
}

std::string scalar(const std::string& file, const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) fail(file, n, what + " must be a single value");
  return n.as<std::string>();
}

std::vector<std::string> strings(const std::string& file, const YAML::Node& n, const std::string& what) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
  } else if (n.IsSequence()) {
    for (const auto& x : n) out.push_back(scalar(file, x, what));
  } else {
    fail(file, n, what + " must be a text or a list of texts");
  }
  return out;
}

double number(const std::string& file, const YAML::Node& n, const std::string& what, double min, double max) {
  double v = 0;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    fail(file, n, what + " must be a number");
  }
  if (!std::isfinite(v) || v < min || v > max) {
    char range[64];
    std::snprintf(range, sizeof range, "%g and %g", min, max);
    fail(file, n, what + " must be between " + range);
  }
  return v;
}

std::chrono::milliseconds seconds(const std::string& file, const YAML::Node& n, const std::string& what) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(number(file, n, what, 0.1, 3600) * 1000)));
}

Expectation expectation(const std::string& file, const YAML::Node& n) {
  Expectation e;
  if (!n || n.IsNull()) return e;
  only_keys(file, n, "expect", {"contains", "not_contains", "regex", "max_latency_ms", "tools"});
  if (n["tools"]) e.tools = strings(file, n["tools"], "tools");
  if (n["contains"]) e.contains = strings(file, n["contains"], "contains");
  if (n["not_contains"]) e.not_contains = strings(file, n["not_contains"], "not_contains");
  if (n["regex"]) {
    e.regex = strings(file, n["regex"], "regex");
    for (const auto& r : e.regex) {
      try {
        boost::regex re(r, boost::regex::perl | boost::regex::icase);
      } catch (const std::exception& ex) {
        fail(file, n["regex"], "regex '" + r + "' is not valid: " + ex.what());
      }
    }
  }
  if (n["max_latency_ms"]) e.max_latency_ms = static_cast<int>(number(file, n["max_latency_ms"], "max_latency_ms", 0, 600000));
  return e;
}

bool truthy(const std::string& file, const YAML::Node& n, const std::string& what) {
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    fail(file, n, what + " must be true or false");
  }
}

}  // namespace

Scenario parse_scenario(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ScenarioError(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML or JSON: " + e.msg);
  }
  if (!root.IsMap()) throw ScenarioError(file + ": a scenario is a mapping with at least `turns:`");
  only_keys(file, root, "the scenario",
            {"name", "persona", "description", "metadata", "to", "from", "timeout_s", "turn_timeout_s",
             "talk_timeout_s", "greeting", "turns"});
  Scenario s;
  s.file = file;
  s.name = root["name"] ? scalar(file, root["name"], "name") : std::filesystem::path(file).stem().string();
  if (root["persona"]) s.persona = scalar(file, root["persona"], "persona");
  else if (root["description"]) s.persona = scalar(file, root["description"], "description");
  if (const auto m = root["metadata"]) {
    if (!m.IsMap()) fail(file, m, "metadata must be a mapping");
    for (const auto& kv : m) s.metadata[kv.first.as<std::string>()] = kv.second.IsScalar() ? kv.second.as<std::string>() : YAML::Dump(kv.second);
  }
  if (root["to"]) s.to = scalar(file, root["to"], "to");
  if (root["from"]) s.from = scalar(file, root["from"], "from");
  if (root["timeout_s"]) s.call_timeout = seconds(file, root["timeout_s"], "timeout_s");
  if (root["turn_timeout_s"]) s.turn_timeout = seconds(file, root["turn_timeout_s"], "turn_timeout_s");
  if (root["talk_timeout_s"]) s.talk_timeout_s = number(file, root["talk_timeout_s"], "talk_timeout_s", 1, 86400);
  if (const auto g = root["greeting"]) {
    if (g.IsScalar()) {
      s.wait_for_greeting = truthy(file, g, "greeting");
    } else {
      only_keys(file, g, "greeting", {"expect", "timeout_s"});
      s.greeting = expectation(file, g["expect"]);
      if (g["timeout_s"]) s.greeting_timeout = seconds(file, g["timeout_s"], "greeting timeout_s");
    }
  }
  const auto turns = root["turns"];
  if (!turns || !turns.IsSequence() || turns.size() == 0)
    fail(file, turns ? turns : root, "`turns:` must be a list with at least one turn (- say: ... or - wait: true)");
  int i = 0;
  for (const auto& t : turns) {
    ++i;
    const std::string what = "turn " + std::to_string(i);
    only_keys(file, t, what, {"say", "wait", "expect", "timeout_s"});
    ScenarioTurn turn;
    const bool has_say = static_cast<bool>(t["say"]);
    const bool waits = t["wait"] && truthy(file, t["wait"], what + " wait");
    if (has_say == waits) fail(file, t, what + " needs exactly one of `say: <text>` or `wait: true`");
    if (has_say) {
      turn.say = scalar(file, t["say"], what + " say");
      if (turn.say.find_first_not_of(" \t\r\n") == std::string::npos) fail(file, t["say"], what + " says nothing");
    }
    turn.expect = expectation(file, t["expect"]);
    if (t["timeout_s"]) turn.timeout = seconds(file, t["timeout_s"], what + " timeout_s");
    s.turns.push_back(std::move(turn));
  }
  return s;
}

Scenario load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ScenarioError(path + ": cannot read the scenario file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_scenario(ss.str(), path);
}

std::vector<Scenario> load_scenarios(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw ScenarioError(dir + ": not a directory of scenario files");
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw ScenarioError(dir + ": no *.yaml, *.yml or *.json scenario files");
  std::vector<Scenario> out;
  std::set<std::string> names;
  for (const auto& f : files) {
    out.push_back(load_scenario(f));
    if (!names.insert(out.back().name).second)
      throw ScenarioError(f + ": another scenario is also named '" + out.back().name + "'");
  }
  return out;
}

std::string normalize_words(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80 || c == '\'') {
      if (space && !out.empty()) out += ' ';
      space = false;
      out += static_cast<char>(std::tolower(u));
    } else {
      space = true;
    }
  }
  return out;
}

std::vector<std::string> check(const Expectation& e, const std::string& reply, double latency_ms) {
  std::vector<std::string> why;
  const std::string words = " " + normalize_words(reply) + " ";
  auto has = [&words](const std::string& needle) {
    const auto n = normalize_words(needle);
    return !n.empty() && words.find(" " + n + " ") != std::string::npos;
  };
  for (const auto& c : e.contains)
    if (!has(c)) why.push_back("expected the reply to contain \"" + c + "\"");
  for (const auto& c : e.not_contains)
    if (has(c)) why.push_back("expected the reply not to contain \"" + c + "\"");
  for (const auto& r : e.regex) {
    const boost::regex re(r, boost::regex::perl | boost::regex::icase);
    if (!boost::regex_search(reply, re)) why.push_back("expected the reply to match /" + r + "/");
  }
  if (e.max_latency_ms) {
    if (latency_ms < 0) why.push_back("the reply's latency is unknown (max_latency_ms " + std::to_string(*e.max_latency_ms) + ")");
    else if (latency_ms > *e.max_latency_ms)
      why.push_back("the reply came after " + std::to_string(static_cast<long long>(latency_ms)) + " ms (max_latency_ms " +
                    std::to_string(*e.max_latency_ms) + ")");
  }
  return why;
}

}  // namespace vox::talk
