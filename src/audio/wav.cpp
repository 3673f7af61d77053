#include "audio/wav.hpp"

#include <cstring>
#include <fstream>

namespace vox::audio {
namespace {

template <typename T>
T read_le(const std::uint8_t* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(p[i]) << (8 * i);
  return v;
}

void put_le(std::ofstream& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.put(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

std::optional<PcmAudio> read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
      if (format != 1 || bits != 16 || channels < 1) return std::nullopt;
      PcmAudio out;
      out.sample_rate = rate;
      const std::size_t frames = len / (2 * static_cast<std::size_t>(channels));
      out.samples.resize(frames);
      for (std::size_t i = 0; i < frames; ++i)
        out.samples[i] = static_cast<std::int16_t>(read_le<std::uint16_t>(body + 2 * i * channels));
      return out;
    }
    pos += 8 + len + (len & 1);
  }
  return std::nullopt;
}

namespace {
bool write_pcm_wav(const std::string& path, std::span<const std::int16_t> samples, int sample_rate, int channels) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return false;
  const std::uint32_t data_len = static_cast<std::uint32_t>(samples.size() * 2);
  out.write("RIFF", 4);
  put_le(out, 36 + data_len, 4);
  out.write("WAVEfmt ", 8);
  put_le(out, 16, 4);
  put_le(out, 1, 2);  // PCM
  put_le(out, static_cast<std::uint32_t>(channels), 2);
  put_le(out, static_cast<std::uint32_t>(sample_rate), 4);
  put_le(out, static_cast<std::uint32_t>(sample_rate * 2 * channels), 4);
  put_le(out, static_cast<std::uint32_t>(2 * channels), 2);
  put_le(out, 16, 2);
  out.write("data", 4);
  put_le(out, data_len, 4);
  for (const std::int16_t s : samples) put_le(out, static_cast<std::uint16_t>(s), 2);
  return static_cast<bool>(out);
}
}  // namespace

bool write_wav(const std::string& path, std::span<const std::int16_t> samples, int sample_rate) {
  return write_pcm_wav(path, samples, sample_rate, 1);
}

bool write_wav_stereo(const std::string& path, std::span<const std::int16_t> interleaved, int sample_rate) {
  return write_pcm_wav(path, interleaved, sample_rate, 2);
}

}  // namespace vox::audio
