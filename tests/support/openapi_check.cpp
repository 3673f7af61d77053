#include "support/openapi_check.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace vox::testing {

namespace json = boost::json;

namespace {

// ---------------------------------------------------------------------------
// small string helpers

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `s`; `plus_is_space` for query strings / form bodies.
std::optional<std::string> pct_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------
// JSON helpers

std::string truncate(std::string s, std::size_t max) {
  if (s.size() > max) {
    s.resize(max);
    s += "...";
  }
  return s;
}

// Text of a scalar; doubles in shortest round-trip form ("1.5", "32", not "1.5E0").
std::string scalar_text(const json::value& v) {
  if (v.is_double()) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
    if (ec == std::errc()) return std::string(buf, end);
  }
  return json::serialize(v);
}

// Short rendering of a value for messages.
std::string render(const json::value& v) {
  switch (v.kind()) {
    case json::kind::array:
      return "array[" + std::to_string(v.get_array().size()) + "]";
    case json::kind::object:
      return "object";
    default:
      return truncate(scalar_text(v), 80);
  }
}

std::string render_list(const json::array& a, std::size_t max_items = 60) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < a.size() && i < max_items; ++i) parts.push_back(truncate(scalar_text(a[i]), 60));
  std::string out = "[" + join(parts, ", ");
  if (a.size() > max_items) out += ", ...";
  return out + "]";
}

bool is_number(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

double as_double(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

bool is_integral(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (!v.is_double()) return false;
  double d = v.get_double();
  return std::isfinite(d) && std::floor(d) == d;
}

bool json_equal(const json::value& a, const json::value& b) {
  if (is_number(a) && is_number(b)) {
    if (a.is_double() || b.is_double()) return as_double(a) == as_double(b);
    if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
    if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
    const json::value& s = a.is_int64() ? a : b;
    const json::value& u = a.is_int64() ? b : a;
    return s.get_int64() >= 0 && static_cast<std::uint64_t>(s.get_int64()) == u.get_uint64();
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!json_equal(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const json::value* other = y.if_contains(kv.key());
      if (!other || !json_equal(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

std::optional<json::value> parse_json(std::string_view text, std::string* error = nullptr) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    if (error) *error = ec.message();
    return std::nullopt;
  }
  return v;
}

const json::object* obj_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

const json::array* arr_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

std::optional<std::string> str_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_string()) return std::string(v->get_string());
  return std::nullopt;
}

bool bool_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

// Resolves a local JSON pointer reference ("#/components/schemas/X").
const json::value* resolve_pointer(const json::value& root, std::string_view ref) {
  if (ref.empty() || ref.front() != '#') return nullptr;
  ref.remove_prefix(1);
  auto decoded = pct_decode(ref, false);
  if (!decoded) return nullptr;
  std::string_view p = *decoded;
  const json::value* cur = &root;
  if (p.empty()) return cur;
  if (p.front() != '/') return nullptr;
  p.remove_prefix(1);
  while (true) {
    std::size_t slash = p.find('/');
    std::string_view raw = p.substr(0, slash);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && raw[i + 1] == '1') {
        token.push_back('/');
        ++i;
      } else if (raw[i] == '~' && i + 1 < raw.size() && raw[i + 1] == '0') {
        token.push_back('~');
        ++i;
      } else {
        token.push_back(raw[i]);
      }
    }
    if (cur->is_object()) {
      cur = cur->get_object().if_contains(token);
    } else if (cur->is_array()) {
      std::size_t idx = 0;
      auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), idx);
      if (ec != std::errc() || ptr != token.data() + token.size() || idx >= cur->get_array().size()) return nullptr;
      cur = &cur->get_array()[idx];
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
    if (slash == std::string_view::npos) return cur;
    p.remove_prefix(slash + 1);
  }
}

// Follows a chain of {"$ref": ...} objects (for parameters, request bodies,
// responses, security schemes). Returns nullptr on a broken or cyclic chain.
const json::value* deref(const json::value& root, const json::value* v) {
  for (int depth = 0; v && depth < 32; ++depth) {
    if (!v->is_object()) return v;
    auto ref = str_member(v->get_object(), "$ref");
    if (!ref) return v;
    v = resolve_pointer(root, *ref);
  }
  return nullptr;
}

std::string prop_path(const std::string& base, std::string_view name) {
  bool ident = !name.empty() && !(name.front() >= '0' && name.front() <= '9');
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) ident = false;
  }
  if (ident) return base + "." + std::string(name);
  return base + "[" + json::serialize(json::value(name)) + "]";
}

std::string index_path(const std::string& base, std::size_t i) { return base + "[" + std::to_string(i) + "]"; }

std::vector<std::string> schema_types(const json::object& s) {
  std::vector<std::string> out;
  const json::value* t = s.if_contains("type");
  if (!t) return out;
  if (t->is_string()) {
    out.emplace_back(t->get_string());
  } else if (t->is_array()) {
    for (const auto& e : t->get_array()) {
      if (e.is_string()) out.emplace_back(e.get_string());
    }
  }
  return out;
}

bool type_matches(const json::value& v, std::string_view t) {
  if (t == "string") return v.is_string();
  if (t == "integer") return is_integral(v);
  if (t == "number") return is_number(v);
  if (t == "boolean") return v.is_bool();
  if (t == "null") return v.is_null();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  return true;  // unknown type keyword: do not complain
}

