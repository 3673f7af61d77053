// The ElevenLabs emulator's audio and answer helpers: character alignments, silence
// trimming, output formats, uploads.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "audio/resampler.hpp"
#include "audio/wav.hpp"
#include "sim/elevenlabs_emulator_impl.hpp"
#include "core/json_text.hpp"

namespace vox::sim::emu {
namespace json = boost::json;
using net::HttpResponse;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

HttpResponse el_error(int status, std::string_view code, std::string_view message) {
  return HttpResponse::json(status, vox::json_text(json::object{
                                        {"detail", json::object{{"status", code}, {"message", message}}}}));
}

HttpResponse validation_error(std::vector<std::pair<std::vector<std::string>, std::string>> problems) {
  json::array detail;
  for (auto& [loc, msg] : problems) {
    json::array l;
    for (auto& p : loc) l.push_back(json::string(p));
    detail.push_back(json::object{{"loc", l}, {"msg", msg}, {"type", "value_error"}});
  }
  return HttpResponse::json(422, vox::json_text(json::object{{"detail", detail}}));
}

CharTimes align_text(std::string_view text, const std::vector<speech::WordTiming>& words, int total_ms) {
  // Word spans in the text.
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && text[i] == ' ') ++i;
    const auto b = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > b) spans.emplace_back(b, i);
  }
  std::vector<int> starts(spans.size());
  for (std::size_t w = 0; w < spans.size(); ++w) {
    if (words.size() == spans.size()) starts[w] = words[w].start_ms;
    else starts[w] = static_cast<int>(static_cast<double>(total_ms) * static_cast<double>(spans[w].first) / std::max<double>(1, static_cast<double>(text.size())));
  }
  CharTimes ct;
  ct.start_ms.assign(text.size(), 0);
  ct.dur_ms.assign(text.size(), 0);
  for (std::size_t i = 0; i < text.size(); ++i) ct.chars.emplace_back(1, text[i]);
  for (std::size_t w = 0; w < spans.size(); ++w) {
    const int s = starts[w];
    const int e = std::max(s + 1, w + 1 < spans.size() ? starts[w + 1] : total_ms);
    const auto len = spans[w].second - spans[w].first;
    const double per = static_cast<double>(e - s) / static_cast<double>(len + 1);
    for (std::size_t k = 0; k < len; ++k) {
      ct.start_ms[spans[w].first + k] = s + static_cast<int>(per * static_cast<double>(k));
      ct.dur_ms[spans[w].first + k] = std::max(1, static_cast<int>(per));
    }
    const auto space = spans[w].second;
    if (space < text.size()) {
      ct.start_ms[space] = s + static_cast<int>(per * static_cast<double>(len));
      ct.dur_ms[space] = std::max(1, static_cast<int>(per));
    }
  }
  // Leading spaces and anything unassigned take the time of what follows.
  for (std::size_t i = text.size(); i-- > 0;)
    if (ct.dur_ms[i] == 0) ct.start_ms[i] = i + 1 < text.size() ? ct.start_ms[i + 1] : total_ms;
  return ct;
}

// Trims leading and trailing 20 ms frames quieter than a speech level, keeping 100 ms
// of margin on each side.
void trim_silence(std::vector<std::uint8_t>& ulaw) {
  constexpr std::size_t kFrame = 160, kMargin = 800;
  auto loud = [&](std::size_t at) {
    double sum = 0;
    const std::size_t end = std::min(ulaw.size(), at + kFrame);
    for (std::size_t i = at; i < end; ++i) {
      const double x = audio::ulaw_decode(ulaw[i]);
      sum += x * x;
    }
    return end > at && std::sqrt(sum / static_cast<double>(end - at)) > 500.0;
  };
  std::size_t first = 0;
  while (first < ulaw.size() && !loud(first)) first += kFrame;
  if (first >= ulaw.size()) return;  // all quiet: leave it to the recogniser
  std::size_t last = (ulaw.size() - 1) / kFrame * kFrame;
  while (last > first && !loud(last)) last -= kFrame;
  const std::size_t begin = first > kMargin ? first - kMargin : 0;
  const std::size_t end = std::min(ulaw.size(), last + kFrame + kMargin);
  ulaw = std::vector<std::uint8_t>(ulaw.begin() + static_cast<long>(begin), ulaw.begin() + static_cast<long>(end));
}

