// The console's live feed, /console/ws. The page signs in with its company key
// ({"type":"auth","key":...}; none needed when the server has no keys), then receives
//   calls     every second: the company's live calls on this instance, one row each
//   watching  / event / unwatched: one call's events as they happen, after "watch"
//   binary    while listening in: [0 = caller | 1 = agent] + μ-law 8 kHz bytes
// and may send watch {call_sid}, unwatch, listen {on}, ping. Acting on a call (speak,
// stop, voice, hang up) goes through the control API's REST routes with the same key.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>

#include "api/control_common.hpp"
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
  explicit Viewer(const ControlServices& s) : svc(s) {}
  const ControlServices& svc;
  std::shared_ptr<net::WsConnection> conn;
  std::optional<Principal> who;
  std::unique_ptr<asio::steady_timer> timer;
  bool closed = false;
  std::weak_ptr<call::CallSession> watched;
  std::shared_ptr<Watch> watch;

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
    if (type == "ping") return send(json::object{{"type", "pong"}});
    if (type == "auth") return auth(str("key"));
    if (!who) return error("sign in first: {\"type\":\"auth\",\"key\":\"...\"}");
    if (type == "watch") return start_watch(str("call_sid"));
    if (type == "unwatch") return stop_watch("unwatched");
    if (type == "listen") {
      const auto* on = o.if_contains("on");
      if (watch) watch->listening = on && on->is_bool() && on->as_bool();
      return;
    }
    error("unknown type (known: auth, watch, unwatch, listen, ping)");
  }

  void auth(const std::string& key) {
    if (who) return error("already signed in");
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
    timer = std::make_unique<asio::steady_timer>(conn->executor());
    vox::spawn(conn->executor(), table_loop(shared_from_this()), "console table");
  }

  void start_watch(const std::string& sid) {
    stop_watch("");
    auto session = svc.registry.find(sid);
    // Another company's call is "not found", exactly like a call that does not exist.
    if (!session || !who->may_access(session->context().tenant)) return error("Call not found (or not live here)");
    watch = std::make_shared<Watch>(conn, sid);
    watched = session;
    send(json::object{{"type", "watching"}, {"call_sid", sid}});
    asio::post(session->executor(), [session, w = watch] { session->add_observer(w); });
  }

  void stop_watch(std::string_view why) {
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

  static asio::awaitable<void> table_loop(std::shared_ptr<Viewer> self) {
    const auto here = co_await asio::this_coro::executor;
    while (!self->closed) {
      json::array rows;
      for (const auto& session : self->svc.registry.all()) {
        if (!self->who->may_access(session->context().tenant)) continue;
        auto pending = run_on(session, here, [session] { return session->summary(); });
        const auto summary = co_await pending->get();
        rows.push_back(call_row(session->context(), summary));
      }
      if (self->closed) break;
      self->send(json::object{{"type", "calls"}, {"calls", std::move(rows)}});
      self->timer->expires_after(kTableEvery);
      co_await self->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

class ConsoleSocket final : public net::WsHandler {
 public:
  explicit ConsoleSocket(const ControlServices& svc) : viewer_(std::make_shared<Viewer>(svc)) {}
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
    return std::make_unique<ConsoleSocket>(svc);
  });
}

}  // namespace vox::api
