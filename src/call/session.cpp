#include "call/session.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <filesystem>

#include "audio/g711.hpp"
#include "audio/wav.hpp"
#include "call/call_metrics.hpp"
#include "call/registry.hpp"

namespace vox::call {
namespace asio = boost::asio;

namespace {
constexpr std::size_t kFrameBytes = 160;  // 20 ms of 8 kHz μ-law
constexpr double kLateMediaMs = 60;       // caller audio this far behind its timestamp counts as late

std::string param_or(const agent::CallContext& c, const std::string& key, std::string fallback) {
  auto it = c.parameters.find(key);
  return it == c.parameters.end() || it->second.empty() ? fallback : it->second;
}
}  // namespace

CallSession::CallSession(CallServices services, asio::any_io_executor strand, MediaOutbox& outbox,
                         agent::CallContext context, std::unique_ptr<agent::Agent> agent)
    : svc_(services),
      strand_(std::move(strand)),
      outbox_(outbox),
      context_(std::move(context)),
      agent_(std::move(agent)),
      started_at_(svc_.clock.now()),
      vad_(svc_.config.vad, 8000),
      endpointer_(svc_.config.endpointing, 20),
      preroll_(static_cast<std::size_t>(std::max(20, svc_.config.endpointing.preroll_ms)) * 8),
      utterance_cap_(static_cast<std::size_t>(svc_.config.endpointing.max_utterance_ms + 1000) * 8),
      chunk_bytes_(static_cast<std::size_t>(std::max(20, svc_.config.outbound_chunk_ms)) * 8),
      lead_bytes_(static_cast<std::size_t>(std::max(svc_.config.outbound_chunk_ms, svc_.config.outbound_lead_ms)) * 8),
      talk_timer_(strand_),
      mark_timer_(strand_),
      talk_timeout_(std::chrono::seconds(std::max(0, svc_.config.talk_timeout_s))),
      voice_id_(param_or(context_, "voice", "")) {
  utterance_.reserve(utterance_cap_);
  recording_ = !svc_.config.recording_dir.empty();
  if (recording_) {
    rec_caller_.reserve(8000 * 120);
    rec_agent_.reserve(8000 * 120);
  }
}

CallSession::~CallSession() { svc_.registry.remove(context_.call_sid, this); }

double CallSession::since_start_ms() const { return ms_between(started_at_, svc_.clock.now()); }

void CallSession::start(bool resumed) {
  arm_talk_timer();
  if (svc_.metrics && !resumed) svc_.metrics->calls_started.inc();
  {
    CallEvent e;
    e.kind = CallEvent::Kind::started;
    e.detail = resumed ? "resumed" : "";
    emit(e);
  }
  if (resumed) {
    spdlog::info("call resumed call_sid={} stream_sid={}: the agent goes on without a greeting", context_.call_sid,
                 context_.stream_sid);
    return;
  }
  std::string greeting;
  try {
    greeting = agent_->greeting();
  } catch (const std::exception& e) {
    spdlog::error("agent greeting failed call_sid={} error={}", context_.call_sid, e.what());
  }
  if (!greeting.empty()) {
    greeted_ = true;
    enqueue_reply(std::move(greeting), 0, false);
  }
}

namespace {
// Records a stage of stages_of() in seconds, when the turn reached it.
void observe_ms(metrics::Histogram& h, double ms) {
  if (ms >= 0) h.observe(ms / 1000.0);
}
}  // namespace

TurnStages stages_of(const TurnRecord& r) {
  TurnStages s;
  auto between = [](double a, double b) { return a >= 0 && b >= 0 ? b - a : -1.0; };
  if (r.speech_end_media_ms >= 0 && r.endpoint_media_ms >= 0)
    s.endpoint = static_cast<double>(r.endpoint_media_ms - r.speech_end_media_ms);
  s.transcript = between(r.endpoint_ms, r.transcript_ms);
  s.agent = between(r.transcript_ms, r.agent_ms);
  s.tts_first_byte = between(r.agent_ms, r.tts_first_byte_ms);
  if (r.tts_first_byte_us >= 0 && r.first_frame_us >= 0) s.gateway = static_cast<double>(r.first_frame_us - r.tts_first_byte_us) / 1000.0;
  s.response = between(r.endpoint_ms, r.first_frame_sent_ms);
  s.heard = between(r.first_frame_sent_ms, r.first_mark_ms);
  return s;
}

void CallSession::emit(const CallEvent& event) {
  if (svc_.journal) svc_.journal->on_event(context_, event);
  for (const auto& o : observers_) o->on_event(context_, event);
}

void CallSession::add_observer(std::shared_ptr<CallObserver> observer) { observers_.push_back(std::move(observer)); }

void CallSession::remove_observer(const CallObserver* observer) {
  std::erase_if(observers_, [observer](const auto& o) { return o.get() == observer; });
}

std::uint64_t CallSession::say(std::string text) {
  const std::uint64_t id = next_reply_id_;
  // Spoken for the control API: it answers the caller's latest turn (0 before any).
  enqueue_reply(std::move(text), turn_counter_, false);
  return id;
}

void CallSession::report_cut(const Reply& r, int heard_ms, const std::string& heard) {
  CallEvent e;
  e.kind = CallEvent::Kind::reply_finished;
  e.turn = r.turn;
  e.reply_id = r.id;
  e.text = r.text;
  e.heard = heard;
  e.heard_ms = heard_ms;
  e.interrupted = true;
  e.start_ms = static_cast<std::int64_t>(r.started_ms);
  e.end_ms = static_cast<std::int64_t>(since_start_ms());
  emit(e);
}

bool CallSession::stop_speaking() {
  if (ended_) return false;
  const bool any = current_.has_value() || !queued_.empty();
  if (current_) {
    Reply& r = *current_;
    const int heard_ms = static_cast<int>(r.acked / 8);
    if (r.sent > 0) {
      outbox_.send_clear(context_.stream_sid);
      ++stats_.clears_sent;
    }
    if (r.token) r.token->cancel();
    report_cut(r, heard_ms, heard_words(r, heard_ms));
    spdlog::info("speech stopped by the control API call_sid={} reply={} heard_ms={}", context_.call_sid, r.id, heard_ms);
    current_.reset();
  }
  queued_.clear();
  pending_marks_.clear();
  arm_talk_timer();
  return any;
}

void CallSession::set_voice(std::string voice_id, speech::VoiceSettings settings) {
  voice_id_ = std::move(voice_id);
  voice_settings_ = settings;
}

void CallSession::hang_up(std::string_view reason) {
  if (ended_) return;
  outbox_.close(reason);
  end(reason);
}

namespace {
constexpr std::int64_t kMaxRecordingMs = 3600 * 1000;  // an hour per side
// Audio stamped further ahead of the call's own clock than this is not recorded: media
// time cannot run ahead of real time by more than the network's jitter.
constexpr std::int64_t kRecordingAheadMs = 2000;

// Writes `ulaw` into `track` from media time `at_ms`, padding a gap with silence; does
// nothing when that would end past `limit_ms` (or at_ms is negative). Checked before any
// arithmetic can wrap: `at_ms` comes from the caller's side.
bool place(std::vector<std::uint8_t>& track, std::int64_t at_ms, std::span<const std::uint8_t> ulaw, std::int64_t limit_ms) {
  if (at_ms < 0 || limit_ms <= 0 || at_ms > limit_ms) return false;
  const std::size_t at = static_cast<std::size_t>(at_ms) * 8;
  const std::size_t limit = static_cast<std::size_t>(limit_ms) * 8;
  if (ulaw.size() > limit - at) return false;
  if (track.size() < at + ulaw.size()) track.resize(at + ulaw.size(), audio::kUlawSilence);
  std::copy(ulaw.begin(), ulaw.end(), track.begin() + static_cast<std::ptrdiff_t>(at));
  return true;
}
}  // namespace

std::int64_t CallSession::recording_limit_ms() const {
  return std::min<std::int64_t>(kMaxRecordingMs, static_cast<std::int64_t>(since_start_ms()) + kRecordingAheadMs);
}

void CallSession::record_agent(std::span<const std::uint8_t> ulaw) {
  // Twilio plays our audio back to back, from when it arrives: after the previous reply
  // audio, and not before now.
  const std::int64_t start = std::max(media_clock_ms_, agent_play_end_ms_);
  if (place(rec_agent_, start, ulaw, recording_limit_ms()))
    agent_play_end_ms_ = start + static_cast<std::int64_t>(ulaw.size() / 8);
}

void CallSession::write_recording() {
  std::error_code ec;
  std::filesystem::create_directories(svc_.config.recording_dir, ec);
  const std::string name = context_.call_sid.empty() ? context_.stream_sid : context_.call_sid;
  const auto path = std::filesystem::path(svc_.config.recording_dir) / (name + ".wav");
  const std::size_t frames = std::max(rec_caller_.size(), rec_agent_.size());
  std::vector<std::int16_t> pcm(frames * 2);
  for (std::size_t i = 0; i < frames; ++i) {
    pcm[2 * i] = audio::ulaw_decode(i < rec_caller_.size() ? rec_caller_[i] : audio::kUlawSilence);
    pcm[2 * i + 1] = audio::ulaw_decode(i < rec_agent_.size() ? rec_agent_[i] : audio::kUlawSilence);
  }
  if (audio::write_wav_stereo(path.string(), pcm, 8000))
    spdlog::info("recording written call_sid={} path={} seconds={}", context_.call_sid, path.string(), frames / 8000);
  else
    spdlog::warn("recording could not be written call_sid={} path={}", context_.call_sid, path.string());
  rec_caller_ = {};
  rec_agent_ = {};
}

void CallSession::on_media(std::span<const std::uint8_t> ulaw, std::int64_t timestamp_ms) {
  if (ended_) return;
  if (svc_.metrics) {
    svc_.metrics->media_in.inc();
    svc_.metrics->frames_in.inc((frame_fill_ + ulaw.size()) / kFrameBytes);
  }
  const std::int64_t base = timestamp_ms >= 0 ? timestamp_ms : media_clock_ms_;
  if (timestamp_ms >= 0) {
    // Lateness against the earliest this stream's audio has ever arrived (jitter).
    const double offset = since_start_ms() - static_cast<double>(timestamp_ms);
    if (offset < arrival_offset_min_ms_) arrival_offset_min_ms_ = offset;
    else if (offset - arrival_offset_min_ms_ > kLateMediaMs && svc_.metrics) svc_.metrics->media_in_late.inc();
  }
  if (recording_) place(rec_caller_, base, ulaw, recording_limit_ms());
  std::size_t i = 0;
  while (i < ulaw.size()) {
    const std::size_t n = std::min(kFrameBytes - frame_fill_, ulaw.size() - i);
    std::copy_n(ulaw.data() + i, n, frame_buf_.data() + frame_fill_);
    frame_fill_ += n;
    i += n;
    if (frame_fill_ == kFrameBytes) {
      // This frame ends `i` bytes into the message (it may have begun in the previous one).
      const std::int64_t frame_start = base + (static_cast<std::int64_t>(i) - static_cast<std::int64_t>(kFrameBytes)) / 8;
      frame_fill_ = 0;
      process_frame(std::span<const std::uint8_t, kFrameBytes>(frame_buf_.data(), kFrameBytes), frame_start);
      if (ended_) return;
    }
  }
  media_clock_ms_ = base + static_cast<std::int64_t>(ulaw.size()) / 8;
}

void CallSession::process_frame(std::span<const std::uint8_t, 160> ulaw, std::int64_t t_ms) {
  ++stats_.frames;
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
      stt_stream_ = svc_.stt.open_stream();
      if (stt_stream_) stt_stream_->push(utterance_);
      {
        CallEvent e;
        e.kind = CallEvent::Kind::speech_started;
        e.start_ms = endpointer_.speech_start_ms();
        emit(e);
      }
      if (speaking()) barge_in(endpointer_.speech_start_ms());
      arm_talk_timer();
    }
    return;
  }
  if (utterance_.size() + ulaw.size() <= utterance_cap_) utterance_.insert(utterance_.end(), ulaw.begin(), ulaw.end());
  if (stt_stream_ && utterance_.size() < utterance_cap_) stt_stream_->push(ulaw);
  if (ev == audio::EndpointEvent::kUtteranceEnded) {
    // Hand STT the speech plus a short tail, not the whole silence window.
    endpoint_media_ms_ = t_ms + 20;
    const std::int64_t tail_ms = t_ms + 20 - endpointer_.last_speech_end_ms() - svc_.config.endpointing.tail_ms;
    const std::size_t trim = tail_ms > 0 ? static_cast<std::size_t>(tail_ms) * 8 : 0;
    if (trim < utterance_.size()) utterance_.resize(utterance_.size() - trim);
    on_utterance_end(endpointer_.last_speech_end_ms());
  } else if (ev == audio::EndpointEvent::kUtteranceDiscarded) {
    ++stats_.discarded_utterances;
    utterance_.clear();
    stt_stream_.reset();
  }
}

