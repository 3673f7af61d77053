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

// Parses WAV bytes: 16-bit PCM or 8-bit μ-law (decoded to PCM); nullopt for anything else.
std::optional<PcmAudio> parse_wav(std::span<const std::uint8_t> bytes);
// Reads a WAV file (as parse_wav); nullopt when it is missing or not PCM16/μ-law.
std::optional<PcmAudio> read_wav(const std::string& path);
// Returns `samples` (interleaved when `channels` > 1) as PCM16 WAV bytes.
std::string wav_bytes(std::span<const std::int16_t> samples, int sample_rate, int channels = 1);
// Writes interleaved stereo PCM16 (left, right, left, ...) as a WAV file.
bool write_wav_stereo(const std::string& path, std::span<const std::int16_t> interleaved, int sample_rate);

// Writes mono PCM16 as a WAV file; returns false on I/O failure.
bool write_wav(const std::string& path, std::span<const std::int16_t> samples, int sample_rate);

}  // namespace vox::audio
