// The control API's history routes: the calls of the store, newest first, and one
// call's transcript, latency by stage and events.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>

#include "api/control_common.hpp"
#include "cluster/forward.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"
#include "core/blocking.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {
// A time filter: an ISO-8601 date or date-time ("2026-12-07", "2026-12-07T10:00:00Z").
std::string time_query(const net::HttpRequest& req, std::string_view key) {
  std::string v = query_value(req, key);
  if (v.empty()) return v;
  const bool shaped = v.size() >= 10 && v.size() <= 30 && std::isdigit(static_cast<unsigned char>(v[0])) && v[4] == '-' &&
                      v[7] == '-' && v.find_first_not_of("0123456789-T:.Z") == std::string::npos;
  if (!shaped)
    throw ApiError(422, std::string(key) + " must be an ISO-8601 date or date-time in UTC, e.g. 2026-12-07 or "
                                           "2026-12-07T10:00:00Z");
  return v;
}

// UTC "YYYY-MM-DDTHH:MM" of `t`.
std::string minute_of(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M", &tm);
  return buf;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

json::object summary_json(const store::StoredCall& c) {
  return json::object{{"call_sid", c.call_sid},   {"status", c.status},       {"direction", c.direction},
                      {"to", c.to},               {"from_", c.from},          {"agent_id", c.agent_id},
                      {"voice_id", c.voice_id},   {"created_at", c.created_at}, {"ended_at", null_or(c.ended_at)}};
}
}  // namespace