void CallSession::on_utterance_end(std::int64_t speech_end_ms) {
  ++stats_.utterances;
  const int turn = ++turn_counter_;
  TurnRecord rec;
  rec.index = turn;
  rec.speech_end_media_ms = speech_end_ms;
  rec.endpoint_media_ms = endpoint_media_ms_;
  rec.speech_start_media_ms = endpointer_.speech_start_ms();
  rec.endpoint_ms = since_start_ms();
  turns_.push_back(rec);
  if (svc_.metrics) {
    svc_.metrics->turns.inc();
    observe_ms(svc_.metrics->endpoint, stages_of(rec).endpoint);
  }
  speech::SttRequest req{std::move(utterance_), param_or(context_, "language", "")};
  utterance_ = std::vector<std::uint8_t>();
  utterance_.reserve(utterance_cap_);
  spdlog::debug("utterance ended call_sid={} turn={} audio_ms={}", context_.call_sid, turn, req.ulaw_8k.size() / 8);
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  auto done = [weak, strand, turn](speech::SttResult r) {
    asio::post(strand, [weak, turn, r = std::move(r)]() mutable {
      if (auto self = weak.lock()) self->on_transcript(turn, std::move(r));
    });
  };
  if (stt_stream_) {
    // The realtime engine has heard it all already: commit (it falls back to batch itself).
    stt_stream_->finish(std::move(done));
    stt_stream_.reset();
  } else {
    svc_.stt.transcribe(std::move(req), std::move(done));
  }
  arm_talk_timer();
}

