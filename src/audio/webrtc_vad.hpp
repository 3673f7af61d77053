#pragma once
// The low-level WebRTC VAD is exported by Debian's libwebrtc-audio-processing, but its
// header is not shipped; these are its C signatures (webrtc_vad.h). Used by audio/vad.cpp
// and by the VAD's tests (which run it bare, as a reference).
#include <cstddef>
#include <cstdint>

struct WebRtcVadInst;

extern "C" {
WebRtcVadInst* WebRtcVad_Create(void);
void WebRtcVad_Free(WebRtcVadInst* handle);
int WebRtcVad_Init(WebRtcVadInst* handle);
int WebRtcVad_set_mode(WebRtcVadInst* handle, int mode);
int WebRtcVad_Process(WebRtcVadInst* handle, int fs, const std::int16_t* audio_frame, std::size_t frame_length);
}
