#include "call/session.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "audio/wav.hpp"
#include "call/call_metrics.hpp"

namespace vox::call {
namespace asio = boost::asio;

namespace {
constexpr double kLateMediaMs = 60;  // caller audio this far behind its timestamp counts as late

std::string param_or(const CallContext& c, const std::string& key, std::string fallback) {
  auto it = c.parameters.find(key);
  return it == c.parameters.end() || it->second.empty() ? fallback : it->second;
}

// Records a stage of stages_of() in seconds, when the turn reached it.
void observe_ms(metrics::Histogram& h, double ms) {
  if (ms >= 0) h.observe(ms / 1000.0);
}

std::int64_t steady_us(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
}  // namespace

CallSession::CallSession(CallServices services, asio::any_io_executor strand, std::shared_ptr<MediaOutbox> outbox,
                         CallContext context, std::unique_ptr<Agent> agent)
    : svc_(std::move(services)),
      strand_(std::move(strand)),
      outbox_(std::move(outbox)),
      context_(std::move(context)),
      agent_(std::move(agent)),
      started_at_(svc_.clock.now()),
      inbound_(svc_.settings.inbound, *this, [this] { return open_stt_stream(); }),
      playout_(svc_.settings.playout, context_.stream_sid, *outbox_, *this),
      talk_timer_(svc_.timers.make(strand_)),
      mark_timer_(svc_.timers.make(strand_)),
      talk_timeout_(std::chrono::seconds(std::max(0, svc_.settings.talk_timeout_s))),
      voice_id_(param_or(context_, "voice", "")) {
  if (!svc_.settings.recording_dir.empty()) recorder_ = std::make_unique<Recorder>();
}

CallSession::~CallSession() { svc_.registry.remove(context_.call_sid, this); }

// A realtime STT stream for the utterance that just began; its partial transcripts are
// reported (on the strand) while the caller speaks, for the pages that show them.
std::unique_ptr<speech::SttStream> CallSession::open_stt_stream() {
  auto stream = svc_.stt.open_stream();
  if (!stream) return stream;
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  const int turn = turn_counter_ + 1;
  stream->on_partial([weak, strand, turn](std::string text) {
    asio::post(strand, [weak, turn, text = std::move(text)]() mutable {
      auto self = weak.lock();
      if (self && !self->ended_ && !self->observers_.empty()) self->emit(event::partial_transcript(turn, std::move(text)));
    });
  });
  return stream;
}

double CallSession::now_ms() const { return ms_between(started_at_, svc_.clock.now()); }

void CallSession::emit(const CallEvent& event) {
  if (svc_.journal) svc_.journal->on_event(context_, event);
  for (const auto& o : observers_) o->on_event(context_, event);
}

void CallSession::add_observer(std::shared_ptr<CallObserver> observer) { observers_.push_back(std::move(observer)); }

void CallSession::remove_observer(const CallObserver* observer) {
  std::erase_if(observers_, [observer](const auto& o) { return o.get() == observer; });
}

// ---------------------------------------------------------------------------------
// Start, control, end.

void CallSession::start(bool resumed) {
  arm_talk_timer();
  if (svc_.metrics && !resumed) svc_.metrics->calls_started.inc();
  emit(event::started(resumed));
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
    playout_.enqueue(std::move(greeting), 0);
  } else if (agent_->waits_for_caller()) {
    invite_caller();
  }
}

void CallSession::invite_caller() {
  if (ended_ || invited_ || greeted_ || turn_counter_ > 0 || playout_.next_id() > 1) return;
  invited_ = true;
  // A mark with no audio before it, which Twilio echoes at once: a caller that checks
  // (the simulated caller) speaks without waiting for a greeting.
  outbox_->send_mark(context_.stream_sid, kNoGreetingMark);
}

std::uint64_t CallSession::say(std::string text) {
  // Spoken for the control API: it answers the caller's latest turn (0 before any).
  return playout_.enqueue(std::move(text), turn_counter_);
}

bool CallSession::stop_speaking() {
  if (ended_) return false;
  const bool any = playout_.size() > 0;
  const Reply* r = playout_.current();
  const std::uint64_t id = r ? r->id : 0;
  if (auto cut = playout_.cut())
    spdlog::info("speech stopped by the control API call_sid={} reply={} heard_ms={}", context_.call_sid, id,
                 cut->heard_ms);
  arm_talk_timer();
  return any;
}

void CallSession::set_voice(std::string voice_id, speech::VoiceSettings settings) {
  voice_id_ = std::move(voice_id);
  voice_settings_ = settings;
}

void CallSession::hang_up(std::string_view reason) {
  if (ended_) return;
  outbox_->close(reason);
  end(reason);
}

void CallSession::end(std::string_view reason) {
  if (ended_) return;
  ended_ = true;
  // The reply being played is cut by the end of the call: what was heard of it is stored.
  playout_.end();
  talk_timer_->cancel();
  mark_timer_->cancel();
  inbound_.reset();
  if (recorder_) write_recording();
  svc_.registry.remove(context_.call_sid, this);
  svc_.registry.update_record(context_.call_sid, [](CallRecord& r) { r.status = "completed"; });
  if (svc_.metrics && !handing_over_) svc_.metrics->call_ended(reason);
  emit(event::ended(std::string(reason), handing_over_, static_cast<std::int64_t>(now_ms())));
  observers_.clear();
  spdlog::info("call ended call_sid={} stream_sid={} reason=\"{}\" turns={} barge_ins={} frames={} tts_fallbacks={} "
               "stt_failures={}", context_.call_sid, context_.stream_sid, reason, turn_counter_, barge_ins_.size(),
               inbound_.frames(), stats_.tts_degraded, stats_.stt_failures);
}

void CallSession::write_recording() {
  const std::string name = context_.call_sid.empty() ? context_.stream_sid : context_.call_sid;
  const auto path = (std::filesystem::path(svc_.settings.recording_dir) / (name + ".wav")).string();
  auto write = [dir = svc_.settings.recording_dir, path, sid = context_.call_sid,
                pcm = std::make_shared<std::vector<std::int16_t>>(recorder_->take_stereo())] {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (audio::write_wav_stereo(path, *pcm, 8000))
      spdlog::info("recording written call_sid={} path={} seconds={}", sid, path, pcm->size() / 2 / 8000);
    else
      spdlog::warn("recording could not be written call_sid={} path={}", sid, path);
  };
  // A WAV of a long call is megabytes: written off the network threads.
  if (svc_.run_blocking) svc_.run_blocking(std::move(write));
  else write();
}

// ---------------------------------------------------------------------------------
// Inbound: media, utterances, transcripts, the agent's answers.

void CallSession::on_media(std::span<const std::uint8_t> ulaw, std::int64_t timestamp_ms) {
  if (ended_) return;
  const double now = now_ms();
  if (timestamp_ms >= 0) {
    // Lateness against the earliest this stream's audio has ever arrived (jitter).
    const double offset = now - static_cast<double>(timestamp_ms);
    if (offset < arrival_offset_min_ms_) arrival_offset_min_ms_ = offset;
    else if (offset - arrival_offset_min_ms_ > kLateMediaMs && svc_.metrics) svc_.metrics->media_in_late.inc();
  }
  const auto pushed = inbound_.push(ulaw, timestamp_ms, &ended_);
  if (svc_.metrics) {
    svc_.metrics->media_in.inc();
    svc_.metrics->frames_in.inc(pushed.frames);
  }
  if (recorder_ && !ended_) recorder_->caller(pushed.start_ms, ulaw, static_cast<std::int64_t>(now));
  for (const auto& o : observers_) o->on_caller_audio(context_, ulaw);
}

CallSession::LiveSummary CallSession::summary() const {
  LiveSummary s;
  s.turns = turn_counter_;
  s.replies_queued = playout_.size();
  s.speaking = playout_.speaking();
  s.fallbacks = stats_.tts_degraded;
  s.stt_failures = stats_.stt_failures;
  s.barge_ins = barge_ins_.size();
  s.voice_id = voice_id_;
  s.age_ms = now_ms();
  s.tts = svc_.tts.name();
  s.stt = svc_.stt.name();
  return s;
}

void CallSession::speech_started(std::int64_t onset_ms) {
  emit(event::speech_started(onset_ms));
  if (playout_.speaking()) barge_in(onset_ms);
  arm_talk_timer();
}

void CallSession::discarded() { ++stats_.discarded_utterances; }

void CallSession::utterance(Utterance&& u) {
  ++stats_.utterances;
  const int turn = ++turn_counter_;
  TurnRecord rec;
  rec.index = turn;
  rec.speech_end_media_ms = u.speech_end_ms;
  rec.endpoint_media_ms = u.endpoint_ms;
  rec.speech_start_media_ms = u.speech_start_ms;
  rec.endpoint_ms = now_ms();
  const TurnRecord& stored = turns_.begin(rec);
  if (svc_.metrics) {
    svc_.metrics->turns.inc();
    observe_ms(svc_.metrics->endpoint, stages_of(stored).endpoint);
  }
  spdlog::debug("utterance ended call_sid={} turn={} audio_ms={}", context_.call_sid, turn, u.ulaw.size() / 8);
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  auto done = [weak, strand, turn](speech::SttResult r) {
    asio::post(strand, [weak, turn, r = std::move(r)]() mutable {
      if (auto self = weak.lock()) self->on_transcript(turn, std::move(r));
    });
  };
  if (u.stream) {
    // The realtime engine has heard it all already: commit (it falls back to batch itself).
    u.stream->finish(std::move(done));
  } else {
    svc_.stt.transcribe(speech::SttRequest{std::move(u.ulaw), param_or(context_, "language", "")}, std::move(done));
  }
  arm_talk_timer();
}

void CallSession::on_transcript(int turn_index, speech::SttResult result) {
  if (ended_) return;
  TurnRecord& rec = *turns_.find(turn_index);
  rec.transcript_ms = now_ms();
  if (svc_.metrics) observe_ms(svc_.metrics->transcript, stages_of(rec).transcript);
  if (!result.ok) {
    ++stats_.stt_failures;
    if (svc_.metrics) svc_.metrics->stt_failures.inc();
    spdlog::warn("speech recognition failed call_sid={} turn={} engine={} error={}", context_.call_sid, turn_index,
                 svc_.stt.name(), result.error);
    emit(event::stt_failure(turn_index, result.error));
    return;
  }
  if (result.text.empty()) {
    spdlog::info("nothing recognised call_sid={} turn={}", context_.call_sid, turn_index);
    return;
  }
  rec.transcript = result.text;
  emit(event::transcript(turn_index, result.text, rec.speech_start_media_ms, rec.speech_end_media_ms));
  spdlog::info("caller said call_sid={} turn={} text=\"{}\"", context_.call_sid, turn_index, result.text);
  if (!agent_) {
    spdlog::info("turn dropped call_sid={} turn={}: the call is moving to its next stream", context_.call_sid, turn_index);
    return;
  }
  agent_turn_ = turn_index;
  Turn turn{turn_index, result.text, {}, false};
  if (last_barge_in_) {
    turn.barged_in = true;
    turn.interrupted_reply_heard = last_barge_in_->heard;
    turn.interrupted_reply = last_barge_in_->reply;
    last_barge_in_.reset();
  }
  std::weak_ptr<CallSession> weak = weak_from_this();
  auto strand = strand_;
  try {
    agent_->on_turn(turn, [weak, strand, turn_index](AgentReply reply) {
      asio::post(strand, [weak, turn_index, reply = std::move(reply)]() mutable {
        if (auto self = weak.lock()) self->on_agent_reply(turn_index, std::move(reply));
      });
    });
  } catch (const std::exception& e) {
    spdlog::error("agent failed call_sid={} turn={} error={}", context_.call_sid, turn_index, e.what());
  }
}

void CallSession::on_agent_reply(int turn_index, AgentReply reply) {
  if (ended_) return;
  // An answer to a turn the caller has moved on from (they spoke again, or talked over
  // it) is not spoken: it would answer the wrong thing.
  if (turn_index < agent_turn_ || turn_index <= cut_turn_) {
    spdlog::info("stale agent reply dropped call_sid={} turn={} latest_turn={}{}", context_.call_sid, turn_index,
                 agent_turn_, turn_index <= cut_turn_ ? " (the caller talked over it)" : "");
    return;
  }
  TurnRecord& rec = *turns_.find(turn_index);
  if (rec.agent_ms < 0) {
    rec.agent_ms = now_ms();
    if (svc_.metrics) observe_ms(svc_.metrics->agent, stages_of(rec).agent);
    rec.llm_first_token_ms = reply.llm_first_token_ms;
    rec.llm_first_piece_ms = reply.llm_first_piece_ms;
    if (svc_.metrics && reply.llm_first_token_ms >= 0) {
      observe_ms(svc_.metrics->llm_first_token, reply.llm_first_token_ms);
      observe_ms(svc_.metrics->llm_first_piece, reply.llm_first_piece_ms);
    }
  }
  for (const auto& note : reply.tools) {
    spdlog::info("tool call call_sid={} turn={} tool={} ok={}", context_.call_sid, turn_index, note.name, note.ok);
    emit(event::tool_call(turn_index, note));
  }
  if (!reply.text.empty()) rec.reply += rec.reply.empty() ? reply.text : " " + reply.text;
  // A streamed reply is one utterance: its first part starts it, later parts go to the
  // speech engine as they come, and the last part closes it.
  const auto open = playout_.open_reply(turn_index);
  if (reply.more) {
    if (reply.text.empty()) return;
    if (open) {
      spdlog::debug("agent says more call_sid={} turn={} text=\"{}\"", context_.call_sid, turn_index, reply.text);
      playout_.append_text(*open, reply.text);
    } else {
      playout_.enqueue_open(std::move(reply.text), turn_index);
    }
    return;
  }
  if (open) {
    if (!reply.text.empty()) playout_.append_text(*open, reply.text);
    playout_.close_text(*open, reply.hangup, std::move(reply.transfer_to), std::move(reply.digits));
    return;
  }
  if (reply.text.empty() && (!reply.transfer_to.empty() || !reply.digits.empty())) {
    playout_.enqueue("", turn_index, false, std::move(reply.transfer_to), std::move(reply.digits));
    return;
  }
  if (reply.text.empty()) {
    if (reply.hangup) {
      if (playout_.speaking()) {
        hangup_after_reply_ = true;
      } else {
        spdlog::info("agent hung up call_sid={}", context_.call_sid);
        outbox_->close("agent hung up");
      }
    }
    return;
  }
  playout_.enqueue(std::move(reply.text), turn_index, reply.hangup, std::move(reply.transfer_to),
                   std::move(reply.digits));
}

void CallSession::on_dtmf(std::string_view digit) {
  if (ended_) return;
  spdlog::info("dtmf call_sid={} digit={}", context_.call_sid, digit);
  emit(event::dtmf(std::string(digit), inbound_.media_clock_ms()));
  if (!agent_) return;
  try {
    agent_->on_dtmf(std::string(digit));
  } catch (const std::exception& e) {
    spdlog::error("agent dtmf failed call_sid={} error={}", context_.call_sid, e.what());
  }
}

void CallSession::barge_in(std::int64_t onset_ms) {
  const Reply& r = *playout_.current();
  BargeIn b;
  b.media_ms = onset_ms;
  b.reply = r.text;
  const int turn = r.turn;
  const std::uint64_t id = r.id;
  if (svc_.metrics) {
    svc_.metrics->barge_ins.inc();
    // From the onset to the end of the frame that decided it (media time).
    svc_.metrics->barge_in.observe(static_cast<double>(inbound_.frame_ms() + 20 - onset_ms) / 1000.0);
  }
  // The caller hears the interruption as the `clear`; the cut is reported (and stored)
  // once, by reply_ended().
  barging_ = BargeInNote{turn, id, r.text, onset_ms};
  const auto cut = playout_.cut(true);
  barging_.reset();
  b.heard = cut ? cut->heard : std::string();
  b.heard_ms = cut ? cut->heard_ms : 0;
  spdlog::info("barge-in call_sid={} heard_ms={} heard=\"{}\"", context_.call_sid, b.heard_ms, b.heard);
  barge_ins_.push_back(b);
  last_barge_in_ = std::move(b);
  // The rest of a streamed answer to that turn is not spoken either.
  cut_turn_ = std::max(cut_turn_, turn);
}

// ---------------------------------------------------------------------------------
// Outbound: the playout's requests and reports.

void CallSession::synthesize(Reply& r) {
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
      if (!self || self->ended_) return;
      const Reply* cur = self->playout_.current();
      if (!cur || cur->id != id) return;
      if (cur->audio.empty() && cur->turn > 0) {
        auto& rec = *self->turns_.find(cur->turn);
        if (rec.tts_first_byte_ms < 0) {
          rec.tts_first_byte_ms = self->now_ms();
          if (self->svc_.metrics) observe_ms(self->svc_.metrics->tts_first_byte, stages_of(rec).tts_first_byte);
        }
        if (rec.tts_first_byte_us < 0) rec.tts_first_byte_us = steady_us(arrived);
      }
      self->playout_.audio(id, a, self->now_ms());
      self->arm_mark_timer();
    });
  };
  cb.on_word = [weak, strand, id](const speech::WordTiming& w) {
    asio::post(strand, [weak, id, w] {
      if (auto self = weak.lock()) self->playout_.word(id, w);
    });
  };
  cb.on_request_id = [weak, strand, id](const std::string& rid) {
    asio::post(strand, [weak, id, rid] {
      auto self = weak.lock();
      if (!self) return;
      const Reply* cur = self->playout_.current();
      if (cur && cur->id == id && cur->turn > 0) self->turns_.find(cur->turn)->tts_request_id = rid;
    });
  };
  cb.on_degraded = [weak, strand](const std::string& why) {
    asio::post(strand, [weak, why] {
      auto self = weak.lock();
      if (!self) return;
      ++self->stats_.tts_degraded;
      if (self->svc_.metrics) self->svc_.metrics->tts_fallbacks.inc();
      spdlog::warn("speech provider degraded call_sid={} event=tts_fallback detail=\"{}\"", self->context_.call_sid, why);
      self->emit(event::provider_fallback(why));
    });
  };
  cb.on_done = [weak, strand, id](std::optional<std::string> error) {
    asio::post(strand, [weak, id, error = std::move(error)] {
      auto self = weak.lock();
      if (!self || self->ended_) return;
      const Reply* cur = self->playout_.current();
      if (!cur || cur->id != id) return;
      if (error) {
        spdlog::warn("speech synthesis failed call_sid={} error={}", self->context_.call_sid, *error);
        if (self->svc_.metrics) self->svc_.metrics->replies_failed.inc();
        self->emit(event::reply_failed(*cur, *error));
      }
      self->playout_.synthesis_done(id, self->now_ms());
      self->arm_mark_timer();
    });
  };
  spdlog::info("agent says call_sid={} turn={} text=\"{}\"", context_.call_sid, r.turn, r.text);
  emit(event::reply_started(r));
  if (r.text_open) {  // the rest of its text streams in: the engine takes it as it comes
    auto stream = svc_.tts.synthesize_stream(std::move(req), std::move(cb));
    r.token = std::move(stream.token);
    r.feed = std::move(stream.feed);
    return;
  }
  r.token = svc_.tts.synthesize(std::move(req), std::move(cb));
}