void CallSession::on_transcript(int turn_index, speech::SttResult result) {
  if (ended_) return;
  TurnRecord& rec = record(turn_index);
  rec.transcript_ms = since_start_ms();
  if (svc_.metrics) observe_ms(svc_.metrics->transcript, stages_of(rec).transcript);
  if (!result.ok) {
    ++stats_.stt_failures;
    if (svc_.metrics) svc_.metrics->stt_failures.inc();
    spdlog::warn("speech recognition failed call_sid={} turn={} engine={} error={}", context_.call_sid, turn_index,
                 svc_.stt.name(), result.error);
    CallEvent e;
    e.kind = CallEvent::Kind::stt_failure;
    e.turn = turn_index;
    e.detail = result.error;
    emit(e);
    return;
  }
  if (result.text.empty()) {
    spdlog::info("nothing recognised call_sid={} turn={}", context_.call_sid, turn_index);
    return;
  }
  rec.transcript = result.text;
  {
    CallEvent e;
    e.kind = CallEvent::Kind::transcript;
    e.turn = turn_index;
    e.text = result.text;
    e.start_ms = rec.speech_start_media_ms;
    e.end_ms = rec.speech_end_media_ms;
    emit(e);
  }
  spdlog::info("caller said call_sid={} turn={} text=\"{}\"", context_.call_sid, turn_index, result.text);
  if (!agent_) {
    spdlog::info("turn dropped call_sid={} turn={}: the call is moving to its next stream", context_.call_sid, turn_index);
    return;
  }
  agent_turn_ = turn_index;
  agent::Turn turn{turn_index, result.text, {}, false};
  if (last_barge_in_) {
    turn.barged_in = true;
    turn.interrupted_reply_heard = last_barge_in_->heard;
    last_barge_in_.reset();
  }
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  try {
    agent_->on_turn(turn, [weak, strand, turn_index](agent::Reply reply) {
      asio::post(strand, [weak, turn_index, reply = std::move(reply)]() mutable {
        if (auto self = weak.lock()) self->on_agent_reply(turn_index, std::move(reply));
      });
    });
  } catch (const std::exception& e) {
    spdlog::error("agent failed call_sid={} turn={} error={}", context_.call_sid, turn_index, e.what());
  }
}

