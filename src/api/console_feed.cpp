// The console's live feed, /console/ws. The page signs in with its company key
// ({"type":"auth","key":...}; none needed when the server has no keys), then receives
//   calls     every second: the company's live calls, one row each (in a cluster, those
//             of every instance, each row naming its instance: api/live_calls.hpp)
//   watching  / event / unwatched: one call's events as they happen, after "watch"
//   binary    while listening in: [0 = caller | 1 = agent] + μ-law 8 kHz bytes
// and may send watch {call_sid}, unwatch, listen {on}, ping. Acting on a call (speak,
// stop, voice, hang up) goes through the control API's REST routes with the same key.
// A call held by another instance is watched through that instance's own console socket,
// opened with the same key (its events and audio passed along, "listen" passed back).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <utility>

#include "api/control_common.hpp"
#include "api/live_calls.hpp"
#include "cluster/forward.hpp"
#include "net/client.hpp"
#include "call/event_json.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"
#include "core/json_text.hpp"
#include "core/spawn.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxConsoleMessage = 2048;
constexpr std::chrono::seconds kTableEvery{1};

// One console page's connection.
struct Viewer;

// Attached to the watched call's session: its events (and audio, while listening) go
// to the page. Runs on the call's strand; sends through the connection (thread-safe).
struct Watch final : call::CallObserver {
  Watch(std::shared_ptr<net::WsConnection> c, std::string sid) : conn(std::move(c)), call_sid(std::move(sid)) {}
  std::shared_ptr<net::WsConnection> conn;
  std::string call_sid;
  std::atomic<bool> listening{false};
  std::string frame;  // [track] + μ-law (capacity reused)

  void on_event(const call::CallContext&, const call::CallEvent& e) override {
    auto o = call::event_json(e);
    if (o.empty()) return;
    o["type"] = "event";
    o["call_sid"] = call_sid;
    conn->send_text(json::serialize(o));
  }
  void audio(char track, std::span<const std::uint8_t> ulaw) {
    if (!listening.load(std::memory_order_relaxed)) return;
    frame.assign(1, track);
    frame.append(reinterpret_cast<const char*>(ulaw.data()), ulaw.size());
    conn->send_binary_copy(frame);
  }
  void on_audio(const call::CallContext&, std::span<const std::uint8_t> ulaw) override { audio(1, ulaw); }
  void on_caller_audio(const call::CallContext&, std::span<const std::uint8_t> ulaw) override { audio(0, ulaw); }
};

struct Viewer : std::enable_shared_from_this<Viewer> {
  Viewer(const ControlServices& s, bool from_instance) : svc(s), forwarded(from_instance) {}
  const ControlServices& svc;
  const bool forwarded;  // opened by another instance to watch a call here: never relayed on
  std::shared_ptr<net::WsConnection> conn;
  std::optional<Principal> who;
  std::string key;  // the key it signed in with, for the other instances of a cluster
  std::unique_ptr<asio::steady_timer> timer;
  bool closed = false;
  std::weak_ptr<call::CallSession> watched;
  std::shared_ptr<Watch> watch;
  // A call held by another instance: watched through that instance's console socket.
  std::shared_ptr<net::WsClient> remote;
  std::string remote_sid;
  std::uint64_t watch_gen = 0;  // bumped by every watch and unwatch (a late connect gives up)
  bool listening = false;       // the page listens in: carried over to the next call watched

  void send(const json::object& o) { conn->send_text(json::serialize(o)); }
  void error(std::string_view detail) { send(json::object{{"type", "error"}, {"detail", detail}}); }

