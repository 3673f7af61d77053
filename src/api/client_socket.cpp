#include "api/client_socket.hpp"
#include "core/json_text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "core/spawn.hpp"
#include "api/control_codec.hpp"
#include "api/routes.hpp"
#include "net/load_monitor.hpp"
#include "audio/upsample.hpp"
#include "call/registry.hpp"
#include "call/session.hpp"
#include "core/base64.hpp"

namespace vox::api {
namespace asio = boost::asio;
namespace json = boost::json;

std::string peer_call_sid(std::string_view peer) {
  constexpr std::string_view prefix = "twilio_";
  if (peer.substr(0, prefix.size()) != prefix) return {};
  peer.remove_prefix(prefix.size());
  const auto end = peer.find('_');
  return std::string(peer.substr(0, end));
}

namespace {
std::string message(json::object o) {
  o["timestamp"] = iso8601_now();
  return vox::json_text(o);
}

bool safe_segment(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == '/') return false;
  return true;
}
}  // namespace

// One client socket's link to its call: observes the call's events (on the call's
// strand) and writes them to the socket (whose writer is thread-safe).
class ClientLink final : public call::CallObserver, public std::enable_shared_from_this<ClientLink> {
 public:
  ClientLink(ClientHub& hub, std::string peer_id, std::string key, Principal who, std::string agent_id, bool pcm)
      : hub_(hub), peer_id_(std::move(peer_id)), key_(std::move(key)), who_(std::move(who)),
        agent_id_(std::move(agent_id)), pcm_(pcm), wanted_sid_(peer_call_sid(peer_id_)) {}

  void send(std::string text) {
    std::shared_ptr<net::WsConnection> c;
    {
      std::lock_guard lock(mu_);
      c = conn_;
    }
    if (c) c->send_text(std::move(text));
  }

  // Returns whether this socket wants `session` (on the call's strand).
  bool wants(const call::CallSession& session) const {
    std::lock_guard lock(mu_);
    if (closed_ || !session_.expired()) return false;
    const auto& ctx = session.context();
    if (!who_.may_access(ctx.tenant)) return false;
    if (!wanted_sid_.empty()) return ctx.call_sid == wanted_sid_;
    return !ctx.agent_id.empty() && ctx.agent_id == agent_id_;
  }

  // Attaches to the session; call on its strand.
  void bind(const std::shared_ptr<call::CallSession>& session) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      session_ = session;
      wanted_sid_ = session->context().call_sid;  // a resumed stream of this call binds again
    }
    session->add_observer(shared_from_this());
    spdlog::info("client socket bound peer_id={} call_sid={} tenant={}", peer_id_, session->context().call_sid, who_.tenant);
    send(message({{"type", "call_bound"}, {"call_sid", session->context().call_sid}}));
  }

  bool names_call() const {
    std::lock_guard lock(mu_);
    return !wanted_sid_.empty();
  }
  std::string wanted_sid() const {
    std::lock_guard lock(mu_);
    return wanted_sid_;
  }

  std::shared_ptr<call::CallSession> session() const {
    std::lock_guard lock(mu_);
    return session_.lock();
  }

  void on_event(const call::CallContext& call, const call::CallEvent& e) override {
    using K = call::CallEvent::Kind;
    switch (e.kind) {
      case K::transcript:
        send(message({{"type", "transcript"}, {"text", e.text}, {"is_final", true}, {"turn", e.turn}}));
        break;
      case K::reply_started:
        send(message({{"type", "synthesis_started"}, {"text", e.text}}));
        break;
      case K::reply_finished:
        send(message({{"type", "synthesis_finished"}, {"text", e.text}, {"interrupted", e.interrupted}, {"heard", e.heard}}));
        break;
      case K::reply_failed:
        send(message({{"type", "synthesis_error"}, {"text", e.text}, {"error", e.detail}}));
        break;
      case K::barge_in:
        send(message({{"type", "barge_in"}, {"heard", e.heard}, {"heard_ms", e.heard_ms}, {"reply", e.text}}));
        break;
      case K::dtmf:
        send(message({{"type", "dtmf"}, {"digit", e.text}}));
        break;
      case K::tool_call:
        send(message({{"type", "tool_call"}, {"name", e.text}, {"detail", e.detail}, {"ok", !e.interrupted}, {"turn", e.turn}}));
        break;
      case K::ended: {
        send(message({{"type", "call_ended"}, {"call_sid", call.call_sid}, {"reason", e.detail}}));
        {
          std::lock_guard lock(mu_);
          session_.reset();
        }
        // A later stream of the same call (after keys were pressed) binds again.
        hub_.wait(shared_from_this());
        break;
      }
      default:
        break;
    }
  }

  void on_audio(const call::CallContext&, std::span<const std::uint8_t> ulaw) override {
    json::object o{{"type", "audio"}, {"format", pcm_ ? "pcm_16000" : "ulaw_8000"}};
    std::string data;
    if (!pcm_) {
      base64::append(data, ulaw);
    } else {
      // PCM16 little-endian at 16 kHz, for browsers' AudioContext.
      pcm_samples_.resize(ulaw.size() * 2);
      const std::size_t n = upsample_.convert(ulaw, pcm_samples_);
      pcm_buf_.resize(n * 2);
      for (std::size_t i = 0; i < n; ++i) {
        pcm_buf_[2 * i] = static_cast<std::uint8_t>(pcm_samples_[i] & 0xff);
        pcm_buf_[2 * i + 1] = static_cast<std::uint8_t>((pcm_samples_[i] >> 8) & 0xff);
      }
      base64::append(data, pcm_buf_);
    }
    o["data"] = data;
    send(message(std::move(o)));
  }

  ClientHub& hub_;
  const std::string peer_id_;
  const std::string key_;
  const Principal who_;
  const std::string agent_id_;
  const bool pcm_;

  mutable std::mutex mu_;
  std::shared_ptr<net::WsConnection> conn_;
  std::weak_ptr<call::CallSession> session_;
  std::string wanted_sid_;
  bool closed_ = false;

 private:
  // Touched only on the bound call's strand.
  std::vector<std::uint8_t> pcm_buf_;
  std::vector<std::int16_t> pcm_samples_;
  audio::Ulaw8kTo16k upsample_;
};