void CallSession::on_agent_reply(int turn_index, agent::Reply reply) {
  if (ended_) return;
  // An answer to a turn the caller has moved on from (they spoke again, or talked over
  // it) is not spoken: it would answer the wrong thing.
  if (turn_index < agent_turn_ || turn_index <= cut_turn_) {
    spdlog::info("stale agent reply dropped call_sid={} turn={} latest_turn={}{}", context_.call_sid, turn_index,
                 agent_turn_, turn_index <= cut_turn_ ? " (the caller talked over it)" : "");
    return;
  }
  TurnRecord& rec = record(turn_index);
  if (rec.agent_ms < 0) {
    rec.agent_ms = since_start_ms();
    if (svc_.metrics) observe_ms(svc_.metrics->agent, stages_of(rec).agent);
  }
  if (!reply.text.empty()) rec.reply += rec.reply.empty() ? reply.text : " " + reply.text;
  if (reply.more) {
    // A part of a streamed reply: spoken now, while the agent goes on answering.
    if (!reply.text.empty()) enqueue_reply(std::move(reply.text), turn_index, false);
    return;
  }
  if (reply.text.empty() && (!reply.transfer_to.empty() || !reply.digits.empty())) {
    enqueue_reply("", turn_index, false, std::move(reply.transfer_to), std::move(reply.digits));
    return;
  }
  if (reply.text.empty()) {
    if (reply.hangup) {
      if (speaking()) {
        hangup_after_reply_ = true;
      } else {
        spdlog::info("agent hung up call_sid={}", context_.call_sid);
        outbox_.close("agent hung up");
      }
    }
    return;
  }
  enqueue_reply(std::move(reply.text), turn_index, reply.hangup, std::move(reply.transfer_to), std::move(reply.digits));
}

