// Per-frame cost of the media path (20 ms of 8 kHz μ-law per frame).
//   inbound:  Twilio JSON → base64 → μ-law → PCM → VAD (+ energy gate) → endpointing
//   outbound: TTS PCM 22.05 kHz → 8 kHz → μ-law → base64 → Twilio JSON
// Run: ./build/bench/bench_media_path
#include <benchmark/benchmark.h>

#include <array>
#include <string>
#include <vector>

#include "audio/endpointer.hpp"
#include "call/inbound.hpp"
#include "audio/g711.hpp"
#include "audio/resampler.hpp"
#include "audio/signal.hpp"
#include "audio/vad.hpp"
#include "core/base64.hpp"
#include "speech/espeak_tts.hpp"
#include "twilio/media_messages.hpp"

namespace {

constexpr std::size_t kFrame = 160;

// 10 s of call audio: speech (espeak-ng) alternating with quiet line noise.
const std::vector<std::uint8_t>& call_audio() {
  static const std::vector<std::uint8_t> audio = [] {
    vox::speech::EspeakTts tts(vox::speech::EspeakSettings{});
    std::vector<std::uint8_t> out;
    const auto speech = tts.synthesize_blocking("I would like to book a table for two people tonight, please.");
    const auto noise = vox::audio::white_noise(800, 60);
    std::vector<std::uint8_t> quiet(noise.size());
    vox::audio::ulaw_encode(noise, quiet);
    while (out.size() < 80000) {
      out.insert(out.end(), speech.begin(), speech.end());
      out.insert(out.end(), quiet.begin(), quiet.end());
    }
    out.resize(80000 / kFrame * kFrame);
    return out;
  }();
  return audio;
}

// Twilio media messages for every frame of call_audio().
const std::vector<std::string>& call_messages() {
  static const std::vector<std::string> msgs = [] {
    std::vector<std::string> out;
    const auto& a = call_audio();
    for (std::size_t i = 0; i < a.size(); i += kFrame) {
      std::string m;
      vox::twilio::write_inbound_media(m, "MZ0123456789abcdef0123456789abcdef", static_cast<std::int64_t>(i / kFrame + 2),
                                       static_cast<std::int64_t>(i / kFrame + 1), static_cast<std::int64_t>(i / 8),
                                       std::span(a.data() + i, kFrame));
      out.push_back(std::move(m));
    }
    return out;
  }();
  return msgs;
}

// μ-law → PCM → VAD → endpointing, per frame (the core of the inbound path).
void BM_InboundFrameDecodeVadEndpoint(benchmark::State& state) {
  const auto& audio = call_audio();
  vox::call::InboundSettings cfg;
  vox::audio::VoiceDetector vad(cfg.vad);
  vox::audio::Endpointer ep(cfg.endpointing);
  std::array<std::int16_t, kFrame> pcm;
  std::size_t pos = 0;
  std::int64_t t = 0;
  for (auto _ : state) {
    vox::audio::ulaw_decode(std::span(audio.data() + pos, kFrame), pcm);
    const bool speech = vad.process(pcm);
    benchmark::DoNotOptimize(ep.push(speech, t));
    t += 20;
    pos = (pos + kFrame) % audio.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InboundFrameDecodeVadEndpoint);

// The whole inbound path from the WebSocket text: JSON parse → base64 → μ-law → VAD → endpointing.
void BM_InboundMessageFullPath(benchmark::State& state) {
  const auto& msgs = call_messages();
  vox::call::InboundSettings cfg;
  vox::twilio::MessageParser parser;
  vox::audio::VoiceDetector vad(cfg.vad);
  vox::audio::Endpointer ep(cfg.endpointing);
  std::array<std::uint8_t, 4096> payload;
  std::array<std::int16_t, kFrame> pcm;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto m = parser.parse(msgs[i]);
    const auto& media = std::get<vox::twilio::Media>(m.body);
    const auto n = vox::base64::decode(media.payload, payload);
    vox::audio::ulaw_decode(std::span<const std::uint8_t>(payload.data(), *n), pcm);
    const bool speech = vad.process(pcm);
    benchmark::DoNotOptimize(ep.push(speech, media.timestamp_ms));
    i = (i + 1) % msgs.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InboundMessageFullPath);

void BM_JsonParseMediaMessage(benchmark::State& state) {
  const auto& msgs = call_messages();
  vox::twilio::MessageParser parser;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parser.parse(msgs[i]));
    i = (i + 1) % msgs.size();
  }
}
BENCHMARK(BM_JsonParseMediaMessage);

// Outbound, per 20 ms: 441 samples at 22.05 kHz → 160 at 8 kHz → μ-law → media JSON.
void BM_OutboundFrameResampleEncodeMessage(benchmark::State& state) {
  const auto tone = vox::audio::tone(220, 1000, 8000, 22050);
  vox::audio::Resampler rs(22050, 8000);
  std::vector<std::int16_t> out(rs.max_output(441));
  std::array<std::uint8_t, 512> ulaw;
  std::string msg;
  msg.reserve(512);
  std::size_t pos = 0;
  for (auto _ : state) {
    const std::size_t n = rs.process(std::span(tone.data() + pos, 441), out);
    vox::audio::ulaw_encode(std::span<const std::int16_t>(out.data(), n), ulaw);
    vox::twilio::write_media(msg, "MZ0123456789abcdef0123456789abcdef", std::span<const std::uint8_t>(ulaw.data(), n));
    benchmark::DoNotOptimize(msg.data());
    pos = (pos + 441) % (tone.size() - 441);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OutboundFrameResampleEncodeMessage);

// Outbound when the provider already delivers 8 kHz μ-law (ElevenLabs ulaw_8000): message only.
void BM_OutboundFrameUlawPassthrough(benchmark::State& state) {
  const auto& audio = call_audio();
  std::string msg;
  msg.reserve(512);
  std::size_t pos = 0;
  for (auto _ : state) {
    vox::twilio::write_media(msg, "MZ0123456789abcdef0123456789abcdef", std::span(audio.data() + pos, kFrame));
    benchmark::DoNotOptimize(msg.data());
    pos = (pos + kFrame) % audio.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OutboundFrameUlawPassthrough);

}  // namespace

BENCHMARK_MAIN();
