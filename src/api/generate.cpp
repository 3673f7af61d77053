#include "api/generate.hpp"
#include "core/json_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "api/control_codec.hpp"
#include "api/routes.hpp"
#include "cluster/forward.hpp"
#include "net/load_monitor.hpp"
#include "net/strand_wait.hpp"
#include "call/session.hpp"
#include "call/turns.hpp"
#include "core/hash.hpp"

namespace vox::api {
using net::run_on;
using net::Wakeup;
namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::optional<bool> parse_bool(std::string_view s) {
  std::string v(s);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return std::nullopt;
}

namespace {

// Seconds as a float ("2", "0.5", "1e1"), within [0, max].
std::chrono::milliseconds parse_seconds(std::string_view name, std::string_view s, std::chrono::seconds max) {
  double v = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || p != end || !std::isfinite(v) || v < 0 ||
      v > static_cast<double>(max.count()))
    throw ApiError(400, std::string(name) + " must be a number of seconds between 0 and " + std::to_string(max.count()) +
                            " (got '" + std::string(s.substr(0, 40)) + "')");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(v * 1000)));
}

}  // namespace

GenerateQuery parse_generate_query(std::string_view query, std::size_t max_input_chars) {
  const auto form = net::parse_form(query);
  auto one = [&form](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> v;
    for (const auto& [k, val] : form)
      if (k == name) {
        if (v) throw ApiError(400, "query parameter '" + std::string(name) + "' is given twice");
        v = val;
      }
    return v;
  };
  GenerateQuery q;
  auto client = one("client");
  if (!client) throw ApiError(400, "missing query parameter 'client' (any value; the interface requires it)");
  q.client = *client;
  auto sid = one("sid");
  if (!sid || sid->empty()) throw ApiError(400, "missing query parameter 'sid': the CallSid of the call to drive");
  if (sid->size() > 64) throw ApiError(400, "sid is too long (a CallSid has 34 characters)");
  q.sid = *sid;
  if (auto f = one("first")) {
    auto b = parse_bool(*f);
    if (!b) throw ApiError(400, "first must be true or false (got '" + f->substr(0, 40) + "')");
    q.first = *b;
  }
  if (auto t = one("timeout")) q.timeout = parse_seconds("timeout", *t, kMaxGenerateTimeout);
  if (auto i = one("input")) {
    if (!i->empty()) check_text(*i, max_input_chars, "input");
    q.input = *i;
  }
  if (auto t = one("talk_timeout")) q.talk_timeout = parse_seconds("talk_timeout", *t, std::chrono::seconds(86400));
  if (q.first && !q.input.empty())
    throw ApiError(400, "first=true waits for the other side to speak first; send input in the next request");
  return q;
}

namespace {

net::HttpResponse no_content() { return net::HttpResponse::text(204, "", "text/plain"); }

net::HttpResponse not_arrived(const GenerateQuery& q) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(q.timeout.count()) / 1000.0);
  return net::HttpResponse::error(404, "Unknown call sid " + q.sid + ": the call did not reach this server within " +
                                           secs + " s (is the call's webhook URL this server's /twilio-voice?)");
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

net::HttpResponse ended_response(const call::TurnChannel::Ended& e, const std::vector<std::string>& skipped) {
  json::object o;
  o["response"] = "call ended: " + std::string(call::describe(e.reason));
  o["ended"] = true;
  o["reason"] = call::to_string(e.reason);
  o["detail"] = e.detail;
  if (!skipped.empty()) o["skipped"] = json::value_from(skipped);
  return net::HttpResponse::json(200, vox::json_text(o));
}

// The call is over: its last words (never lost) are listed as skipped.
net::HttpResponse ended_now(call::TurnChannel& ch, const call::TurnChannel::Ended& e) {
  std::vector<std::string> skipped;
  ch.take_heard(UINT64_MAX, skipped);
  return ended_response(e, skipped);
}

// Unregisters the waiter and frees the call for the next /generate, however the turn ends.
struct TurnLease {
  TurnLease(call::TurnHub& h, std::shared_ptr<call::TurnChannel> c, int w) : hub(h), ch(std::move(c)), watch(w) {}
  ~TurnLease() {
    ch->unwatch(watch);
    ch->release();
    hub.abandon(ch);
  }
  TurnLease(const TurnLease&) = delete;
  TurnLease& operator=(const TurnLease&) = delete;
  call::TurnHub& hub;
  std::shared_ptr<call::TurnChannel> ch;
  int watch;
};

