#include "audio/vad.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "audio/resampler.hpp"
#include "audio/signal.hpp"
#include "audio/wav.hpp"
#include "audio/webrtc_vad.hpp"

namespace vox::audio {
namespace {

constexpr std::size_t kFrame = 160;  // 20 ms at 8 kHz
constexpr int kFrameMs = 20;
// Speech recordings from the Debian package pocketsphinx-testdata (scripts/setup.sh).
constexpr const char* kSphinxData = "/usr/share/pocketsphinx/test/data/";

struct Counts {
  int frames = 0;
  int speech = 0;         // VoiceDetector::process() said speech
  int webrtc_speech = 0;  // the raw WebRTC VAD said speech
};

// Runs `pcm` (8 kHz) through a fresh detector in 20 ms frames; frames starting
// before `skip_ms` are processed but not counted.
Counts run(const std::vector<std::int16_t>& pcm, int skip_ms = 0, VadSettings settings = {}) {
  VoiceDetector vad(settings);
  Counts c;
  for (std::size_t pos = 0; pos + kFrame <= pcm.size(); pos += kFrame) {
    const bool speech = vad.process(std::span(pcm).subspan(pos, kFrame));
    if (static_cast<int>(pos / kFrame) * kFrameMs < skip_ms) continue;
    ++c.frames;
    c.speech += speech ? 1 : 0;
    c.webrtc_speech += vad.last_webrtc_decision() ? 1 : 0;
  }
  return c;
}

// Reads 16 kHz 16-bit mono little-endian raw PCM.
std::vector<std::int16_t> read_raw16k(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::int16_t> out(bytes.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::int16_t>(static_cast<std::uint8_t>(bytes[2 * i]) |
                                       (static_cast<std::uint8_t>(bytes[2 * i + 1]) << 8));
  return out;
}

TEST(Vad, DefaultSettings) {
  const VadSettings s;
  EXPECT_EQ(s.webrtc_mode, 3);
  EXPECT_DOUBLE_EQ(s.min_rms, 300.0);
  EXPECT_DOUBLE_EQ(s.snr_db, 9.0);
}

TEST(Vad, FrameRms) {
  const std::vector<std::int16_t> square = {1000, -1000, 1000, -1000};
  EXPECT_DOUBLE_EQ(frame_rms(square), 1000.0);
  const std::vector<std::int16_t> mixed = {3, 4};
  EXPECT_DOUBLE_EQ(frame_rms(mixed), std::sqrt(12.5));
  EXPECT_DOUBLE_EQ(frame_rms({}), 0.0);
}

TEST(Vad, DigitalSilenceIsNeverSpeech) {
  const auto c = run(silence(3000));
  EXPECT_EQ(c.frames, 150);
  EXPECT_EQ(c.speech, 0);
}

TEST(Vad, ReportsRmsAndTracksTheNoiseFloor) {
  VoiceDetector vad(VadSettings{});
  const auto noise = white_noise(2000, 3000.0);
  for (std::size_t pos = 0; pos + kFrame <= noise.size(); pos += kFrame) vad.process(std::span(noise).subspan(pos, kFrame));
  EXPECT_NEAR(vad.last_rms(), 3000.0, 3000.0 * 0.15);
  // The floor is the quietest recent frame: a little below the steady level.
  EXPECT_GT(vad.noise_floor(), 3000.0 * 0.8);
  EXPECT_LE(vad.noise_floor(), 3000.0);
}

class VadSteadyNoise : public ::testing::TestWithParam<double> {};

TEST_P(VadSteadyNoise, IsNotSpeechThoughWebRtcAloneSaysItIs) {
  const double level = GetParam();
  const auto noise = white_noise(3000, level);
  const auto c = run(noise, /*skip_ms=*/300);
  ASSERT_EQ(c.frames, 135);
  // Why the gate exists: the bare WebRTC VAD calls most loud steady noise speech.
  EXPECT_GT(c.webrtc_speech, c.frames / 2) << "WebRTC said speech for " << c.webrtc_speech << " frames";
  // The energy/SNR gate rejects it.
  EXPECT_LE(c.speech, 3);
}

INSTANTIATE_TEST_SUITE_P(Levels, VadSteadyNoise, ::testing::Values(3000.0, 6000.0));

TEST(Vad, RealSpeechIsDetected) {
  const std::string path = std::string(kSphinxData) + "goforward.raw";  // "go forward ten meters"
  const auto pcm16k = read_raw16k(path);
  ASSERT_GT(pcm16k.size(), 40000u) << path << " missing: install pocketsphinx-testdata (scripts/setup.sh)";
  const auto pcm = resample(pcm16k, 16000, 8000);
  ASSERT_NEAR(static_cast<double>(pcm.size()), pcm16k.size() / 2.0, 16.0);

  const auto c = run(pcm);
  // About 1.8 s of the 2.8 s recording is speech (0.5 s .. 2.3 s).
  EXPECT_GE(c.speech, 30) << "of " << c.frames << " frames";
  EXPECT_LT(c.speech, c.frames);  // the leading and trailing room noise is not speech

  // Where: the talker starts at about 0.5 s and has stopped by 2.4 s.
  VoiceDetector vad(VadSettings{});
  int first_ms = -1, last_ms = -1;
  for (std::size_t pos = 0; pos + kFrame <= pcm.size(); pos += kFrame) {
    if (!vad.process(std::span(pcm).subspan(pos, kFrame))) continue;
    const int t = static_cast<int>(pos / kFrame) * kFrameMs;
    if (first_ms < 0) first_ms = t;
    last_ms = t;
  }
  EXPECT_GE(first_ms, 400);
  EXPECT_LE(first_ms, 700);
  EXPECT_GE(last_ms, 2000);
  EXPECT_LE(last_ms, 2400);

  // The first 400 ms are the room before the talker starts.
  const auto lead = std::vector<std::int16_t>(pcm.begin(), pcm.begin() + 3200);
  EXPECT_EQ(run(lead).speech, 0);
}

TEST(Vad, RealSpeechFromAWavFileIsDetected) {
  const std::string path = std::string(kSphinxData) + "librivox/sense_and_sensibility_01_austen_64kb-0870.wav";
  const auto wav = read_wav(path);
  ASSERT_TRUE(wav) << path << " missing: install pocketsphinx-testdata (scripts/setup.sh)";
  ASSERT_EQ(wav->sample_rate, 16000);
  const auto pcm = resample(wav->samples, 16000, 8000);
  const auto c = run(pcm);
  EXPECT_GE(c.speech, c.frames / 2) << "of " << c.frames << " frames";
}

TEST(Vad, SpeechOverSteadyNoiseIsStillDetected) {
  const auto pcm16k = read_raw16k(std::string(kSphinxData) + "goforward.raw");
  ASSERT_GT(pcm16k.size(), 40000u);
  auto pcm = resample(pcm16k, 16000, 8000);
  const auto noise = white_noise(static_cast<int>(pcm.size() / 8), 100.0, 7);
  for (std::size_t i = 0; i < pcm.size() && i < noise.size(); ++i) pcm[i] = static_cast<std::int16_t>(pcm[i] + noise[i]);
  const auto clean = run(resample(pcm16k, 16000, 8000));
  const auto noisy = run(pcm);
  EXPECT_GE(noisy.speech, clean.speech / 2) << "clean " << clean.speech << ", noisy " << noisy.speech;
}

TEST(Vad, QuietSoundsBelowMinRmsAreNotSpeech) {
  const auto pcm16k = read_raw16k(std::string(kSphinxData) + "goforward.raw");
  ASSERT_GT(pcm16k.size(), 40000u);
  auto pcm = resample(pcm16k, 16000, 8000);
  for (auto& s : pcm) s = static_cast<std::int16_t>(s / 20);  // peak frames drop to ~140 RMS
  const auto c = run(pcm);
  EXPECT_EQ(c.speech, 0);
  EXPECT_GT(c.webrtc_speech, 0);  // the WebRTC VAD alone still hears it
}

// The WebRTC VAD is not run on digital silence, and skipping it there changes no
// decision: the same audio through a detector that runs it on every frame (the previous
// behaviour, rebuilt here from the same gates) gives exactly the same frames as speech.
TEST(Vad, SkippingDigitalSilenceChangesNoDecision) {
  const auto pcm = resample(read_raw16k(std::string(kSphinxData) + "goforward.raw"), 16000, 8000);
  ASSERT_GT(pcm.size(), 20000u);
  // A call: digital silence, room noise and speech, a second of digital silence (the
  // line muted), the same again, and silence at the end.
  std::vector<std::int16_t> call(4000, 0);
  call.insert(call.end(), pcm.begin(), pcm.end());
  call.insert(call.end(), 8000, 0);
  call.insert(call.end(), pcm.begin(), pcm.end());
  call.insert(call.end(), 4000, 0);
  VoiceDetector skipping(VadSettings{});
  WebRtcVadInst* raw = WebRtcVad_Create();
  const VadSettings settings;
  ASSERT_TRUE(raw && WebRtcVad_Init(raw) == 0 && WebRtcVad_set_mode(raw, settings.webrtc_mode) == 0);
  VoiceDetector floor_only(VadSettings{});  // tracks the same floor for the reference decision
  int frames = 0, differ = 0, zero = 0, speech = 0;
  for (std::size_t pos = 0; pos + kFrame <= call.size(); pos += kFrame) {
    const auto frame = std::span(call).subspan(pos, kFrame);
    const bool got = skipping.process(frame);
    const bool webrtc = WebRtcVad_Process(raw, 8000, frame.data(), frame.size()) == 1;
    floor_only.process(frame);
    const double rms = frame_rms(frame);
    const bool want = webrtc && rms >= settings.min_rms &&
                      rms >= std::max(floor_only.noise_floor(), 1.0) * std::pow(10.0, settings.snr_db / 20.0);
    ++frames;
    differ += got != want ? 1 : 0;
    zero += rms == 0.0 ? 1 : 0;
    speech += got ? 1 : 0;
  }
  WebRtcVad_Free(raw);
  EXPECT_GE(zero, 95);  // about 2 s of digital silence (frames straddling the joins are not zero)
  EXPECT_GE(speech, 60);
  EXPECT_EQ(skipping.webrtc_frames(), static_cast<std::uint64_t>(frames - zero));
  EXPECT_EQ(differ, 0) << "of " << frames << " frames";
}

}  // namespace
}  // namespace vox::audio
