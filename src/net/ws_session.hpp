#pragma once
// A WebSocket connection of the server, as a template over the stream (plain TCP or
// TLS): a read loop coroutine and a single writer, both on the connection's strand.
// Included by ws_session_plain.cpp and ws_session_tls.cpp only.
#include <boost/asio/steady_timer.hpp>

#include <chrono>

#include "net/server_session.hpp"
#include "net/ws_write_queue.hpp"

namespace vox::net::detail {

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

  asio::awaitable<void> run(http::request<http::string_body> upgrade) {
    auto [ec] = co_await ws_.async_accept(upgrade, kTuple);
    if (ec) {
      spdlog::warn("ws handshake failed remote={} error={}", remote_, ec.message());
      finish("handshake failed");
      co_return;
    }
    handler_->on_open(this->shared_from_this());
    last_read_ = std::chrono::steady_clock::now();
    arm_idle_timer();
    beast::flat_buffer buffer;
    std::string reason = "closed";
    for (;;) {
      auto [rec, n] = co_await ws_.async_read(buffer, kTuple);
      last_read_ = std::chrono::steady_clock::now();
      if (rec) {
        if (idle_timed_out_) {
          reason = "idle timeout";
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

  void close(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), code, r = std::move(reason)] {
      if (self->closed_) return;
      self->writer_.close(websocket::close_reason(static_cast<websocket::close_code>(code), r), self);
    });
  }

  void abort() override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] { close_now(lowest_socket(self->ws_.next_layer())); });
  }

  asio::any_io_executor executor() override { return ws_.get_executor(); }
  std::string_view remote() const override { return remote_; }

 private:
  void push(std::string message) {
    if (closed_ || writer_.close_requested()) return;
    if (writer_.size() >= max_queue_) {
      spdlog::warn("ws peer not reading; {} messages queued, closing remote={}", writer_.size(), remote_);
      writer_.drop_pending();
      writer_.close(websocket::close_reason(websocket::close_code::policy_error, "send queue overflow"),
                    this->shared_from_this());
      return;
    }
    writer_.push(std::move(message), this->shared_from_this());
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
  std::chrono::steady_clock::time_point last_read_;
  bool idle_timed_out_ = false;
  bool closed_ = false;
};

// Registers `session` with the server (shutdown reaches it) and runs it to its end.
template <typename NextLayer>
asio::awaitable<void> run_registered(Server::Impl& impl, std::uint64_t id, std::shared_ptr<WsSession<NextLayer>> session,
                                     http::request<http::string_body> upgrade) {
  Server::Impl::Entry entry;
  entry.websocket = true;
  std::weak_ptr<WsSession<NextLayer>> weak = session;
  entry.go_away = [weak] {
    if (auto s = weak.lock()) s->close(static_cast<std::uint16_t>(websocket::close_code::going_away), "server shutting down");
  };
  entry.abort = [weak] {
    if (auto s = weak.lock()) s->abort();
  };
  impl.update(id, std::move(entry));
  co_await session->run(std::move(upgrade));
}

}  // namespace vox::net::detail
