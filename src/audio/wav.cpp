#include "audio/wav.hpp"

#include <cstring>
#include <fstream>

#include "audio/g711.hpp"

namespace vox::audio {
namespace {

template <typename T>
T read_le(const std::uint8_t* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(p[i]) << (8 * i);
  return v;
}

void put_le(std::string& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

bool write_pcm_wav(const std::string& path, std::span<const std::int16_t> samples, int sample_rate, int channels) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return false;
  const auto bytes = wav_bytes(samples, sample_rate, channels);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

std::optional<PcmAudio> parse_wav(std::span<const std::uint8_t> data) {
  if (data.size() < 12 || std::memcmp(data.data(), "RIFF", 4) != 0 || std::memcmp(data.data() + 8, "WAVE", 4) != 0)
    return std::nullopt;
  std::size_t pos = 12;
  int channels = 0, rate = 0, bits = 0, format = 0;
  while (pos + 8 <= data.size()) {
    const std::uint32_t len = read_le<std::uint32_t>(&data[pos + 4]);
    const std::uint8_t* body = &data[pos + 8];
    if (pos + 8 + len > data.size()) return std::nullopt;
    if (std::memcmp(&data[pos], "fmt ", 4) == 0 && len >= 16) {
      format = read_le<std::uint16_t>(body);
      channels = read_le<std::uint16_t>(body + 2);
      rate = static_cast<int>(read_le<std::uint32_t>(body + 4));
      bits = read_le<std::uint16_t>(body + 14);
    } else if (std::memcmp(&data[pos], "data", 4) == 0) {
      const bool pcm16 = format == 1 && bits == 16;
      const bool ulaw = format == 7 && bits == 8;
      if (!(pcm16 || ulaw) || channels < 1) return std::nullopt;
      PcmAudio out;
      out.sample_rate = rate;
      const std::size_t width = pcm16 ? 2 : 1;
      const std::size_t frames = len / (width * static_cast<std::size_t>(channels));
      out.samples.resize(frames);
      for (std::size_t i = 0; i < frames; ++i) {
        const std::uint8_t* at = body + width * i * static_cast<std::size_t>(channels);  // the first channel
        out.samples[i] = pcm16 ? static_cast<std::int16_t>(read_le<std::uint16_t>(at)) : ulaw_decode(*at);
      }
      return out;
    }
    pos += 8 + len + (len & 1);
  }
  return std::nullopt;
}

std::optional<PcmAudio> read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_wav(data);
}

std::string wav_bytes(std::span<const std::int16_t> samples, int sample_rate, int channels) {
  const std::uint32_t data_len = static_cast<std::uint32_t>(samples.size() * 2);
  std::string out = "RIFF";
  out.reserve(44 + data_len);
  put_le(out, 36 + data_len, 4);
  out += "WAVEfmt ";
  put_le(out, 16, 4);
  put_le(out, 1, 2);  // PCM
  put_le(out, static_cast<std::uint32_t>(channels), 2);
  put_le(out, static_cast<std::uint32_t>(sample_rate), 4);
  put_le(out, static_cast<std::uint32_t>(sample_rate * 2 * channels), 4);
  put_le(out, static_cast<std::uint32_t>(2 * channels), 2);
  put_le(out, 16, 2);
  out += "data";
  put_le(out, data_len, 4);
  for (const std::int16_t s : samples) put_le(out, static_cast<std::uint16_t>(s), 2);
  return out;
}

bool write_wav(const std::string& path, std::span<const std::int16_t> samples, int sample_rate) {
  return write_pcm_wav(path, samples, sample_rate, 1);
}

bool write_wav_stereo(const std::string& path, std::span<const std::int16_t> interleaved, int sample_rate) {
  return write_pcm_wav(path, interleaved, sample_rate, 2);
}

}  // namespace vox::audio