void add_history_routes(net::Router& router, const ControlServices& svc) {
  const std::string base(kBase);

  router.add("GET", base + "/calls", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    store::CallQuery q;
    if (!who.open) q.tenant = who.tenant;
    q.status = query_value(req, "status");
    q.agent_id = query_value(req, "agent_id");
    q.direction = query_value(req, "direction");
    q.since = time_query(req, "since");
    q.until = time_query(req, "until");
    q.text = query_value(req, "q");
    if (q.text.size() > 200) throw ApiError(422, "q (text to find in transcripts) must be at most 200 characters");
    q.limit = int_query(req, "limit", 50, 1, 500);
    q.offset = int_query(req, "offset", 0, 0, 100000000);
    co_await svc.store.flush();
    const auto page = co_await svc.store.calls(q);
    json::array calls;
    for (const auto& c : page.calls) calls.push_back(summary_json(c));
    co_return json_response(200, json::object{{"calls", calls}, {"limit", q.limit}, {"offset", q.offset}, {"has_more", page.has_more}});
  }));

  router.add("GET", base + "/calls/{call_sid}/transcript", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    co_await find_call(svc, sid, who);
    json::array turns;
    const auto stored = co_await svc.store.transcript(sid);
    for (const auto& t : stored) {
      turns.push_back(json::object{{"index", t.index},
                                   {"speaker", t.speaker},
                                   {"text", t.text},
                                   {"start_ms", t.start_ms},
                                   {"end_ms", t.end_ms},
                                   {"heard", null_or_value(t.heard)},
                                   {"interrupted", t.interrupted},
                                   {"at", t.at}});
    }
    co_return json_response(200, json::object{{"call_sid", sid}, {"turns", turns}});
  }));

  router.add("GET", base + "/calls/{call_sid}/latency", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    co_await find_call(svc, sid, who);
    json::array turns;
    // Whole milliseconds (null: not reached); the gateway's own share in microseconds.
    auto ms = [](double v) { return v < 0 ? json::value(nullptr) : json::value(static_cast<std::int64_t>(std::llround(v))); };
    auto us = [](double v) { return v < 0 ? json::value(nullptr) : json::value(static_cast<std::int64_t>(std::llround(v * 1000))); };
    const auto stored = co_await svc.store.latencies(sid);
    for (const auto& l : stored) {
      turns.push_back(json::object{{"turn", l.turn},
                                   {"endpoint_ms", ms(l.endpoint_ms)},
                                   {"transcript_ms", ms(l.transcript_ms)},
                                   {"agent_ms", ms(l.agent_ms)},
                                   {"tts_first_byte_ms", ms(l.tts_first_byte_ms)},
                                   {"gateway_us", us(l.gateway_ms)},
                                   {"response_ms", ms(l.response_ms)},
                                   {"heard_ms", ms(l.heard_ms)},
                                   {"llm_first_token_ms", ms(l.llm_first_token_ms)},
                                   {"llm_first_piece_ms", ms(l.llm_first_piece_ms)},
                                   {"at", l.at}});
    }
    co_return json_response(200, json::object{{"call_sid", sid}, {"turns", turns}});
  }));

  router.add("GET", base + "/calls/{call_sid}/events", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    co_await find_call(svc, sid, who);
    json::array events;
    const auto stored = co_await svc.store.events(sid);
    for (const auto& e : stored)
      events.push_back(json::object{{"at", e.at}, {"kind", e.kind}, {"detail", e.detail}});
    co_return json_response(200, json::object{{"call_sid", sid}, {"events", events}});
  }));

  // A call's recording (--recording-dir), as WAV: the caller on the left, the agent on the right.
  router.add("GET", base + "/calls/{call_sid}/recording", route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    const std::string sid(req.param("call_sid"));
    co_await find_call(svc, sid, who);
    const bool plain = !sid.empty() && sid.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos;
    if (svc.recording_dir.empty() || !plain) throw ApiError(404, "No recording of this call (recording is off: set --recording-dir)");
    const std::string path = svc.recording_dir + "/" + sid + ".wav";
    auto read = [path]() -> std::optional<std::string> {
      std::ifstream in(path, std::ios::binary);
      if (!in) return std::nullopt;
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::optional<std::string> bytes;
    if (svc.pool) bytes = co_await run_blocking(*svc.pool, std::move(read));
    else bytes = read();
    if (!bytes) throw ApiError(404, "No recording of this call (it is written when the call ends)");
    co_return net::HttpResponse::text(200, std::move(*bytes), "audio/wav");
  }));

  // The console's overview: the company's live calls (in a cluster, on every instance), and
  // its last hour from the store (the same per-turn latencies and events /metrics counts).
  router.add("GET", base + "/overview", route(svc, [&svc](const net::HttpRequest&, const Principal& who) -> asio::awaitable<net::HttpResponse> {
    std::int64_t live = 0;
    for (const auto& s : svc.registry.all())
      if (who.may_access(s->context().tenant)) ++live;
    const std::string tenant = who.open ? std::string() : who.tenant;
    if (svc.forwarder) {
      try {
        live += co_await svc.forwarder->cluster().calls_elsewhere(tenant);
      } catch (const std::exception& e) {
        spdlog::debug("overview: the other instances' calls cannot be counted: {}", e.what());
      }
    }
    const std::time_t now = std::time(nullptr);
    const std::string since = minute_of(now - 59 * 60) + ":00.000Z";
    co_await svc.store.flush();
    const auto o = co_await svc.store.overview(tenant, since);
    json::array per_minute;
    std::vector<double> responses;
    responses.reserve(o.responses.size());
    std::map<std::string, std::int64_t> by_minute;
    for (const auto& [at, ms] : o.responses) {
      responses.push_back(ms);
      ++by_minute[at.substr(0, 16)];
    }
    for (int m = 59; m >= 0; --m) {
      auto it = by_minute.find(minute_of(now - m * 60));
      per_minute.push_back(it == by_minute.end() ? 0 : it->second);
    }
    auto num = [](double v) { return v < 0 ? json::value(nullptr) : json::value(std::llround(v)); };
    co_return json_response(200, json::object{{"active_calls", live},
                                              {"window_minutes", 60},
                                              {"calls", o.calls},
                                              {"turns", static_cast<std::int64_t>(responses.size())},
                                              {"turns_per_minute", per_minute},
                                              {"response_ms", json::object{{"p50", num(percentile(responses, 0.5))},
                                                                           {"p99", num(percentile(responses, 0.99))}}},
                                              {"fallbacks", o.fallbacks},
                                              {"errors", o.errors},
                                              {"barge_ins", o.barge_ins}});
  }));
}

}  // namespace vox::api