void CallSession::chunk_sent(const Reply& r, std::span<const std::uint8_t> chunk, bool first) {
  if (svc_.metrics) svc_.metrics->media_out.inc();
  for (const auto& o : observers_) o->on_audio(context_, chunk);
  if (recorder_) recorder_->agent(chunk, inbound_.media_clock_ms(), static_cast<std::int64_t>(now_ms()));
  if (!first || r.turn <= 0) return;
  auto& rec = *turns_.find(r.turn);
  if (rec.first_frame_sent_ms >= 0) return;
  rec.first_frame_sent_ms = now_ms();
  rec.first_frame_us = steady_us(svc_.clock.now());
  if (svc_.metrics) {
    const auto stages = stages_of(rec);
    observe_ms(svc_.metrics->gateway, stages.gateway);
    observe_ms(svc_.metrics->response, stages.response);
  }
  spdlog::info("reply started call_sid={} turn={} tts={} tts_request={} gateway_us={} first_byte_us={} first_frame_us={}",
               context_.call_sid, r.turn, svc_.tts.name(), rec.tts_request_id, rec.first_frame_us - rec.tts_first_byte_us,
               rec.tts_first_byte_us, rec.first_frame_us);
}

void CallSession::mark_echoed(const Reply& r) {
  if (r.turn <= 0) return;
  auto& rec = *turns_.find(r.turn);
  if (rec.first_mark_ms >= 0) return;
  rec.first_mark_ms = now_ms();
  if (svc_.metrics) observe_ms(svc_.metrics->heard, stages_of(rec).heard);
  emit(event::turn_timed(rec));
}