// Converts a wire string to a typed scalar, if it has that type's syntax.
std::optional<json::value> coerce_scalar(std::string_view s, std::string_view type) {
  if (type == "integer" || type == "number") {
    std::int64_t i = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return json::value(i);
    std::uint64_t u = 0;
    auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), u);
    if (ec2 == std::errc() && p2 == s.data() + s.size() && !s.empty()) return json::value(u);
    if (type == "number") {
      double d = 0;
      auto [p3, ec3] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec3 == std::errc() && p3 == s.data() + s.size() && !s.empty() && std::isfinite(d)) return json::value(d);
    }
    return std::nullopt;
  }
  if (type == "boolean") {
    if (s == "true") return json::value(true);
    if (s == "false") return json::value(false);
    return std::nullopt;
  }
  if (type == "object") {
    auto v = parse_json(s);
    if (v && v->is_object()) return v;
    return std::nullopt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// regex cache (patterns are ECMAScript-ish; std::regex ECMAScript is close enough)

class RegexCache {
 public:
  std::shared_ptr<const std::regex> get(const std::string& pattern) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(pattern);
    if (it != cache_.end()) return it->second;
    std::shared_ptr<const std::regex> re;
    try {
      re = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      re = nullptr;  // unsupported pattern: skip the check
    }
    cache_.emplace(pattern, re);
    return re;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const std::regex>> cache_;
};

// ---------------------------------------------------------------------------
// schema validator

struct Issue {
  Issue(std::string p, std::string m, bool vf = false, bool tm = false, std::string exp = {})
      : path(std::move(p)), msg(std::move(m)), value_first(vf), type_mismatch(tm), expected(std::move(exp)) {}
  std::string path;  // "$", "$.a[0]", ...
  std::string msg;   // starts with the rendered value when value_first
  bool value_first = false;
  bool type_mismatch = false;
  std::string expected;  // for type mismatches: "integer", "string or null", ...
};
using Issues = std::vector<Issue>;

class Validator {
 public:
  Validator(const json::value& root, RegexCache& regex) : root_(root), regex_(regex) {}

  // `wire`: scalar values arrived as text (query, header, form field) and are
  // converted according to the schema's type before checking.
  void validate(const json::value& v, const json::value& schema, const std::string& path, bool wire, Issues& out) {
    if (schema.is_bool()) {
      if (!schema.get_bool()) out.push_back({path, render(v) + " is not allowed here (schema is false)", true});
      return;
    }
    if (!schema.is_object()) return;
    const json::object& s = schema.get_object();

    Frame frame{&s, &v, wire};
    if (std::find(stack_.begin(), stack_.end(), frame) != stack_.end()) return;  // $ref cycle
    if (stack_.size() > 512) {
      out.push_back({path, "schema nesting too deep (cyclic $ref?)"});
      return;
    }
    stack_.push_back(frame);
    struct Pop {
      std::vector<Frame>& st;
      ~Pop() { st.pop_back(); }
    } pop{stack_};

    std::vector<std::string> types = schema_types(s);
    if (wire && v.is_string() && !types.empty() &&
        std::find(types.begin(), types.end(), "string") == types.end()) {
      validate_wire_string(v.get_string(), schema, types, path, out);
      return;
    }

    if (const json::value* ref = s.if_contains("$ref")) {
      const json::value* target = ref->is_string() ? resolve_pointer(root_, ref->get_string()) : nullptr;
      if (!target) {
        out.push_back({path, "schema $ref " + render(*ref) + " cannot be resolved"});
      } else {
        validate(v, *target, path, wire, out);
      }
    }

    if (!types.empty()) {
      bool ok = false;
      for (const auto& t : types) ok = ok || type_matches(v, t);
      if (!ok && v.is_null() && bool_member(s, "nullable")) return;  // OpenAPI 3.0 nullable
      if (!ok) {
        std::vector<std::string> expected = types;
        if (bool_member(s, "nullable")) expected.emplace_back("null");
        std::string exp = join(expected, " or ");
        Issue is{path, render(v) + " is not " + exp, true, true, exp};
        out.push_back(std::move(is));
        return;
      }
    } else if (v.is_null() && bool_member(s, "nullable")) {
      return;
    }

    if (const json::array* e = arr_member(s, "enum")) {
      bool found = false;
      for (const auto& cand : *e) found = found || matches_literal(v, cand, wire);
      if (!found) out.push_back({path, render(v) + " not in enum " + render_list(*e), true});
    }
    if (const json::value* c = s.if_contains("const")) {
      if (!matches_literal(v, *c, wire)) out.push_back({path, render(v) + " is not the constant " + render(*c), true});
    }

    if (is_number(v)) check_number(v, s, path, out);
    if (v.is_string()) check_string(v.get_string(), s, path, out);
    if (v.is_array()) check_array(v.get_array(), s, path, wire, out);
    if (v.is_object()) check_object(v.get_object(), s, path, wire, out);

    if (const json::array* all = arr_member(s, "allOf")) {
      for (const auto& sub : *all) validate(v, sub, path, wire, out);
    }
    if (const json::array* any = arr_member(s, "anyOf")) check_any_of(v, *any, path, wire, out, "anyOf");
    if (const json::array* one = arr_member(s, "oneOf")) check_one_of(v, *one, s, path, wire, out);
    if (const json::value* n = s.if_contains("not")) {
      Issues tmp;
      validate(v, *n, path, wire, tmp);
      if (tmp.empty()) out.push_back({path, render(v) + " matches a schema under \"not\"", true});
    }
  }

  // Quick check whether `v` could plausibly be meant for `schema` (its type
  // fits); used to pick the relevant alternative when anyOf/oneOf fail.
  bool type_compatible(const json::value& v, const json::value& schema, bool wire, int depth = 0) {
    if (depth > 32) return true;
    if (schema.is_bool()) return schema.get_bool();
    if (!schema.is_object()) return true;
    const json::object& s = schema.get_object();
    if (auto ref = str_member(s, "$ref")) {
      const json::value* t = resolve_pointer(root_, *ref);
      if (t && !type_compatible(v, *t, wire, depth + 1)) return false;
    }
    std::vector<std::string> types = schema_types(s);
    if (!types.empty()) {
      bool ok = false;
      for (const auto& t : types) {
        if (type_matches(v, t)) ok = true;
        if (wire && v.is_string() && (t == "array" || coerce_scalar(v.get_string(), t))) ok = true;
      }
      if (v.is_null() && bool_member(s, "nullable")) ok = true;
      if (!ok) return false;
    }
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (const json::array* alts = arr_member(s, kw)) {
        bool any = false;
        for (const auto& a : *alts) any = any || type_compatible(v, a, wire, depth + 1);
        if (!any) return false;
      }
    }
    if (const json::array* all = arr_member(s, "allOf")) {
      for (const auto& a : *all) {
        if (!type_compatible(v, a, wire, depth + 1)) return false;
      }
    }
    return true;
  }

 private:
  struct Frame {
    const json::object* schema;
    const json::value* value;
    bool wire;
    bool operator==(const Frame& o) const { return schema == o.schema && value == o.value && wire == o.wire; }
  };

  bool matches_literal(const json::value& v, const json::value& lit, bool wire) {
    if (json_equal(v, lit)) return true;
    if (wire && v.is_string()) {  // text on the wire vs. a typed literal
      std::string_view text = v.get_string();
      if (lit.is_bool()) return text == (lit.get_bool() ? "true" : "false");
      if (is_number(lit)) {
        auto n = coerce_scalar(text, "number");
        return n && json_equal(*n, lit);
      }
    }
    return false;
  }

  void validate_wire_string(std::string_view text, const json::value& schema, const std::vector<std::string>& types,
                            const std::string& path, Issues& out) {
    for (const auto& t : types) {
      if (t == "array") continue;
      if (auto coerced = coerce_scalar(text, t)) {
        validate(*coerced, schema, path, false, out);
        return;
      }
    }
    if (std::find(types.begin(), types.end(), "array") != types.end()) {
      // A single occurrence of an array-valued field: one element, or a JSON array.
      json::value one = json::array{json::value(text)};
      Issues as_single;
      validate(one, schema, path, true, as_single);
      if (as_single.empty()) return;
      auto parsed = parse_json(text);
      if (parsed && parsed->is_array()) {  // clearly meant as JSON: report against that
        validate(*parsed, schema, path, false, out);
        return;
      }
      out.insert(out.end(), as_single.begin(), as_single.end());
      return;
    }
    std::string exp = join(types, " or ");
    out.push_back({path, render(json::value(text)) + " is not " + exp, true, true, exp});
  }

  void check_number(const json::value& v, const json::object& s, const std::string& path, Issues& out) {
    double d = as_double(v);
    auto num = [&](std::string_view k) -> std::optional<double> {
      const json::value* x = s.if_contains(k);
      if (x && is_number(*x)) return as_double(*x);
      return std::nullopt;
    };
    auto excl = [&](std::string_view k) {
      const json::value* x = s.if_contains(k);
      return x && x->is_bool() && x->get_bool();
    };
    if (auto mn = num("minimum")) {
      if (excl("exclusiveMinimum") ? !(d > *mn) : d < *mn) {
        out.push_back({path, render(v) + (excl("exclusiveMinimum") ? " <= exclusive minimum " : " < minimum ") +
                                 render(*s.if_contains("minimum")),
                       true});
      }
    }
    if (auto mx = num("maximum")) {
      if (excl("exclusiveMaximum") ? !(d < *mx) : d > *mx) {
        out.push_back({path, render(v) + (excl("exclusiveMaximum") ? " >= exclusive maximum " : " > maximum ") +
                                 render(*s.if_contains("maximum")),
                       true});
      }
    }
    if (auto emn = num("exclusiveMinimum"); emn && !(d > *emn)) {
      out.push_back({path, render(v) + " <= exclusive minimum " + render(*s.if_contains("exclusiveMinimum")),
                     true});
    }
    if (auto emx = num("exclusiveMaximum"); emx && !(d < *emx)) {
      out.push_back({path, render(v) + " >= exclusive maximum " + render(*s.if_contains("exclusiveMaximum")),
                     true});
    }
    if (auto mo = num("multipleOf"); mo && *mo > 0) {
      double q = d / *mo;
      if (std::fabs(q - std::round(q)) > 1e-9 * std::max(1.0, std::fabs(q))) {
        out.push_back({path, render(v) + " is not a multiple of " + render(*s.if_contains("multipleOf")), true});
      }
    }
  }

  void check_string(std::string_view str, const json::object& s, const std::string& path, Issues& out) {
    const json::value* mn = s.if_contains("minLength");
    const json::value* mx = s.if_contains("maxLength");
    std::size_t len = (mn || mx) ? utf8_length(str) : 0;
    if (mn && is_number(*mn) && static_cast<double>(len) < as_double(*mn)) {
      out.push_back({path, render(json::value(str)) + " is shorter than minLength " + render(*mn) +
                               " (length " + std::to_string(len) + ")",
                     true});
    }
    if (mx && is_number(*mx) && static_cast<double>(len) > as_double(*mx)) {
      out.push_back({path, render(json::value(str)) + " is longer than maxLength " + render(*mx) +
                               " (length " + std::to_string(len) + ")",
                     true});
    }
    if (auto pattern = str_member(s, "pattern")) {
      if (auto re = regex_.get(*pattern)) {
        if (!std::regex_search(str.begin(), str.end(), *re)) {
          out.push_back({path, render(json::value(str)) + " does not match pattern " + *pattern, true});
        }
      }
    }
  }

  void check_array(const json::array& a, const json::object& s, const std::string& path, bool wire, Issues& out) {
    if (const json::value* mn = s.if_contains("minItems"); mn && is_number(*mn) && a.size() < as_double(*mn)) {
      out.push_back({path, "array has " + std::to_string(a.size()) + " items, fewer than minItems " +
                               render(*mn)});
    }
    if (const json::value* mx = s.if_contains("maxItems"); mx && is_number(*mx) && a.size() > as_double(*mx)) {
      out.push_back({path, "array has " + std::to_string(a.size()) + " items, more than maxItems " +
                               render(*mx)});
    }
    if (bool_member(s, "uniqueItems")) {
      for (std::size_t i = 0; i < a.size(); ++i) {
        for (std::size_t j = i + 1; j < a.size(); ++j) {
          if (json_equal(a[i], a[j])) {
            out.push_back({path, "items " + std::to_string(i) + " and " + std::to_string(j) +
                                     " are equal but uniqueItems is set"});
            i = a.size();
            break;
          }
        }
      }
    }
    std::size_t first = 0;
    if (const json::array* prefix = arr_member(s, "prefixItems")) {
      for (; first < prefix->size() && first < a.size(); ++first) {
        validate(a[first], (*prefix)[first], index_path(path, first), wire, out);
      }
    }
    if (const json::value* items = s.if_contains("items")) {
      if (items->is_array()) {  // draft-04 style tuple
        for (std::size_t i = 0; i < a.size() && i < items->get_array().size(); ++i) {
          validate(a[i], items->get_array()[i], index_path(path, i), wire, out);
        }
      } else {
        for (std::size_t i = first; i < a.size(); ++i) validate(a[i], *items, index_path(path, i), wire, out);
      }
    }
  }

  void check_object(const json::object& o, const json::object& s, const std::string& path, bool wire, Issues& out) {
    if (const json::array* req = arr_member(s, "required")) {
      for (const auto& r : *req) {
        if (r.is_string() && !o.contains(r.get_string())) {
          out.push_back({path, "missing required " + json::serialize(r)});
        }
      }
    }
    const json::object* props = obj_member(s, "properties");
    const json::object* pattern_props = obj_member(s, "patternProperties");
    const json::value* additional = s.if_contains("additionalProperties");
    for (const auto& kv : o) {
      std::string child = prop_path(path, kv.key());
      bool known = false;
      if (props) {
        if (const json::value* ps = props->if_contains(kv.key())) {
          known = true;
          validate(kv.value(), *ps, child, wire, out);
        }
      }
      if (pattern_props) {
        for (const auto& pp : *pattern_props) {
          auto re = regex_.get(std::string(pp.key()));
          std::string_view key = kv.key();
          if (re && std::regex_search(key.begin(), key.end(), *re)) {
            known = true;
            validate(kv.value(), pp.value(), child, wire, out);
          }
        }
      }
      if (known || !additional) continue;
      if (additional->is_bool()) {
        if (!additional->get_bool()) {
          out.push_back({path, "unexpected property " + json::serialize(json::value(kv.key())) +
                                   " (additionalProperties is false)"});
        }
      } else {
        validate(kv.value(), *additional, child, wire, out);
      }
    }
    if (const json::value* mn = s.if_contains("minProperties"); mn && is_number(*mn) && o.size() < as_double(*mn)) {
      out.push_back({path, "object has " + std::to_string(o.size()) + " properties, fewer than minProperties " +
                               render(*mn)});
    }
    if (const json::value* mx = s.if_contains("maxProperties"); mx && is_number(*mx) && o.size() > as_double(*mx)) {
      out.push_back({path, "object has " + std::to_string(o.size()) + " properties, more than maxProperties " +
                               render(*mx)});
    }
  }

  void report_no_match(const json::value& v, const json::array& alts, std::vector<Issues>& per,
                       const std::string& path, bool wire, std::string_view kw, Issues& out) {
    std::vector<std::size_t> compatible;
    for (std::size_t i = 0; i < alts.size(); ++i) {
      if (type_compatible(v, alts[i], wire)) compatible.push_back(i);
    }
    if (compatible.size() == 1) {  // e.g. anyOf [X, {type: null}] with a non-null value
      const Issues& best = per[compatible.front()];
      out.insert(out.end(), best.begin(), best.end());
      return;
    }
    if (compatible.size() > 1) {
      // Several object alternatives: if exactly one has no problem at this level
      // (all its required properties are present, ...), the value was meant
      // for it; report its nested problems directly.
      std::vector<std::size_t> deep_only;
      for (std::size_t i : compatible) {
        bool at_root = std::any_of(per[i].begin(), per[i].end(), [&](const Issue& is) { return is.path == path; });
        if (!at_root) deep_only.push_back(i);
      }
      if (deep_only.size() == 1) {
        const Issues& best = per[deep_only.front()];
        out.insert(out.end(), best.begin(), best.end());
        return;
      }
    }
    if (compatible.empty()) {
      // Every alternative rejected the value's type: "5 is not string or null".
      std::vector<std::string> expected;
      bool all_types = true;
      for (const auto& issues : per) {
        if (issues.size() == 1 && issues.front().type_mismatch && issues.front().path == path) {
          if (std::find(expected.begin(), expected.end(), issues.front().expected) == expected.end()) {
            expected.push_back(issues.front().expected);
          }
        } else {
          all_types = false;
        }
      }
      if (all_types && !expected.empty()) {
        std::string exp = join(expected, " or ");
        out.push_back({path, render(v) + " is not " + exp, true, true, exp});
        return;
      }
    }
    std::vector<std::size_t> shown = compatible.empty() ? std::vector<std::size_t>{} : compatible;
    if (shown.empty()) {
      for (std::size_t i = 0; i < alts.size(); ++i) shown.push_back(i);
    }
    std::vector<std::string> reasons;
    for (std::size_t i : shown) {
      if (per[i].empty()) continue;
      const Issue& first = per[i].front();
      std::string where = first.path == path ? "" : first.path.substr(std::min(first.path.size(), path.size())) + ": ";
      reasons.push_back("#" + std::to_string(i) + " " + where + first.msg +
                        (per[i].size() > 1 ? " (+" + std::to_string(per[i].size() - 1) + " more)" : ""));
    }
    out.push_back({path, render(v) + " matches none of the " + std::string(kw) + " alternatives: " + join(reasons, "; "),
                   true});
  }

  void check_any_of(const json::value& v, const json::array& alts, const std::string& path, bool wire, Issues& out,
                    std::string_view kw) {
    std::vector<Issues> per;
    for (const auto& alt : alts) {
      Issues tmp;
      validate(v, alt, path, wire, tmp);
      if (tmp.empty()) return;
      per.push_back(std::move(tmp));
    }
    if (alts.empty()) return;
    report_no_match(v, alts, per, path, wire, kw, out);
  }

  void check_one_of(const json::value& v, const json::array& alts, const json::object& s, const std::string& path,
                    bool wire, Issues& out) {
    const json::object* disc = obj_member(s, "discriminator");
    if (disc && v.is_object()) {
      auto prop = str_member(*disc, "propertyName");
      const json::value* tag = prop ? v.get_object().if_contains(*prop) : nullptr;
      if (tag && tag->is_string()) {
        std::string key(tag->get_string());
        std::string ref;
        const json::object* mapping = obj_member(*disc, "mapping");
        if (mapping) {
          if (auto m = str_member(*mapping, key)) ref = *m;
        }
        if (ref.empty()) ref = "#/components/schemas/" + key;
        const json::value* target = resolve_pointer(root_, ref);
        if (!target) {
          std::vector<std::string> keys;
          if (mapping) {
            for (const auto& kv : *mapping) keys.emplace_back(kv.key());
          }
          out.push_back({prop_path(path, *prop), render(*tag) + " is not a known discriminator value" +
                                                     (keys.empty() ? "" : " [" + join(keys, ", ") + "]"),
                         true});
          return;
        }
        validate(v, *target, path, wire, out);
        return;
      }
    }
    std::vector<Issues> per;
    std::vector<std::size_t> matched;
    for (std::size_t i = 0; i < alts.size(); ++i) {
      Issues tmp;
      validate(v, alts[i], path, wire, tmp);
      if (tmp.empty()) matched.push_back(i);
      per.push_back(std::move(tmp));
    }
    if (alts.empty() || matched.size() == 1) return;
    if (matched.empty()) {
      report_no_match(v, alts, per, path, wire, "oneOf", out);
      return;
    }
    std::vector<std::string> idx;
    for (std::size_t i : matched) idx.push_back("#" + std::to_string(i));
    out.push_back({path, render(v) + " matches " + std::to_string(matched.size()) + " oneOf alternatives (" +
                             join(idx, ", ") + ") but exactly one is required",
                   true});
  }

  const json::value& root_;
  RegexCache& regex_;
  std::vector<Frame> stack_;
};

