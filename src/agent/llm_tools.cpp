#include "agent/llm_tools.hpp"
#include "core/json_text.hpp"

#include <yaml-cpp/yaml.h>
#include <boost/json.hpp>

#include <cmath>
#include <cstdlib>
#include <regex>
#include <stdexcept>

#include "core/log.hpp"

namespace vox::agent {
namespace json = boost::json;

namespace {

// A YAML node as JSON (plain scalars typed as YAML 1.2's core schema types them).
json::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& v : n) a.push_back(to_json(v));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return json::value(s);  // quoted
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      static const std::regex integer(R"([-+]?[0-9]+)"), number(R"([-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)");
      if (std::regex_match(s, integer)) return std::strtoll(s.c_str(), nullptr, 10);
      if (std::regex_match(s, number)) return std::strtod(s.c_str(), nullptr);
      return json::value(s);
    }
    default:
      return nullptr;
  }
}

bool valid_tool_name(const std::string& name) {
  static const std::regex re("[a-zA-Z0-9_-]{1,64}");
  return std::regex_match(name, re);
}

std::string type_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return "object";
    case json::kind::array: return "array";
    case json::kind::string: return "string";
    case json::kind::bool_: return "boolean";
    case json::kind::null: return "null";
    case json::kind::double_: return "number";
    default: return "integer";
  }
}

bool has_type(const json::value& v, std::string_view t) {
  const auto actual = type_of(v);
  if (t == actual) return true;
  if (t == "number") return actual == "integer";
  if (t == "integer" && v.is_double()) return std::floor(v.as_double()) == v.as_double();
  return false;
}

double number_of(const json::value& v) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return 0;
}

std::string check(const json::value& schema, const json::value& v, const std::string& at, int depth) {
  if (depth > 16 || !schema.is_object()) return {};
  const auto& s = schema.as_object();
  const std::string where = at.empty() ? "arguments" : at;
  if (const auto* t = s.if_contains("type")) {
    bool ok = false;
    std::string names;
    if (t->is_string()) {
      ok = has_type(v, t->as_string());
      names = t->as_string();
    } else if (t->is_array()) {
      for (const auto& one : t->as_array()) {
        if (!one.is_string()) continue;
        ok = ok || has_type(v, one.as_string());
        names += (names.empty() ? "" : " or ") + std::string(one.as_string());
      }
    } else {
      ok = true;
    }
    if (!ok) return where + ": must be " + names + ", got " + type_of(v);
  }
  if (const auto* e = s.if_contains("enum"); e && e->is_array()) {
    bool found = false;
    for (const auto& one : e->as_array()) found = found || one == v;
    if (!found) return where + ": must be one of " + vox::json_text(*e);
  }
  if (v.is_string()) {
    const auto len = v.as_string().size();
    if (const auto* m = s.if_contains("minLength"); m && len < number_of(*m)) return where + ": too short";
    if (const auto* m = s.if_contains("maxLength"); m && len > number_of(*m)) return where + ": too long";
  }
  if (v.is_number()) {
    const double x = number_of(v);
    if (const auto* m = s.if_contains("minimum"); m && x < number_of(*m)) return where + ": below " + vox::json_text(*m);
    if (const auto* m = s.if_contains("maximum"); m && x > number_of(*m)) return where + ": above " + vox::json_text(*m);
  }
  if (v.is_array()) {
    if (const auto* items = s.if_contains("items")) {
      int i = 0;
      for (const auto& one : v.as_array()) {
        auto err = check(*items, one, where + "[" + std::to_string(i++) + "]", depth + 1);
        if (!err.empty()) return err;
      }
    }
  }
  if (v.is_object()) {
    const auto& o = v.as_object();
    const auto* props = s.if_contains("properties");
    if (const auto* req = s.if_contains("required"); req && req->is_array()) {
      for (const auto& r : req->as_array()) {
        if (r.is_string() && !o.contains(r.as_string())) {
          return (at.empty() ? std::string() : at + ".") + std::string(r.as_string()) + ": required";
        }
      }
    }
    const auto* extra = s.if_contains("additionalProperties");
    const bool closed = extra && extra->is_bool() && !extra->as_bool();
    for (const auto& [k, val] : o) {
      const std::string path = (at.empty() ? std::string() : at + ".") + std::string(k);
      const json::value* sub = props && props->is_object() ? props->as_object().if_contains(k) : nullptr;
      if (!sub) {
        if (closed) return path + ": not a known parameter";
        continue;
      }
      auto err = check(*sub, val, path, depth + 1);
      if (!err.empty()) return err;
    }
  }
  return {};
}

}  // namespace

