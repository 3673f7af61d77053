#pragma once
// The web console's and the softphone's files (web/app/), compiled into the binary at
// build time: no CDN, nothing fetched at run time.
#include <string_view>

namespace vox::api {

struct WebFile {
  std::string_view name;          // "console.html", "phone.js", ...
  std::string_view content_type;  // for the Content-Type header
  std::string_view bytes;
};

// The file called `name` (no directories), or nullptr.
const WebFile* find_web_file(std::string_view name);

}  // namespace vox::api