// ---------------------------------------------------------------------------
// paths

struct Piece {
  bool param = false;
  std::string text;  // literal text or parameter name
};

struct PathEntry {
  std::string tmpl;
  std::vector<std::vector<Piece>> segments;
  const json::object* item = nullptr;
};

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  if (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (true) {
    std::size_t slash = p.find('/');
    out.emplace_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return out;
}

std::vector<Piece> parse_segment(std::string_view seg) {
  std::vector<Piece> out;
  while (!seg.empty()) {
    std::size_t open = seg.find('{');
    std::size_t close = open == std::string_view::npos ? open : seg.find('}', open);
    if (open == std::string_view::npos || close == std::string_view::npos) {
      out.push_back({false, std::string(seg)});
      break;
    }
    if (open > 0) out.push_back({false, std::string(seg.substr(0, open))});
    out.push_back({true, std::string(seg.substr(open + 1, close - open - 1))});
    seg.remove_prefix(close + 1);
  }
  return out;
}

bool match_pieces(const std::vector<Piece>& pieces, std::size_t i, std::string_view s,
                  std::map<std::string, std::string>& params) {
  if (i == pieces.size()) return s.empty();
  const Piece& p = pieces[i];
  if (!p.param) {
    if (s.substr(0, p.text.size()) != p.text) return false;
    return match_pieces(pieces, i + 1, s.substr(p.text.size()), params);
  }
  for (std::size_t len = s.size(); len >= 1; --len) {  // greedy, non-empty
    if (match_pieces(pieces, i + 1, s.substr(len), params)) {
      params[p.text] = std::string(s.substr(0, len));
      return true;
    }
  }
  return false;
}

// 0 = literal segment, 1 = mixed (e.g. "{Sid}.json"), 2 = pure parameter.
int segment_rank(const std::vector<Piece>& pieces) {
  bool any_param = false;
  bool any_literal = false;
  for (const auto& p : pieces) (p.param ? any_param : any_literal) = true;
  if (!any_param) return 0;
  return any_literal ? 1 : 2;
}

constexpr const char* kMethods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

struct Target {
  std::string raw_path;
  std::string query;
  bool has_query = false;
};

Target split_target(std::string_view target) {
  Target t;
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  // Accept absolute URLs: drop scheme://authority.
  if (auto scheme = target.find("://"); scheme != std::string_view::npos && target.find('?') > scheme) {
    std::size_t path_start = target.find('/', scheme + 3);
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
  }
  std::size_t q = target.find('?');
  t.raw_path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    t.query = std::string(target.substr(q + 1));
    t.has_query = true;
  }
  return t;
}

