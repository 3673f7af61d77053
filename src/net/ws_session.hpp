#pragma once
// A WebSocket connection of the server, as a template over the stream (plain TCP or
// TLS): a read loop coroutine and a single writer, both on the connection's strand.
// Included by ws_session_plain.cpp and ws_session_tls.cpp only.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <type_traits>

#include "net/server_session.hpp"
#include "net/ws_write_queue.hpp"

namespace vox::net::detail {

// How long the closing handshake may take before the connection is dropped.
inline constexpr std::chrono::milliseconds kCloseTimeout{2000};

// The bare socket a plain WebSocket session runs on. It differs from tcp::socket only in
// its teardown (below): after a close, Beast's server side shuts its sending side down
// and then reads until the peer closes, with no timer. A peer that breaks the protocol
// (Beast answers with a close frame, 1002 or 1009) and then keeps its end open would
// hold the session, and the call behind it, until --ws-idle-timeout.
class WsSocket : public tcp::socket {
 public:
  explicit WsSocket(tcp::socket&& socket) : tcp::socket(std::move(socket)), teardown_timer_(get_executor()) {}

  // Closes the socket kCloseTimeout from now unless end_teardown() comes first.
  void bound_teardown() {
    teardown_timer_.expires_after(kCloseTimeout);
    teardown_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;  // ended, or the socket is gone
      spdlog::info("ws peer did not close its side within {} ms of the server's close; disconnecting",
                   kCloseTimeout.count());
      teardown_cut_ = true;
      beast::error_code ignored;
      close(ignored);
    });
  }
  void end_teardown() { teardown_timer_.cancel(); }
  // Whether bound_teardown's timer closed the socket.
  bool teardown_cut() const { return teardown_cut_; }

 private:
  asio::steady_timer teardown_timer_;
  bool teardown_cut_ = false;
};

// Found by Beast's WebSocket (argument-dependent lookup) for a WsSocket: its own tcp
// teardown, bounded by kCloseTimeout.
template <typename Handler>
void async_teardown(beast::role_type role, WsSocket& socket, Handler&& handler) {
  socket.bound_teardown();
  beast::websocket::async_teardown(role, static_cast<tcp::socket&>(socket), std::forward<Handler>(handler));
}

