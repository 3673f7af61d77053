#pragma once
// The single writer of a Beast WebSocket stream: queued text messages are written one
// at a time, in order, and a close is sent only after everything queued before it.
// Used on the stream's strand only; `keep_alive` keeps the owner alive while a write
// or close is in flight.
#include <boost/beast/websocket.hpp>

#include <deque>
#include <memory>
#include <string>

namespace vox::net {

template <typename Stream>
class WsWriteQueue {
 public:
  explicit WsWriteQueue(Stream& ws) : ws_(ws) {}

  // Queues `message`; ignored once a close was requested or the stream failed.
  void push(std::string message, std::shared_ptr<void> keep_alive) {
    if (close_requested_ || failed_) return;
    queue_.push_back(std::move(message));
    if (!writing_) write_next(std::move(keep_alive));
  }

  // Sends a close frame after the messages already queued.
  void close(boost::beast::websocket::close_reason reason, std::shared_ptr<void> keep_alive) {
    if (close_requested_ || failed_) return;
    close_requested_ = true;
    reason_ = std::move(reason);
    if (!writing_) do_close(std::move(keep_alive));
  }

  // Drops queued messages that have not started writing.
  void drop_pending() {
    while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
  }

  std::size_t size() const { return queue_.size(); }
  bool close_requested() const { return close_requested_; }

 private:
  void write_next(std::shared_ptr<void> keep_alive) {
    if (queue_.empty()) {
      writing_ = false;
      if (close_requested_) do_close(std::move(keep_alive));
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(queue_.front()),
                    [this, keep = std::move(keep_alive)](boost::beast::error_code ec, std::size_t) mutable {
                      queue_.pop_front();
                      if (ec) {
                        failed_ = true;
                        queue_.clear();
                        writing_ = false;
                        return;
                      }
                      write_next(std::move(keep));
                    });
  }

  void do_close(std::shared_ptr<void> keep_alive) {
    if (closing_ || failed_) return;
    closing_ = true;
    ws_.async_close(reason_, [keep = std::move(keep_alive)](boost::beast::error_code) {});
  }

  Stream& ws_;
  std::deque<std::string> queue_;
  boost::beast::websocket::close_reason reason_{boost::beast::websocket::close_code::normal};
  bool writing_ = false;
  bool close_requested_ = false;
  bool closing_ = false;
  bool failed_ = false;
};

}  // namespace vox::net
