#pragma once
// How a voice sounds: the settings a caller of the control API may change and a speech
// provider takes (ElevenLabs' voice_settings). Shared vocabulary of speech/ and
// elevenlabs/, so neither has to know the other's types.
namespace vox {

struct VoiceSettings {
  double stability = 0.5;
  double similarity_boost = 0.75;
  double style = 0.0;
  bool use_speaker_boost = true;
  double speed = 1.0;
};

}  // namespace vox
