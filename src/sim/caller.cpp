#include "sim/caller.hpp"
#include "core/spawn.hpp"
#include "sim/twiml_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <future>
#include <thread>

#include "audio/g711.hpp"
#include "core/base64.hpp"
#include "net/client.hpp"
#include "sim/sid.hpp"
#include "net/http_types.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"
#include "twilio/media_messages.hpp"
#include "twilio/signature.hpp"

namespace vox::sim {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {


// Returns [first, last) of the samples louder than a quiet line (|x| >= 300).
std::pair<std::size_t, std::size_t> sound_bounds(const std::vector<std::uint8_t>& ulaw) {
  std::size_t b = 0, e = ulaw.size();
  while (b < e && std::abs(audio::ulaw_decode(ulaw[b])) < 300) ++b;
  while (e > b && std::abs(audio::ulaw_decode(ulaw[e - 1])) < 300) --e;
  return {b, e};
}

// Cuts the silence espeak-ng leaves at the end of an utterance (keeping 20 ms), so
// "last speech frame" means the end of the words.
void trim_trailing_silence(std::vector<std::uint8_t>& ulaw) {
  ulaw.resize(std::min(ulaw.size(), sound_bounds(ulaw).second + 160));
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

enum class Phase { kWaitGreeting, kPause, kSpeaking, kWaitReply, kIdle, kDone };

struct CallState {
  CallerOptions opt;
  std::shared_ptr<net::WsClient> ws;
  std::string stream_sid, account_sid;
  std::int64_t seq = 1, chunk = 1, media_ts = 0;
  // What Twilio would be playing to the caller.
  std::deque<std::uint8_t> queue;
  std::uint64_t enqueued = 0, played = 0;
  std::deque<std::pair<std::uint64_t, std::string>> marks;
  HeardSegment segment;
  bool in_segment = false;
  std::uint64_t segment_played = 0;
  int end_of_playbacks = 0;
  bool any_media = false;
  bool no_greeting = false;
  bool reader_done = false;
  bool stop_sent = false;
  // What the caller says.
  // Shared by every caller of a load test (synthesized once), never copied per call.
  std::shared_ptr<const std::vector<std::vector<std::uint8_t>>> line_audio;
  std::span<const std::uint8_t> mic;
  std::size_t mic_pos = 0;
  std::size_t next_line = 0;
  Phase phase = Phase::kWaitGreeting;
  Clock::time_point phase_since = Clock::now();
  int reply_target = 0;
  bool awaiting_reply_frame = false;
  bool reply_segment_started = false;  // a reply to our last line has begun playing
  Clock::time_point last_speech_sent;
  Clock::time_point line_started;
  std::string out;
  CallerResult result;

  void set_phase(Phase p) {
    phase = p;
    phase_since = Clock::now();
  }

  void close_segment(bool cleared) {
    if (!in_segment) return;
    segment.cleared = cleared;
    result.heard.push_back(std::move(segment));
    segment = HeardSegment{};
    in_segment = false;
    segment_played = 0;
  }

  void start_line() {
    // "dtmf:12#" presses keys instead of speaking; no reply is awaited.
    const std::string& line = opt.lines[next_line];
    if (line.rfind("dtmf:", 0) == 0) {
      for (char d : line.substr(5)) {
        twilio::write_dtmf(out, stream_sid, seq++, std::string(1, d));
        ws->send_copy(out);
      }
      ++next_line;
      set_phase(Phase::kPause);
      return;
    }
    mic = (*line_audio)[next_line];
    mic_pos = 0;
    result.turns.push_back(CallerTurn{opt.lines[next_line], -1});
    ++next_line;
    line_started = Clock::now();
    set_phase(Phase::kSpeaking);
  }

  void on_message(const twilio::Message& m, std::vector<std::uint8_t>& scratch) {
    if (const auto* media = std::get_if<twilio::Media>(&m.body)) {
      if (scratch.size() < base64::max_decoded_size(media->payload.size()))
        scratch.resize(base64::max_decoded_size(media->payload.size()));
      const auto n = base64::decode(media->payload, scratch);
      if (!n) {
        result.error = "server sent a media payload that is not valid base64";
        return;
      }
      if (awaiting_reply_frame) {
        awaiting_reply_frame = false;
        reply_segment_started = true;
        if (!result.turns.empty()) result.turns.back().reply_latency_ms = ms_since(last_speech_sent);
      }
      queue.insert(queue.end(), scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(*n));
      enqueued += *n;
      any_media = true;
      result.media_bytes_received += *n;
      ++result.media_messages_received;
      if (!in_segment) {
        in_segment = true;
        segment = HeardSegment{};
      }
    } else if (const auto* mark = std::get_if<twilio::Mark>(&m.body)) {
      ++result.marks_received;
      // The gateway has no greeting for this call: speak now rather than wait for one.
      if (mark->name == "noGreeting") no_greeting = true;  // (call::kNoGreetingMark)
      marks.emplace_back(enqueued, std::string(mark->name));
    } else if (std::holds_alternative<twilio::Clear>(m.body)) {
      ++result.clears;
      if (result.clear_after_speech_ms < 0 && (phase == Phase::kSpeaking || phase == Phase::kWaitReply))
        result.clear_after_speech_ms = ms_since(line_started);
      queue.clear();
      played = enqueued;
      // Twilio returns every pending mark when it clears the queue.
      for (auto& [pos, name] : marks) {
        twilio::write_mark_echo(out, stream_sid, seq++, name);
        ws->send_copy(out);
        ++result.marks_echoed;
      }
      marks.clear();
      close_segment(true);
      if (phase == Phase::kWaitReply) {
        awaiting_reply_frame = true;
        reply_segment_started = false;
        if (!result.turns.empty()) result.turns.back().reply_latency_ms = -1;
      }
    } else if (const auto* err = std::get_if<twilio::ParseError>(&m.body)) {
      result.error = "server sent a bad message: " + err->reason;
    } else {
      result.error = "server sent an event Twilio does not accept: " + std::string(m.event);
    }
  }

  // One 20 ms tick: play out, echo reached marks, send a mic frame, advance the script.
  void tick() {
    const std::size_t n = std::min<std::size_t>(160, queue.size());
    std::array<std::uint8_t, 160> heard;
    heard.fill(audio::kUlawSilence);
    std::copy_n(queue.begin(), n, heard.begin());
    // Silence in the middle of a reply: the rest of it has not arrived in time.
    if (n < 160 && in_segment &&
        std::none_of(marks.begin(), marks.end(), [](const auto& m) { return m.second == "endOfPlayback"; }))
      ++result.reply_gap_frames;
    if (n > 0) {
      if (in_segment && opt.keep_heard_audio)
        segment.ulaw.insert(segment.ulaw.end(), queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      played += n;
      segment_played += n;
    }
    while (!marks.empty() && marks.front().first <= played) {
      twilio::write_mark_echo(out, stream_sid, seq++, marks.front().second);
      ws->send_copy(out);
      ++result.marks_echoed;
      if (marks.front().second == "endOfPlayback") {
        ++end_of_playbacks;
        close_segment(false);
      }
      marks.pop_front();
    }

    std::array<std::uint8_t, 160> frame;
    frame.fill(audio::kUlawSilence);
    if (phase == Phase::kSpeaking) {
      const std::size_t k = std::min<std::size_t>(160, mic.size() - mic_pos);
      std::copy_n(mic.begin() + static_cast<std::ptrdiff_t>(mic_pos), k, frame.begin());
      mic_pos += k;
    }
    twilio::write_inbound_media(out, stream_sid, seq++, chunk++, media_ts, frame);
    media_ts += 20;
    ws->send_copy(out);
    ++result.frames_sent;
    if (opt.tap) opt.tap(frame, heard);

    const bool barge = opt.barge_in_at_ms >= 0 && next_line < opt.lines.size() && in_segment &&
                       segment_played >= static_cast<std::uint64_t>(opt.barge_in_at_ms) * 8;
    switch (phase) {
      case Phase::kWaitGreeting:
        if (barge) start_line();
        else if (end_of_playbacks >= 1 || (!any_media && (no_greeting || ms_since(phase_since) > opt.greeting_wait_ms)))
          set_phase(Phase::kPause);
        break;
      case Phase::kPause:
        if (ms_since(phase_since) >= opt.pause_ms) {
          if (next_line < opt.lines.size()) start_line();
          else set_phase(opt.idle_after_ms >= 0 ? Phase::kIdle : Phase::kDone);
        }
        break;
      case Phase::kSpeaking:
        if (mic_pos >= mic.size()) {
          last_speech_sent = Clock::now();
          awaiting_reply_frame = true;
          reply_segment_started = false;
          reply_target = end_of_playbacks + 1;
          set_phase(Phase::kWaitReply);
        }
        break;
      case Phase::kWaitReply:
        if (end_of_playbacks >= reply_target) {
          set_phase(Phase::kPause);
        } else if (barge && reply_segment_started) {
          start_line();
        } else if (ms_since(phase_since) > opt.reply_timeout_ms) {
          result.error = "no reply to line " + std::to_string(next_line) + " within " +
                         std::to_string(opt.reply_timeout_ms) + " ms";
          set_phase(Phase::kDone);
        }
        break;
      case Phase::kIdle:
        if (ms_since(phase_since) >= opt.idle_after_ms) set_phase(Phase::kDone);
        break;
      case Phase::kDone:
        break;
    }
  }
};

asio::awaitable<void> read_loop(std::shared_ptr<CallState> st) {
  twilio::MessageParser parser(4 * 1024 * 1024);
  std::vector<std::uint8_t> scratch;  // grows to the largest payload seen
  for (;;) {
    auto msg = co_await st->ws->read();
    if (!msg) break;
    st->on_message(parser.parse(*msg), scratch);
  }
  st->reader_done = true;
  if (!st->stop_sent) {
    st->result.server_closed = true;
    st->result.close_code = st->ws->close_code();
  }
}

}  // namespace

namespace {
const TwimlNode* find_stream(const TwimlNode& n) {
  for (const auto& c : n.children) {
    if (c.name == "Stream") return &c;
    if (const auto* s = find_stream(c)) return s;
  }
  return nullptr;
}
}  // namespace

bool parse_stream_twiml(const std::string& twiml, std::string& url, std::map<std::string, std::string>& parameters) {
  const auto doc = parse_twiml(twiml);
  if (!doc.root) return false;
  const auto* stream = find_stream(*doc.root);
  if (!stream || stream->attr("url").empty()) return false;
  url = stream->attr("url");
  for (const auto& p : stream->children)
    if (p.name == "Parameter" && p.attrs.contains("name") && p.attrs.contains("value"))
      parameters[p.attr("name")] = p.attr("value");
  return true;
}

struct FrameTicker::State {
  explicit State(asio::io_context& ioc) : timer(ioc) {}
  static constexpr int kSlots = 20;  // one per millisecond of the 20 ms frame
  asio::steady_timer timer;
  std::array<std::vector<std::function<bool(double)>>, kSlots> slots;
  std::size_t count = 0;
  std::uint64_t k = 0;  // the slot being run, counted from `epoch`
  Clock::time_point epoch;
  bool running = false;
  bool stopped = false;
};

namespace {
asio::awaitable<void> ticker_loop(std::shared_ptr<FrameTicker::State> s) {
  while (s->count > 0 && !s->stopped) {
    const auto due = s->epoch + std::chrono::milliseconds(s->k);
    s->timer.expires_at(due);
    co_await s->timer.async_wait(kTuple);
    if (s->stopped) break;
    const double late_ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
    auto& slot = s->slots[s->k % FrameTicker::State::kSlots];
    for (std::size_t i = 0; i < slot.size();) {
      if (slot[i](late_ms)) {
        ++i;
        continue;
      }
      slot[i] = std::move(slot.back());
      slot.pop_back();
      --s->count;
    }
    ++s->k;
  }
  s->running = false;
}
}  // namespace

FrameTicker::FrameTicker(asio::io_context& ioc) : state_(std::make_shared<State>(ioc)) {}

FrameTicker::~FrameTicker() {
  state_->stopped = true;
  state_->timer.cancel();
}

void FrameTicker::add(std::function<bool(double late_ms)> tick) {
  auto& s = *state_;
  const bool start = !s.running;
  if (start) {
    // (Re)start the clock: slot k runs at epoch + k ms.
    s.running = true;
    s.epoch = Clock::now();
    s.k = 0;
  }
  // The next slot but one: the new call's first frame goes out 1–2 ms from now, and
  // calls added over time spread over the 20 slots.
  s.slots[(s.k + 1) % State::kSlots].push_back(std::move(tick));
  ++s.count;
  // Started only now: the loop may run at once (spawned from its own executor), and it
  // stops when it finds no call.
  if (start) vox::spawn(s.timer.get_executor(), ticker_loop(state_), "simulated caller");
}

std::vector<std::vector<std::uint8_t>> speak_lines(const std::vector<std::string>& lines, const std::string& voice,
                                                   speech::EspeakTts& tts) {
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& line : lines) {
    if (line.rfind("dtmf:", 0) == 0) {
      out.emplace_back();
      continue;
    }
    auto a = tts.synthesize_blocking(line, voice);
    trim_trailing_silence(a);
    out.push_back(std::move(a));
  }
  return out;
}

asio::awaitable<CallerResult> run_caller(CallerOptions opt, CallerEngines engines) {
  auto st = std::make_shared<CallState>();
  st->opt = opt;
  const auto started = Clock::now();
  CallerResult& r = st->result;
  r.call_sid = opt.call_sid.empty() ? random_sid("CA") : opt.call_sid;
  st->account_sid = opt.account_sid.empty() ? random_sid("AC") : opt.account_sid;
  st->stream_sid = random_sid("MZ");
  try {
    if (opt.line_audio) {
      if (opt.line_audio->size() != opt.lines.size()) throw std::runtime_error("line_audio does not match lines");
      st->line_audio = opt.line_audio;
    } else {
      st->line_audio = std::make_shared<const std::vector<std::vector<std::uint8_t>>>(
          speak_lines(opt.lines, opt.voice, engines.tts));
    }
    // 1. The voice webhook, as Twilio posts it (unless the TwiML is given).
    std::string twiml = opt.twiml;
    if (twiml.empty()) {
    std::string form = "CallSid=" + r.call_sid + "&AccountSid=" + st->account_sid +
                       "&From=" + std::string(opt.from[0] == '+' ? "%2B" + opt.from.substr(1) : opt.from) +
                       "&To=" + std::string(opt.to[0] == '+' ? "%2B" + opt.to.substr(1) : opt.to) +
                       "&CallStatus=ringing&Direction=inbound&ApiVersion=2010-04-01";
    std::string url = opt.server_url + opt.webhook_path + (opt.webhook_query.empty() ? "" : "?" + opt.webhook_query);
    net::Headers headers;
    headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    if (!opt.auth_token.empty())
      headers.emplace_back("X-Twilio-Signature", twilio::compute_signature(opt.auth_token, url, net::parse_form(form)));
    auto res = co_await net::http_request("POST", url, std::move(headers), form);
    if (res.status == 503) r.refused = true;
    if (res.status != 200) throw std::runtime_error("webhook answered HTTP " + std::to_string(res.status) + ": " + res.body);
    twiml = res.body;
    }
    if (!parse_stream_twiml(twiml, r.stream_url, r.stream_parameters))
      throw std::runtime_error("TwiML has no <Stream>: " + twiml);

    // 2. The media socket: connected, start, then 20 ms frames.
    net::Headers ws_headers;
    if (!opt.auth_token.empty())  // Twilio signs the Stream url attribute exactly as given
      ws_headers.emplace_back("X-Twilio-Signature", twilio::compute_signature(opt.auth_token, r.stream_url, {}));
    st->ws = co_await net::WsClient::connect(r.stream_url, std::move(ws_headers));
    twilio::write_connected(st->out);
    st->ws->send_copy(st->out);
    twilio::Start start;
    start.stream_sid = st->stream_sid;
    start.account_sid = st->account_sid;
    start.call_sid = r.call_sid;
    start.tracks = {"inbound"};
    start.custom_parameters = r.stream_parameters;
    twilio::write_start(st->out, start, st->seq++);
    st->ws->send_copy(st->out);
    if (opt.on_started) opt.on_started(st->stream_sid);

    auto exec = co_await asio::this_coro::executor;
    vox::spawn(exec, read_loop(st), "simulated caller");
    asio::steady_timer timer(exec);
    // One 20 ms step, whichever clock drives it: false once the call is over.
    auto step = [&](double late_ms) -> bool {
      if (st->reader_done || (opt.hangup && opt.hangup->load())) return false;
      if (late_ms > 20) ++r.late_frames;
      r.max_lateness_ms = std::max(r.max_lateness_ms, late_ms);
      st->tick();
      if (ms_since(started) > opt.max_call_ms) {
        r.error = "call exceeded " + std::to_string(opt.max_call_ms) + " ms";
        return false;
      }
      return st->phase != Phase::kDone;
    };
    if (opt.ticker) {
      // The shared ticker runs the steps; this coroutine waits for the last one.
      asio::steady_timer finished(exec, Clock::time_point::max());
      bool done = false;
      opt.ticker->add([&](double late_ms) {
        if (done) return false;
        if (step(late_ms)) return true;
        done = true;
        finished.cancel();
        return false;
      });
      while (!done) co_await finished.async_wait(kTuple);
    } else {
      for (auto next = Clock::now();;) {
        next += std::chrono::milliseconds(20);
        timer.expires_at(next);
        co_await timer.async_wait(kTuple);
        if (!step(std::chrono::duration<double, std::milli>(Clock::now() - next).count())) break;
      }
    }
    st->close_segment(false);
    if (!st->reader_done && opt.hang_up) {
      twilio::write_stop(st->out, st->stream_sid, st->seq++, st->account_sid, r.call_sid);
      st->stop_sent = true;
      st->ws->send_copy(st->out);
      st->ws->close();
    }
    // Wait (bounded) for the server to finish the close handshake.
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!st->reader_done && Clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(kTuple);
    }
    if (!st->reader_done) st->ws->abort();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  r.duration_ms = ms_since(started);
  r.lines_started = st->next_line;
  if (r.error.empty() && r.server_closed && r.close_code == 1013) {
    r.refused = true;
    r.error = "refused: the server closed the stream with 1013 (try again later)";
  }
  r.ok = r.error.empty();
  co_return std::move(r);
}

// Returns `ulaw` without leading and trailing silence beyond `keep_ms` (long silent
// edges cost pocketsphinx accuracy).
static std::vector<std::uint8_t> trim_silence(const std::vector<std::uint8_t>& ulaw, int keep_ms = 100) {
  auto [b, e] = sound_bounds(ulaw);
  const std::size_t keep = static_cast<std::size_t>(keep_ms) * 8;
  b = b > keep ? b - keep : 0;
  e = std::min(ulaw.size(), e + keep);
  return std::vector<std::uint8_t>(ulaw.begin() + static_cast<std::ptrdiff_t>(b), ulaw.begin() + static_cast<std::ptrdiff_t>(e));
}

void transcribe(std::vector<CallerResult>& results, speech::PocketsphinxStt& stt) {
  std::vector<std::pair<HeardSegment*, std::future<speech::SttResult>>> jobs;
  for (auto& r : results) {
    for (auto& seg : r.heard) {
      auto p = std::make_shared<std::promise<speech::SttResult>>();
      jobs.emplace_back(&seg, p->get_future());
      stt.transcribe(speech::SttRequest{trim_silence(seg.ulaw), {}},
                     [p](speech::SttResult res) { p->set_value(std::move(res)); });
    }
  }
  for (auto& [seg, fut] : jobs) {
    auto res = fut.get();
    seg->transcript = res.ok ? res.text : "";
  }
}

std::vector<CallerResult> run_callers(const CallerOptions& options, int calls, CallerEngines engines, int threads) {
  asio::io_context ioc;
  std::vector<CallerResult> results(static_cast<std::size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    asio::co_spawn(asio::make_strand(ioc), run_caller(options, engines),
                   [&results, i](std::exception_ptr e, CallerResult r) {
                     if (e) r.error = "caller crashed";
                     results[static_cast<std::size_t>(i)] = std::move(r);
                   });
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return results;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const std::size_t idx = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
  return values[idx];
}

}  // namespace vox::sim
