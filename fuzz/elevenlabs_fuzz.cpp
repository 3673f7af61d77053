// What ElevenLabs (or anything answering in its place) sends voxbridge: TTS socket
// messages, realtime STT messages, with-timestamps lines, STT transcripts and the REST
// answers (voices, models, subscription, errors). The first byte picks the parser. The
// parsers either return a value or throw std::exception (a provider failure the caller
// handles); anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "elevenlabs/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  namespace codec = vox::elevenlabs::codec;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 11) {
      case 0: (void)codec::parse_tts_socket_message(in); break;
      case 1: (void)codec::parse_realtime_message(in); break;
      case 2: (void)codec::parse_timed_audio(in); break;
      case 3: (void)codec::parse_transcript(in); break;
      case 4: (void)codec::parse_voice(in); break;
      case 5: (void)codec::parse_models(in); break;
      case 6: (void)codec::parse_subscription(in); break;
      case 7: (void)codec::parse_voice_settings(in); break;
      case 8: (void)codec::parse_error(data[0], in); break;
      case 9: (void)codec::parse_voices_v1(in); break;
      case 10: (void)codec::parse_voices_v2(in); break;
    }
  } catch (const std::exception&) {
  }
  return 0;
}
