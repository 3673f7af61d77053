// The client WebSocket relayed to the instance of the cluster that holds its call.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include <atomic>

#include "api/client_socket.hpp"
#include "api/control_common.hpp"
#include "cluster/forward.hpp"
#include "core/json_text.hpp"
#include "core/spawn.hpp"
#include "core/time.hpp"
#include "call/session.hpp"

#include <openssl/rand.h>

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// The relay's state, shared with its coroutine (which may outlive the handler).
struct Relay {
  enum class Mode { kDeciding, kLocal, kRemote, kClosed };
  const ControlServices* svc = nullptr;
  std::string sid, target;
  net::Headers headers;
  std::shared_ptr<net::WsConnection> conn;
  std::unique_ptr<net::WsHandler> local;
  Mode mode = Mode::kDeciding;
  std::vector<std::string> buffered;
  std::shared_ptr<net::WsClient> upstream;
  bool client_closed = false;
  bool local_closed = false;
  std::string tenant, member;  // the socket's place in the company's count ("" = none)
  std::string peer, key, agent_id, query;  // the upgrade's path parameters and query
  std::string token;  // waiting for the agent's next call across the cluster ("" = not)
  bool names_call = false;  // the peer id names a call: never waits for an agent's next one

  void close_local(std::string_view why) {
    if (local_closed) return;
    local_closed = true;
    local->on_close(why);  // releases the socket's place in the company's count
  }
};

constexpr std::size_t kMaxBuffered = 64;
// How often a socket naming a call that has not started yet asks where it is: often while
// the call may still be ringing, then less (a socket left waiting for a call that never
// comes costs Redis one lookup a second).
constexpr std::chrono::milliseconds kOwnerPoll{200}, kOwnerPollLater{1000};
constexpr std::chrono::minutes kOwnerPollFast{2};

std::string ended_message(const std::string& sid, const std::string& detail) {
  json::object o{{"type", "call_ended"}, {"call_sid", sid}, {"reason", "instance_lost"}, {"detail", detail},
                 {"timestamp", iso8601_now()}};
  return vox::json_text(o);
}

// Serves the socket here: the local handler takes over, with what arrived meanwhile.
void serve_locally(const std::shared_ptr<Relay>& r) {
  r->mode = Relay::Mode::kLocal;
  r->local->on_open(r->conn);
  auto pending = std::move(r->buffered);
  r->buffered.clear();
  for (const auto& m : pending) r->local->on_text(m);
}

std::atomic<std::uint64_t> g_socket_counter{0};

asio::awaitable<void> relay_to(std::shared_ptr<Relay> r, cluster::Owner owner);
void wait_for_agent_anywhere(const std::shared_ptr<Relay>& r);

asio::awaitable<void> run_relay(std::shared_ptr<Relay> r) {
  auto& clu = r->svc->forwarder->cluster();
  const int limit = r->svc->settings.max_client_sockets_per_key;
  if (limit > 0) {
    const std::string member = clu.instance_id() + ":" + std::to_string(++g_socket_counter);
    bool admitted = true;
    std::string failed;
    const std::chrono::milliseconds refreshed_here{0};
    try {
      const std::string kind = "sockets";  // (named: no prvalue strings into coroutine calls)
      admitted = co_await clu.admit(kind, r->tenant, member, limit, refreshed_here);
    } catch (const std::exception& e) {
      failed = e.what();  // Redis unreachable: this instance's own limit still applies
    }
    if (!failed.empty()) spdlog::warn("client socket: the cluster-wide count is unavailable ({})", failed);
    if (admitted && failed.empty()) r->member = member;
    if (r->client_closed) {
      if (!r->member.empty()) clu.release("sockets", r->tenant, r->member);
      co_return;
    }
    if (!admitted) {
      json::object o{{"type", "error"},
                     {"detail", "Too many open WebSockets for this company across the cluster (limit " +
                                    std::to_string(limit) + ")"},
                     {"timestamp", iso8601_now()}};
      r->conn->send_text(vox::json_text(o));
      r->conn->close(1008, "too many sockets");
      r->close_local("over the cluster limit");
      r->mode = Relay::Mode::kClosed;
      co_return;
    }
  }
  if (r->sid.empty()) {
    serve_locally(r);
    if (!r->names_call) wait_for_agent_anywhere(r);
    co_return;
  }
  // Whose call is it? A call that has reached no instance yet is waited for here (the
  // local handler answers meanwhile) until it starts here or on another instance.
  cluster::Owner owner;
  asio::steady_timer poll(co_await asio::this_coro::executor);
  const auto slow_after = std::chrono::steady_clock::now() + kOwnerPollFast;
  for (;;) {
    owner = co_await clu.owner_of(r->sid);
    if (r->client_closed) co_return;
    if (owner.kind == cluster::Owner::Kind::kElsewhere) break;
    if (r->mode == Relay::Mode::kDeciding) serve_locally(r);
    if (owner.kind == cluster::Owner::Kind::kHere || r->svc->registry.find(r->sid)) co_return;  // bound here
    poll.expires_after(std::chrono::steady_clock::now() < slow_after ? kOwnerPoll : kOwnerPollLater);
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
    if (r->client_closed) co_return;
  }
  if (r->mode == Relay::Mode::kLocal) {
    // It started elsewhere: the local handler (still waiting) gives the socket up.
    r->close_local("relayed to the call's instance");
    r->mode = Relay::Mode::kDeciding;
  }
  co_await relay_to(r, owner);
}

