// The control API's history routes: the calls of the store, newest first, and one
// call's transcript, latency by stage and events.
#include <cmath>

#include "api/control_common.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {
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
}

}  // namespace vox::api
