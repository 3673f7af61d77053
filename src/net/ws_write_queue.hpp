#pragma once
// The single writer of a Beast WebSocket stream: queued text messages (and pings) are
// written one at a time, in order, and a close is sent only after everything queued
// before it. Used on the stream's strand only; `keep_alive` keeps the owner alive while
// a write or close is in flight.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vox::net {

template <typename Stream>
class WsWriteQueue {
 public:
  explicit WsWriteQueue(Stream& ws) : ws_(ws) {}

  // Queues `message`; ignored once a close was requested or the stream failed.
  void push(std::string message, std::shared_ptr<void> keep_alive) {
    if (close_requested_ || failed_) return;
    queue_.push_back(Item{std::move(message), false});
    if (!writing_) write_next(std::move(keep_alive));
  }

  // Queues a copy of `message` in a recycled buffer (no allocation once the buffers
  // have grown to the messages' size).
  void push_copy(std::string_view message, std::shared_ptr<void> keep_alive, bool binary = false) {
    if (close_requested_ || failed_) return;
    Item item;
    item.binary = binary;
    if (!spare_.empty()) {
      item.data = std::move(spare_.back());
      spare_.pop_back();
    }
    item.data.assign(message);
    queue_.push_back(std::move(item));
    if (!writing_) write_next(std::move(keep_alive));
  }

  // Queues a ping frame (a keep-alive), in order with the messages.
  void ping(std::shared_ptr<void> keep_alive) {
    if (close_requested_ || failed_) return;
    queue_.push_back(Item{std::string(), true});
    if (!writing_) write_next(std::move(keep_alive));
  }

  // Sends a close frame after the messages already queued.
  void close(boost::beast::websocket::close_reason reason, std::shared_ptr<void> keep_alive) {
    if (close_requested_ || failed_) return;
    close_requested_ = true;
    reason_ = std::move(reason);
    if (!writing_) do_close(std::move(keep_alive));
  }

  // Ends a close that is stuck inside Beast (see WsSession::begin_close): the close
  // operation completes with operation_aborted. On the stream's strand.
  void abandon_close() { close_cancel_.emit(boost::asio::cancellation_type::terminal); }

  // Drops queued messages that have not started writing.
  void drop_pending() {
    while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
  }

  std::size_t size() const { return queue_.size(); }
  bool close_requested() const { return close_requested_; }
  bool writing() const { return writing_; }
  bool closing() const { return closing_; }  // the close frame is being written or was
  bool failed() const { return failed_; }

 private:
  struct Item {
    std::string data;
    bool ping = false;
    bool binary = false;
  };
  static constexpr std::size_t kMaxSpare = 4;

  void write_next(std::shared_ptr<void> keep_alive) {
    if (queue_.empty()) {
      writing_ = false;
      if (close_requested_) do_close(std::move(keep_alive));
      return;
    }
    writing_ = true;
    auto done = [this, keep = std::move(keep_alive)](boost::beast::error_code ec, auto&&...) mutable {
      if (spare_.size() < kMaxSpare && !queue_.front().ping) spare_.push_back(std::move(queue_.front().data));
      queue_.pop_front();
      if (ec) {
        failed_ = true;
        queue_.clear();
        writing_ = false;
        return;
      }
      write_next(std::move(keep));
    };
    if (queue_.front().ping) {
      ws_.async_ping({}, std::move(done));
      return;
    }
    ws_.binary(queue_.front().binary);
    ws_.async_write(boost::asio::buffer(queue_.front().data), std::move(done));
  }

  void do_close(std::shared_ptr<void> keep_alive) {
    if (closing_ || failed_) return;
    closing_ = true;
    ws_.async_close(reason_, boost::asio::bind_cancellation_slot(
                                 close_cancel_.slot(), [keep = std::move(keep_alive)](boost::beast::error_code) {}));
  }

  Stream& ws_;
  boost::asio::cancellation_signal close_cancel_;
  std::deque<Item> queue_;
  std::vector<std::string> spare_;  // written messages' buffers, kept for reuse
  boost::beast::websocket::close_reason reason_{boost::beast::websocket::close_code::normal};
  bool writing_ = false;
  bool close_requested_ = false;
  bool closing_ = false;
  bool failed_ = false;
};

}  // namespace vox::net