asio::awaitable<net::HttpResponse> run_turn(call::TurnHub& turns, GenerateQuery q) {
  const auto started = Clock::now();
  auto here = co_await asio::this_coro::executor;
  // first=true and input wait for a call that has not reached us yet (a call placed a
  // moment ago is still ringing); a bare wait on an unknown sid is a mistake.
  const bool may_arrive = q.first || !q.input.empty();
  auto ch = may_arrive ? turns.expect(q.sid) : turns.find(q.sid);
  if (!ch) {
    if (may_arrive) co_return net::HttpResponse::error(503, "Too many calls followed by the turn API; try again later");
    co_return net::HttpResponse::error(404, "Unknown call sid " + q.sid +
                                                ": no call with this CallSid has reached this server (first=true "
                                                "waits for it to arrive)");
  }
  if (!ch->claim())
    co_return net::HttpResponse::error(409, "Another /generate is already waiting on call " + q.sid +
                                                "; send one request per call at a time");
  auto wake = std::make_shared<Wakeup>(here);
  TurnLease lease(turns, ch, ch->watch([wake] { wake->notify(); }));
  auto deadline = started + q.timeout;

  // first=true: the caller speaks first; a caller waiting for a greeting is told so now
  // (or when the stream starts).
  if (q.first) {
    ch->set_caller_first();
    if (auto s = ch->session()) {
      auto done = run_on(s->executor(), here, [s] {
        s->invite_caller();
        return true;
      });
      co_await done->get();
    }
  }
  // The talk timeout applies to the call from now on (or from when its stream starts).
  if (q.talk_timeout) {
    ch->set_pending_talk_timeout(*q.talk_timeout);
    if (auto s = ch->session()) {
      const auto t = *q.talk_timeout;
      auto done = run_on(s->executor(), here, [s, t] {
        s->set_talk_timeout(t);
        return true;
      });
      co_await done->get();
    }
  }

  std::uint64_t from_seq = 0;
  auto wait_start = started;
  double playback_ms = -1;
  if (!q.input.empty()) {
    // Our words go in once the call's stream is up.
    std::shared_ptr<call::CallSession> session;
    for (;;) {
      session = ch->session();
      if (session) break;
      if (auto e = ch->ended()) co_return ended_now(*ch, *e);
      if (Clock::now() >= deadline) {
        if (ch->pending()) co_return not_arrived(q);
        co_return no_content();
      }
      co_await wake->wait_until(deadline);
    }
    std::string text = q.input;
    auto said = run_on(session->executor(), here, [session, text]() mutable { return session->say(std::move(text)); });
    const std::uint64_t reply_id = co_await said->get();
    spdlog::info("turn API: playing input call_sid={} reply={} chars={}", q.sid, reply_id, q.input.size());
    // ... and the reply is waited for once Twilio has played them.
    const auto playback_deadline = Clock::now() + kMaxPlaybackWait;
    std::optional<call::TurnChannel::Playback> played;
    for (;;) {
      played = ch->playback(reply_id);
      if (played) break;
      if (auto e = ch->ended()) co_return ended_now(*ch, *e);
      if (!ch->live())
        co_return net::HttpResponse::error(409, "The call's stream ended before the input finished playing (keys are "
                                                "being pressed and the call is moving to a new stream); send it again");
      if (Clock::now() >= playback_deadline)
        co_return net::HttpResponse::error(504, "Our input did not finish playing within " +
                                                    std::to_string(kMaxPlaybackWait.count()) + " s");
      co_await wake->wait_until(playback_deadline);
    }
    if (played->failed)
      co_return net::HttpResponse::error(502, "Speech synthesis of the input failed: " + played->error +
                                                  " (the call goes on; try again)");
    from_seq = played->heard_before;
    wait_start = played->finished;
    playback_ms = ms_between(started, played->finished);
    deadline = played->finished + q.timeout;
  }

  for (;;) {
    if (ch->has_heard(from_seq)) {
      std::vector<std::string> skipped;
      auto heard = ch->take_heard(from_seq, skipped);
      std::string text;
      for (const auto& h : heard) {
        if (!text.empty()) text += ' ';
        text += h.text;
      }
      json::object o;
      o["response"] = text;
      const auto latency_ms = static_cast<std::int64_t>(std::max(0.0, std::round(ms_between(wait_start, heard.front().onset))));
      o["latency_ms"] = latency_ms;
      o["wait_ms"] = static_cast<std::int64_t>(std::round(ms_between(started, Clock::now())));
      if (playback_ms >= 0) o["playback_ms"] = static_cast<std::int64_t>(std::round(playback_ms));
      if (!skipped.empty()) o["skipped"] = json::value_from(skipped);
      spdlog::info("turn API: call_sid={} heard=\"{}\" latency_ms={}", q.sid, text, latency_ms);
      co_return net::HttpResponse::json(200, vox::json_text(o));
    }
    if (auto e = ch->ended()) co_return ended_now(*ch, *e);
    if (Clock::now() >= deadline) {
      if (ch->pending()) co_return not_arrived(q);
      co_return no_content();
    }
    co_await wake->wait_until(deadline);
  }
}

