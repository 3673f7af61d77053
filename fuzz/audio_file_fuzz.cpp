// Audio files voxbridge reads: WAV (scenario lines, test callers, recordings played back)
// and MP3 (what an ElevenLabs REST synthesis answers with). The first byte picks.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>

#include "audio/mp3.hpp"
#include "audio/wav.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  if (data[0] & 1) {
    (void)vox::audio::parse_wav(in);
  } else {
    int rate = 0;
    try {
      (void)vox::audio::decode_mp3(in, rate);
    } catch (const std::exception&) {  // documented: no MPEG frame, or a decoder error
    }
  }
  return 0;
}