// One WebSocket connection: a read loop coroutine and a single writer, both on the
// connection's strand.
template <typename NextLayer>
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession<NextLayer>> {
 public:
  WsSession(NextLayer&& stream, std::unique_ptr<WsHandler> handler, const ServerLimits& limits, std::string remote)
      : ws_(std::move(stream)),
        handler_(std::move(handler)),
        max_queue_(limits.max_ws_queue),
        remote_(std::move(remote)),
        idle_limit_(limits.ws_idle),
        idle_timer_(ws_.get_executor()) {
    ws_.read_message_max(limits.max_ws_frame_hard);
    // Beast's own idle timeout re-arms a timer on every read: a timer cancel and a
    // cancelled handler per message, 50 a second on a media stream. The idle limit is
    // kept here instead, with one timer wake-up per idle period (arm_idle_timer).
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = websocket::stream_base::none();
    ws_.set_option(timeouts);
    // A ping, pong or close frame from the peer counts as activity, as a message does.
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { last_read_ = std::chrono::steady_clock::now(); });
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "voxbridge"); }));
  }

  void set_idle_limit(std::chrono::milliseconds limit) override {
    idle_limit_ = limit;
    arm_idle_timer();  // (re-armed from the last read; the pending wait is cancelled)
  }

  asio::awaitable<void> run(http::request<http::string_body> upgrade) {
    auto [ec] = co_await ws_.async_accept(upgrade, kTuple);
    if (ec) {
      spdlog::warn("ws handshake failed remote={} error={}", remote_, ec.message());
      finish("handshake failed");
      co_return;
    }
    // The opening handshake is done; the closing one is bounded by begin_close's own
    // timer, so Beast arms none (its timer would outlive a connection dropped at shutdown).
    auto open_timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    open_timeouts.idle_timeout = websocket::stream_base::none();
    open_timeouts.handshake_timeout = websocket::stream_base::none();
    ws_.set_option(open_timeouts);
    last_read_ = std::chrono::steady_clock::now();
    handler_->on_open(this->shared_from_this());  // (may set this socket's own idle limit)
    arm_idle_timer();
    beast::flat_buffer buffer;
    std::string reason = "closed";
    for (;;) {
      auto read_token = asio::bind_cancellation_slot(read_cancel_.slot(), kTuple);
      auto [rec, n] = co_await ws_.async_read(buffer, read_token);
      last_read_ = std::chrono::steady_clock::now();
      if (rec) {
        bool teardown_cut = false;
        if constexpr (std::is_same_v<NextLayer, WsSocket>) teardown_cut = ws_.next_layer().teardown_cut();
        if (idle_timed_out_) {
          reason = "idle timeout";
        } else if (teardown_cut) {
          reason = "peer kept the connection open after the close";
        } else if (rec == websocket::error::closed) {
          reason = "closed by peer";
        } else if (rec == websocket::error::message_too_big) {
          reason = "message too big";
          spdlog::warn("ws message over {} bytes; closing remote={}", ws_.read_message_max(), remote_);
        } else if (rec == asio::error::operation_aborted) {
          reason = "aborted";
        } else {
          reason = rec.message();
        }
        break;
      }
      const auto data = buffer.cdata();
      std::string_view msg(static_cast<const char*>(data.data()), data.size());
      try {
        if (ws_.got_text()) handler_->on_text(msg);
        else handler_->on_binary(msg);
      } catch (const std::exception& e) {
        spdlog::error("ws handler threw remote={} error={}", remote_, e.what());
      }
      buffer.consume(n);
    }
    finish(reason);
  }

  void send_text(std::string message) override {
    // From the connection's own strand (the call's media path) the message is queued at
    // once; from anywhere else it is posted there.
    if (on_strand(ws_.get_executor())) return push(std::move(message));
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(message)]() mutable {
      self->push(std::move(m));
    });
  }

  void send_text_copy(std::string_view message) override {
    if (!on_strand(ws_.get_executor())) return send_text(std::string(message));
    if (closed_ || writer_.close_requested()) return;
    if (writer_.size() >= max_queue_) return push(std::string(message));  // the overflow path
    writer_.push_copy(message, this->shared_from_this());
  }

  void send_binary_copy(std::string_view message) override {
    if (!on_strand(ws_.get_executor())) {
      asio::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::string(message)] {
        self->send_binary_copy(m);
      });
      return;
    }
    if (closed_ || writer_.close_requested()) return;
    if (writer_.size() >= max_queue_) return push(std::string());  // the overflow path closes the socket
    writer_.push_copy(message, this->shared_from_this(), true);
  }

  void close(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), code, r = std::move(reason)] {
      if (self->closed_) return;
      self->begin_close(websocket::close_reason(static_cast<websocket::close_code>(code), r));
    });
  }

  void abort() override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] { self->drop(); });
  }

  // Logs where this connection stands (shutdown's report on a connection that did not close).
  void report() {
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
      const auto now = std::chrono::steady_clock::now();
      const auto ms = [now](std::chrono::steady_clock::time_point t) {
        return t == std::chrono::steady_clock::time_point{} ? -1 : std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
      };
      spdlog::warn("  websocket remote={}: ended={} writing={} queued={} close_requested={} close_sent={} write_failed={} "
                   "last_heard_ms_ago={} close_requested_ms_ago={}",
                   self->remote_, self->closed_, self->writer_.writing(), self->writer_.size(), self->writer_.close_requested(),
                   self->writer_.closing(), self->writer_.failed(), ms(self->last_read_), ms(self->close_requested_at_));
    });
  }

  asio::any_io_executor executor() override { return ws_.get_executor(); }
  std::string_view remote() const override { return remote_; }

 private:
  void push(std::string message) {
    if (closed_ || writer_.close_requested()) return;
    if (writer_.size() >= max_queue_) {
      spdlog::warn("ws peer not reading; {} messages queued, closing remote={}", writer_.size(), remote_);
      writer_.drop_pending();
      begin_close(websocket::close_reason(websocket::close_code::policy_error, "send queue overflow"));
      return;
    }
    writer_.push(std::move(message), this->shared_from_this());
  }

  // Sends the close frame (after what is queued) and bounds the closing handshake: a peer
  // that has not completed it within kCloseTimeout is disconnected. (Both ends closing at
  // once can leave Beast's close and read operations each waiting for the other.)
  void begin_close(websocket::close_reason reason) {
    if (writer_.close_requested()) return;
    close_requested_at_ = std::chrono::steady_clock::now();
    writer_.close(std::move(reason), this->shared_from_this());
    close_timer_.expires_after(kCloseTimeout);
    close_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      spdlog::info("ws peer did not complete the close handshake within {} ms; disconnecting remote={}",
                   kCloseTimeout.count(), self->remote_);
      self->drop();
    });
  }

  // Closes the socket and ends the read and the close even when they wait on each other
  // inside Beast (no socket operation pending, so closing the socket alone wakes neither).
  void drop() {
    close_now(lowest_socket(ws_.next_layer()));
    read_cancel_.emit(asio::cancellation_type::terminal);
    writer_.abandon_close();
  }

  // Wakes once per idle period: the peer has sent nothing since `idle_limit_` ago: the
  // connection is dropped (its read loop ends with "idle timeout").
  void arm_idle_timer() {
    if (idle_limit_.count() <= 0 || closed_) return;
    idle_timer_.expires_at(last_read_ + idle_limit_);
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (std::chrono::steady_clock::now() - self->last_read_ < self->idle_limit_) return self->arm_idle_timer();
      spdlog::info("ws peer sent nothing for {} ms; closing remote={}", self->idle_limit_.count(), self->remote_);
      self->idle_timed_out_ = true;
      beast::error_code ignored;
      lowest_socket(self->ws_.next_layer()).close(ignored);
    });
  }

  void finish(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    idle_timer_.cancel();
    close_timer_.cancel();
    if constexpr (std::is_same_v<NextLayer, WsSocket>) ws_.next_layer().end_teardown();
    writer_.drop_pending();
    try {
      handler_->on_close(reason);
    } catch (const std::exception& e) {
      spdlog::error("ws on_close threw remote={} error={}", remote_, e.what());
    }
    // The handler usually holds a shared_ptr to this connection; dropping it here breaks
    // that cycle so the connection, the handler and the call are freed.
    handler_.reset();
  }

  websocket::stream<NextLayer> ws_;
  WsWriteQueue<websocket::stream<NextLayer>> writer_{ws_};
  std::unique_ptr<WsHandler> handler_;
  std::size_t max_queue_;
  std::string remote_;
  std::chrono::milliseconds idle_limit_;
  asio::steady_timer idle_timer_;
  asio::steady_timer close_timer_{ws_.get_executor()};
  asio::cancellation_signal read_cancel_;
  std::chrono::steady_clock::time_point last_read_;
  std::chrono::steady_clock::time_point close_requested_at_;
  bool idle_timed_out_ = false;
  bool closed_ = false;
};

// Registers `session` with the server (shutdown reaches it) and runs it to its end.
template <typename NextLayer>
asio::awaitable<void> run_registered(Server::Impl& impl, std::uint64_t id, std::shared_ptr<WsSession<NextLayer>> session,
                                     http::request<http::string_body> upgrade) {
  Server::Impl::Entry entry;
  entry.websocket = true;
  // The path as the log shows it: no query, secret segments (a key in the path) hidden.
  const std::string_view target = upgrade.target();
  entry.doing = impl.router.loggable_path(target.substr(0, target.find('?')));
  std::weak_ptr<WsSession<NextLayer>> weak = session;
  entry.go_away = [weak] {
    if (auto s = weak.lock()) s->close(static_cast<std::uint16_t>(websocket::close_code::going_away), "server shutting down");
  };
  entry.abort = [weak] {
    if (auto s = weak.lock()) s->abort();
  };
  entry.report = [weak] {
    if (auto s = weak.lock()) s->report();
  };
  impl.update(id, std::move(entry));
  co_await session->run(std::move(upgrade));
}

}  // namespace vox::net::detail
