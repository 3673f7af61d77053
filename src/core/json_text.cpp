#include "core/json_text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace vox {
namespace json = boost::json;

namespace {

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[400];  // the longest fixed form of a double (about 1e308) fits
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  if (ec != std::errc()) {
    out += json::serialize(json::value(d));
    return;
  }
  out.append(buf, end);
  // A whole number stays a floating-point one for readers that keep the types apart.
  if (std::find(buf, end, '.') == end) out += ".0";
}

void append_object(std::string& out, const json::object& o) {
  out += '{';
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out += ',';
    first = false;
    out += json::serialize(kv.key());
    out += ':';
    append_json(out, kv.value());
  }
  out += '}';
}

void append_array(std::string& out, const json::array& a) {
  out += '[';
  bool first = true;
  for (const auto& v : a) {
    if (!first) out += ',';
    first = false;
    append_json(out, v);
  }
  out += ']';
}

}  // namespace

void append_json(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      append_object(out, v.get_object());
      break;
    case json::kind::array:
      append_array(out, v.get_array());
      break;
    case json::kind::double_:
      append_double(out, v.get_double());
      break;
    case json::kind::string:
      out += json::serialize(v.get_string());
      break;
    default:  // null, bool, int64, uint64
      out += json::serialize(v);
      break;
  }
}

std::string json_text(const json::value& v) {
  std::string out;
  append_json(out, v);
  return out;
}

std::string json_text(const json::object& o) {
  std::string out;
  append_object(out, o);
  return out;
}

std::string json_text(const json::array& a) {
  std::string out;
  append_array(out, a);
  return out;
}

std::string json_text(const json::string& s) { return json::serialize(s); }

std::string json_text(std::string_view s) { return json::serialize(s); }

}  // namespace vox
