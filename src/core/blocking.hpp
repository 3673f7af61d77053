#pragma once
// Slow work off the network threads: a small pool of worker threads for disk and
// database calls, and run_blocking() to await a function run there from a coroutine (it
// resumes on the coroutine's own executor). Network threads never wait on a disk.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>

namespace vox {

class BlockingPool {
 public:
  explicit BlockingPool(std::size_t threads) : pool_(threads) {}
  ~BlockingPool() { join(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs `fn` on a worker, fire and forget (its exceptions are its own to handle).
  template <typename F>
  void post(F fn) {
    boost::asio::post(pool_, std::move(fn));
  }
  boost::asio::thread_pool::executor_type executor() { return pool_.get_executor(); }
  // Finishes the queued work and stops the workers. Idempotent.
  void join() { pool_.join(); }

 private:
  boost::asio::thread_pool pool_;
};

// Runs `fn()` on `pool` and returns its result (or rethrows its exception) to the
// awaiting coroutine, on that coroutine's executor.
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_blocking(BlockingPool& pool, F fn) {
  using R = std::invoke_result_t<F&>;
  using Stored = std::conditional_t<std::is_void_v<R>, bool, R>;
  std::optional<Stored> result;
  std::exception_ptr error;
  co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
      [&pool, &fn, &result, &error](auto handler) {
        // The awaiting executor has work outstanding until the result is back on it.
        auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
        pool.post([&fn, &result, &error, home, h = std::move(handler)]() mutable {
          try {
            if constexpr (std::is_void_v<R>) {
              fn();
              result.emplace(true);
            } else {
              result.emplace(fn());
            }
          } catch (...) {
            error = std::current_exception();
          }
          boost::asio::post(home, std::move(h));
        });
      },
      boost::asio::use_awaitable);
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<R>) co_return std::move(*result);
}

}  // namespace vox