std::vector<std::int16_t> to_pcm(const std::vector<std::uint8_t>& ulaw) {
  std::vector<std::int16_t> pcm(ulaw.size());
  audio::ulaw_decode(ulaw, pcm);
  return pcm;
}

// Encodes 8 kHz μ-law into the requested format.
std::vector<std::uint8_t> encode(const std::vector<std::uint8_t>& ulaw, const audio::OutputFormat& fmt) {
  if (fmt.codec == audio::Codec::kUlaw) return ulaw;
  const auto pcm = to_pcm(ulaw);
  return audio::encode_audio(pcm, 8000, fmt);
}

// Decodes an uploaded audio file (WAV PCM16, raw pcm_s16le_16, μ-law WAV, MP3) to 8 kHz μ-law.
std::optional<std::vector<std::uint8_t>> decode_upload(std::string_view data, std::string_view file_format) {
  std::vector<std::int16_t> pcm;
  int rate = 0;
  auto u8 = [&](std::size_t i) { return static_cast<std::uint8_t>(data[i]); };
  auto le16 = [&](std::size_t i) { return static_cast<std::uint32_t>(u8(i) | (u8(i + 1) << 8)); };
  auto le32 = [&](std::size_t i) { return le16(i) | (le16(i + 2) << 16); };
  if (file_format == "pcm_s16le_16") {
    rate = 16000;
    pcm.resize(data.size() / 2);
    for (std::size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<std::int16_t>(le16(2 * i));
  } else if (data.size() >= 44 && data.substr(0, 4) == "RIFF" && data.substr(8, 4) == "WAVE") {
    std::size_t pos = 12;
    int fmt_code = 0, channels = 1, bits = 16;
    while (pos + 8 <= data.size()) {
      const auto id = data.substr(pos, 4);
      std::size_t size = le32(pos + 4);
      const std::size_t body = pos + 8;
      if (id == "fmt " && body + 16 <= data.size()) {
        fmt_code = static_cast<int>(le16(body));
        channels = static_cast<int>(le16(body + 2));
        rate = static_cast<int>(le32(body + 4));
        bits = static_cast<int>(le16(body + 14));
      } else if (id == "data") {
        size = std::min(size, data.size() - body);
        if (fmt_code == 1 && bits == 16) {
          const std::size_t frames = size / (2 * static_cast<std::size_t>(channels));
          pcm.resize(frames);
          for (std::size_t i = 0; i < frames; ++i) pcm[i] = static_cast<std::int16_t>(le16(body + 2 * i * channels));
        } else if (fmt_code == 7 && bits == 8) {
          const std::size_t frames = size / static_cast<std::size_t>(channels);
          pcm.resize(frames);
          for (std::size_t i = 0; i < frames; ++i) pcm[i] = audio::ulaw_decode(u8(body + i * channels));
        } else {
          return std::nullopt;
        }
        break;
      }
      pos = body + size + (size & 1);
    }
    if (pcm.empty() && rate == 0) return std::nullopt;
  } else {
    try {
      pcm = audio::decode_mp3(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()), rate);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (rate <= 0) return std::nullopt;
  std::vector<std::int16_t> pcm8;
  if (rate == 8000) {
    pcm8 = std::move(pcm);
  } else {
    audio::Resampler rs(rate, 8000);
    pcm8.resize(rs.max_output(pcm.size()) + 64);
    auto n = rs.process(pcm, pcm8);
    std::vector<std::int16_t> tail(rs.max_output(0) + 512);
    auto m = rs.flush(tail);
    pcm8.resize(n);
    pcm8.insert(pcm8.end(), tail.begin(), tail.begin() + static_cast<long>(m));
  }
  std::vector<std::uint8_t> ulaw(pcm8.size());
  audio::ulaw_encode(pcm8, ulaw);
  return ulaw;
}

}  // namespace vox::sim::emu