// Serves the socket from the call's owner: the same socket opened there (named by the call's
// sid), and every message passed along both ways until either side closes.
asio::awaitable<void> relay_to(std::shared_ptr<Relay> r, cluster::Owner owner) {
  const std::string url = net::websocket_url(owner.url) + r->target;
  std::shared_ptr<net::WsClient> up;
  std::string failed;
  try {
    up = co_await net::WsClient::connect(url, r->headers);
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (r->client_closed) {
    if (up) up->close();
    co_return;
  }
  if (!up) {
    spdlog::warn("cluster: relaying the client socket of {} to {} failed: {}", r->sid, owner.instance_id, failed);
    // The owner's refusal is passed on as the owner gave it (a socket naming another
    // company's call learns nothing more than "not found"); only an owner that did not
    // answer at all means the call is lost.
    std::string detail;
    if (failed.find("404") != std::string::npos) detail = "Call not found";
    else if (failed.find("429") != std::string::npos) detail = "Too many open WebSockets for this API key";
    else if (failed.find("503") != std::string::npos) detail = "The call's instance is busy; try again shortly";
    if (!detail.empty()) {
      r->conn->send_text(vox::json_text(json::object{{"type", "error"}, {"detail", detail}, {"timestamp", iso8601_now()}}));
      r->conn->close(1008, "refused");
    } else {
      r->conn->send_text(ended_message(r->sid, "the instance holding the call did not answer"));
      r->conn->close(1011, "call unreachable");
    }
    r->close_local("relay failed");
    r->mode = Relay::Mode::kClosed;
    co_return;
  }
  spdlog::info("cluster: client socket of {} relayed to {}", r->sid, owner.instance_id);
  r->upstream = up;
  r->mode = Relay::Mode::kRemote;
  for (auto& m : r->buffered) up->send(std::move(m));
  r->buffered.clear();
  for (;;) {
    auto m = co_await up->read();
    if (!m) break;
    r->conn->send_text(std::move(*m));
  }
  if (!r->client_closed) {
    // The owner closed the socket (it is its last word) or vanished without a close.
    if (up->close_code() == 0) {
      r->conn->send_text(ended_message(r->sid, "instance " + owner.instance_id + " stopped answering"));
      r->conn->close(1011, "instance lost");
    } else {
      r->conn->close(static_cast<std::uint16_t>(up->close_code()), up->close_reason());
    }
  }
  r->close_local("relay ended");
  r->mode = Relay::Mode::kClosed;
}

std::string random_token() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no randomness for a socket token");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t;
  for (unsigned char c : b) {
    t += kHex[c >> 4];
    t += kHex[c & 15];
  }
  return t;
}

// A socket bound to another instance's call after all: it follows the call there.
asio::awaitable<void> follow_call(std::shared_ptr<Relay> r) {
  const cluster::Owner owner = co_await r->svc->forwarder->cluster().owner_of(r->sid);
  if (r->client_closed) co_return;
  if (owner.kind != cluster::Owner::Kind::kElsewhere) {
    r->conn->send_text(ended_message(r->sid, "the call could not be found in the cluster"));
    r->conn->close(1011, "call unreachable");
    r->mode = Relay::Mode::kClosed;
    co_return;
  }
  co_await relay_to(r, owner);
}

asio::awaitable<void> queue_waiter(std::shared_ptr<Relay> r) {
  try {
    co_await r->svc->forwarder->cluster().agent_wait(r->tenant, r->agent_id, r->token);
  } catch (const std::exception& e) {
    spdlog::warn("client socket: cannot wait for agent {} across the cluster ({}); it waits for calls here", r->agent_id,
                 e.what());
  }
}

// A socket waiting for its agent's next call waits across the cluster too: the instance
// where such a call starts (with no socket of its own waiting) claims it by its token.
void wait_for_agent_anywhere(const std::shared_ptr<Relay>& r) {
  if (!r->svc->hub) return;
  r->token = random_token();
  std::weak_ptr<Relay> weak = r;
  r->svc->hub->add_remote_waiter(r->token, [weak](const std::string& sid) {
    auto r = weak.lock();
    if (!r || !r->svc->hub->take_waiting(r->local.get())) return false;
    asio::post(r->conn->executor(), [r, sid] {
      if (r->client_closed) return;
      r->close_local("bound to a call on another instance");
      r->sid = sid;
      r->target = "/api/v1/webrtc/twilio-elevenlabs-stream/twilio_" + sid + "_" + r->peer + "/" + r->key + "/" + r->agent_id;
      if (!r->query.empty()) r->target += "?" + r->query;
      r->mode = Relay::Mode::kDeciding;
      vox::spawn(r->conn->executor(), follow_call(r), "client socket relay");
    });
    return true;
  });
  vox::spawn(r->conn->executor(), queue_waiter(r), "client socket wait");
}