void CallSession::underrun(const Reply&) {
  if (svc_.metrics) svc_.metrics->reply_underruns.inc();
}

void CallSession::marks_overdue(const Reply& r) {
  if (svc_.metrics) svc_.metrics->marks_overdue.inc();
  spdlog::warn("marks not echoed call_sid={} reply={}: counting its audio as played by the clock (a reply plays no "
               "longer than its audio plus {} ms)", context_.call_sid, r.id, svc_.settings.playout.mark_slack_ms);
}

void CallSession::reply_ended(const Reply& r, const ReplyEnd& end) {
  if (barging_ && barging_->reply_id == r.id) emit(event::barge_in(r, end, barging_->onset_ms));
  emit(event::reply_finished(r, end, static_cast<std::int64_t>(now_ms())));
}

bool CallSession::after_reply(Reply& r) {
  const bool hangup = r.hangup || (hangup_after_reply_ && playout_.queued() == 0);
  if (!r.digits.empty() && r.transfer_to.empty()) {
    playout_.drop_queue();
    send_digits(std::move(r.digits));
    return false;
  }
  if (!r.transfer_to.empty()) {
    // The caller has heard the reply: hand the call to Twilio to dial the target; it
    // ends our stream, which ends this session.
    emit(event::transfer(r.turn, r.transfer_to, svc_.control != nullptr));
    if (svc_.control) {
      spdlog::info("transferring call_sid={} to={}", context_.call_sid, r.transfer_to);
      svc_.control->transfer(context_.call_sid, r.transfer_to);
    } else {
      spdlog::warn("transfer to {} requested but no Twilio account is configured (TWILIO_ACCOUNT_SID, "
                   "TWILIO_AUTH_TOKEN); ending the call instead call_sid={}", r.transfer_to, context_.call_sid);
      outbox_->close("transfer unavailable");
    }
    return false;
  }
  arm_talk_timer();
  if (hangup) {
    spdlog::info("agent hung up call_sid={}", context_.call_sid);
    outbox_->close("agent hung up");
    return false;
  }
  return true;
}

