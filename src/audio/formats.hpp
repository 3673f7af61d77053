#pragma once
// Audio output formats named like ElevenLabs' `output_format` ("mp3_44100_128", "pcm_16000",
// "ulaw_8000", ...) and encoders from mono PCM16 into them, one-shot and streaming.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vox::audio {

enum class Codec { kMp3, kPcm, kUlaw, kAlaw, kWav, kOpus };

struct OutputFormat {
  Codec codec = Codec::kPcm;
  int sample_rate = 0;
  int bitrate_kbps = 0;  // mp3 and opus only; 0 otherwise
  std::string name;      // the canonical name, e.g. "mp3_44100_128"
};

// Parses "<codec>_<rate>" (pcm, wav, ulaw, alaw) or "<codec>_<rate>_<kbps>" (mp3, opus). Names are
// lower case, numbers decimal without sign or leading zeros. Returns nullopt when malformed, for an
// unknown codec, or for a combination that is not a real format:
//   pcm/wav: 8000..192000 Hz;  ulaw/alaw: 8000 Hz only;
//   mp3: an MPEG layer III rate with a legal CBR bitrate for it (see mp3_rate_and_bitrate_valid);
//   opus: 8000/12000/16000/24000/48000 Hz, 6..510 kbps (parsed, but not encodable).
std::optional<OutputFormat> parse_output_format(std::string_view name);

// The HTTP Content-Type for `fmt`: audio/mpeg, audio/wav, audio/basic (mu-law), audio/x-alaw-basic,
// audio/opus, and application/octet-stream for raw pcm.
std::string_view content_type(const OutputFormat& fmt);

// G.711 A-law (ITU-T G.711, with the even-bit inversion, so 0 -> 0xD5) <-> 16-bit linear PCM.
// The encoder uses the top 13 bits; the decoder returns the middle of each quantisation step.
std::uint8_t alaw_encode(std::int16_t sample);
std::int16_t alaw_decode(std::uint8_t code);

// Encodes mono PCM16 `pcm` sampled at `rate` Hz into `fmt`, resampling (soxr) when the rates differ:
//   pcm  -> raw signed 16-bit little-endian;   ulaw/alaw -> raw G.711 bytes, one per sample;
//   wav  -> a complete RIFF/WAVE PCM16 mono file with exact sizes;
//   mp3  -> mono CBR MP3 frames (see Mp3Encoder; includes the encoder delay, no LAME tag).
// Throws std::invalid_argument for opus, a non-positive rate or an invalid format.
std::vector<std::uint8_t> encode_audio(std::span<const std::int16_t> pcm, int rate, const OutputFormat& fmt);

class Resampler;
class Mp3Encoder;

// Streaming version of encode_audio for chunked responses: push() PCM pieces as they arrive and
// send whatever bytes come back; finish() once at the end and send its bytes too.
//  - pcm/ulaw/alaw: concatenated output equals encode_audio() of the whole input when no resampling
//    is needed; with resampling it differs only by soxr's block-processing rounding, if at all.
//  - wav: the 44-byte header goes out with the first bytes, and since the length is unknown then,
//    its RIFF and data sizes are 0xFFFFFFFF (the usual streaming convention; most players and
//    ffmpeg read to EOF). encode_audio() instead writes the exact sizes.
//  - mp3: byte-identical to encode_audio() when no resampling is needed.
//  - opus: the constructor throws std::invalid_argument.
class AudioEncoder {
 public:
  AudioEncoder(int input_rate, OutputFormat fmt);
  ~AudioEncoder();
  AudioEncoder(AudioEncoder&&) noexcept;
  AudioEncoder& operator=(AudioEncoder&&) noexcept;
  AudioEncoder(const AudioEncoder&) = delete;
  AudioEncoder& operator=(const AudioEncoder&) = delete;

  // Encodes a piece of input (may be empty); returns the bytes ready so far. Because of the
  // resampler's filter delay and MP3 framing, output can lag input. Throws std::logic_error after finish().
  std::vector<std::uint8_t> push(std::span<const std::int16_t> pcm);
  // Drains the resampler and encoder; returns the remaining bytes. Later calls return nothing.
  std::vector<std::uint8_t> finish();

  const OutputFormat& format() const { return fmt_; }
  int input_rate() const { return input_rate_; }
  // Samples (at the output rate) encoded so far.
  std::uint64_t samples_out() const { return samples_out_; }

 private:
  void encode_samples(std::span<const std::int16_t> pcm, std::vector<std::uint8_t>& out);

  int input_rate_ = 0;
  OutputFormat fmt_;
  std::unique_ptr<Resampler> resampler_;  // null when input_rate == fmt.sample_rate
  std::unique_ptr<Mp3Encoder> mp3_;       // mp3 only
  std::vector<std::int16_t> scratch_;     // resampler output
  std::uint64_t samples_out_ = 0;
  bool header_written_ = false;           // wav only
  bool finished_ = false;
};

}  // namespace vox::audio