class ClientSocket final : public net::WsHandler {
 public:
  ClientSocket(ClientHub& hub, std::shared_ptr<ClientLink> link) : hub_(hub), link_(std::move(link)) {}
  const std::shared_ptr<ClientLink>& link() const { return link_; }

  void on_open(std::shared_ptr<net::WsConnection> connection) override {
    {
      std::lock_guard lock(link_->mu_);
      link_->conn_ = std::move(connection);
    }
    const std::string sid = link_->wanted_sid();
    link_->send(message({{"type", "connection_established"},
                         {"peer_id", link_->peer_id_},
                         {"call_sid", sid.empty() ? json::value(nullptr) : json::value(sid)}}));
    // The named call may be live already; otherwise wait for it (or for the agent's next call).
    if (!sid.empty()) {
      if (auto session = hub_.svc_->registry.find(sid)) {
        auto link = link_;
        asio::post(session->executor(), [link, session] {
          if (!session->ended() && link->wants(*session)) link->bind(session);
          else link->hub_.wait(link);
        });
        return;
      }
    }
    hub_.wait(link_);
  }

  void on_text(std::string_view text) override {
    if (text.size() > hub_.svc_->settings.max_ws_message_bytes) {
      link_->send(message({{"type", "error"},
                           {"detail", "Message of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                          std::to_string(hub_.svc_->settings.max_ws_message_bytes)}}));
      return;
    }
    ClientMessage m;
    try {
      m = parse_client_message(text, hub_.svc_->settings.max_text_chars);
    } catch (const ApiError& e) {
      return error(e.what());
    }
    switch (m.type) {
      case ClientMessage::Type::kPing: return link_->send(message({{"type", "pong"}}));
      case ClientMessage::Type::kText: return on_speak(m);
      case ClientMessage::Type::kControl: return on_control(m);
      case ClientMessage::Type::kUnknown: break;
    }
    error("Unknown message type '" + m.type_name.substr(0, 40) + "' (known: text, control, ping)");
  }

  void on_close(std::string_view) override {
    {
      std::lock_guard lock(link_->mu_);
      link_->closed_ = true;
      link_->conn_.reset();
    }
    hub_.forget(link_.get());
    if (auto session = link_->session()) {
      auto link = link_;
      asio::post(session->executor(), [session, link] { session->remove_observer(link.get()); });
    }
  }

 private:
  void error(const std::string& detail) { link_->send(message({{"type", "error"}, {"detail", detail}})); }

  void control_response(const std::string& action, bool ok, const std::string& err = {}) {
    json::object o{{"type", "control_response"}, {"action", action}, {"success", ok}};
    if (!err.empty()) o["error"] = err;
    link_->send(message(std::move(o)));
  }

  void on_speak(ClientMessage& m) {
    std::string& text = m.text;
    if (!m.field_error.empty()) {
      link_->send(message({{"type", "synthesis_error"}, {"text", text.substr(0, 200)}, {"error", m.field_error}}));
      return;
    }
    auto session = link_->session();
    if (!session) {
      link_->send(message({{"type", "synthesis_error"},
                           {"text", text},
                           {"error", "No call is bound to this socket yet: wait for call_bound"}}));
      return;
    }
    asio::post(session->executor(), [session, text = std::move(text)]() mutable {
      if (!session->ended()) session->say(std::move(text));
    });
  }

  void on_control(const ClientMessage& m) {
    const std::string& action = m.action;
    auto session = link_->session();
    if (action != "stop_synthesis" && action != "update_voice" && action != "get_call_info" && action != "hangup")
      return control_response(action, false,
                              "Unknown action (known: stop_synthesis, update_voice, get_call_info, hangup)");
    if (!session) return control_response(action, false, "No call is bound to this socket yet");
    auto link = link_;
    if (action == "stop_synthesis") {
      asio::post(session->executor(), [session, link] {
        session->stop_speaking();
        link->send(message({{"type", "control_response"}, {"action", "stop_synthesis"}, {"success", true}}));
      });
      return;
    }
    if (action == "hangup") {
      asio::post(session->executor(), [session, link] {
        session->hang_up("ended by the client socket");
        link->send(message({{"type", "control_response"}, {"action", "hangup"}, {"success", true}}));
      });
      return;
    }
    const ControlServices* svc = hub_.svc_;
    if (action == "update_voice") {
      if (!m.field_error.empty()) return control_response(action, false, m.field_error);
      const std::string voice_id = m.voice_id;
      const SettingsPatch patch = m.voice_settings.value_or(SettingsPatch{});
      vox::spawn(
          link->conn_->executor(),
          [svc, session, link, voice_id, patch]() -> asio::awaitable<void> {
            bool ok = voice_id.empty();
            std::string err;
            if (!ok) {
              try {
                ok = co_await svc->voices.exists(voice_id);
                if (!ok) err = "Invalid voice ID: " + voice_id;
              } catch (const std::exception& e) {
                err = std::string("Could not check the voice: ") + e.what();
              }
            }
            if (!ok) {
              link->send(message({{"type", "control_response"}, {"action", "update_voice"}, {"success", false}, {"error", err}}));
              co_return;
            }
            asio::post(session->executor(), [svc, session, link, voice_id, patch] {
              const std::string v = voice_id.empty() ? session->voice_id() : voice_id;
              const auto s = patch.apply(session->voice_settings());
              session->set_voice(v, s);
              record_voice_change(*svc, session->context().call_sid, v, s);
              link->send(message({{"type", "control_response"},
                                  {"action", "update_voice"},
                                  {"success", true},
                                  {"voice_id", v},
                                  {"voice_settings", settings_json(s)}}));
            });
          },
          "client socket action");
      return;
    }
    // get_call_info
    const std::string sid = session->context().call_sid;
    vox::spawn(
        link->conn_->executor(),
        [svc, link, sid]() -> asio::awaitable<void> {
          json::object info;
          std::string err;
          try {
            info = co_await call_info(*svc, sid, link->who_);
          } catch (const std::exception& e) {
            err = e.what();
          }
          json::object o{{"type", "control_response"}, {"action", "get_call_info"}, {"success", err.empty()}};
          if (err.empty()) o["call_info"] = std::move(info);
          else o["error"] = err;
          link->send(message(std::move(o)));
        },
        "client socket action");
  }

  ClientHub& hub_;
  std::shared_ptr<ClientLink> link_;
};

std::unique_ptr<net::WsHandler> ClientHub::open(const net::HttpRequest& req, net::HttpResponse& reject) {
  const std::string peer(req.param("peer_id"));
  const std::string key(req.param("company_api_key"));
  const std::string agent_id(req.param("agent_id"));
  if (!safe_segment(peer) || !safe_segment(key) || !safe_segment(agent_id)) {
    reject = net::HttpResponse::error(400, "peer_id, company_api_key and agent_id must be 1 to 128 characters");
    return nullptr;
  }
  if (svc_->load && !svc_->load->admit(net::ShedKind::client_socket)) {
    reject = overloaded_response(*svc_->load, "client socket refused");
    return nullptr;
  }
  Principal who{std::string(Tenants::kLocal), true};
  if (!svc_->tenants.open()) {
    auto tenant = svc_->tenants.tenant_for(key);
    if (!tenant) {
      spdlog::warn("client socket refused: invalid company API key remote={}", req.remote);
      reject = net::HttpResponse::error(401, "Invalid API key");
      return nullptr;
    }
    who = Principal{std::move(*tenant), false};
  }
  const auto format = std::string(net::form_value(net::parse_form(req.query), "audio_format"));
  if (!format.empty() && format != "ulaw_8000" && format != "pcm_16000") {
    reject = net::HttpResponse::error(400, "audio_format must be ulaw_8000 or pcm_16000");
    return nullptr;
  }
  // A socket naming another company's call learns nothing about it.
  if (const auto sid = peer_call_sid(peer); !sid.empty()) {
    std::string owner;
    bool known = false;
    if (auto s = svc_->registry.find(sid)) known = true, owner = s->context().tenant;
    else if (auto r = svc_->registry.record(sid)) known = true, owner = r->tenant;
    if (known && !who.may_access(owner)) {
      reject = net::HttpResponse::error(404, "Call not found");
      return nullptr;
    }
  }
  {
    std::lock_guard lock(mu_);
    int& n = sockets_per_key_[who.open ? std::string(Tenants::kLocal) : who.tenant];
    if (n >= svc_->settings.max_client_sockets_per_key) {
      reject = net::HttpResponse::error(429, "Too many open WebSockets for this API key (limit " +
                                                 std::to_string(svc_->settings.max_client_sockets_per_key) + ")");
      return nullptr;
    }
    ++n;
  }
  auto link = std::make_shared<ClientLink>(*this, peer, key, who, agent_id, format == "pcm_16000");
  spdlog::info("client socket opened peer_id={} agent_id={} tenant={} remote={}", peer, agent_id, who.tenant, req.remote);
  return std::make_unique<ClientSocket>(*this, std::move(link));
}

void ClientHub::wait(const std::shared_ptr<ClientLink>& link) {
  std::lock_guard lock(mu_);
  {
    std::lock_guard l(link->mu_);
    if (link->closed_) return;
  }
  for (const auto& w : waiting_)
    if (w.lock() == link) return;
  waiting_.push_back(link);
}

void ClientHub::forget(const ClientLink* link) {
  std::lock_guard lock(mu_);
  std::erase_if(waiting_, [link](const auto& w) {
    auto l = w.lock();
    return !l || l.get() == link;
  });
  auto it = sockets_per_key_.find(link->who_.open ? std::string(Tenants::kLocal) : link->who_.tenant);
  if (it != sockets_per_key_.end() && --it->second <= 0) sockets_per_key_.erase(it);
}

void ClientHub::session_started(const std::shared_ptr<call::CallSession>& session) {
  std::vector<std::shared_ptr<ClientLink>> bind;
  bool agent_taken = false;
  {
    std::lock_guard lock(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      auto link = it->lock();
      if (!link) {
        it = waiting_.erase(it);
        continue;
      }
      // Every socket naming this call binds; of those waiting for the agent's next call, one.
      const bool by_sid = link->names_call();
      if (link->wants(*session) && (by_sid || !agent_taken)) {
        if (!by_sid) agent_taken = true;
        bind.push_back(std::move(link));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& link : bind) link->bind(session);
  if (!agent_taken && on_agent_call_unclaimed && !session->context().agent_id.empty()) on_agent_call_unclaimed(session);
}

bool ClientHub::take_waiting(const net::WsHandler* local) {
  const auto* socket = dynamic_cast<const ClientSocket*>(local);
  if (!socket) return false;
  const ClientLink* link = socket->link().get();
  // Only a socket still waiting for its agent's first call: one that named a call, or was
  // bound once (it then waits for that call's next stream), keeps waiting here.
  if (link->names_call()) return false;
  std::lock_guard lock(mu_);
  const auto before = waiting_.size();
  std::erase_if(waiting_, [link](const auto& w) { return w.lock().get() == link; });
  return waiting_.size() != before;
}

void ClientHub::add_remote_waiter(const std::string& token, std::function<bool(const std::string&)> claim) {
  std::lock_guard lock(mu_);
  remote_waiters_[token] = std::move(claim);
}

void ClientHub::remove_remote_waiter(const std::string& token) {
  std::lock_guard lock(mu_);
  remote_waiters_.erase(token);
}

bool ClientHub::claim_remote_waiter(const std::string& token, const std::string& call_sid) {
  std::function<bool(const std::string&)> claim;
  {
    std::lock_guard lock(mu_);
    auto it = remote_waiters_.find(token);
    if (it == remote_waiters_.end()) return false;
    claim = std::move(it->second);
    remote_waiters_.erase(it);
  }
  return claim(call_sid);
}

std::size_t ClientHub::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

}  // namespace vox::api
