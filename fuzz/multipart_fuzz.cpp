// multipart/form-data uploads as the ElevenLabs emulator receives them (speech-to-text
// files): the input's first line is the Content-Type, the rest the body.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/multipart.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view content_type = nl == std::string_view::npos ? in : in.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  const auto form = vox::sim::parse_multipart(content_type, body);
  if (form) {
    std::size_t total = 0;
    for (const auto& [k, v] : form->fields) total += k.size() + v.size();
    if (form->file) total += form->file->size();
    // Every value is a slice of the body.
    if (total > body.size()) __builtin_trap();
  }
  return 0;
}
