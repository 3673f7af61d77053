#include "call/turns.hpp"

#include <spdlog/spdlog.h>

#include "call/events.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"

namespace vox::call {

std::string_view to_string(EndReason r) {
  switch (r) {
    case EndReason::hung_up: return "hung_up";
    case EndReason::talk_timeout: return "talk_timeout";
    case EndReason::error: return "error";
    case EndReason::shutdown: return "shutdown";
  }
  return "error";
}

std::string_view describe(EndReason r) {
  switch (r) {
    case EndReason::hung_up: return "the call was hung up";
    case EndReason::talk_timeout: return "the talk timeout passed with nobody speaking";
    case EndReason::error: return "the call failed";
    case EndReason::shutdown: return "the server is shutting down";
  }
  return "the call failed";
}

EndReason classify_end(std::string_view d) {
  auto has = [d](std::string_view w) { return d.find(w) != std::string_view::npos; };
  if (has("talk timeout")) return EndReason::talk_timeout;
  if (has("shutdown")) return EndReason::shutdown;
  // Twilio's `stop`, a hang-up by either side, and the terminal call statuses of a call
  // that was answered or never was.
  if (d == "stop" || has("hung up") || has("hangup") || has("stream stopped") || d == "completed" || d == "busy" ||
      d == "no-answer" || d == "canceled" || has("closed by peer") || has("end of stream") || d == "deleted")
    return EndReason::hung_up;
  return EndReason::error;
}

// ---- TurnChannel ----

namespace {
constexpr std::size_t kMaxHeard = 256;
constexpr std::size_t kMaxPlaybacks = 64;
}  // namespace

void TurnChannel::changed() {
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock(mu_);
    touched_ = Clock::now();
    for (const auto& [id, w] : watchers_) wake.push_back(w);
  }
  for (auto& w : wake) w();
}

void TurnChannel::attach(const std::shared_ptr<CallSession>& session) {
  {
    std::lock_guard lock(mu_);
    session_ = session;
    seen_ = true;
    live_ = true;
    resuming_since_.reset();
    ended_.reset();
  }
  changed();
}

void TurnChannel::speech_started() {
  {
    std::lock_guard lock(mu_);
    onsets_.push_back(Clock::now());
    if (onsets_.size() > kMaxHeard) onsets_.pop_front();
  }
  changed();
}

void TurnChannel::transcript(std::string text) {
  {
    std::lock_guard lock(mu_);
    Heard h;
    h.seq = next_seq_++;
    h.text = std::move(text);
    h.arrived = Clock::now();
    // The utterance began at the latest onset before its transcript.
    h.onset = onsets_.empty() ? h.arrived : onsets_.back();
    heard_.push_back(std::move(h));
    if (heard_.size() > kMaxHeard) heard_.pop_front();
  }
  changed();
}

void TurnChannel::reply_done(std::uint64_t reply_id, bool failed, bool interrupted, std::string error, double played_ms) {
  {
    std::lock_guard lock(mu_);
    Playback p;
    p.failed = failed;
    p.interrupted = interrupted;
    p.error = std::move(error);
    p.heard_before = next_seq_;
    p.finished = Clock::now();
    p.played_ms = played_ms;
    playbacks_[reply_id] = std::move(p);
    while (playbacks_.size() > kMaxPlaybacks) playbacks_.erase(playbacks_.begin());
  }
  changed();
}

void TurnChannel::stream_ended(bool resuming, const std::string& detail) {
  if (resuming) {
    {
      std::lock_guard lock(mu_);
      live_ = false;
      resuming_since_ = Clock::now();
    }
    changed();
    return;
  }
  end(classify_end(detail), detail);
}

void TurnChannel::end(EndReason reason, std::string detail) {
  {
    std::lock_guard lock(mu_);
    seen_ = true;
    live_ = false;
    if (!ended_) ended_ = Ended{reason, std::move(detail)};
  }
  changed();
}

std::shared_ptr<CallSession> TurnChannel::session() const {
  std::lock_guard lock(mu_);
  return live_ ? session_.lock() : nullptr;
}

bool TurnChannel::live() const {
  std::lock_guard lock(mu_);
  return live_;
}

std::optional<TurnChannel::Ended> TurnChannel::ended() const {
  std::lock_guard lock(mu_);
  if (!ended_ && !live_ && resuming_since_ && Clock::now() - *resuming_since_ > kResumeWithin)
    ended_ = Ended{EndReason::error, "the call did not come back after pressing keys"};
  return ended_;
}

bool TurnChannel::busy() const {
  std::lock_guard lock(mu_);
  return busy_;
}

std::optional<TurnChannel::Playback> TurnChannel::playback(std::uint64_t reply_id) const {
  std::lock_guard lock(mu_);
  auto it = playbacks_.find(reply_id);
  if (it == playbacks_.end()) return std::nullopt;
  return it->second;
}

std::vector<TurnChannel::Heard> TurnChannel::take_heard(std::uint64_t from_seq, std::vector<std::string>& skipped) {
  std::lock_guard lock(mu_);
  std::vector<Heard> out;
  for (auto& h : heard_) {
    if (h.seq < from_seq) skipped.push_back(std::move(h.text));
    else out.push_back(std::move(h));
  }
  heard_.clear();
  return out;
}

bool TurnChannel::has_heard(std::uint64_t from_seq) const {
  std::lock_guard lock(mu_);
  return !heard_.empty() && heard_.back().seq >= from_seq;
}

