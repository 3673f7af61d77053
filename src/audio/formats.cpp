#include "audio/formats.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <utility>

#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "audio/resampler.hpp"

namespace vox::audio {
namespace {

struct CodecName {
  std::string_view name;
  Codec codec;
  bool has_bitrate;
};
constexpr std::array<CodecName, 6> kCodecs = {{
    {"mp3", Codec::kMp3, true},
    {"pcm", Codec::kPcm, false},
    {"ulaw", Codec::kUlaw, false},
    {"alaw", Codec::kAlaw, false},
    {"wav", Codec::kWav, false},
    {"opus", Codec::kOpus, true},
}};

// A positive decimal without sign or leading zeros, at most 6 digits.
std::optional<int> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 6 || s[0] == '0') return std::nullopt;
  int value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

bool combination_valid(Codec codec, int rate, int kbps) {
  switch (codec) {
    case Codec::kPcm:
    case Codec::kWav:
      return rate >= 8000 && rate <= 192000;
    case Codec::kUlaw:
    case Codec::kAlaw:
      return rate == 8000;
    case Codec::kMp3:
      return mp3_rate_and_bitrate_valid(rate, kbps);
    case Codec::kOpus:
      return (rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000) && kbps >= 6 &&
             kbps <= 510;
  }
  return false;
}

void put_le16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

void put_le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>((v >> (8 * i)) & 0xFF));
}

void set_le32(std::vector<std::uint8_t>& out, std::size_t pos, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[pos + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((v >> (8 * i)) & 0xFF);
}

constexpr std::size_t kWavHeaderSize = 44;
constexpr std::uint32_t kUnknownSize = 0xFFFFFFFF;

// A canonical 44-byte PCM16 mono WAVE header; `data_bytes` == kUnknownSize for streaming.
void put_wav_header(std::vector<std::uint8_t>& out, int rate, std::uint32_t data_bytes) {
  const auto urate = static_cast<std::uint32_t>(rate);
  const auto push_tag = [&](const char* tag) { out.insert(out.end(), tag, tag + 4); };
  push_tag("RIFF");
  put_le32(out, data_bytes == kUnknownSize ? kUnknownSize : 36 + data_bytes);
  push_tag("WAVE");
  push_tag("fmt ");
  put_le32(out, 16);         // fmt chunk size
  put_le16(out, 1);          // PCM
  put_le16(out, 1);          // mono
  put_le32(out, urate);      // sample rate
  put_le32(out, urate * 2);  // byte rate
  put_le16(out, 2);          // block align
  put_le16(out, 16);         // bits per sample
  push_tag("data");
  put_le32(out, data_bytes);
}

// Input samples per resampler call, bounding the scratch buffer.
constexpr std::size_t kResampleChunk = 8192;

}  // namespace

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  const std::size_t first = name.find('_');
  if (first == std::string_view::npos) return std::nullopt;
  const std::string_view codec_name = name.substr(0, first);
  const auto it = std::find_if(kCodecs.begin(), kCodecs.end(), [&](const CodecName& c) { return c.name == codec_name; });
  if (it == kCodecs.end()) return std::nullopt;

  std::string_view rest = name.substr(first + 1);
  std::string_view rate_part = rest, kbps_part;
  const std::size_t second = rest.find('_');
  if (second != std::string_view::npos) {
    rate_part = rest.substr(0, second);
    kbps_part = rest.substr(second + 1);
  }
  if (it->has_bitrate != (second != std::string_view::npos)) return std::nullopt;

  const auto rate = parse_number(rate_part);
  if (!rate) return std::nullopt;
  int kbps = 0;
  if (it->has_bitrate) {
    const auto parsed = parse_number(kbps_part);  // rejects a third '_' too
    if (!parsed) return std::nullopt;
    kbps = *parsed;
  }
  if (!combination_valid(it->codec, *rate, kbps)) return std::nullopt;
  return OutputFormat{it->codec, *rate, kbps, std::string(name)};
}

std::string_view content_type(const OutputFormat& fmt) {
  switch (fmt.codec) {
    case Codec::kMp3:
      return "audio/mpeg";
    case Codec::kWav:
      return "audio/wav";
    case Codec::kUlaw:
      return "audio/basic";
    case Codec::kAlaw:
      return "audio/x-alaw-basic";
    case Codec::kOpus:
      return "audio/opus";
    case Codec::kPcm:
      break;
  }
  return "application/octet-stream";
}

// A-law: the sign bit is set for positive values; the 13-bit magnitude (top 13 bits of the 16-bit
// sample) is coded as a 3-bit segment and 4-bit mantissa; the even bits are then inverted (^ 0x55).
std::uint8_t alaw_encode(std::int16_t sample) {
  int v = sample;
  std::uint8_t mask = 0xD5;  // sign bit 0x80 | even-bit inversion 0x55
  if (v < 0) {
    v = -v - 1;  // one's-complement magnitude: -1..-8 share the smallest negative step, -32768 fits
    mask = 0x55;
  }
  const int m = v >> 3;  // 0..4095
  int segment = 0, mantissa = 0;
  if (m < 32) {
    mantissa = m >> 1;
  } else {
    segment = 0;
    for (int t = m >> 5; t != 0; t >>= 1) ++segment;  // 32..63 -> 1, ..., 2048..4095 -> 7
    mantissa = (m >> segment) & 0x0F;
  }
  return static_cast<std::uint8_t>(((segment << 4) | mantissa) ^ mask);
}