void CallSession::enqueue_reply(std::string text, int turn, bool hangup, std::string transfer_to, std::string digits) {
  Reply r;
  r.id = next_reply_id_++;
  r.turn = turn;
  r.text = std::move(text);
  r.hangup = hangup;
  r.transfer_to = std::move(transfer_to);
  r.digits = std::move(digits);
  queued_.push_back(std::move(r));
  if (!current_) start_next_reply();
}

void CallSession::start_next_reply() {
  if (queued_.empty() || ended_) return;
  current_ = std::move(queued_.front());
  queued_.pop_front();
  Reply& r = *current_;
  r.audio.reserve(8000 * 8);
  speech::TtsRequest req{r.text, voice_id_, voice_settings_};
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  const std::uint64_t id = r.id;
  speech::TtsCallbacks cb;
  auto* clock = &svc_.clock;
  cb.on_audio = [weak, strand, id, clock](std::span<const std::uint8_t> audio) {
    const auto arrived = clock->now();  // on the engine's thread, before the hop to our strand
    asio::post(strand, [weak, id, arrived, a = std::vector<std::uint8_t>(audio.begin(), audio.end())] {
      auto self = weak.lock();
      if (!self || self->ended_ || !self->current_ || self->current_->id != id) return;
      Reply& cur = *self->current_;
      if (cur.audio.empty() && cur.turn > 0) {
        auto& rec = self->record(cur.turn);
        if (rec.tts_first_byte_ms < 0) {
          rec.tts_first_byte_ms = self->since_start_ms();
          if (self->svc_.metrics) observe_ms(self->svc_.metrics->tts_first_byte, stages_of(rec).tts_first_byte);
        }
        if (rec.tts_first_byte_us < 0)
          rec.tts_first_byte_us =
              std::chrono::duration_cast<std::chrono::microseconds>(arrived.time_since_epoch()).count();
      }
      cur.audio.insert(cur.audio.end(), a.begin(), a.end());
      self->pump();
    });
  };
  cb.on_word = [weak, strand, id](const speech::WordTiming& w) {
    asio::post(strand, [weak, id, w] {
      auto self = weak.lock();
      if (self && self->current_ && self->current_->id == id) self->current_->words.push_back(w);
    });
  };
  cb.on_request_id = [weak, strand, id](const std::string& rid) {
    asio::post(strand, [weak, id, rid] {
      auto self = weak.lock();
      if (self && self->current_ && self->current_->id == id && self->current_->turn > 0)
        self->record(self->current_->turn).tts_request_id = rid;
    });
  };
  cb.on_degraded = [weak, strand](const std::string& why) {
    asio::post(strand, [weak, why] {
      auto self = weak.lock();
      if (!self) return;
      ++self->stats_.tts_degraded;
      if (self->svc_.metrics) self->svc_.metrics->tts_fallbacks.inc();
      spdlog::warn("speech provider degraded call_sid={} event=tts_fallback detail=\"{}\"", self->context_.call_sid, why);
      CallEvent e;
      e.kind = CallEvent::Kind::provider_fallback;
      e.detail = why;
      self->emit(e);
    });
  };
  cb.on_done = [weak, strand, id](std::optional<std::string> error) {
    asio::post(strand, [weak, id, error = std::move(error)] {
      auto self = weak.lock();
      if (!self || self->ended_ || !self->current_ || self->current_->id != id) return;
      if (error) {
        spdlog::warn("speech synthesis failed call_sid={} error={}", self->context_.call_sid, *error);
        CallEvent e;
        e.kind = CallEvent::Kind::reply_failed;
        if (self->svc_.metrics) self->svc_.metrics->replies_failed.inc();
        e.turn = self->current_->turn;
        e.reply_id = id;
        e.text = self->current_->text;
        e.detail = *error;
        self->emit(e);
      }
      self->current_->synth_done = true;
      self->pump();
    });
  };
  spdlog::info("agent says call_sid={} turn={} text=\"{}\"", context_.call_sid, r.turn, r.text);
  {
    CallEvent e;
    e.kind = CallEvent::Kind::reply_started;
    e.turn = r.turn;
    e.reply_id = r.id;
    e.text = r.text;
    emit(e);
  }
  r.token = svc_.tts.synthesize(std::move(req), std::move(cb));
}

