#include "call/playout.hpp"

#include <algorithm>

namespace vox::call {
namespace {
constexpr std::size_t kFrameBytes = 160;  // 20 ms of 8 kHz μ-law
}  // namespace

Playout::Playout(PlayoutSettings settings, std::string stream_sid, MediaOutbox& outbox, PlayoutListener& listener)
    : settings_(settings),
      stream_sid_(std::move(stream_sid)),
      outbox_(outbox),
      listener_(listener),
      chunk_bytes_(static_cast<std::size_t>(std::max(20, settings.chunk_ms)) * 8),
      lead_bytes_(static_cast<std::size_t>(std::max(settings.chunk_ms, settings.lead_ms)) * 8) {
  mark_name_.reserve(48);
}

std::uint64_t Playout::enqueue(std::string text, int turn, bool hangup, std::string transfer_to, std::string digits) {
  Reply r;
  r.id = next_id_++;
  r.turn = turn;
  r.text = std::move(text);
  r.hangup = hangup;
  r.transfer_to = std::move(transfer_to);
  r.digits = std::move(digits);
  const auto id = r.id;
  queued_.push_back(std::move(r));
  if (!current_) start_next();
  return id;
}

std::uint64_t Playout::enqueue_open(std::string text, int turn) {
  Reply r;
  r.id = next_id_++;
  r.turn = turn;
  r.text = std::move(text);
  r.text_open = true;
  const auto id = r.id;
  queued_.push_back(std::move(r));
  if (!current_) start_next();
  return id;
}

Reply* Playout::find(std::uint64_t id) {
  if (current_ && current_->id == id) return &*current_;
  for (auto& r : queued_)
    if (r.id == id) return &r;
  return nullptr;
}

std::optional<std::uint64_t> Playout::open_reply(int turn) const {
  const Reply* last = !queued_.empty() ? &queued_.back() : current_ ? &*current_ : nullptr;
  if (last && last->turn == turn && last->text_open) return last->id;
  return std::nullopt;
}

void Playout::append_text(std::uint64_t id, const std::string& text) {
  Reply* r = find(id);
  if (!r || !r->text_open || text.empty()) return;
  if (!r->text.empty()) r->text += ' ';
  r->text += text;
  if (r->feed) r->feed->append(text);  // being synthesized: the engine takes it now
}

void Playout::close_text(std::uint64_t id, bool hangup, std::string transfer_to, std::string digits) {
  Reply* r = find(id);
  if (!r || !r->text_open) return;
  r->text_open = false;
  r->hangup = hangup;
  r->transfer_to = std::move(transfer_to);
  r->digits = std::move(digits);
  if (r->feed) r->feed->close();
}

void Playout::start_next() {
  if (queued_.empty() || current_) return;
  current_ = std::move(queued_.front());
  queued_.pop_front();
  // Two seconds covers most replies; longer ones grow the buffer by doubling (a few times a
  // reply, never per frame). Eight seconds here was 64 KB of heap per call.
  current_->audio.reserve(8000 * 2);
  listener_.synthesize(*current_);
}

void Playout::resume() { start_next(); }

void Playout::audio(std::uint64_t id, std::span<const std::uint8_t> ulaw, double now_ms) {
  if (!current_ || current_->id != id) return;  // a reply that was cut or finished
  current_->audio.insert(current_->audio.end(), ulaw.begin(), ulaw.end());
  pump(now_ms);
}

void Playout::word(std::uint64_t id, const speech::WordTiming& word) {
  if (current_ && current_->id == id) current_->words.push_back(word);
}

void Playout::synthesis_done(std::uint64_t id, double now_ms) {
  if (!current_ || current_->id != id) return;
  current_->synth_done = true;
  pump(now_ms);
}

void Playout::pump(double now_ms) {
  if (!current_) return;
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
    outbox_.send_media(stream_sid_, chunk);
    play_end_ms_ = std::max(play_end_ms_, now_ms) + static_cast<double>(n) / 8.0;
    const bool first = r.sent == 0;
    if (first) r.started_ms = now_ms;
    listener_.chunk_sent(r, chunk, first);
    r.sent += n;
    // "reply-<id>-<bytes sent>", built into a reused buffer.
    mark_name_.assign("reply-");
    mark_name_ += std::to_string(r.id);
    mark_name_ += '-';
    mark_name_ += std::to_string(r.sent);
    outbox_.send_mark(stream_sid_, mark_name_);
    pending_marks_.push_back(PendingMark{mark_name_, r.sent, play_end_ms_});
    ++marks_sent_;
  }
  if (r.synth_done && r.sent == r.audio.size() && !r.end_mark_sent) {
    r.end_mark_sent = true;
    outbox_.send_mark(stream_sid_, kEndOfPlayback);
    pending_marks_.push_back(PendingMark{std::string(kEndOfPlayback), r.sent, std::max(play_end_ms_, now_ms)});
    ++marks_sent_;
  }
}