struct MediaType {
  std::string essence;  // lower-case "type/subtype"
  std::map<std::string, std::string> params;
};

// Parses "type/subtype; a=b; c="d"" (also used for Content-Disposition).
MediaType parse_media_type(std::string_view s) {
  MediaType mt;
  std::size_t semi = s.find(';');
  mt.essence = lower(trim(s.substr(0, semi)));
  if (semi == std::string_view::npos) return mt;
  std::string_view rest = s.substr(semi + 1);
  while (!rest.empty()) {
    rest = trim(rest);
    std::size_t eq = rest.find('=');
    std::size_t next_semi = rest.find(';');
    if (eq == std::string_view::npos || (next_semi != std::string_view::npos && next_semi < eq)) {
      if (next_semi == std::string_view::npos) break;
      rest.remove_prefix(next_semi + 1);
      continue;
    }
    std::string key = lower(trim(rest.substr(0, eq)));
    rest.remove_prefix(eq + 1);
    rest = trim(rest);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      std::size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value.push_back(rest[i]);
      }
      rest.remove_prefix(std::min(rest.size(), i + 1));
      std::size_t after = rest.find(';');
      rest = after == std::string_view::npos ? std::string_view() : rest.substr(after + 1);
    } else {
      std::size_t end = rest.find(';');
      value = std::string(trim(rest.substr(0, end)));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
    mt.params[key] = value;
  }
  return mt;
}

bool is_json_media(std::string_view essence) {
  return essence == "application/json" ||
         (essence.size() > 5 && essence.substr(essence.size() - 5) == "+json");
}

