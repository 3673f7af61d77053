#pragma once
// Waiting inside HTTP handlers for things that happen on other strands (a call's), with
// no coroutine lambdas or captured closures crossing into coroutine frames (GCC 12
// mishandles those): work is posted, and the handler waits on a timer of its own
// strand that the other side cancels.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>

namespace vox::net {

// The result of work posted to a call's strand, awaited by a handler on its own strand.
template <typename R>
class StrandResult : public std::enable_shared_from_this<StrandResult<R>> {
 public:
  explicit StrandResult(boost::asio::any_io_executor here) : timer_(std::move(here)) {
    timer_.expires_at(boost::asio::steady_timer::time_point::max());
  }
  void set(R value) {
    {
      std::lock_guard lock(mu_);
      value_ = std::move(value);
    }
    auto self = this->shared_from_this();
    boost::asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
  }
  // Returns the value once set (resumes on the awaiting handler's strand).
  boost::asio::awaitable<R> get() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (value_) co_return std::move(*value_);
      }
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

 private:
  boost::asio::steady_timer timer_;
  std::mutex mu_;
  std::optional<R> value_;
};

// Posts `fn` to `target` (a call's strand); await `->get()` on the returned object for its result.
template <typename F>
auto run_on(boost::asio::any_io_executor target, boost::asio::any_io_executor here, F fn) {
  using R = std::invoke_result_t<F&>;
  auto result = std::make_shared<StrandResult<R>>(std::move(here));
  boost::asio::post(target, [result, fn = std::move(fn)]() mutable { result->set(fn()); });
  return result;
}

// Wakes a handler waiting on its strand: `notify()` from any thread ends the current
// `wait_until`. A notify that comes while the handler is not waiting is not kept, so
// check the state you wait for before each wait (on the same strand, nothing can slip
// in between the check and the wait).
class Wakeup : public std::enable_shared_from_this<Wakeup> {
 public:
  explicit Wakeup(boost::asio::any_io_executor here) : timer_(std::move(here)) {}
  void notify() {
    auto self = shared_from_this();
    boost::asio::post(timer_.get_executor(), [self] { self->timer_.cancel(); });
  }
  boost::asio::awaitable<void> wait_until(boost::asio::steady_timer::time_point deadline) {
    timer_.expires_at(deadline);
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace vox::net
