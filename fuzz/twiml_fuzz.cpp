// TwiML as the Twilio emulator reads it from a webhook's answer (the same reader the
// simulated caller and `voxbridge call` use).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/twiml_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  const auto parsed = vox::sim::parse_twiml(xml);
  (void)vox::sim::xml_unescape(xml);
  (void)parsed;
  return 0;
}
