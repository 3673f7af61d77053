#pragma once
// Minimal RIFF/WAVE PCM16 mono reading and writing (recordings, test material).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vox::audio {

struct PcmAudio {
  int sample_rate = 8000;
  std::vector<std::int16_t> samples;  // mono (the first channel of a multi-channel file)
};

// Reads a PCM16 WAV file; nullopt when it is missing or not 16-bit PCM.
std::optional<PcmAudio> read_wav(const std::string& path);
// Writes interleaved stereo PCM16 (left, right, left, ...) as a WAV file.
bool write_wav_stereo(const std::string& path, std::span<const std::int16_t> interleaved, int sample_rate);

// Writes mono PCM16 as a WAV file; returns false on I/O failure.
bool write_wav(const std::string& path, std::span<const std::int16_t> samples, int sample_rate);

}  // namespace vox::audio