  void on_text(std::string_view text) {
    if (text.size() > kMaxConsoleMessage) return error("message too long");
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object() || !v.as_object().contains("type") || !v.as_object().at("type").is_string())
      return error("expected a JSON object with a \"type\"");
    const auto& o = v.as_object();
    const std::string type(o.at("type").as_string());
    auto str = [&o](std::string_view k) {
      const auto* f = o.if_contains(k);
      return f && f->is_string() && f->as_string().size() <= 256 ? std::string(f->as_string()) : std::string();
    };
    if (type == "ping") {
      // (Passed on too: the owner drops a socket that sent nothing for --ws-idle-timeout.)
      if (auto up = remote) asio::post(up->executor(), [up] { up->send(R"({"type":"ping"})"); });
      return send(json::object{{"type", "pong"}});
    }
    if (type == "auth") {
      const auto* table = o.if_contains("table");  // false: no calls table (another instance watching)
      return auth(str("key"), !(table && table->is_bool() && !table->as_bool()));
    }
    if (!who) return error("sign in first: {\"type\":\"auth\",\"key\":\"...\"}");
    if (type == "watch") return start_watch(str("call_sid"));
    if (type == "unwatch") return stop_watch("unwatched");
    if (type == "listen") {
      const auto* on = o.if_contains("on");
      const bool listen = on && on->is_bool() && on->as_bool();
      listening = listen;
      if (watch) watch->listening = listen;
      if (auto up = remote) {
        auto m = json::serialize(json::object{{"type", "listen"}, {"on", listen}});
        asio::post(up->executor(), [up, m = std::move(m)]() mutable { up->send(std::move(m)); });
      }
      return;
    }
    error("unknown type (known: auth, watch, unwatch, listen, ping)");
  }

  void auth(const std::string& k, bool table) {
    if (who) return error("already signed in");
    key = k;
    if (svc.tenants.open()) {
      who = Principal{std::string(Tenants::kLocal), true};
    } else if (auto tenant = svc.tenants.tenant_for(key)) {
      who = Principal{std::move(*tenant), false};
    } else {
      spdlog::warn("console: sign-in refused (invalid API key) remote={}", conn->remote());
      error("Invalid API key");
      conn->close(1008, "invalid API key");
      return;
    }
    send(json::object{{"type", "hello"}, {"tenant", who->tenant}, {"open", who->open}});
    if (!table) return;
    timer = std::make_unique<asio::steady_timer>(conn->executor());
    vox::spawn(conn->executor(), table_loop(shared_from_this()), "console table");
  }

  void start_watch(const std::string& sid) {
    stop_watch("");
    auto session = svc.registry.find(sid);
    if (!session && svc.forwarder && !forwarded && !sid.empty()) {
      vox::spawn(conn->executor(), watch_remote(shared_from_this(), sid, watch_gen), "console remote watch");
      return;
    }
    // Another company's call is "not found", exactly like a call that does not exist.
    if (!session || !who->may_access(session->context().tenant)) return error("Call not found (or not live here)");
    watch = std::make_shared<Watch>(conn, sid);
    watch->listening = listening;
    watched = session;
    send(json::object{{"type", "watching"}, {"call_sid", sid}});
    asio::post(session->executor(), [session, w = watch] { session->add_observer(w); });
  }

  void stop_watch(std::string_view why) {
    ++watch_gen;
    if (auto up = std::exchange(remote, nullptr)) {
      asio::post(up->executor(), [up] { up->close(); });
      if (!why.empty()) send(json::object{{"type", "unwatched"}, {"call_sid", remote_sid}});
      remote_sid.clear();
    }
    if (!watch) return;
    if (auto session = watched.lock())
      asio::post(session->executor(), [session, w = watch] { session->remove_observer(w.get()); });
    if (!why.empty()) send(json::object{{"type", "unwatched"}, {"call_sid", watch->call_sid}});
    watch.reset();
    watched.reset();
  }

  void finish() {
    if (closed) return;
    closed = true;
    stop_watch("");
    if (timer) timer->cancel();
  }

  // A call another instance holds: its console socket, signed in with this page's key
  // (the owner decides what the key may see), passing everything along until either side
  // stops.
  static asio::awaitable<void> watch_remote(std::shared_ptr<Viewer> self, std::string sid, std::uint64_t gen) {
    auto& clu = self->svc.forwarder->cluster();
    const cluster::Owner owner = co_await clu.owner_of(sid);
    if (self->closed || gen != self->watch_gen) co_return;
    if (owner.kind == cluster::Owner::Kind::kUnreachable) {
      spdlog::warn("console: cannot find the instance of {}: {}", sid, owner.detail);
      self->error("Redis is unreachable, so calls on other instances cannot be watched; try again shortly");
      co_return;
    }
    if (owner.kind != cluster::Owner::Kind::kElsewhere) {
      self->error("Call not found (or not live here)");
      co_return;
    }
    const std::string url = net::websocket_url(owner.url) + "/console/ws";
    net::Headers headers{{std::string(cluster::kForwardedHeader), clu.instance_id()}};
    std::shared_ptr<net::WsClient> up;
    std::string failed;
    try {
      up = co_await net::WsClient::connect(url, headers);
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (!up) {
      spdlog::warn("console: watching {} through instance {} failed: {}", sid, owner.instance_id, failed);
      if (!self->closed && gen == self->watch_gen)
        self->error("The instance that holds this call does not answer; try again shortly");
      co_return;
    }
    if (self->closed || gen != self->watch_gen) {
      up->close();
      co_return;
    }
    self->remote = up;
    self->remote_sid = sid;
    up->send(json::serialize(json::object{{"type", "auth"}, {"key", self->key}, {"table", false}}));
    up->send(json::serialize(json::object{{"type", "watch"}, {"call_sid", sid}}));
    if (self->listening) up->send(json::serialize(json::object{{"type", "listen"}, {"on", true}}));
    for (;;) {
      auto m = co_await up->read();
      // (Stopped watching: nothing more of this call reaches the page, while the close completes.)
      if (!m || self->closed || gen != self->watch_gen) break;
      if (up->got_binary()) {
        self->conn->send_binary_copy(*m);
        continue;
      }
      // (The answers to its own sign-in and pings.)
      if (m->rfind(R"({"type":"hello")", 0) == 0 || m->rfind(R"({"type":"pong")", 0) == 0) continue;
      self->conn->send_text(std::move(*m));
    }
    // The owner closed (or vanished): the page stops watching, unless it already did.
    if (self->remote == up && !self->closed) {
      self->remote.reset();
      self->remote_sid.clear();
      self->send(json::object{{"type", "unwatched"}, {"call_sid", sid}});
    }
  }

  static asio::awaitable<void> table_loop(std::shared_ptr<Viewer> self) {
    while (!self->closed) {
      auto rows = co_await live_rows(self->svc, *self->who, self->key);
      if (self->closed) break;
      json::array unreachable;
      for (auto& id : rows.unreachable) unreachable.emplace_back(id);
      json::object table{{"type", "calls"}, {"calls", std::move(rows.calls)}};
      if (!unreachable.empty()) table["unreachable_instances"] = std::move(unreachable);
      if (rows.cluster_unknown) table["cluster_unknown"] = true;
      self->send(table);
      self->timer->expires_after(kTableEvery);
      co_await self->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

class ConsoleSocket final : public net::WsHandler {
 public:
  ConsoleSocket(const ControlServices& svc, bool forwarded) : viewer_(std::make_shared<Viewer>(svc, forwarded)) {}
  ~ConsoleSocket() override { viewer_->finish(); }
  void on_open(std::shared_ptr<net::WsConnection> c) override { viewer_->conn = std::move(c); }
  void on_text(std::string_view m) override { viewer_->on_text(m); }
  void on_close(std::string_view) override { viewer_->finish(); }

 private:
  std::shared_ptr<Viewer> viewer_;
};

}  // namespace

void add_console_routes(net::Router& router, const ControlServices& svc) {
  router.add_ws("/console/ws", [&svc](const net::HttpRequest& req, net::HttpResponse& reject) -> std::unique_ptr<net::WsHandler> {
    if (cross_origin(req)) {
      reject = net::HttpResponse::error(403, "Cross-origin WebSocket refused: open the console from this server");
      return nullptr;
    }
    return std::make_unique<ConsoleSocket>(svc, svc.forwarder && cluster::was_forwarded(req));
  });
}

}  // namespace vox::api