void CallSession::pump() {
  if (!current_ || ended_) return;
  Reply& r = *current_;
  while (r.sent - r.acked < lead_bytes_) {
    const std::size_t avail = r.audio.size() - r.sent;
    if (avail == 0) break;
    std::size_t n = std::min(chunk_bytes_, avail);
    if (n < chunk_bytes_ && !r.synth_done) {
      // While synthesis streams, send whole chunks; but the first audio of a reply goes
      // out as soon as one 20 ms frame is there.
      if (r.sent > 0 || n < kFrameBytes) break;
      n -= n % kFrameBytes;
    }
    const std::span<const std::uint8_t> chunk(r.audio.data() + r.sent, n);
    outbox_.send_media(context_.stream_sid, chunk);
    play_end_ms_ = std::max(play_end_ms_, since_start_ms()) + static_cast<double>(n) / 8.0;
    if (svc_.metrics) svc_.metrics->media_out.inc();
    for (const auto& o : observers_) o->on_audio(context_, chunk);
    if (r.sent == 0) r.started_ms = since_start_ms();
    if (recording_) record_agent(std::span<const std::uint8_t>(r.audio.data() + r.sent, n));
    if (r.sent == 0 && r.turn > 0) {
      auto& rec = record(r.turn);
      if (rec.first_frame_sent_ms < 0) {
        rec.first_frame_sent_ms = since_start_ms();
        rec.first_frame_us =
            std::chrono::duration_cast<std::chrono::microseconds>(svc_.clock.now().time_since_epoch()).count();
        if (svc_.metrics) {
          const auto stages = stages_of(rec);
          observe_ms(svc_.metrics->gateway, stages.gateway);
          observe_ms(svc_.metrics->response, stages.response);
        }
        spdlog::info("reply started call_sid={} turn={} tts={} tts_request={} gateway_us={} first_byte_us={} "
                     "first_frame_us={}", context_.call_sid, r.turn, svc_.tts.name(), rec.tts_request_id,
                     rec.first_frame_us - rec.tts_first_byte_us, rec.tts_first_byte_us, rec.first_frame_us);
      }
    }
    r.sent += n;
    std::string name = "reply-" + std::to_string(r.id) + "-" + std::to_string(r.sent);
    outbox_.send_mark(context_.stream_sid, name);
    pending_marks_.push_back(PendingMark{std::move(name), r.sent, play_end_ms_});
    ++stats_.marks_sent;
  }
  if (r.synth_done && r.sent == r.audio.size() && !r.end_mark_sent) {
    r.end_mark_sent = true;
    outbox_.send_mark(context_.stream_sid, kEndOfPlayback);
    pending_marks_.push_back(PendingMark{std::string(kEndOfPlayback), r.sent, std::max(play_end_ms_, since_start_ms())});
    ++stats_.marks_sent;
  }
  arm_mark_timer();
}

void CallSession::arm_mark_timer() {
  if (mark_timer_armed_ || pending_marks_.empty() || ended_) return;
  mark_timer_armed_ = true;
  const double wait_ms = pending_marks_.front().due_ms + svc_.config.mark_slack_ms - since_start_ms();
  mark_timer_.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, wait_ms)) + 1));
  std::weak_ptr<CallSession> weak = weak_from_this();
  mark_timer_.async_wait([weak](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self) return;
    self->mark_timer_armed_ = false;
    if (!ec) self->on_mark_deadline();
  });
}

void CallSession::on_mark_deadline() {
  if (ended_ || !current_) return;
  // The last mark whose audio must have played by now, echoed or not.
  const double now = since_start_ms();
  auto last = pending_marks_.end();
  for (auto it = pending_marks_.begin(); it != pending_marks_.end() && it->due_ms + svc_.config.mark_slack_ms <= now; ++it)
    last = it;
  if (last != pending_marks_.end()) {
    if (!current_->marks_overdue) {
      current_->marks_overdue = true;
      if (svc_.metrics) svc_.metrics->marks_overdue.inc();
      spdlog::warn("marks not echoed call_sid={} reply={}: counting its audio as played by the clock (a reply "
                   "plays no longer than its audio plus {} ms)", context_.call_sid, current_->id,
                   svc_.config.mark_slack_ms);
    }
    acknowledge(last, false);
  }
  arm_mark_timer();
}

void CallSession::on_mark(std::string_view name) {
  if (ended_) return;
  ++stats_.marks_echoed;
  if (svc_.metrics) svc_.metrics->marks_echoed.inc();
  auto it = std::find_if(pending_marks_.begin(), pending_marks_.end(), [&](const PendingMark& m) { return m.name == name; });
  if (it == pending_marks_.end() || !current_) return;  // echo of a mark dropped by a clear, or not ours
  acknowledge(it, true);
}

