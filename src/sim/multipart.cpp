#include "sim/multipart.hpp"

namespace vox::sim {

std::optional<MultipartForm> parse_multipart(std::string_view content_type, std::string_view body) {
  const auto bpos = content_type.find("boundary=");
  if (content_type.rfind("multipart/form-data", 0) != 0 || bpos == std::string_view::npos) return std::nullopt;
  std::string_view boundary = content_type.substr(bpos + 9);
  if (const auto semi = boundary.find(';'); semi != std::string_view::npos) boundary = boundary.substr(0, semi);
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  // RFC 2046: 1 to 70 characters.
  if (boundary.empty() || boundary.size() > 70 || boundary.find('"') != std::string_view::npos) return std::nullopt;
  MultipartForm form;
  const std::string delim = "--" + std::string(boundary);
  const std::string next_delim = "\r\n" + delim;
  std::size_t pos = body.find(delim);
  while (pos != std::string_view::npos) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") break;  // the closing delimiter
    const auto hdr_end = body.find("\r\n\r\n", pos);
    if (hdr_end == std::string_view::npos) break;
    const std::string_view headers = body.substr(pos, hdr_end - pos);
    const auto next = body.find(next_delim, hdr_end + 4);
    if (next == std::string_view::npos) break;
    const std::string_view value = body.substr(hdr_end + 4, next - hdr_end - 4);
    const auto np = headers.find("name=\"");
    if (np != std::string_view::npos) {
      const auto ne = headers.find('"', np + 6);
      if (ne != std::string_view::npos) {
        const std::string name(headers.substr(np + 6, ne - np - 6));
        if (name == "file") form.file = std::string(value);
        else form.fields[name] = std::string(value);
      }
    }
    pos = next + 2;
  }
  return form;
}

}  // namespace vox::sim
