#pragma once
// JSON text as every voxbridge response and file writes it: compact, and floating-point
// numbers in plain decimal form ("0.7", "4.004", "2.0"; never "7E-1"), the shortest text
// that reads back as the same double. Non-finite numbers, which JSON cannot hold, are null.
#include <boost/json/fwd.hpp>

#include <string>
#include <string_view>

namespace vox {

std::string json_text(const boost::json::value& v);
std::string json_text(const boost::json::object& o);
std::string json_text(const boost::json::array& a);
std::string json_text(const boost::json::string& s);
// A JSON string literal (quoted and escaped).
std::string json_text(std::string_view s);

// Appends the JSON text of `v` to `out`.
void append_json(std::string& out, const boost::json::value& v);

}  // namespace vox
