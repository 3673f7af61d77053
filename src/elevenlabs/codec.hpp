#pragma once
// JSON <-> structs for the ElevenLabs API: the only place that knows its field names.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "elevenlabs/types.hpp"

namespace vox::elevenlabs::codec {

// Maps an error response (status + body) to a typed error. Accepts `detail` as an
// object {status, message}, a 422 list, or a string.
ApiError parse_error(int status, std::string_view body);

Voice parse_voice(std::string_view json);
std::vector<Voice> parse_voices_v1(std::string_view json);
VoicesPage parse_voices_v2(std::string_view json);
VoiceSettings parse_voice_settings(std::string_view json);
std::vector<Model> parse_models(std::string_view json);
Subscription parse_subscription(std::string_view json);
Transcript parse_transcript(std::string_view json);
// One /with-timestamps object (REST: seconds, snake_case).
TimedAudio parse_timed_audio(std::string_view json);

std::string tts_body(std::string_view text, const TtsOptions& opt);
std::string voice_settings_json(const VoiceSettings& s);

// TTS WebSocket server message (camelCase; accepts charDurationsMs and charsDurationsMs,
// isFinal and is_final, contextId and context_id). Throws std::invalid_argument.
TtsSocketMessage parse_tts_socket_message(std::string_view json);
// Client messages of multi-stream-input.
std::string tts_socket_init(std::string_view context_id, const std::optional<VoiceSettings>& settings,
                            const std::vector<int>& chunk_schedule);
std::string tts_socket_text(std::string_view context_id, std::string_view text, bool flush);
std::string tts_socket_close_context(std::string_view context_id);
std::string tts_socket_keepalive(std::string_view context_id);

// Realtime STT.
RealtimeMessage parse_realtime_message(std::string_view json);
std::string realtime_audio_chunk(std::string_view audio_base64, bool commit, int sample_rate);

}  // namespace vox::elevenlabs::codec