void CallSession::acknowledge(std::deque<PendingMark>::iterator it, bool echoed) {
  Reply& r = *current_;
  r.acked = it->end_pos;
  if (r.turn > 0 && echoed) {
    auto& rec = record(r.turn);
    if (rec.first_mark_ms < 0) {
      rec.first_mark_ms = since_start_ms();
      if (svc_.metrics) observe_ms(svc_.metrics->heard, stages_of(rec).heard);
      CallEvent e;
      e.kind = CallEvent::Kind::turn_timed;
      e.turn = r.turn;
      e.timing = &rec;
      emit(e);
    }
  }
  const bool end = it->name == kEndOfPlayback;
  pending_marks_.erase(pending_marks_.begin(), it + 1);
  // Everything sent has been played but the reply goes on: the caller hears a gap.
  if (!end && r.acked == r.sent && r.sent == r.audio.size() && !r.synth_done && svc_.metrics)
    svc_.metrics->reply_underruns.inc();
  if (end) {
    finish_reply();
  } else {
    pump();
  }
}

void CallSession::finish_reply() {
  {
    CallEvent e;
    e.kind = CallEvent::Kind::reply_finished;
    e.turn = current_->turn;
    e.reply_id = current_->id;
    e.text = current_->text;
    e.heard = current_->text;
    e.heard_ms = static_cast<int>(current_->audio.size() / 8);
    e.start_ms = static_cast<std::int64_t>(current_->started_ms);
    e.end_ms = static_cast<std::int64_t>(since_start_ms());
    emit(e);
  }
  const bool hangup = current_->hangup || (hangup_after_reply_ && queued_.empty());
  const std::string transfer_to = std::move(current_->transfer_to);
  std::string digits = std::move(current_->digits);
  current_.reset();
  if (!digits.empty() && transfer_to.empty()) {
    pending_marks_.clear();
    send_digits(std::move(digits));
    return;
  }
  if (!transfer_to.empty()) {
    // The caller has heard the reply: hand the call to Twilio to dial the target; it
    // ends our stream, which ends this session.
    if (svc_.control) {
      spdlog::info("transferring call_sid={} to={}", context_.call_sid, transfer_to);
      svc_.control->transfer(context_.call_sid, transfer_to);
    } else {
      spdlog::warn("transfer to {} requested but no Twilio account is configured (TWILIO_ACCOUNT_SID, "
                   "TWILIO_AUTH_TOKEN); ending the call instead call_sid={}", transfer_to, context_.call_sid);
      outbox_.close("transfer unavailable");
    }
    return;
  }
  pending_marks_.clear();
  arm_talk_timer();
  if (hangup) {
    spdlog::info("agent hung up call_sid={}", context_.call_sid);
    outbox_.close("agent hung up");
    return;
  }
  start_next_reply();
}

void CallSession::send_digits(std::string digits) {
  if (!svc_.control || context_.stream_url.empty()) {
    spdlog::warn("the agent asked to press {} but no Twilio account is configured (TWILIO_ACCOUNT_SID, "
                 "TWILIO_AUTH_TOKEN); the keys are not sent call_sid={}", digits, context_.call_sid);
    arm_talk_timer();
    start_next_reply();
    return;
  }
  // Twilio plays the keys between this stream and the next one; the agent (and where the
  // conversation stands) waits for that stream in the registry.
  spdlog::info("sending digits call_sid={} digits={}: the stream resumes after them", context_.call_sid, digits);
  handing_over_ = true;
  talk_timer_.cancel();
  queued_.clear();
  svc_.registry.park(context_.call_sid, std::move(agent_));
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  auto* registry = &svc_.registry;
  const std::string call_sid = context_.call_sid;
  svc_.control->send_digits(context_, digits, [weak, strand, registry, call_sid](bool ok) {
    if (ok) return;
    asio::post(strand, [weak, registry, call_sid] {
      auto self = weak.lock();
      auto agent = registry->unpark(call_sid);
      if (!self || self->ended_ || !agent) return;
      // Twilio refused the update: the call goes on here, without the keys.
      spdlog::warn("digits not sent call_sid={}: the conversation goes on in this stream", call_sid);
      self->agent_ = std::move(agent);
      self->handing_over_ = false;
      self->arm_talk_timer();
    });
  });
}

bool CallSession::speaking() const { return current_.has_value(); }

std::string CallSession::heard_words(const Reply& r, int heard_ms) const {
  std::string out;
  if (!r.words.empty()) {
    for (const auto& w : r.words) {
      if (w.start_ms >= heard_ms) break;
      if (!out.empty()) out += ' ';
      out += w.word;
    }
    return out;
  }
  // No word timings from the engine: estimate by the share of the audio played.
  if (r.audio.empty()) return out;
  const double share = std::min(1.0, static_cast<double>(r.acked) / static_cast<double>(r.audio.size()));
  std::size_t cut = static_cast<std::size_t>(share * static_cast<double>(r.text.size()));
  while (cut > 0 && cut < r.text.size() && r.text[cut] != ' ') --cut;
  return r.text.substr(0, cut);
}