// Finds the declared media-type key matching `essence` (exact, then "type/*", then "*/*").
const json::value* find_media(const json::object& content, const std::string& essence, std::string* key_out) {
  const json::value* wildcard = nullptr;
  std::string wildcard_key;
  for (const auto& kv : content) {
    std::string key = parse_media_type(kv.key()).essence;
    if (key == essence) {
      if (key_out) *key_out = std::string(kv.key());
      return &kv.value();
    }
    std::size_t slash = key.find('/');
    bool type_wild = slash != std::string::npos && key.substr(slash) == "/*" &&
                     essence.substr(0, essence.find('/')) == key.substr(0, slash);
    if ((type_wild || key == "*/*") && !wildcard) {
      wildcard = &kv.value();
      wildcard_key = std::string(kv.key());
    }
  }
  if (wildcard && key_out) *key_out = wildcard_key;
  return wildcard;
}

std::vector<std::string> keys_of(const json::object& o) {
  std::vector<std::string> out;
  for (const auto& kv : o) out.emplace_back(kv.key());
  return out;
}

struct FormField {
  std::string name;
  std::string value;
  bool is_file = false;
};

// application/x-www-form-urlencoded or a query string.
bool parse_urlencoded(std::string_view s, std::vector<FormField>& out, std::vector<std::string>& errors,
                      std::string_view what) {
  bool ok = true;
  while (!s.empty()) {
    std::size_t amp = s.find('&');
    std::string_view pair = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    auto name = pct_decode(pair.substr(0, eq), true);
    auto value = pct_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) {
      errors.push_back(std::string(what) + " has invalid percent-encoding in \"" + std::string(pair) + "\"");
      ok = false;
      continue;
    }
    out.push_back({*name, *value, false});
  }
  return ok;
}

bool parse_multipart(std::string_view body, const std::string& boundary, std::vector<FormField>& out,
                     std::vector<std::string>& errors) {
  const std::string delim = "--" + boundary;
  const std::string crlf_delim = "\r\n" + delim;
  std::size_t pos;
  if (body.substr(0, delim.size()) == delim) {
    pos = 0;
  } else {
    pos = body.find(crlf_delim);
    if (pos == std::string_view::npos) {
      errors.push_back("multipart body does not contain the boundary \"" + boundary + "\"");
      return false;
    }
    pos += 2;
  }
  std::size_t index = 0;
  while (true) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") return true;  // close delimiter (epilogue ignored)
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      errors.push_back("multipart boundary line " + std::to_string(index) + " is not followed by CRLF");
      return false;
    }
    pos += 2;
    std::size_t content_start;
    std::string_view header_block;
    if (body.substr(pos, 2) == "\r\n") {
      content_start = pos + 2;
    } else {
      std::size_t hdr_end = body.find("\r\n\r\n", pos);
      if (hdr_end == std::string_view::npos) {
        errors.push_back("multipart part " + std::to_string(index) + " has no blank line after its headers");
        return false;
      }
      header_block = body.substr(pos, hdr_end - pos);
      content_start = hdr_end + 4;
    }
    std::size_t next = body.find(crlf_delim, content_start);
    if (next == std::string_view::npos) {
      errors.push_back("multipart part " + std::to_string(index) + " is not terminated by the boundary (missing --" +
                       boundary + "--)");
      return false;
    }
    std::string_view content = body.substr(content_start, next - content_start);

    std::optional<MediaType> disposition;
    while (!header_block.empty()) {
      std::size_t eol = header_block.find("\r\n");
      std::string_view line = header_block.substr(0, eol);
      header_block = eol == std::string_view::npos ? std::string_view() : header_block.substr(eol + 2);
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (iequals(trim(line.substr(0, colon)), "content-disposition")) {
        disposition = parse_media_type(line.substr(colon + 1));
      }
    }
    if (!disposition) {
      errors.push_back("multipart part " + std::to_string(index) + " has no Content-Disposition header");
    } else if (disposition->essence != "form-data") {
      errors.push_back("multipart part " + std::to_string(index) + " has Content-Disposition \"" +
                       disposition->essence + "\", expected form-data");
    } else if (!disposition->params.count("name")) {
      errors.push_back("multipart part " + std::to_string(index) + " has no name= in Content-Disposition");
    } else {
      bool is_file = disposition->params.count("filename") || disposition->params.count("filename*");
      out.push_back({disposition->params["name"], std::string(content), is_file});
    }
    pos = next + 2;
    ++index;
  }
}

// Top-level shape of an object schema used for form bodies: properties and
// required names merged through $ref / allOf (and unioned over anyOf/oneOf).
struct ObjectShape {
  std::map<std::string, const json::value*> properties;
  std::vector<std::string> required;  // spec order, no duplicates
  bool additional_allowed = false;  // additionalProperties: true / schema
  const json::value* additional = nullptr;
};

void collect_shape(const json::value& root, const json::value& schema, ObjectShape& shape, bool add_required,
                   int depth = 0) {
  if (depth > 32 || !schema.is_object()) return;
  const json::object& s = schema.get_object();
  if (auto ref = str_member(s, "$ref")) {
    if (const json::value* t = resolve_pointer(root, *ref)) collect_shape(root, *t, shape, add_required, depth + 1);
  }
  if (const json::object* props = obj_member(s, "properties")) {
    for (const auto& kv : *props) shape.properties.emplace(std::string(kv.key()), &kv.value());
  }
  if (add_required) {
    if (const json::array* req = arr_member(s, "required")) {
      for (const auto& r : *req) {
        if (r.is_string() &&
            std::find(shape.required.begin(), shape.required.end(), r.get_string()) == shape.required.end()) {
          shape.required.emplace_back(r.get_string());
        }
      }
    }
  }
  if (const json::value* ap = s.if_contains("additionalProperties")) {
    if (!(ap->is_bool() && !ap->get_bool())) {
      shape.additional_allowed = true;
      if (ap->is_object()) shape.additional = ap;
    }
  }
  if (const json::array* all = arr_member(s, "allOf")) {
    for (const auto& a : *all) collect_shape(root, a, shape, add_required, depth + 1);
  }
  for (const char* kw : {"anyOf", "oneOf"}) {
    if (const json::array* alts = arr_member(s, kw)) {
      for (const auto& a : *alts) collect_shape(root, a, shape, false, depth + 1);
    }
  }
}

// Does the schema (through $ref / anyOf / oneOf / allOf) accept arrays?
bool admits_array(const json::value& root, const json::value& schema, int depth = 0) {
  if (depth > 32) return true;
  if (schema.is_bool()) return schema.get_bool();
  if (!schema.is_object()) return true;
  const json::object& s = schema.get_object();
  if (auto ref = str_member(s, "$ref")) {
    const json::value* t = resolve_pointer(root, *ref);
    return t ? admits_array(root, *t, depth + 1) : true;
  }
  auto types = schema_types(s);
  if (!types.empty()) return std::find(types.begin(), types.end(), "array") != types.end();
  bool has_alts = false;
  for (const char* kw : {"anyOf", "oneOf"}) {
    if (const json::array* alts = arr_member(s, kw)) {
      has_alts = true;
      for (const auto& a : *alts) {
        if (admits_array(root, a, depth + 1)) return true;
      }
    }
  }
  return !has_alts;
}

