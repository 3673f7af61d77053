#include "call/inbound.hpp"

#include <algorithm>

#include "audio/g711.hpp"

namespace vox::call {
namespace {
constexpr std::size_t kFrameBytes = 160;  // 20 ms of 8 kHz μ-law
// Most utterances are a few seconds; longer ones grow the buffer (by doubling, up to the
// cap). Reserving the whole cap (31 s, about 250 KB) for every call cost more memory per
// call than everything else together.
constexpr std::size_t kUtteranceReserveBytes = 3 * 8000;
}  // namespace

InboundPipeline::InboundPipeline(const InboundSettings& settings, InboundListener& listener,
                                 std::function<std::unique_ptr<speech::SttStream>()> open_stream)
    : settings_(settings),
      listener_(listener),
      open_stream_(std::move(open_stream)),
      vad_(settings.vad, 8000),
      endpointer_(settings.endpointing, 20),
      preroll_(static_cast<std::size_t>(std::max(20, settings.endpointing.preroll_ms)) * 8),
      utterance_cap_(static_cast<std::size_t>(settings.endpointing.max_utterance_ms + 1000) * 8) {
  utterance_.reserve(std::min(utterance_cap_, kUtteranceReserveBytes));
}

InboundPipeline::Pushed InboundPipeline::push(std::span<const std::uint8_t> ulaw, std::int64_t timestamp_ms,
                                              const bool* stop) {
  Pushed out;
  out.start_ms = timestamp_ms >= 0 ? timestamp_ms : media_clock_ms_;
  out.frames = (frame_fill_ + ulaw.size()) / kFrameBytes;
  std::size_t i = 0;
  while (i < ulaw.size()) {
    const std::size_t n = std::min(kFrameBytes - frame_fill_, ulaw.size() - i);
    std::copy_n(ulaw.data() + i, n, frame_buf_.data() + frame_fill_);
    frame_fill_ += n;
    i += n;
    if (frame_fill_ == kFrameBytes) {
      // This frame ends `i` bytes into the message (it may have begun in the previous one).
      const std::int64_t frame_start =
          out.start_ms + (static_cast<std::int64_t>(i) - static_cast<std::int64_t>(kFrameBytes)) / 8;
      frame_fill_ = 0;
      process(std::span<const std::uint8_t, kFrameBytes>(frame_buf_.data(), kFrameBytes), frame_start);
      if (stop && *stop) return out;
    }
  }
  media_clock_ms_ = out.start_ms + static_cast<std::int64_t>(ulaw.size()) / 8;
  return out;
}

void InboundPipeline::process(std::span<const std::uint8_t, 160> ulaw, std::int64_t t_ms) {
  ++frames_;
  frame_ms_ = t_ms;
  std::array<std::int16_t, kFrameBytes> pcm;
  audio::ulaw_decode(ulaw, pcm);
  const bool speech = vad_.process(pcm);
  const bool was_in_speech = endpointer_.in_speech();
  const auto ev = endpointer_.push(speech, t_ms);
  if (!was_in_speech) {
    // Keep a short ring of audio from before the onset so the recogniser hears it.
    for (const std::uint8_t b : ulaw) {
      preroll_[preroll_pos_] = b;
      preroll_pos_ = (preroll_pos_ + 1) % preroll_.size();
    }
    preroll_fill_ = std::min(preroll_.size(), preroll_fill_ + ulaw.size());
    if (ev == audio::EndpointEvent::kSpeechStarted) {
      utterance_.clear();
      const std::size_t start = (preroll_pos_ + preroll_.size() - preroll_fill_) % preroll_.size();
      for (std::size_t k = 0; k < preroll_fill_; ++k) utterance_.push_back(preroll_[(start + k) % preroll_.size()]);
      preroll_fill_ = 0;
      // Realtime engines hear the utterance while it is spoken.
      stream_ = open_stream_ ? open_stream_() : nullptr;
      if (stream_) stream_->push(utterance_);
      listener_.speech_started(endpointer_.speech_start_ms());
    }
    return;
  }
  if (utterance_.size() + ulaw.size() <= utterance_cap_) utterance_.insert(utterance_.end(), ulaw.begin(), ulaw.end());
  if (stream_ && utterance_.size() < utterance_cap_) stream_->push(ulaw);
  if (ev == audio::EndpointEvent::kUtteranceEnded) {
    // Hand STT the speech plus a short tail, not the whole silence window.
    Utterance u;
    u.endpoint_ms = t_ms + 20;
    u.speech_start_ms = endpointer_.speech_start_ms();
    u.speech_end_ms = endpointer_.last_speech_end_ms();
    const std::int64_t tail_ms = u.endpoint_ms - u.speech_end_ms - settings_.endpointing.tail_ms;
    const std::size_t trim = tail_ms > 0 ? static_cast<std::size_t>(tail_ms) * 8 : 0;
    if (trim < utterance_.size()) utterance_.resize(utterance_.size() - trim);
    u.ulaw = std::move(utterance_);
    u.stream = std::move(stream_);
    utterance_ = std::vector<std::uint8_t>();
    utterance_.reserve(std::min(utterance_cap_, kUtteranceReserveBytes));
    listener_.utterance(std::move(u));
  } else if (ev == audio::EndpointEvent::kUtteranceDiscarded) {
    utterance_.clear();
    stream_.reset();
    listener_.discarded();
  }
}

void InboundPipeline::reset() {
  stream_.reset();
  utterance_.clear();
}

}  // namespace vox::call
