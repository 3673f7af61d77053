// What a customer's client sends the control API: request bodies (create and incoming
// calls, synthesis, voice settings), client WebSocket messages and /generate query
// strings. The first byte picks the parser, the rest is its input. Every parser either
// returns a value or throws ApiError (answered as a 400); anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/control_codec.hpp"
#include "api/generate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0: (void)vox::api::parse_create_call(in); break;
      case 1: (void)vox::api::parse_incoming_call(in, data[0] & 0x80); break;
      case 2: (void)vox::api::parse_synthesize(in, 5000); break;
      case 3: {
        const auto o = vox::api::parse_object(in);
        if (const auto p = vox::api::settings_field(o, "voice_settings")) (void)p->apply({});
        (void)vox::api::settings_from_text(in);
        break;
      }
      case 4: (void)vox::api::parse_client_message(in, 5000); break;
      case 5: (void)vox::api::parse_generate_query(in, 5000); break;
    }
  } catch (const vox::api::ApiError&) {
  }
  return 0;
}