// The answer to a turn relayed to an instance that then stopped answering: as for a call
// that ended (its instance was lost; the cluster ends its calls within the TTL).
net::HttpResponse owner_lost_response(const cluster::Owner& owner) {
  json::object o;
  o["response"] = "call ended: the instance holding the call stopped answering";
  o["ended"] = true;
  o["reason"] = "instance_lost";
  o["detail"] = "instance " + owner.instance_id + " did not answer";
  return net::HttpResponse::json(200, vox::json_text(o));
}

// `req` with its `timeout` parameter set to `left` (what remains of the turn's wait).
net::HttpRequest with_timeout(const net::HttpRequest& req, std::chrono::milliseconds left) {
  net::HttpRequest out = req;
  std::string query;
  for (const auto& [k, v] : net::parse_form(req.query)) {
    if (k == "timeout") continue;
    query += (query.empty() ? "" : "&") + net::url_encode(k) + "=" + net::url_encode(v);
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", static_cast<double>(left.count()) / 1000.0);
  query += (query.empty() ? "timeout=" : "&timeout=") + std::string(secs);
  out.query = query;
  out.target = req.path + "?" + query;
  return out;
}

// A turn on a call another instance holds goes there. A first turn (or input) on a call
// that has reached no instance yet waits for it to reach one, up to the turn's timeout.
// nullopt: this instance runs the turn (`q.timeout` shortened by the wait).
asio::awaitable<std::optional<net::HttpResponse>> relay_turn(cluster::Forwarder& fwd, const net::HttpRequest& req,
                                                             GenerateQuery& q) {
  if (cluster::was_forwarded(req) || fwd.cluster().holds(q.sid)) co_return std::nullopt;
  const bool may_arrive = q.first || !q.input.empty();
  const auto started = Clock::now();
  const auto deadline = started + q.timeout;
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (;;) {
    const cluster::Owner owner = co_await fwd.cluster().owner_of(q.sid);
    if (owner.kind == cluster::Owner::Kind::kUnreachable) co_return cluster::redis_unreachable_response(owner.detail);
    if (owner.kind == cluster::Owner::Kind::kElsewhere) {
      // The owner waits up to what is left of the turn's timeout (and its input's playback).
      const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                                 std::chrono::milliseconds(0));
      net::HttpRequest out = with_timeout(req, left);
      const std::chrono::milliseconds limit = left + (q.input.empty() ? std::chrono::seconds(5) : kMaxPlaybackWait);
      bool lost = false;
      net::HttpResponse r = co_await fwd.send(out, owner, limit, &lost);
      if (lost) co_return owner_lost_response(owner);
      co_return r;
    }
    if (owner.kind == cluster::Owner::Kind::kHere || !may_arrive) break;
    if (fwd.cluster().holds(q.sid) || Clock::now() >= deadline) break;
    poll.expires_after(std::chrono::milliseconds(100));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  q.timeout = std::max(left, std::chrono::milliseconds(0));
  co_return std::nullopt;
}

asio::awaitable<net::HttpResponse> handle_generate(const ApiSettings& config, call::TurnHub& turns, net::LoadMonitor* load,
                                                   cluster::Forwarder* fwd, net::HttpRequest req) {
  if (config.generate_api_key.empty())
    co_return net::HttpResponse::error(503, "The turn API is not configured: set API_KEY (or --generate-api-key) on the "
                                            "server and send it as the X-API-KEY header");
  if (!constant_time_equal(req.header("X-API-KEY"), config.generate_api_key))
    co_return net::HttpResponse::error(403, "Invalid or missing X-API-KEY (it must equal the server's API_KEY)");
  std::optional<net::HttpResponse> bad;
  GenerateQuery q;
  try {
    q = parse_generate_query(req.query, config.max_text_chars);
  } catch (const ApiError& e) {
    bad = net::HttpResponse::error(e.status, e.what());
  }
  if (bad) co_return std::move(*bad);
  if (q.first && load && !load->admit(net::ShedKind::generate)) co_return overloaded_response(*load, "turn refused");
  if (fwd) {
    auto relayed = co_await relay_turn(*fwd, req, q);
    if (relayed) co_return std::move(*relayed);
  }
  co_return co_await run_turn(turns, std::move(q));
}

}  // namespace

void add_generate_route(net::Router& router, const ApiSettings& config, call::TurnHub& turns, net::LoadMonitor* load,
                        cluster::Forwarder* forwarder) {
  const ApiSettings* cfg = &config;
  call::TurnHub* hub = &turns;
  router.add("GET", "/generate", [cfg, hub, load, forwarder](const net::HttpRequest& req) -> asio::awaitable<net::HttpResponse> {
    return handle_generate(*cfg, *hub, load, forwarder, req);
  });
}

}  // namespace vox::api
