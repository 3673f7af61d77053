#include "api/live_calls.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "api/control_common.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"
#include "cluster/forward.hpp"
#include "core/countdown.hpp"
#include "core/spawn.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

json::object call_row(const call::CallContext& c, const call::CallSession::LiveSummary& s) {
  auto agent = c.parameters.find("agent");
  auto direction = c.parameters.find("direction");
  return json::object{
      {"call_sid", c.call_sid},
      {"from", c.from},
      {"to", c.to},
      {"agent", agent != c.parameters.end() ? agent->second : std::string("default")},
      {"agent_id", c.agent_id},
      {"direction", direction != c.parameters.end() ? direction->second : std::string("inbound")},
      {"voice_id", s.voice_id},
      {"state", s.speaking ? "speaking" : "listening"},
      {"duration_s", static_cast<std::int64_t>(s.age_ms / 1000)},
      {"turn", s.turns},
      {"replies_queued", s.replies_queued},
      {"barge_ins", s.barge_ins},
      {"tts", s.tts},
      {"stt", s.stt},
      {"fallbacks", s.fallbacks},
      {"stt_failures", s.stt_failures},
  };
}

// What the other instances answered (one slot each), filled by one coroutine per instance.
struct PeerAnswers {
  explicit PeerAnswers(std::size_t n) : rows(n), answered(n, false) {}
  std::vector<json::array> rows;
  std::vector<bool> answered;
};

asio::awaitable<void> ask_peer(const ControlServices* svc, std::string url, std::string key, std::size_t slot,
                               std::shared_ptr<PeerAnswers> answers, std::shared_ptr<Countdown> left) {
  net::ClientRequest req;
  req.url = url;
  req.url += kBase;
  req.url += "/live-calls";
  if (!key.empty()) req.headers.emplace_back("X-API-KEY", key);
  req.headers.emplace_back(std::string(cluster::kForwardedHeader), svc->forwarder->cluster().instance_id());
  req.budget = kPeerBudget;
  try {
    const auto res = co_await svc->forwarder->http().send(std::move(req));
    boost::system::error_code ec;
    auto v = json::parse(res.body, ec);
    if (res.status == 200 && !ec && v.is_object() && v.as_object().contains("calls") &&
        v.as_object().at("calls").is_array()) {
      answers->rows[slot] = std::move(v.as_object().at("calls").as_array());
      answers->answered[slot] = true;
    } else {
      spdlog::debug("cluster: live calls of {}: HTTP {}", url, res.status);
    }
  } catch (const std::exception& e) {
    spdlog::debug("cluster: live calls of {}: {}", url, e.what());
  }
  left->done();
}

}  // namespace

asio::awaitable<json::array> live_rows_here(const ControlServices& svc, Principal who) {
  const auto here = co_await asio::this_coro::executor;
  json::array rows;
  const std::string instance = svc.forwarder ? svc.forwarder->cluster().instance_id() : std::string();
  for (const auto& session : svc.registry.all()) {
    if (!who.may_access(session->context().tenant)) continue;
    auto pending = run_on(session, here, [session] { return session->summary(); });
    const auto summary = co_await pending->get();
    auto row = call_row(session->context(), summary);
    if (!instance.empty()) row["instance"] = instance;
    rows.push_back(std::move(row));
  }
  co_return rows;
}

asio::awaitable<LiveRows> live_rows(const ControlServices& svc, Principal who, std::string key) {
  LiveRows out;
  out.calls = co_await live_rows_here(svc, who);
  if (!svc.forwarder) co_return out;
  std::vector<cluster::Cluster::Peer> peers;
  try {
    peers = co_await svc.forwarder->cluster().peers();
  } catch (const std::exception& e) {
    spdlog::debug("cluster: the instances cannot be listed: {}", e.what());
    out.cluster_unknown = true;
    co_return out;
  }
  if (peers.empty()) co_return out;
  const auto here = co_await asio::this_coro::executor;
  auto answers = std::make_shared<PeerAnswers>(peers.size());
  auto left = std::make_shared<Countdown>(here);
  left->add(static_cast<int>(peers.size()));
  for (std::size_t i = 0; i < peers.size(); ++i)
    vox::spawn(here, ask_peer(&svc, peers[i].url, key, i, answers, left), "cluster live calls");
  const auto deadline = std::chrono::steady_clock::now() + kPeerBudget + std::chrono::milliseconds(250);
  co_await left->wait_zero(deadline);
  // (Same executor as the askers: a late answer lands in a slot no longer read.)
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (!answers->answered[i]) {
      out.unreachable.push_back(peers[i].instance_id);
      continue;
    }
    for (auto& row : answers->rows[i]) out.calls.push_back(row);
  }
  co_return out;
}

void add_live_calls_route(net::Router& router, const ControlServices& svc) {
  const std::string base(kBase);
  router.add("GET", base + "/live-calls",
             route(svc, [&svc](const net::HttpRequest& req, const Principal& who) -> asio::awaitable<net::HttpResponse> {
               // Asked by another instance: this instance's own calls only (never asked on).
               if (!svc.forwarder || cluster::was_forwarded(req)) {
                 auto rows = co_await live_rows_here(svc, who);
                 co_return json_response(200, json::object{{"calls", std::move(rows)}});
               }
               const std::string key(request_key(req));
               auto all = co_await live_rows(svc, who, key);
               json::array unreachable;
               for (auto& id : all.unreachable) unreachable.emplace_back(id);
               json::object o{{"calls", std::move(all.calls)}, {"unreachable_instances", std::move(unreachable)}};
               if (all.cluster_unknown)
                 o["detail"] = "Redis is unreachable: only this instance's calls are listed";
               co_return json_response(200, o);
             }));
}

}  // namespace vox::api