void CallSession::on_mark(std::string_view name) {
  if (ended_) return;
  ++stats_.marks_echoed;
  if (svc_.metrics) svc_.metrics->marks_echoed.inc();
  playout_.mark(name, now_ms());
  arm_mark_timer();
}

void CallSession::send_digits(std::string digits) {
  if (!svc_.control || context_.stream_url.empty()) {
    spdlog::warn("the agent asked to press {} but no Twilio account is configured (TWILIO_ACCOUNT_SID, "
                 "TWILIO_AUTH_TOKEN); the keys are not sent call_sid={}", digits, context_.call_sid);
    arm_talk_timer();
    playout_.resume();
    return;
  }
  // Twilio plays the keys between this stream and the next one; the agent (and where the
  // conversation stands) waits for that stream in the registry.
  spdlog::info("sending digits call_sid={} digits={}: the stream resumes after them", context_.call_sid, digits);
  handing_over_ = true;
  talk_timer_->cancel();
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

// ---------------------------------------------------------------------------------
// Timers: the talk timeout and overdue marks, both on the session's clock.

void CallSession::set_talk_timeout(std::chrono::milliseconds timeout) {
  talk_timeout_ = timeout;
  if (timeout.count() <= 0) talk_timer_->cancel();
  else arm_talk_timer();
}

void CallSession::arm_talk_timer() {
  if (ended_ || talk_timeout_.count() <= 0) return;
  std::weak_ptr<CallSession> weak = weak_from_this();
  talk_timer_->expire_at(svc_.clock.now() + talk_timeout_, [weak] {
    auto self = weak.lock();
    if (!self || self->ended_) return;
    if (self->playout_.speaking() || self->inbound_.in_speech()) {
      self->arm_talk_timer();  // not idle: someone is talking
      return;
    }
    spdlog::info("talk timeout call_sid={} idle_s={}", self->context_.call_sid, self->talk_timeout_.count() / 1000.0);
    self->outbox_->close("talk timeout");
    // The caller's line is hung up too (as the turn service did), not left open and silent.
    if (self->svc_.control && !self->context_.call_sid.empty())
      self->svc_.control->hang_up(self->context_.call_sid, "talk timeout");
    self->end("talk timeout");
  });
}

void CallSession::arm_mark_timer() {
  const auto due = playout_.next_deadline();
  if (ended_ || !due) return;
  // One timer, set for the earliest deadline; an earlier one already set stays.
  if (mark_timer_at_ && *mark_timer_at_ <= *due) return;
  mark_timer_at_ = *due;
  std::weak_ptr<CallSession> weak = weak_from_this();
  const auto at = started_at_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(*due));
  mark_timer_->expire_at(at, [weak] {
    auto self = weak.lock();
    if (!self || self->ended_) return;
    self->mark_timer_at_.reset();
    self->playout_.tick(self->now_ms());
    self->arm_mark_timer();
  });
}

}  // namespace vox::call
