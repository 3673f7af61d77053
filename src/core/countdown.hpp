#pragma once
// Waiting for things to finish without polling: a count that goes up as work starts and
// down as it ends (from any thread), and a coroutine that waits until it reaches zero or
// a deadline passes. The waiter's executor must be a strand (the count's timer lives
// there), as shutdown runs on one.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <memory>

namespace vox {

class Countdown : public std::enable_shared_from_this<Countdown> {
 public:
  // `strand`: where wait_zero() runs.
  explicit Countdown(boost::asio::any_io_executor strand) : timer_(std::move(strand)) {}

  void add(int n = 1) { pending_.fetch_add(n); }
  // One piece of work ended (any thread); the last one wakes the waiter.
  void done() {
    if (pending_.fetch_sub(1) == 1) {
      auto self = shared_from_this();
      boost::asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
    }
  }
  int pending() const { return pending_.load(); }

  // Completes when the count is zero (true) or at `deadline` (false). Run on the strand.
  boost::asio::awaitable<bool> wait_zero(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      if (pending_.load() <= 0) co_return true;
      if (std::chrono::steady_clock::now() >= deadline) co_return false;
      timer_.expires_at(deadline);
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

 private:
  boost::asio::steady_timer timer_;
  std::atomic<int> pending_{0};
};

}  // namespace vox