void Playout::mark(std::string_view name, double now_ms) {
  auto it = std::find_if(pending_marks_.begin(), pending_marks_.end(), [&](const PendingMark& m) { return m.name == name; });
  if (it == pending_marks_.end() || !current_) return;  // echo of a mark dropped by a clear, or not ours
  acknowledge(it, true, now_ms);
}

double Playout::slack() const { return current_ && current_->marks_overdue ? 0.0 : settings_.mark_slack_ms; }

std::optional<double> Playout::next_deadline() const {
  if (pending_marks_.empty() || !current_) return std::nullopt;
  return pending_marks_.front().due_ms + slack();
}

void Playout::tick(double now_ms) {
  if (!current_) return;
  // The last mark whose audio must have played by now, echoed or not. Once a reply's
  // marks are overdue, the rest of it is paced by the clock alone (no slack again).
  auto last = pending_marks_.end();
  for (auto it = pending_marks_.begin(); it != pending_marks_.end() && it->due_ms + slack() <= now_ms; ++it) last = it;
  if (last == pending_marks_.end()) return;
  const bool first = !current_->marks_overdue;
  if (first) {
    current_->marks_overdue = true;
    listener_.marks_overdue(*current_);
    // Without the slack, later marks may be due already.
    for (auto it = last; it != pending_marks_.end() && it->due_ms <= now_ms; ++it) last = it;
  }
  acknowledge(last, false, now_ms);
}

void Playout::acknowledge(std::deque<PendingMark>::iterator it, bool echoed, double now_ms) {
  Reply& r = *current_;
  r.acked = it->end_pos;
  if (echoed) listener_.mark_echoed(r);
  const bool end = it->name == kEndOfPlayback;
  pending_marks_.erase(pending_marks_.begin(), it + 1);
  // Everything sent has been played but the reply goes on: the caller hears a gap.
  if (!end && r.acked == r.sent && r.sent == r.audio.size() && !r.synth_done) listener_.underrun(r);
  if (end) finish(now_ms);
  else pump(now_ms);
}

void Playout::finish(double /*now_ms*/) {
  Reply r = std::move(*current_);
  current_.reset();
  pending_marks_.clear();
  ReplyEnd e;
  e.heard = r.text;
  e.heard_ms = static_cast<int>(r.audio.size() / 8);
  listener_.reply_ended(r, e);
  if (listener_.after_reply(r)) start_next();
}

std::optional<ReplyEnd> Playout::cut_current(bool clear) {
  std::optional<ReplyEnd> out;
  if (current_) {
    Reply& r = *current_;
    if (clear) {
      outbox_.send_clear(stream_sid_);
      ++clears_sent_;
      play_end_ms_ = 0;  // Twilio dropped what it had queued
    }
    if (r.token) r.token->cancel();
    ReplyEnd e;
    e.interrupted = true;
    e.heard_ms = r.heard_ms();
    e.heard = heard_words(r, e.heard_ms);
    listener_.reply_ended(r, e);
    out = std::move(e);
    current_.reset();
  }
  queued_.clear();
  pending_marks_.clear();
  return out;
}

std::optional<ReplyEnd> Playout::cut(bool always_clear) {
  return cut_current(always_clear || (current_ && current_->sent > 0));
}

void Playout::end() { cut_current(false); }

void Playout::drop_queue() {
  queued_.clear();
  pending_marks_.clear();
}

std::string Playout::heard_words(const Reply& r, int heard_ms) {
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

}  // namespace vox::call