class RelaySocket final : public net::WsHandler {
 public:
  explicit RelaySocket(std::shared_ptr<Relay> r) : r_(std::move(r)) {}
  void on_open(std::shared_ptr<net::WsConnection> connection) override {
    r_->conn = std::move(connection);
    vox::spawn(r_->conn->executor(), run_relay(r_), "client socket relay");
  }
  void on_text(std::string_view message) override {
    switch (r_->mode) {
      case Relay::Mode::kLocal: return r_->local->on_text(message);
      case Relay::Mode::kRemote: {
        auto up = r_->upstream;
        asio::post(up->executor(), [up, m = std::string(message)]() mutable { up->send(std::move(m)); });
        return;
      }
      case Relay::Mode::kDeciding:
        if (r_->buffered.size() < kMaxBuffered) r_->buffered.emplace_back(message);
        return;
      case Relay::Mode::kClosed: return;
    }
  }
  void on_close(std::string_view reason) override {
    r_->client_closed = true;
    if (!r_->member.empty()) r_->svc->forwarder->cluster().release("sockets", r_->tenant, r_->member);
    r_->member.clear();
    if (!r_->token.empty()) {
      if (r_->svc->hub) r_->svc->hub->remove_remote_waiter(r_->token);
      r_->svc->forwarder->cluster().agent_unwait(r_->tenant, r_->agent_id, r_->token);
      r_->token.clear();
    }
    if (r_->mode == Relay::Mode::kRemote && r_->upstream) {
      auto up = r_->upstream;
      asio::post(up->executor(), [up] { up->close(); });
    }
    if (r_->mode != Relay::Mode::kRemote || !r_->upstream) r_->close_local(reason);
    r_->mode = Relay::Mode::kClosed;
  }

 private:
  std::shared_ptr<Relay> r_;
};

asio::awaitable<void> offer_call(const ControlServices* svc, std::string tenant, std::string agent_id,
                                std::string sid) {
  auto& clu = svc->forwarder->cluster();
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (int tries = 0; tries < 20; ++tries) {
    std::optional<cluster::Cluster::Waiter> next;
    try {
      next = co_await clu.agent_next(tenant, agent_id);
    } catch (const std::exception& e) {
      spdlog::warn("cluster: cannot offer call {} to sockets on other instances: {}", sid, e.what());
    }
    if (!next) co_return;
    net::ClientRequest req;
    req.method = "POST";
    req.url = next->url + "/cluster/v1/claim";
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = vox::json_text(json::object{{"token", next->token}, {"call_sid", sid}});
    req.budget = std::chrono::seconds(3);
    int status = 0;
    try {
      status = (co_await svc->forwarder->http().send(std::move(req))).status;
    } catch (const std::exception& e) {
      spdlog::debug("cluster: offering call {} to {} failed: {}", sid, next->url, e.what());
    }
    if (status == 200) {
      spdlog::info("cluster: call {} (agent {}) taken by a client socket on {}", sid, agent_id, next->instance_id);
      co_return;
    }
    if (status == 404) continue;  // that socket no longer waits: the next one
    // The waiter may well still wait (its instance did not see the call in Redis yet, or
    // did not answer): it goes back to the head of the queue, and the offer is tried again
    // shortly.
    clu.agent_requeue(tenant, agent_id, *next);
    pause.expires_after(std::chrono::milliseconds(200));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

void offer_to_other_instances(const ControlServices& svc, const call::CallSession& session) {
  if (!svc.forwarder) return;
  const auto& ctx = session.context();
  vox::spawn(svc.forwarder->http().executor(), offer_call(&svc, ctx.tenant, ctx.agent_id, ctx.call_sid),
             "cluster call offer");
}

net::HttpResponse claim_for_socket(const ControlServices& svc, const std::string& token, const std::string& call_sid) {
  if (!svc.hub || !svc.hub->claim_remote_waiter(token, call_sid))
    return net::HttpResponse::error(404, "No client socket is waiting with this token");
  return net::HttpResponse::json(200, R"({"claimed":true})");
}

std::unique_ptr<net::WsHandler> relay_client_socket(const ControlServices& svc, const net::HttpRequest& upgrade,
                                                    std::unique_ptr<net::WsHandler> local, std::string call_sid,
                                                    bool names_call) {
  auto r = std::make_shared<Relay>();
  r->svc = &svc;
  r->sid = std::move(call_sid);
  r->target = upgrade.target;
  r->headers.emplace_back(std::string(cluster::kForwardedHeader), svc.forwarder->cluster().instance_id());
  r->local = std::move(local);
  r->names_call = names_call;
  const std::string key(upgrade.param("company_api_key"));
  r->peer = std::string(upgrade.param("peer_id"));
  r->key = key;
  r->agent_id = std::string(upgrade.param("agent_id"));
  r->query = upgrade.query;
  if (svc.tenants.open()) r->tenant = std::string(Tenants::kLocal);
  else r->tenant = svc.tenants.tenant_for(key).value_or(std::string(Tenants::kLocal));
  return std::make_unique<RelaySocket>(std::move(r));
}

}  // namespace vox::api