std::string expand_env(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const auto close = text.find('}', i + 2);
      if (close != std::string_view::npos) {
        const std::string name(text.substr(i + 2, close - i - 2));
        if (const char* v = std::getenv(name.c_str()); v && *v) {
          out += v;
          redact_in_logs(v);  // tokens in tool URLs and headers never reach a log line
        }
        i = close;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::vector<HttpTool> load_tools_file(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::invalid_argument("cannot read the tools file " + path + " (check LLM_TOOLS_FILE / --llm-tools)");
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument("the tools file " + path + " is not valid YAML or JSON: " + e.msg + " at line " +
                                std::to_string(e.mark.line + 1));
  }
  const YAML::Node list = root.IsMap() ? root["tools"] : root;
  if (!list || !list.IsSequence()) throw std::invalid_argument("the tools file " + path + " needs a list under \"tools\"");
  std::vector<HttpTool> out;
  int index = 0;
  for (const auto& n : list) {
    ++index;
    const std::string label = path + ": tool " + std::to_string(index);
    if (!n.IsMap()) throw std::invalid_argument(label + " is not a mapping");
    HttpTool t;
    t.spec.name = n["name"] ? n["name"].as<std::string>() : "";
    if (!valid_tool_name(t.spec.name)) {
      throw std::invalid_argument(label + ": \"name\" must be 1-64 letters, digits, _ or -");
    }
    if (t.spec.name == "end_call" || t.spec.name == "transfer_call" || t.spec.name == "send_dtmf") {
      throw std::invalid_argument(label + ": \"" + t.spec.name + "\" is a built-in tool's name");
    }
    t.spec.description = n["description"] ? n["description"].as<std::string>() : "";
    if (n["parameters"]) {
      const auto schema = to_json(n["parameters"]);
      if (!schema.is_object()) throw std::invalid_argument(label + " (" + t.spec.name + "): \"parameters\" must be a JSON Schema object");
      t.spec.parameters_json = vox::json_text(schema);
    }
    t.url = n["url"] ? expand_env(n["url"].as<std::string>()) : "";
    if (t.url.rfind("http://", 0) != 0 && t.url.rfind("https://", 0) != 0) {
      throw std::invalid_argument(label + " (" + t.spec.name + "): \"url\" must be an http:// or https:// URL");
    }
    if (n["method"]) t.method = n["method"].as<std::string>();
    if (t.method != "POST" && t.method != "GET") {
      throw std::invalid_argument(label + " (" + t.spec.name + "): \"method\" must be POST or GET");
    }
    if (n["headers"]) {
      if (!n["headers"].IsMap()) throw std::invalid_argument(label + " (" + t.spec.name + "): \"headers\" must be a mapping");
      for (const auto& kv : n["headers"]) t.headers.emplace_back(kv.first.as<std::string>(), expand_env(kv.second.as<std::string>()));
    }
    if (n["timeout_ms"]) t.timeout_ms = n["timeout_ms"].as<int>();
    if (t.timeout_ms < 100 || t.timeout_ms > 60000) {
      throw std::invalid_argument(label + " (" + t.spec.name + "): \"timeout_ms\" must be 100..60000");
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string validate_arguments(std::string_view schema_json, std::string_view arguments) {
  boost::system::error_code ec;
  auto args = json::parse(arguments.empty() ? std::string_view("{}") : arguments, ec);
  if (ec) return "the arguments are not valid JSON";
  auto schema = json::parse(schema_json, ec);
  if (ec) return {};
  return check(schema, args, "", 0);
}

ToolSpec end_call_tool() {
  return {"end_call",
          "Ends the phone call. Use it when the caller says goodbye or the conversation is over. Say the goodbye in "
          "`goodbye`; the call hangs up after it has been heard.",
          R"({"type":"object","properties":{"goodbye":{"type":"string","description":"The last words to say"},)"
          R"("reason":{"type":"string"}}})"};
}

ToolSpec transfer_call_tool() {
  return {"transfer_call",
          "Transfers the caller to a person or another line (a phone number in E.164 form or a sip: address from the "
          "allowed list). Say what happens in `announcement`.",
          R"({"type":"object","properties":{"to":{"type":"string"},"announcement":{"type":"string"}},"required":["to"]})"};
}

ToolSpec send_dtmf_tool() {
  return {"send_dtmf",
          "Presses keys on the phone line (0-9, *, #, and w for a half-second pause), e.g. to navigate a menu.",
          R"({"type":"object","properties":{"digits":{"type":"string","minLength":1,"maxLength":64}},"required":["digits"]})"};
}

bool transfer_allowed(const std::vector<std::string>& allow, std::string_view target) {
  if (target.empty()) return false;
  for (const auto& a : allow) {
    if (!a.empty() && a.back() == '*') {
      if (target.substr(0, a.size() - 1) == std::string_view(a).substr(0, a.size() - 1)) return true;
    } else if (a == target) {
      return true;
    }
  }
  return false;
}

}  // namespace vox::agent
