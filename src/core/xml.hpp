#pragma once
// XML text and attribute escaping (TwiML, JUnit reports).
#include <string>
#include <string_view>

namespace vox {

// Returns `s` with &, <, >, " and ' escaped for XML text and attributes. Control
// characters that XML 1.0 forbids are dropped.
std::string xml_escape(std::string_view s);

}  // namespace vox
