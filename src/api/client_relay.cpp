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

  void close_local(std::string_view why) {
    if (local_closed) return;
    local_closed = true;
    local->on_close(why);  // releases the socket's place in the company's count
  }
};

constexpr std::size_t kMaxBuffered = 64;
// How often a socket naming a call that has not started yet asks where it is.
constexpr std::chrono::milliseconds kOwnerPoll{200};

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

asio::awaitable<void> run_relay(std::shared_ptr<Relay> r) {
  auto& clu = r->svc->forwarder->cluster();
  const int limit = r->svc->settings.max_client_sockets_per_key;
  if (limit > 0) {
    const std::string member = clu.instance_id() + ":" + std::to_string(++g_socket_counter);
    bool admitted = true;
    std::string failed;
    const std::chrono::milliseconds refreshed_here{0};
    try {
      admitted = co_await clu.admit("sockets", r->tenant, member, limit, refreshed_here);
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
    co_return;
  }
  // Whose call is it? A call that has reached no instance yet is waited for here (the
  // local handler answers meanwhile) until it starts here or on another instance.
  cluster::Owner owner;
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (;;) {
    owner = co_await clu.owner_of(r->sid);
    if (r->client_closed) co_return;
    if (owner.kind == cluster::Owner::Kind::kElsewhere) break;
    if (r->mode == Relay::Mode::kDeciding) serve_locally(r);
    if (owner.kind == cluster::Owner::Kind::kHere || r->svc->registry.find(r->sid)) co_return;  // bound here
    poll.expires_after(kOwnerPoll);
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
    if (r->client_closed) co_return;
  }
  if (r->mode == Relay::Mode::kLocal) {
    // It started elsewhere: the local handler (still waiting) gives the socket up.
    r->close_local("relayed to the call's instance");
    r->mode = Relay::Mode::kDeciding;
  }
  std::string url = owner.url;
  if (url.rfind("https://", 0) == 0) url = "wss://" + url.substr(8);
  else if (url.rfind("http://", 0) == 0) url = "ws://" + url.substr(7);
  url += r->target;
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
    r->conn->send_text(ended_message(r->sid, "the instance holding the call (" + owner.instance_id + ") did not answer"));
    r->conn->close(1011, "call unreachable");
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

}  // namespace

std::unique_ptr<net::WsHandler> relay_client_socket(const ControlServices& svc, const net::HttpRequest& upgrade,
                                                    std::unique_ptr<net::WsHandler> local, std::string call_sid) {
  auto r = std::make_shared<Relay>();
  r->svc = &svc;
  r->sid = std::move(call_sid);
  r->target = upgrade.target;
  r->headers.emplace_back(std::string(cluster::kForwardedHeader), svc.forwarder->cluster().instance_id());
  r->local = std::move(local);
  const std::string key(upgrade.param("company_api_key"));
  if (svc.tenants.open()) r->tenant = std::string(Tenants::kLocal);
  else r->tenant = svc.tenants.tenant_for(key).value_or(std::string(Tenants::kLocal));
  return std::make_unique<RelaySocket>(std::move(r));
}

}  // namespace vox::api