// Removes repeated problems (e.g. a spec that states the same alternatives
// under both anyOf and oneOf), keeping the first occurrence.
std::vector<std::string> dedupe(std::vector<std::string> in) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto& s : in) {
    if (seen.insert(s).second) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

struct OpenApiSpec::Impl {
  json::value root;
  std::vector<PathEntry> paths;
  mutable RegexCache regex;

  struct Match {
    const PathEntry* entry = nullptr;
    const json::object* op = nullptr;
    std::map<std::string, std::string> path_params;  // decoded
    std::vector<std::string> path_matches_methods;   // when path matched but method did not
    bool bad_encoding = false;
  };

  Match match(std::string_view method, const std::string& raw_path) const {
    Match best;
    std::vector<std::string> raw_segments = split_path(raw_path);
    std::vector<std::string> segments;
    for (const auto& seg : raw_segments) {
      auto decoded = pct_decode(seg, false);
      if (!decoded) {
        best.bad_encoding = true;
        return best;
      }
      segments.push_back(*decoded);
    }
    std::string m = lower(method);
    std::vector<int> best_rank;
    std::set<std::string> other_methods;
    for (const auto& entry : paths) {
      if (entry.segments.size() != segments.size()) continue;
      std::map<std::string, std::string> params;
      std::vector<int> rank;
      bool ok = true;
      for (std::size_t i = 0; i < segments.size() && ok; ++i) {
        ok = match_pieces(entry.segments[i], 0, segments[i], params);
        rank.push_back(segment_rank(entry.segments[i]));
      }
      if (!ok) continue;
      const json::object* op = obj_member(*entry.item, m);
      if (!op) {
        for (const char* k : kMethods) {
          if (entry.item->contains(k)) other_methods.insert(upper(k));
        }
        continue;
      }
      if (!best.entry || rank < best_rank) {
        best.entry = &entry;
        best.op = op;
        best.path_params = std::move(params);
        best_rank = std::move(rank);
      }
    }
    if (!best.entry) best.path_matches_methods.assign(other_methods.begin(), other_methods.end());
    return best;
  }

  // Path-item parameters overridden by operation parameters (same name + in).
  std::vector<const json::object*> parameters(const PathEntry& entry, const json::object& op) const {
    std::vector<const json::object*> out;
    auto add = [&](const json::array* list) {
      if (!list) return;
      for (const auto& p : *list) {
        const json::value* r = deref(root, &p);
        if (!r || !r->is_object()) continue;
        const json::object& po = r->get_object();
        auto name = str_member(po, "name");
        auto in = str_member(po, "in");
        auto same = std::find_if(out.begin(), out.end(), [&](const json::object* q) {
          return str_member(*q, "name") == name && str_member(*q, "in") == in;
        });
        if (same != out.end()) {
          *same = &po;
        } else {
          out.push_back(&po);
        }
      }
    };
    add(arr_member(*entry.item, "parameters"));
    add(arr_member(op, "parameters"));
    return out;
  }

  // Formats validator issues for a wire value ("query output_format=...").
  static void format_wire(const std::string& prefix, const std::string& label, const Issues& issues,
                          std::vector<std::string>& out) {
    for (const auto& is : issues) {
      std::string loc = label + is.path.substr(1);
      out.push_back(prefix + loc + (is.value_first && is.path == "$" ? "=" : ": ") + is.msg);
    }
  }

  static void format_json(const std::string& prefix, const Issues& issues, std::vector<std::string>& out) {
    for (const auto& is : issues) out.push_back(prefix + is.path + ": " + is.msg);
  }

  void check_wire_value(const std::string& prefix, const std::string& label, const std::vector<std::string>& values,
                        const json::value* schema, bool explode, std::vector<std::string>& out) const {
    if (!schema || values.empty()) return;
    bool array_ok = admits_array(root, *schema);
    json::value v;
    if (values.size() > 1) {
      if (!array_ok) {
        out.push_back(prefix + label + " given " + std::to_string(values.size()) +
                      " times but its schema does not accept an array");
        return;
      }
      json::array a;
      for (const auto& x : values) a.emplace_back(x);
      v = std::move(a);
    } else if (array_ok && !explode) {
      json::array a;
      std::string_view rest = values.front();
      while (true) {
        std::size_t comma = rest.find(',');
        a.emplace_back(rest.substr(0, comma));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      v = std::move(a);
    } else {
      v = json::string(values.front());
    }
    Validator val(root, regex);
    Issues issues;
    val.validate(v, *schema, "$", true, issues);
    format_wire(prefix, label, issues, out);
  }

  const json::object* security_scheme(const std::string& name) const {
    const json::object* components = obj_member(root.get_object(), "components");
    const json::object* schemes = components ? obj_member(*components, "securitySchemes") : nullptr;
    const json::value* s = schemes ? schemes->if_contains(name) : nullptr;
    s = s ? deref(root, s) : nullptr;
    return s && s->is_object() ? &s->get_object() : nullptr;
  }

  void check_security(const std::string& prefix, const json::object& op,
                      const std::multimap<std::string, std::string>& headers,
                      const std::map<std::string, std::vector<std::string>>& query,
                      std::set<std::string>& query_names_used_by_security, std::vector<std::string>& out) const {
    const json::value* sec = op.if_contains("security");
    if (!sec) sec = root.get_object().if_contains("security");
    if (!sec || !sec->is_array() || sec->get_array().empty()) return;
    auto header = [&](const std::string& name) -> const std::string* {
      auto it = headers.find(lower(name));
      return it == headers.end() ? nullptr : &it->second;
    };
    std::vector<std::string> alternatives;
    bool satisfied = false;
    for (const auto& req : sec->get_array()) {
      if (!req.is_object()) continue;
      bool all = true;
      std::vector<std::string> descr;
      for (const auto& kv : req.get_object()) {
        std::string name(kv.key());
        const json::object* scheme = security_scheme(name);
        if (!scheme) {
          out.push_back(prefix + "security scheme \"" + name + "\" is not defined in components.securitySchemes");
          continue;
        }
        std::string type = str_member(*scheme, "type").value_or("");
        bool ok = true;
        if (type == "http") {
          std::string sch = lower(str_member(*scheme, "scheme").value_or(""));
          const std::string* auth = header("authorization");
          if (sch == "basic" || sch == "bearer") {
            ok = auth && istarts_with(trim(*auth), sch + " ") && trim(*auth).size() > sch.size() + 1;
            descr.push_back(name + " (Authorization: " + (sch == "basic" ? "Basic" : "Bearer") + " ...)");
          } else {
            ok = auth != nullptr;
            descr.push_back(name + " (Authorization: " + sch + " ...)");
          }
        } else if (type == "apiKey") {
          std::string in = str_member(*scheme, "in").value_or("");
          std::string key = str_member(*scheme, "name").value_or("");
          if (in == "header") {
            ok = header(key) != nullptr;
          } else if (in == "query") {
            query_names_used_by_security.insert(key);
            ok = query.count(key) > 0;
          } else if (in == "cookie") {
            const std::string* cookie = header("cookie");
            ok = cookie && cookie->find(key + "=") != std::string::npos;
          }
          descr.push_back(name + " (" + in + " " + key + ")");
        } else if (type == "oauth2" || type == "openIdConnect") {
          const std::string* auth = header("authorization");
          ok = auth && istarts_with(trim(*auth), "bearer ");
          descr.push_back(name + " (Authorization: Bearer ...)");
        }
        all = all && ok;
      }
      alternatives.push_back(descr.empty() ? "none" : join(descr, " + "));
      if (all) satisfied = true;
    }
    if (!satisfied) out.push_back(prefix + "missing credentials: security requires " + join(alternatives, " or "));
  }

  void check_form_fields(const std::string& prefix, const std::string& kind, const std::vector<FormField>& fields,
                         const json::value* schema, std::vector<std::string>& out) const {
    if (!schema) return;
    ObjectShape shape;
    collect_shape(root, *schema, shape, true);
    std::vector<std::string> order;
    std::map<std::string, std::vector<const FormField*>> by_name;
    for (const auto& f : fields) {
      if (!by_name.count(f.name)) order.push_back(f.name);
      by_name[f.name].push_back(&f);
    }
    for (const auto& r : shape.required) {
      if (!by_name.count(r)) out.push_back(prefix + kind + " body: missing required field \"" + r + "\"");
    }
    for (const auto& name : order) {
      const auto& parts = by_name[name];
      auto prop = shape.properties.find(name);
      const json::value* field_schema = prop != shape.properties.end() ? prop->second : shape.additional;
      if (prop == shape.properties.end() && !shape.additional_allowed) {
        out.push_back(prefix + kind + " body: undeclared field \"" + name + "\" (declared: " +
                      join(keys_of_shape(shape), ", ") + ")");
        continue;
      }
      bool any_file = std::any_of(parts.begin(), parts.end(), [](const FormField* f) { return f->is_file; });
      if (any_file) continue;  // file contents are not validated
      std::vector<std::string> values;
      for (const auto* f : parts) values.push_back(f->value);
      check_wire_value(prefix, kind + " field " + name, values, field_schema, true, out);
    }
  }

  static std::vector<std::string> keys_of_shape(const ObjectShape& shape) {
    std::vector<std::string> out;
    for (const auto& kv : shape.properties) out.push_back(kv.first);
    return out;
  }

  void check_body(const std::string& prefix, const json::object& op, std::string_view content_type,
                  std::string_view body, std::vector<std::string>& out) const {
    const json::value* rb_v = op.if_contains("requestBody");
    rb_v = rb_v ? deref(root, rb_v) : nullptr;
    if (!rb_v || !rb_v->is_object()) {
      if (!body.empty()) {
        out.push_back(prefix + "request has a body (" + std::to_string(body.size()) +
                      " bytes) but the operation declares no requestBody");
      }
      return;
    }
    const json::object& rb = rb_v->get_object();
    const json::object* content = obj_member(rb, "content");
    std::string declared = content ? join(keys_of(*content), ", ") : std::string();
    if (body.empty()) {
      if (bool_member(rb, "required")) {
        out.push_back(prefix + "missing required request body (" + declared + ")");
        return;
      }
      // An empty urlencoded body is still a (field-less) form: check its required fields.
      if (parse_media_type(content_type).essence != "application/x-www-form-urlencoded") return;
    }
    if (trim(content_type).empty()) {
      out.push_back(prefix + "request body sent without a Content-Type (declared: " + declared + ")");
      return;
    }
    MediaType mt = parse_media_type(content_type);
    std::string key;
    const json::value* media = content ? find_media(*content, mt.essence, &key) : nullptr;
    if (!media) {
      out.push_back(prefix + "Content-Type \"" + mt.essence + "\" is not declared for the request body (declared: " +
                    declared + ")");
      return;
    }
    const json::value* schema = nullptr;
    if (media->is_object()) schema = media->get_object().if_contains("schema");

    if (is_json_media(mt.essence)) {
      std::string err;
      auto v = parse_json(body, &err);
      if (!v) {
        out.push_back(prefix + "body is not valid JSON: " + err);
        return;
      }
      if (!schema) return;
      Validator val(root, regex);
      Issues issues;
      val.validate(*v, *schema, "$", false, issues);
      format_json(prefix + "body ", issues, out);
    } else if (mt.essence == "multipart/form-data") {
      auto b = mt.params.find("boundary");
      if (b == mt.params.end() || b->second.empty()) {
        out.push_back(prefix + "multipart/form-data Content-Type has no boundary parameter");
        return;
      }
      std::vector<FormField> fields;
      std::vector<std::string> errors;
      parse_multipart(body, b->second, fields, errors);
      for (const auto& e : errors) out.push_back(prefix + e);
      check_form_fields(prefix, "multipart", fields, schema, out);
    } else if (mt.essence == "application/x-www-form-urlencoded") {
      std::vector<FormField> fields;
      std::vector<std::string> errors;
      parse_urlencoded(body, fields, errors, "form body");
      for (const auto& e : errors) out.push_back(prefix + e);
      check_form_fields(prefix, "form", fields, schema, out);
    }
    // other media types (audio, octet-stream): content not checked
  }

  void check_example(const std::string& where, const json::value& example, const json::value& schema,
                     std::vector<std::string>& out) const {
    Validator val(root, regex);
    Issues issues;
    val.validate(example, schema, "$", false, issues);
    format_json(where + " ", issues, out);
  }

  void check_media_examples(const std::string& where, const json::object& content, std::vector<std::string>& out) const {
    for (const auto& mkv : content) {
      if (!is_json_media(parse_media_type(mkv.key()).essence) || !mkv.value().is_object()) continue;
      const json::object& media = mkv.value().get_object();
      const json::value* schema = media.if_contains("schema");
      if (!schema) continue;
      std::string w = where + " " + std::string(mkv.key());
      if (const json::value* ex = media.if_contains("example")) check_example(w + " example", *ex, *schema, out);
      if (const json::object* exs = obj_member(media, "examples")) {
        for (const auto& ekv : *exs) {
          const json::value* e = deref(root, &ekv.value());
          if (e && e->is_object()) {
            if (const json::value* value = e->get_object().if_contains("value")) {
              check_example(w + " examples." + std::string(ekv.key()), *value, *schema, out);
            }
          }
        }
      }
    }
  }
};

OpenApiSpec::OpenApiSpec(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

OpenApiSpec OpenApiSpec::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("OpenApiSpec: cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string err;
  auto v = parse_json(ss.str(), &err);
  if (!v) throw std::runtime_error("OpenApiSpec: " + path + " is not valid JSON: " + err);
  if (!v->is_object() || !obj_member(v->get_object(), "paths")) {
    throw std::runtime_error("OpenApiSpec: " + path + " has no \"paths\" object");
  }
  auto impl = std::make_shared<Impl>();
  impl->root = std::move(*v);
  for (const auto& kv : impl->root.get_object().at("paths").get_object()) {
    const json::value* item = deref(impl->root, &kv.value());
    if (!item || !item->is_object()) continue;
    PathEntry e;
    e.tmpl = std::string(kv.key());
    for (const auto& seg : split_path(e.tmpl)) e.segments.push_back(parse_segment(seg));
    e.item = &item->get_object();
    impl->paths.push_back(std::move(e));
  }
  return OpenApiSpec(std::move(impl));
}

std::string OpenApiSpec::match_path(std::string_view method, std::string_view target) const {
  auto m = impl_->match(method, split_target(target).raw_path);
  return m.entry ? m.entry->tmpl : std::string();
}

std::vector<std::string> OpenApiSpec::path_templates() const {
  std::vector<std::string> out;
  for (const auto& e : impl_->paths) out.push_back(e.tmpl);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> OpenApiSpec::check_request(std::string_view method, std::string_view target,
                                                    const Headers& headers, std::string_view content_type,
                                                    std::string_view body) const {
  const Impl& im = *impl_;
  std::vector<std::string> out;
  Target t = split_target(target);
  std::string method_u = upper(method);
  auto m = im.match(method, t.raw_path);
  if (m.bad_encoding) {
    out.push_back(method_u + " " + t.raw_path + ": path has invalid percent-encoding");
    return out;
  }
  if (!m.entry) {
    if (!m.path_matches_methods.empty()) {
      out.push_back(method_u + " " + t.raw_path + ": method " + method_u + " not allowed (path declares " +
                    join(m.path_matches_methods, ", ") + ")");
    } else {
      out.push_back(method_u + " " + t.raw_path + ": no path template matches");
    }
    return out;
  }
  const std::string prefix = method_u + " " + m.entry->tmpl + ": ";
  auto params = im.parameters(*m.entry, *m.op);

  // query
  std::vector<FormField> qfields;
  std::vector<std::string> qerrors;
  parse_urlencoded(t.query, qfields, qerrors, "query string");
  for (const auto& e : qerrors) out.push_back(prefix + e);
  std::map<std::string, std::vector<std::string>> query;
  std::vector<std::string> query_order;
  for (const auto& f : qfields) {
    if (!query.count(f.name)) query_order.push_back(f.name);
    query[f.name].push_back(f.value);
  }

  // headers (lower-case names)
  std::multimap<std::string, std::string> hdrs;
  for (const auto& [k, v] : headers) hdrs.emplace(lower(trim(k)), std::string(trim(v)));

  std::set<std::string> declared_query;
  for (const json::object* p : params) {
    std::string name = str_member(*p, "name").value_or("");
    std::string in = str_member(*p, "in").value_or("");
    bool required = bool_member(*p, "required");
    const json::value* schema = p->if_contains("schema");
    std::string style = str_member(*p, "style").value_or("");
    bool explode = p->contains("explode") ? bool_member(*p, "explode") : (style.empty() || style == "form");
    if (in == "path") {
      auto it = m.path_params.find(name);
      if (it == m.path_params.end()) continue;  // declared but not in the template (spec issue)
      im.check_wire_value(prefix, "path " + name, {it->second}, schema, true, out);
    } else if (in == "query") {
      declared_query.insert(name);
      auto it = query.find(name);
      if (it == query.end()) {
        if (required) out.push_back(prefix + "missing required query parameter \"" + name + "\"");
        continue;
      }
      im.check_wire_value(prefix, "query " + name, it->second, schema, explode, out);
    } else if (in == "header") {
      std::string lname = lower(name);
      if (lname == "accept" || lname == "content-type" || lname == "authorization") continue;  // per OpenAPI
      auto it = hdrs.find(lname);
      if (it == hdrs.end()) {
        if (required) out.push_back(prefix + "missing required header \"" + name + "\"");
        continue;
      }
      im.check_wire_value(prefix, "header " + name, {it->second}, schema, false, out);
    } else if (in == "cookie") {
      auto it = hdrs.find("cookie");
      bool present = it != hdrs.end() && it->second.find(name + "=") != std::string::npos;
      if (!present && required) out.push_back(prefix + "missing required cookie \"" + name + "\"");
    }
  }

  std::set<std::string> security_query;
  im.check_security(prefix, *m.op, hdrs, query, security_query, out);

  for (const auto& name : query_order) {
    if (declared_query.count(name) || security_query.count(name)) continue;
    std::vector<std::string> names(declared_query.begin(), declared_query.end());
    out.push_back(prefix + "undeclared query parameter \"" + name + "\" (declared: " +
                  (names.empty() ? std::string("none") : join(names, ", ")) + ")");
  }

  im.check_body(prefix, *m.op, content_type, body, out);
  return dedupe(std::move(out));
}

std::vector<std::string> OpenApiSpec::check_response_json(std::string_view method, std::string_view target,
                                                          int status, std::string_view json_body) const {
  const Impl& im = *impl_;
  std::vector<std::string> out;
  Target t = split_target(target);
  std::string method_u = upper(method);
  auto m = im.match(method, t.raw_path);
  if (!m.entry) {
    out.push_back(method_u + " " + t.raw_path + ": no operation matches (response " + std::to_string(status) +
                  " not checked)");
    return out;
  }
  const std::string code = std::to_string(status);
  const std::string prefix = "response " + code;
  const json::object* responses = obj_member(*m.op, "responses");
  const json::value* resp = nullptr;
  if (responses) {
    resp = responses->if_contains(code);
    if (!resp) {
      std::string range = code.substr(0, 1) + "XX";
      for (const auto& kv : *responses) {
        if (iequals(kv.key(), range)) resp = &kv.value();
      }
    }
    if (!resp) resp = responses->if_contains("default");
  }
  if (!resp) {
    out.push_back(prefix + ": status not declared for " + method_u + " " + m.entry->tmpl + " (declared: " +
                  (responses ? join(keys_of(*responses), ", ") : std::string("none")) + ")");
    return out;
  }
  resp = deref(im.root, resp);
  const json::object* content = resp && resp->is_object() ? obj_member(resp->get_object(), "content") : nullptr;
  if (!content || content->empty()) {
    if (!trim(json_body).empty()) out.push_back(prefix + ": response declares no content but the body is not empty");
    return out;
  }
  const json::value* media = nullptr;
  for (const auto& kv : *content) {
    if (is_json_media(parse_media_type(kv.key()).essence)) {
      media = &kv.value();
      break;
    }
  }
  if (!media) {
    out.push_back(prefix + ": response declares no JSON content (declared: " + join(keys_of(*content), ", ") + ")");
    return out;
  }
  std::string err;
  auto v = parse_json(json_body, &err);
  if (!v) {
    out.push_back(prefix + ": body is not valid JSON: " + err);
    return out;
  }
  const json::value* schema = media->is_object() ? media->get_object().if_contains("schema") : nullptr;
  if (!schema) return out;
  Validator val(im.root, im.regex);
  Issues issues;
  val.validate(*v, *schema, "$", false, issues);
  Impl::format_json(prefix + " ", issues, out);
  return dedupe(std::move(out));
}

std::vector<std::string> OpenApiSpec::check_spec_examples() const {
  const Impl& im = *impl_;
  std::vector<std::string> out;
  for (const auto& entry : im.paths) {
    for (const char* method : kMethods) {
      const json::object* op = obj_member(*entry.item, method);
      if (!op) continue;
      std::string where = upper(method) + " " + entry.tmpl;
      for (const json::object* p : im.parameters(entry, *op)) {
        const json::value* schema = p->if_contains("schema");
        if (!schema) continue;
        std::string pw = where + " parameter " + str_member(*p, "name").value_or("?");
        if (const json::value* ex = p->if_contains("example")) im.check_example(pw + " example", *ex, *schema, out);
        if (const json::object* exs = obj_member(*p, "examples")) {
          for (const auto& ekv : *exs) {
            const json::value* e = deref(im.root, &ekv.value());
            if (e && e->is_object() && e->get_object().contains("value")) {
              im.check_example(pw + " examples." + std::string(ekv.key()), e->get_object().at("value"), *schema, out);
            }
          }
        }
      }
      if (const json::value* rb = op->if_contains("requestBody")) {
        rb = deref(im.root, rb);
        if (rb && rb->is_object()) {
          if (const json::object* c = obj_member(rb->get_object(), "content")) {
            im.check_media_examples(where + " requestBody", *c, out);
          }
        }
      }
      if (const json::object* responses = obj_member(*op, "responses")) {
        for (const auto& rkv : *responses) {
          const json::value* r = deref(im.root, &rkv.value());
          if (!r || !r->is_object()) continue;
          if (const json::object* c = obj_member(r->get_object(), "content")) {
            im.check_media_examples(where + " response " + std::string(rkv.key()), *c, out);
          }
        }
      }
    }
  }
  const json::object* components = obj_member(im.root.get_object(), "components");
  const json::object* schemas = components ? obj_member(*components, "schemas") : nullptr;
  if (schemas) {
    for (const auto& kv : *schemas) {
      if (!kv.value().is_object()) continue;
      const json::object& s = kv.value().get_object();
      std::string where = "components.schemas." + std::string(kv.key());
      if (const json::value* ex = s.if_contains("example")) im.check_example(where + " example", *ex, kv.value(), out);
      if (const json::array* exs = arr_member(s, "examples")) {
        for (std::size_t i = 0; i < exs->size(); ++i) {
          im.check_example(where + " examples[" + std::to_string(i) + "]", (*exs)[i], kv.value(), out);
        }
      }
    }
  }
  return dedupe(std::move(out));
}

}  // namespace vox::testing
