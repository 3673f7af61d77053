// Twilio Media Streams messages as a stranger on /media sends them, and the path a media
// frame takes behind the parser: base64, μ-law, the VAD and the endpointer.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "audio/g711.hpp"
#include "audio/vad.hpp"
#include "core/base64.hpp"
#include "twilio/media_messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static vox::twilio::MessageParser parser(64 * 1024);
  static vox::audio::VoiceDetector vad(vox::audio::VadSettings{}, 8000);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto m = parser.parse(text);
  if (const auto* media = std::get_if<vox::twilio::Media>(&m.body)) {
    std::vector<std::uint8_t> ulaw(vox::base64::max_decoded_size(media->payload.size()));
    const auto n = vox::base64::decode(media->payload, ulaw);
    if (n) {
      std::array<std::int16_t, 160> pcm{};
      for (std::size_t off = 0; off + 160 <= *n; off += 160) {
        vox::audio::ulaw_decode(std::span<const std::uint8_t>(ulaw.data() + off, 160), pcm);
        vad.process(pcm);
      }
    }
  }
  if (const auto* start = std::get_if<vox::twilio::Start>(&m.body)) (void)vox::twilio::plausible_sid(start->call_sid);
  if (const auto* dtmf = std::get_if<vox::twilio::Dtmf>(&m.body)) (void)vox::twilio::valid_dtmf_digit(dtmf->digit);
  return 0;
}
