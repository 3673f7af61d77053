#pragma once
// multipart/form-data bodies (RFC 7578), as the ElevenLabs emulator receives speech-to-text
// uploads: the boundary from the Content-Type, then each part's name and value.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vox::sim {

struct MultipartForm {
  std::map<std::string, std::string> fields;  // by part name (the last one wins)
  std::optional<std::string> file;            // the part named "file"
};

// Parses `body`; nullopt when `content_type` is not multipart/form-data with a boundary.
// Parts without a name, and a truncated last part, are skipped.
std::optional<MultipartForm> parse_multipart(std::string_view content_type, std::string_view body);

}  // namespace vox::sim
