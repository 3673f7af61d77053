// The Twilio emulator's phone network: a call between two apps, each leg with its own
// TwiML and media stream, bridged in real time.
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

asio::awaitable<void> TwilioEmulator::Impl::tick_bridge(std::shared_ptr<Bridge> b) {
  auto exec = co_await asio::this_coro::executor;
  asio::steady_timer timer(exec);
  auto next = std::chrono::steady_clock::now();
  std::array<std::uint8_t, 160> frame[2];
  bool sound[2];
  while (!b->side[0]->finished || !b->side[1]->finished) {
    next += std::chrono::milliseconds(20);
    timer.expires_at(next);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    for (int i = 0; i < 2; ++i) {
      auto& s = *b->side[i];
      if (s.stream && !s.stream->closed()) {
        sound[i] = s.stream->play(frame[i]);
      } else {
        const auto n = std::min<std::size_t>(160, s.say.size());
        frame[i].fill(audio::kUlawSilence);
        std::copy_n(s.say.begin(), n, frame[i].begin());
        s.say.erase(s.say.begin(), s.say.begin() + static_cast<std::ptrdiff_t>(n));
        sound[i] = n > 0;
      }
    }
    for (int i = 0; i < 2; ++i) {
      auto& s = *b->side[i];
      auto& peer = *b->side[1 - i];
      if (s.stream) s.stream->send_frame(frame[1 - i], frame[i]);
      for (auto& [leg, index] : s.forks) leg->send_frame(frame[1 - i], frame[i]);
      if (!peer.dtmf_out.empty()) {
        const char d = peer.dtmf_out.front();
        peer.dtmf_out.erase(0, 1);
        if (s.stream) s.stream->send_dtmf(d);
        std::lock_guard lock(mu);
        s.call->digits_heard += d;
      }
      // What this side hears, cut into segments at 500 ms without sound.
      if (sound[1 - i]) {
        s.in_segment = true;
        s.quiet_frames = 0;
      }
      if (s.in_segment) {
        s.segment.ulaw.insert(s.segment.ulaw.end(), frame[1 - i].begin(), frame[1 - i].end());
        if (!sound[1 - i] && ++s.quiet_frames >= 25) {
          s.segment.ulaw.resize(s.segment.ulaw.size() - 24 * 160);
          s.heard.push_back(std::move(s.segment));
          s.segment = HeardSegment{};
          s.in_segment = false;
        }
      }
    }
  }
  for (auto& s : b->side)
    if (s->in_segment && !s->segment.ulaw.empty()) s->heard.push_back(std::move(s->segment));
  b->ticker_done = true;
}

asio::awaitable<void> TwilioEmulator::Impl::run_side(std::shared_ptr<Bridge> b, int i, std::string doc) {
  auto side = b->side[i];
  std::string error;
  co_await run_twiml(side, std::move(doc), error);
  side->finished = true;
  // One side hanging up ends the other.
  auto& peer = *b->side[1 - i];
  {
    std::lock_guard lock(mu);
    peer.call->completing = true;
  }
  peer.call->hangup->store(true);
  {
    std::lock_guard lock(mu);
    if (side->call->error.empty()) side->call->error = error;
  }
}

asio::awaitable<void> TwilioEmulator::Impl::run_bridged(std::shared_ptr<Bridge> b) {
  auto caller = b->side[0]->call;
  auto callee = b->side[1]->call;
  if (!co_await ring(caller)) co_return;
  std::string error;
  const auto callee_twiml = co_await fetch_twiml(callee, callee->url, "POST", "ringing", error);
  const bool rejected = callee_twiml.empty() || callee_twiml.find("<Reject") != std::string::npos;
  {
    std::lock_guard lock(mu);
    callee->fetched_twiml = callee_twiml;
    if (rejected) {
      set_status(*callee, "failed");
      set_status(*caller, "failed");
      caller->error = callee->error = error.empty() ? "the called app rejected the call" : error;
    } else {
      set_status(*callee, "in-progress");
      callee->start_time = rfc2822_now();
      callee->answered_at = std::chrono::steady_clock::now();
    }
  }
  if (rejected) {
    spdlog::warn("twilio emulator call {}: the called number's app did not answer: {}", caller->sid, caller->error);
    co_await callback(caller, "failed", "completed");
    co_return;
  }
  if (!co_await answer(caller)) co_return;
  std::string caller_twiml = caller->twiml;
  if (caller_twiml.empty()) caller_twiml = co_await fetch_twiml(caller, caller->url, caller->method, "in-progress", error);
  {
    std::lock_guard lock(mu);
    caller->fetched_twiml = caller_twiml;
  }
  auto self = shared_from_this();
  vox::spawn(b->strand, tick_bridge(b), "Twilio emulator");
  vox::spawn(b->strand, run_side(b, 1, callee_twiml), "Twilio emulator");
  if (!error.empty()) {
    std::lock_guard lock(mu);
    caller->error = error;
    b->side[0]->finished = true;
    callee->completing = true;
    callee->hangup->store(true);
  } else {
    co_await run_side(b, 0, caller_twiml);
  }
  while (!b->side[1]->finished) co_await sleep_ms(20);
  for (int i = 0; i < 2; ++i) {
    auto& s = *b->side[i];
    std::string err;
    {
      std::lock_guard lock(mu);
      err = s.call->error;
    }
    complete(*s.call, err);
  }
  while (!b->ticker_done) co_await sleep_ms(20);  // its last round closes the segments being heard
  for (int i = 0; i < 2; ++i) transcribe(b->side[i]->call, std::move(b->side[i]->heard));
  co_await callback(caller, "completed", "completed");
}

}  // namespace vox::sim
