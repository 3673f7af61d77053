// The Twilio emulator's TwiML runner (Say, Play, Pause, Connect/Stream, Start/Stop
// Stream, Redirect, Dial, Hangup, Reject) and its media streams and forks.
#include "sim/twilio_emulator_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <deque>
#include <optional>
#include <ctime>
#include <map>
#include <mutex>

#include "core/spawn.hpp"
#include "core/time.hpp"
#include "core/base64.hpp"
#include "net/client.hpp"
#include "audio/g711.hpp"
#include "audio/mp3.hpp"
#include "audio/resampler.hpp"
#include "audio/wav.hpp"
#include "sim/caller.hpp"
#include "sim/sid.hpp"
#include "sim/stream_leg.hpp"
#include "sim/twiml_reader.hpp"
#include "speech/espeak_tts.hpp"
#include "speech/sphinx_stt.hpp"
#include "twilio/rest_client.hpp"
#include "twilio/signature.hpp"
#include "twilio/twiml.hpp"

namespace vox::sim {
using namespace twemu;

asio::awaitable<void> TwilioEmulator::Impl::stream_callback(std::shared_ptr<CallRecord> c, std::size_t index, std::string event,
                                      std::string stream_error) {
  std::string url, method, sid, name;
  {
    std::lock_guard lock(mu);
    const auto& s = c->streams.at(index).as_object();
    url = std::string(s.at("status_callback").as_string());
    method = std::string(s.at("status_callback_method").as_string());
    sid = std::string(s.at("sid").as_string());
    name = std::string(s.at("name").as_string());
  }
  if (url.empty()) co_return;
  twilio::FormParams p = {{"AccountSid", opt.account_sid}, {"CallSid", c->sid}, {"StreamSid", sid},
                          {"StreamName", name.empty() ? sid : name}, {"StreamEvent", event},
                          {"Timestamp", iso8601_now()}};
  if (!stream_error.empty()) p.emplace_back("StreamError", stream_error);
  int status = 0;
  std::string err;
  try {
    status = (co_await twilio_request(url, method, std::move(p), std::chrono::seconds(5))).status;
  } catch (const std::exception& e) {
    err = e.what();
  }
  std::lock_guard lock(mu);
  c->streams.at(index).as_object()["callbacks"].as_array().push_back(
      json::object{{"event", event}, {"response_status", status}, {"error", err}});
}

std::size_t TwilioEmulator::Impl::add_stream(CallRecord& c, const TwimlNode& stream, const std::string& kind, const std::string& sid) {
  std::lock_guard lock(mu);
  json::object params;
  for (const auto& p : stream.children)
    if (p.name == "Parameter") params[p.attr("name")] = p.attr("value");
  c.streams.push_back(json::object{{"sid", sid}, {"kind", kind}, {"url", stream.attr("url")},
                                   {"name", stream.attr("name")}, {"track", stream.attr("track", "inbound_track")},
                                   {"parameters", params}, {"status_callback", stream.attr("statusCallback")},
                                   {"status_callback_method", stream.attr("statusCallbackMethod", "POST")},
                                   {"callbacks", json::array{}}, {"error", ""}});
  ++c.streams_run;
  return c.streams.size() - 1;
}

void TwilioEmulator::Impl::record_stream_end(CallRecord& c, std::size_t index, const StreamLegStats& st, const std::string& error) {
  std::lock_guard lock(mu);
  auto& o = c.streams.at(index).as_object();
  o["frames_sent"] = st.frames_sent;
  o["bytes_received"] = st.bytes_received;
  o["marks_received"] = st.marks_received;
  o["marks_echoed"] = st.marks_echoed;
  o["clears"] = st.clears;
  o["dtmf_sent"] = st.dtmf_sent;
  o["protocol_errors"] = st.protocol_errors;
  o["close_code"] = st.close_code;
  if (!error.empty()) o["error"] = error;
}

StreamLegOptions TwilioEmulator::Impl::leg_options(const CallRecord& c, const TwimlNode& stream, bool bidirectional) const {
  StreamLegOptions lo;
  lo.url = stream.attr("url");
  lo.name = stream.attr("name");
  lo.auth_token = opt.auth_token;
  lo.account_sid = opt.account_sid;
  lo.call_sid = c.sid;
  lo.bidirectional = bidirectional;
  lo.track = stream.attr("track", "inbound_track");
  for (const auto& p : stream.children)
    if (p.name == "Parameter") lo.parameters[p.attr("name")] = p.attr("value");
  return lo;
}

asio::awaitable<std::shared_ptr<StreamLeg>> TwilioEmulator::Impl::open_leg(std::shared_ptr<CallRecord> c, const TwimlNode& stream,
                                                     bool bidirectional, std::size_t& index, std::string& err) {
  auto lo = leg_options(*c, stream, bidirectional);
  std::shared_ptr<StreamLeg> leg;
  try {
    leg = co_await StreamLeg::open(lo);
  } catch (const std::exception& e) {
    err = e.what();
  }
  index = add_stream(*c, stream, bidirectional ? "connect" : "start", leg ? leg->stream_sid() : "");
  if (!leg) {
    spdlog::warn("twilio emulator call {}: warning 31920 Stream - WebSocket - Handshake Error: {}", c->sid, err);
    record_stream_end(*c, index, {}, err);
    co_await stream_callback(c, index, "stream-error", err);
  }
  co_return leg;
}

asio::awaitable<void> TwilioEmulator::Impl::start_fork(std::shared_ptr<Side> side, const TwimlNode& stream) {
  auto c = side->call;
  std::size_t index = 0;
  std::string err;
  auto leg = co_await open_leg(c, stream, false, index, err);
  if (!leg) co_return;
  side->forks.emplace_back(leg, index);
  co_await stream_callback(c, index, "stream-started", "");
}

asio::awaitable<void> TwilioEmulator::Impl::stop_fork(std::shared_ptr<Side> side, std::size_t at) {
  auto [leg, index] = side->forks.at(at);
  side->forks.erase(side->forks.begin() + static_cast<std::ptrdiff_t>(at));
  leg->stop();
  record_stream_end(*side->call, index, leg->stats(), "");
  co_await stream_callback(side->call, index, "stream-stopped", "");
}

void TwilioEmulator::Impl::feed_forks(Side& side, std::span<const std::uint8_t, 160> said, std::span<const std::uint8_t, 160> heard) {
  for (auto& [leg, index] : side.forks) leg->send_frame(said, heard);
}

asio::awaitable<void> TwilioEmulator::Impl::play_audio(std::shared_ptr<Side> side, std::vector<std::uint8_t> ulaw, bool heard) {
  auto& c = *side->call;
  if (side->bridged) {
    side->say.insert(side->say.end(), ulaw.begin(), ulaw.end());
    while (!side->say.empty() && !interrupted(c)) co_await sleep_ms(20);
    side->say.clear();
    co_return;
  }
  auto exec = co_await asio::this_coro::executor;
  asio::steady_timer timer(exec);
  auto next = std::chrono::steady_clock::now();
  HeardSegment seg;
  std::array<std::uint8_t, 160> silence, frame;
  silence.fill(audio::kUlawSilence);
  for (std::size_t at = 0; at < ulaw.size() && !interrupted(c); at += 160) {
    frame.fill(audio::kUlawSilence);
    const auto n = std::min<std::size_t>(160, ulaw.size() - at);
    std::copy_n(ulaw.begin() + static_cast<std::ptrdiff_t>(at), n, frame.begin());
    feed_forks(*side, silence, frame);
    if (heard) seg.ulaw.insert(seg.ulaw.end(), frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
    next += std::chrono::milliseconds(20);
    timer.expires_at(next);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (heard && !seg.ulaw.empty()) side->heard.push_back(std::move(seg));
}

asio::awaitable<void> TwilioEmulator::Impl::connect_stream(std::shared_ptr<Side> side, const TwimlNode& stream, std::string& error) {
  auto c = side->call;
  if (!side->bridged) {
    // The scripted callee speaks Twilio's side of the stream itself.
    CallerOptions co;
    twilio::StreamTwiml st;
    st.url = stream.attr("url");
    for (const auto& p : stream.children)
      if (p.name == "Parameter") st.parameters.emplace_back(p.attr("name"), p.attr("value"));
    co.twiml = twilio::connect_stream(st);
    co.call_sid = c->sid;
    co.account_sid = opt.account_sid;
    co.from = c->from;
    co.to = c->to;
    std::size_t index = 0;
    {
      std::lock_guard lock(mu);
      const auto done = std::min(c->lines_done, opt.callee_lines.size());
      co.lines.assign(opt.callee_lines.begin() + static_cast<std::ptrdiff_t>(done), opt.callee_lines.end());
      // A stream resumed after a redirect greets nobody: the callee goes on sooner.
      if (c->streams_run > 0) co.greeting_wait_ms = 1500;
    }
    index = add_stream(*c, stream, "connect", "");
    co.voice = opt.voice;
    co.auth_token = opt.auth_token;
    co.hangup = c->hangup;
    co.hang_up = true;
    co.idle_after_ms = opt.callee_idle_ms;
    co.tap = [side](std::span<const std::uint8_t, 160> said, std::span<const std::uint8_t, 160> heard) {
      feed_forks(*side, said, heard);
    };
    auto self = shared_from_this();
    co.on_started = [self, c, index](const std::string& stream_sid) {
      {
        std::lock_guard lock(self->mu);
        c->streams.at(index).as_object()["sid"] = stream_sid;
      }
      vox::spawn(self->ioc, self->stream_callback(c, index, "stream-started", ""), "Twilio emulator");
    };
    auto result = co_await run_caller(co, CallerEngines{tts});
    {
      std::lock_guard lock(mu);
      c->lines_done += result.lines_started;
      auto& o = c->streams.at(index).as_object();
      o["marks_received"] = result.marks_received;
      o["marks_echoed"] = result.marks_echoed;
      o["clears"] = result.clears;
      o["bytes_received"] = result.media_bytes_received;
      if (!result.ok) o["error"] = result.error;
    }
    for (auto& h : result.heard) side->heard.push_back(std::move(h));
    const bool failed = !result.ok && !interrupted(*c);
    if (failed) error = result.error;
    // (Named, not ?: temporaries: GCC 12 frees those twice in a coroutine call.)
    std::string event = "stream-stopped", why;
    if (failed) {
      event = "stream-error";
      why = result.error;
    }
    co_await stream_callback(c, index, std::move(event), std::move(why));
    co_return;
  }
  std::size_t index = 0;
  std::string err;
  auto leg = co_await open_leg(c, stream, true, index, err);
  if (!leg) {
    error = "media stream handshake failed: " + err;
    co_return;
  }
  side->stream = leg;
  co_await stream_callback(c, index, "stream-started", "");
  while (!leg->closed() && !interrupted(*c)) co_await sleep_ms(20);
  leg->stop();
  side->stream.reset();
  record_stream_end(*c, index, leg->stats(), "");
  co_await stream_callback(c, index, "stream-stopped", "");
}

asio::awaitable<void> TwilioEmulator::Impl::run_twiml(std::shared_ptr<Side> side, std::string doc, std::string& error) {
  auto c = side->call;
  for (int documents = 0; !doc.empty() && documents < 50; ++documents) {
    const auto parsed = parse_twiml(doc);
    doc.clear();
    if (!parsed.root) {
      error = "12100 Document parse failure: " + parsed.error;
      break;
    }
    bool end = false;
    for (const auto& verb : parsed.root->children) {
      if (interrupted(*c)) break;
      const std::string& name = verb.name;
      if (name == "Say") {
        note_verb(*c, name, verb.text);
        auto ulaw = tts.synthesize_blocking(verb.text, opt.voice);
        const int loops = std::max(1, std::atoi(verb.attr("loop", "1").c_str()));
        for (int i = 0; i < loops && !interrupted(*c); ++i) co_await play_audio(side, ulaw, true);
      } else if (name == "Play" && !verb.attr("digits").empty()) {
        const auto digits = verb.attr("digits");
        note_verb(*c, name, "digits=" + digits);
        {
          std::lock_guard lock(mu);
          c->digits_played += digits;
        }
        if (side->bridged) {
          for (char d : digits)
            if (d != 'w' && d != 'W') side->dtmf_out += d;
          while (!side->dtmf_out.empty() && !interrupted(*c)) co_await sleep_ms(20);
        } else {
          // The callee hears the tones: ~100 ms each, 500 ms per 'w'.
          std::size_t ms = 0;
          for (char d : digits) ms += (d == 'w' || d == 'W') ? 500 : 100;
          co_await play_audio(side, std::vector<std::uint8_t>(ms * 8, audio::kUlawSilence), false);
        }
      } else if (name == "Play") {
        note_verb(*c, name, verb.text);
        std::optional<std::vector<std::uint8_t>> ulaw;
        std::string why;
        try {
          auto res = co_await net::http_request("GET", verb.text, {}, "", std::chrono::seconds(10));
          if (res.status != 200) why = "answered " + std::to_string(res.status);
          else if (!(ulaw = decode_play_audio(res.body, res.content_type))) why = "is not WAV, μ-law or MP3 audio";
        } catch (const std::exception& e) {
          why = e.what();
        }
        if (!ulaw) {
          spdlog::warn("twilio emulator call {}: warning 13227 <Play> {}: {}", c->sid, verb.text, why);
          continue;
        }
        const int loops = std::max(1, std::atoi(verb.attr("loop", "1").c_str()));
        for (int i = 0; i < loops && !interrupted(*c); ++i) co_await play_audio(side, *ulaw, true);
      } else if (name == "Pause") {
        const int seconds = std::max(0, std::atoi(verb.attr("length", "1").c_str()));
        note_verb(*c, name, std::to_string(seconds));
        co_await play_audio(side, std::vector<std::uint8_t>(static_cast<std::size_t>(seconds) * 8000, audio::kUlawSilence),
                            false);
      } else if (name == "Hangup" || name == "Reject") {
        note_verb(*c, name, "");
        end = true;
        break;
      } else if (name == "Redirect") {
        note_verb(*c, name, verb.text);
        doc = co_await fetch_twiml(c, verb.text, verb.attr("method", "POST"), "in-progress", error);
        break;
      } else if (name == "Dial") {
        // The dialed party is assumed to answer and hang up; our part of the call ends.
        std::string target = verb.text;
        for (const auto& ch : verb.children)
          if (ch.name == "Number" || ch.name == "Sip" || ch.name == "Client") target = ch.text;
        note_verb(*c, name, target);
        {
          std::lock_guard lock(mu);
          c->dialed = target.empty() ? "?" : target;
        }
        end = true;
        break;
      } else if (name == "Connect") {
        const auto* stream = verb.child("Stream");
        if (!stream) {
          note_verb(*c, name, "");
          spdlog::warn("twilio emulator call {}: <Connect> without <Stream> is not emulated", c->sid);
          continue;
        }
        note_verb(*c, "Connect", stream->attr("url"));
        co_await connect_stream(side, *stream, error);
        if (!error.empty()) {
          end = true;
          break;
        }
        if (!interrupted(*c) && !verb.attr("action").empty()) {
          doc = co_await fetch_twiml(c, verb.attr("action"), verb.attr("method", "POST"), "in-progress", error);
          break;
        }
      } else if (name == "Start") {
        if (const auto* stream = verb.child("Stream")) {
          note_verb(*c, "Start", stream->attr("url"));
          co_await start_fork(side, *stream);
        }
      } else if (name == "Stop") {
        if (const auto* stream = verb.child("Stream")) {
          note_verb(*c, "Stop", stream->attr("name"));
          for (std::size_t i = 0; i < side->forks.size(); ++i)
            if (side->forks[i].first->options().name == stream->attr("name")) {
              co_await stop_fork(side, i);
              break;
            }
        }
      } else {
        note_verb(*c, name, "");
        spdlog::warn("twilio emulator call {}: warning 12200 Schema validation warning: <{}> is not emulated", c->sid,
                     name);
      }
    }
    // A live update replaces whatever was left of the document.
    std::string pending_twiml, pending_url;
    {
      std::lock_guard lock(mu);
      if (!c->completing && (!c->pending_twiml.empty() || !c->pending_url.empty())) {
        pending_twiml = std::move(c->pending_twiml);
        pending_url = std::move(c->pending_url);
        c->pending_twiml.clear();
        c->pending_url.clear();
        c->hangup->store(false);
        error.clear();  // the stream ended because it was redirected
      }
    }
    if (!pending_twiml.empty()) doc = pending_twiml;
    else if (!pending_url.empty()) doc = co_await fetch_twiml(c, pending_url, "POST", "in-progress", error);
    else if (end) break;
  }
  while (!side->forks.empty()) co_await stop_fork(side, side->forks.size() - 1);
}

}  // namespace vox::sim
