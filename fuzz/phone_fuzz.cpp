// The browser phone's messages (/phone/ws) as a stranger's page sends them: every text
// message is parsed into its struct at the edge, and the replies built from what it held.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "browser/phone_messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto m = vox::browser::parse_phone_message(text);
  std::string out;
  if (const auto* mark = std::get_if<vox::browser::PhoneMark>(&m)) vox::browser::write_phone_mark(out, mark->name);
  if (const auto* ice = std::get_if<vox::browser::PhoneIce>(&m)) out = vox::browser::phone_ice(ice->candidate, ice->mline_index);
  if (const auto* bad = std::get_if<vox::browser::PhoneBad>(&m)) out = vox::browser::phone_error(bad->reason);
  if (const auto* start = std::get_if<vox::browser::PhoneStart>(&m)) out = vox::browser::phone_error(start->agent);
  return out.size() > (1u << 20) ? 1 : 0;
}
