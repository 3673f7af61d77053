#include "core/xml.hpp"

namespace vox {

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') break;  // not allowed in XML 1.0
        out.push_back(ch);
    }
  }
  return out;
}

}  // namespace vox