void TurnChannel::set_pending_talk_timeout(std::chrono::milliseconds t) {
  std::lock_guard lock(mu_);
  talk_timeout_ = t;
}

std::optional<std::chrono::milliseconds> TurnChannel::pending_talk_timeout() const {
  std::lock_guard lock(mu_);
  return talk_timeout_;
}

void TurnChannel::set_caller_first() {
  std::lock_guard lock(mu_);
  caller_first_ = true;
}

bool TurnChannel::caller_first() const {
  std::lock_guard lock(mu_);
  return caller_first_;
}

bool TurnChannel::claim() {
  std::lock_guard lock(mu_);
  if (busy_) return false;
  busy_ = true;
  touched_ = Clock::now();
  return true;
}

void TurnChannel::release() {
  std::lock_guard lock(mu_);
  busy_ = false;
  touched_ = Clock::now();
}

int TurnChannel::watch(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const int id = next_watch_++;
  watchers_.emplace(id, std::move(wake));
  return id;
}

void TurnChannel::unwatch(int id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
}

TurnChannel::Clock::time_point TurnChannel::touched() const {
  std::lock_guard lock(mu_);
  return touched_;
}

bool TurnChannel::pending() const {
  std::lock_guard lock(mu_);
  return !seen_;
}

// ---- TurnHub ----

namespace {
// Feeds one stream's events into its call's channel (on the session's strand).
class TurnObserver final : public CallObserver {
 public:
  explicit TurnObserver(std::shared_ptr<TurnChannel> channel) : channel_(std::move(channel)) {}
  void on_event(const call::CallContext&, const CallEvent& e) override {
    using K = CallEvent::Kind;
    switch (e.kind) {
      case K::speech_started:
        channel_->speech_started();
        break;
      case K::transcript:
        channel_->transcript(e.text);
        break;
      case K::reply_finished:
        channel_->reply_done(e.reply_id, false, e.interrupted, {}, e.heard_ms);
        break;
      case K::reply_failed:
        channel_->reply_done(e.reply_id, true, false, e.detail, 0);
        break;
      case K::ended:
        channel_->stream_ended(e.resuming, e.detail);
        break;
      default:
        break;
    }
  }

 private:
  std::shared_ptr<TurnChannel> channel_;
};
}  // namespace

std::shared_ptr<TurnChannel> TurnHub::get_or_create(const std::string& sid, bool& full) {
  full = false;
  if (auto it = channels_.find(sid); it != channels_.end()) return it->second;
  expire();
  if (channels_.size() >= kMaxChannels) {
    full = true;
    return nullptr;
  }
  auto ch = std::make_shared<TurnChannel>(sid);
  channels_.emplace(sid, ch);
  return ch;
}

void TurnHub::expire() {
  const auto now = TurnChannel::Clock::now();
  std::erase_if(channels_, [now](const auto& kv) {
    const auto& ch = kv.second;
    return ch->ended() && now - ch->touched() > kKeepEnded;
  });
}

void TurnHub::session_started(const std::shared_ptr<CallSession>& session) {
  const std::string& sid = session->context().call_sid;
  if (sid.empty()) return;
  std::shared_ptr<TurnChannel> ch;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    ch = get_or_create(sid, full);
  }
  if (!ch) {
    spdlog::warn("turn API: {} calls tracked, call_sid={} is not followed", kMaxChannels, sid);
    return;
  }
  if (auto t = ch->pending_talk_timeout()) session->set_talk_timeout(*t);
  if (ch->caller_first()) session->invite_caller();
  session->add_observer(std::make_shared<TurnObserver>(ch));
  ch->attach(session);
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    stopping = shutting_down_;
  }
  if (stopping) ch->end(EndReason::shutdown, "server shutdown");
}

void TurnHub::call_status(const std::string& sid, const std::string& status) {
  if (!ended_status(status)) return;
  auto ch = find(sid);
  // A live stream reports its own end (with the reason); this covers calls that never
  // got one, or whose stream is already gone.
  if (ch && !ch->live()) ch->end(classify_end(status), "call " + status);
}

void TurnHub::shutdown() {
  std::vector<std::shared_ptr<TurnChannel>> all;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [sid, ch] : channels_) all.push_back(ch);
  }
  for (auto& ch : all) ch->end(EndReason::shutdown, "server shutdown");
}

std::shared_ptr<TurnChannel> TurnHub::find(const std::string& sid) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(sid);
  return it == channels_.end() ? nullptr : it->second;
}

std::shared_ptr<TurnChannel> TurnHub::expect(const std::string& sid) {
  bool full = false;
  std::shared_ptr<TurnChannel> ch;
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    ch = get_or_create(sid, full);
    stopping = shutting_down_;
  }
  if (ch && stopping) ch->end(EndReason::shutdown, "server shutdown");
  return ch;
}

void TurnHub::abandon(const std::shared_ptr<TurnChannel>& channel) {
  std::lock_guard lock(mu_);
  if (!channel->pending()) return;
  auto it = channels_.find(channel->sid());
  if (it != channels_.end() && it->second == channel) channels_.erase(it);
}

std::size_t TurnHub::busy() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [sid, ch] : channels_) n += ch->busy() ? 1 : 0;
  return n;
}

std::size_t TurnHub::size() const {
  std::lock_guard lock(mu_);
  return channels_.size();
}

}  // namespace vox::call