void CallSession::barge_in(std::int64_t t_ms) {
  Reply& r = *current_;
  BargeIn b;
  b.media_ms = t_ms;
  b.heard_ms = static_cast<int>(r.acked / 8);
  b.heard = heard_words(r, b.heard_ms);
  b.reply = r.text;
  outbox_.send_clear(context_.stream_sid);
  ++stats_.clears_sent;
  if (svc_.metrics) {
    svc_.metrics->barge_ins.inc();
    // From the onset to the end of the frame that decided it (media time).
    svc_.metrics->barge_in.observe(static_cast<double>(frame_ms_ + 20 - t_ms) / 1000.0);
  }
  if (r.token) r.token->cancel();
  spdlog::info("barge-in call_sid={} heard_ms={} heard=\"{}\"", context_.call_sid, b.heard_ms, b.heard);
  {
    CallEvent e;
    e.kind = CallEvent::Kind::barge_in;
    e.turn = r.turn;
    e.reply_id = r.id;
    e.text = r.text;
    e.heard = b.heard;
    e.heard_ms = b.heard_ms;
    e.start_ms = t_ms;
    emit(e);
  }
  report_cut(r, b.heard_ms, b.heard);
  barge_ins_.push_back(b);
  last_barge_in_ = std::move(b);
  // The rest of a streamed answer to that turn is not spoken either.
  cut_turn_ = std::max(cut_turn_, r.turn);
  current_.reset();
  queued_.clear();
  pending_marks_.clear();
}

void CallSession::on_dtmf(std::string_view digit) {
  if (ended_) return;
  spdlog::info("dtmf call_sid={} digit={}", context_.call_sid, digit);
  {
    CallEvent e;
    e.kind = CallEvent::Kind::dtmf;
    e.text = std::string(digit);
    e.start_ms = media_clock_ms_;
    emit(e);
  }
  if (!agent_) return;
  try {
    agent_->on_dtmf(std::string(digit));
  } catch (const std::exception& e) {
    spdlog::error("agent dtmf failed call_sid={} error={}", context_.call_sid, e.what());
  }
}

void CallSession::set_talk_timeout(std::chrono::milliseconds timeout) {
  talk_timeout_ = timeout;
  if (timeout.count() <= 0) talk_timer_.cancel();
  else arm_talk_timer();
}

void CallSession::arm_talk_timer() {
  if (ended_ || talk_timeout_.count() <= 0) return;
  talk_timer_.expires_after(talk_timeout_);
  std::weak_ptr<CallSession> weak = weak_from_this();
  talk_timer_.async_wait([weak](boost::system::error_code ec) {
    if (ec) return;  // re-armed or cancelled
    auto self = weak.lock();
    if (!self || self->ended_) return;
    if (self->speaking() || self->endpointer_.in_speech()) {
      self->arm_talk_timer();  // not idle: someone is talking
      return;
    }
    spdlog::info("talk timeout call_sid={} idle_s={}", self->context_.call_sid, self->talk_timeout_.count() / 1000.0);
    self->outbox_.close("talk timeout");
    self->end("talk timeout");
  });
}

void CallSession::end(std::string_view reason) {
  if (ended_) return;
  ended_ = true;
  if (current_) {
    // The reply being played is cut by the end of the call: store what was heard of it.
    if (current_->token) current_->token->cancel();
    const int heard_ms = static_cast<int>(current_->acked / 8);
    report_cut(*current_, heard_ms, heard_words(*current_, heard_ms));
  }
  current_.reset();
  queued_.clear();
  talk_timer_.cancel();
  mark_timer_.cancel();
  stt_stream_.reset();
  if (recording_) write_recording();
  svc_.registry.remove(context_.call_sid, this);
  svc_.registry.update_record(context_.call_sid, [](CallRecord& r) { r.status = "completed"; });
  {
    CallEvent e;
    e.kind = CallEvent::Kind::ended;
    e.detail = std::string(reason);
    if (svc_.metrics && !handing_over_) svc_.metrics->call_ended(reason);
    e.resuming = handing_over_;
    e.end_ms = static_cast<std::int64_t>(since_start_ms());
    emit(e);
  }
  observers_.clear();
  spdlog::info("call ended call_sid={} stream_sid={} reason=\"{}\" turns={} barge_ins={} frames={} tts_fallbacks={} "
               "stt_failures={}", context_.call_sid, context_.stream_sid, reason, turn_counter_, barge_ins_.size(),
               stats_.frames, stats_.tts_degraded, stats_.stt_failures);
}

}  // namespace vox::call
