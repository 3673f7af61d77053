#pragma once
// MP3 encoding (libmp3lame, mono CBR) and whole-buffer decoding (libmpg123 feed API).
#include <cstdint>
#include <span>
#include <vector>

struct lame_global_struct;

namespace vox::audio {

// True when `bitrate_kbps` is a legal layer III CBR bitrate at `sample_rate` (MPEG-1: 32000/44100/48000 Hz
// with 32..320 kbps; MPEG-2/2.5: 8000..24000 Hz with 8..160 kbps).
bool mp3_rate_and_bitrate_valid(int sample_rate, int bitrate_kbps);

// Streaming mono CBR MP3 encoder. Output is a plain sequence of MPEG frames (no Xing/LAME tag
// frame, no ID3), so every chunk can be sent as soon as it is produced and the concatenation is
// a valid stream. Like any MP3 it starts with the encoder delay (576 + 529 samples of near
// silence, not removed by decoders because there is no LAME tag) and is padded to whole frames
// (1152 samples at MPEG-1 rates, 576 at MPEG-2/2.5 rates).
class Mp3Encoder {
 public:
  // Throws std::invalid_argument for an illegal rate/bitrate pair and std::runtime_error if lame
  // cannot be set up. The input must be sampled at `sample_rate` (no resampling here).
  Mp3Encoder(int sample_rate, int bitrate_kbps);
  ~Mp3Encoder();
  Mp3Encoder(Mp3Encoder&& other) noexcept;
  Mp3Encoder& operator=(Mp3Encoder&& other) noexcept;
  Mp3Encoder(const Mp3Encoder&) = delete;
  Mp3Encoder& operator=(const Mp3Encoder&) = delete;

  // Encodes more PCM; returns the frames completed so far (often empty for small inputs).
  // Throws std::logic_error after flush().
  std::vector<std::uint8_t> encode(std::span<const std::int16_t> pcm);
  // Encodes the buffered remainder and returns the last frames. Further calls return nothing.
  std::vector<std::uint8_t> flush();

  int sample_rate() const { return sample_rate_; }
  int bitrate_kbps() const { return bitrate_kbps_; }

 private:
  lame_global_struct* lame_ = nullptr;
  int sample_rate_ = 0;
  int bitrate_kbps_ = 0;
  bool flushed_ = false;
};

// Decodes a complete MP3 (layer I/II/III; a leading ID3v2 tag is skipped) to mono PCM16 — stereo
// is mixed down — at the stream's own rate, which is stored in `sample_rate`. Decoding happens in
// memory (mpg123 feed API). Throws std::runtime_error when no MPEG audio frame can be decoded at all
// (empty input, garbage) or libmpg123 reports an error; junk between frames is skipped silently.
// A trailing partial frame is dropped.
std::vector<std::int16_t> decode_mp3(std::span<const std::uint8_t> mp3, int& sample_rate);

}  // namespace vox::audio