std::int16_t alaw_decode(std::uint8_t code) {
  const int a = code ^ 0x55;
  const int segment = (a >> 4) & 0x07;
  const int mantissa = a & 0x0F;
  // The middle of the quantisation interval, scaled back to 16 bits.
  int magnitude = (mantissa << 4) + 8;
  if (segment > 0) magnitude = ((mantissa << 4) + 0x108) << (segment - 1);
  return static_cast<std::int16_t>((a & 0x80) ? magnitude : -magnitude);
}

AudioEncoder::AudioEncoder(int input_rate, OutputFormat fmt) : input_rate_(input_rate), fmt_(std::move(fmt)) {
  if (fmt_.codec == Codec::kOpus) throw std::invalid_argument("AudioEncoder: opus output is not supported");
  if (input_rate_ <= 0 || fmt_.sample_rate <= 0)
    throw std::invalid_argument("AudioEncoder: sample rates must be positive");
  if (fmt_.codec == Codec::kMp3) mp3_ = std::make_unique<Mp3Encoder>(fmt_.sample_rate, fmt_.bitrate_kbps);
  if (input_rate_ != fmt_.sample_rate) resampler_ = std::make_unique<Resampler>(input_rate_, fmt_.sample_rate);
}

AudioEncoder::~AudioEncoder() = default;
AudioEncoder::AudioEncoder(AudioEncoder&&) noexcept = default;
AudioEncoder& AudioEncoder::operator=(AudioEncoder&&) noexcept = default;

void AudioEncoder::encode_samples(std::span<const std::int16_t> pcm, std::vector<std::uint8_t>& out) {
  samples_out_ += pcm.size();
  switch (fmt_.codec) {
    case Codec::kPcm:
    case Codec::kWav:
      out.reserve(out.size() + 2 * pcm.size());
      for (const std::int16_t s : pcm) put_le16(out, static_cast<std::uint16_t>(s));
      break;
    case Codec::kUlaw:
      out.reserve(out.size() + pcm.size());
      for (const std::int16_t s : pcm) out.push_back(ulaw_encode(s));
      break;
    case Codec::kAlaw:
      out.reserve(out.size() + pcm.size());
      for (const std::int16_t s : pcm) out.push_back(alaw_encode(s));
      break;
    case Codec::kMp3: {
      if (!mp3_) throw std::logic_error("AudioEncoder: moved-from encoder");
      const auto bytes = mp3_->encode(pcm);
      out.insert(out.end(), bytes.begin(), bytes.end());
      break;
    }
    case Codec::kOpus:
      throw std::logic_error("AudioEncoder: opus");  // rejected by the constructor
  }
}

std::vector<std::uint8_t> AudioEncoder::push(std::span<const std::int16_t> pcm) {
  if (finished_) throw std::logic_error("AudioEncoder::push: called after finish()");
  std::vector<std::uint8_t> out;
  if (fmt_.codec == Codec::kWav && !header_written_) {
    put_wav_header(out, fmt_.sample_rate, kUnknownSize);
    header_written_ = true;
  }
  if (!resampler_) {
    encode_samples(pcm, out);
    return out;
  }
  for (std::size_t pos = 0; pos < pcm.size(); pos += kResampleChunk) {
    const auto piece = pcm.subspan(pos, std::min(kResampleChunk, pcm.size() - pos));
    scratch_.resize(resampler_->max_output(piece.size()));
    const std::size_t n = resampler_->process(piece, scratch_);
    encode_samples(std::span<const std::int16_t>(scratch_).first(n), out);
  }
  return out;
}

std::vector<std::uint8_t> AudioEncoder::finish() {
  if (finished_) return {};
  finished_ = true;
  std::vector<std::uint8_t> out;
  if (fmt_.codec == Codec::kWav && !header_written_) {
    put_wav_header(out, fmt_.sample_rate, kUnknownSize);
    header_written_ = true;
  }
  if (resampler_) {
    scratch_.resize(4096);
    for (;;) {
      const std::size_t n = resampler_->flush(scratch_);
      encode_samples(std::span<const std::int16_t>(scratch_).first(n), out);
      if (n < scratch_.size()) break;
    }
  }
  if (mp3_) {
    const auto tail = mp3_->flush();
    out.insert(out.end(), tail.begin(), tail.end());
  }
  return out;
}

std::vector<std::uint8_t> encode_audio(std::span<const std::int16_t> pcm, int rate, const OutputFormat& fmt) {
  AudioEncoder encoder(rate, fmt);
  std::vector<std::uint8_t> out = encoder.push(pcm);
  const auto tail = encoder.finish();
  out.insert(out.end(), tail.begin(), tail.end());
  if (fmt.codec == Codec::kWav) {
    const std::size_t data_bytes = out.size() - kWavHeaderSize;
    if (data_bytes > std::numeric_limits<std::uint32_t>::max() - 36)
      throw std::length_error("encode_audio: audio too long for a WAV file");
    set_le32(out, 4, static_cast<std::uint32_t>(36 + data_bytes));
    set_le32(out, 40, static_cast<std::uint32_t>(data_bytes));
  }
  return out;
}

}  // namespace vox::audio
