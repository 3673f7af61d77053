#pragma once
// The process's event loop, its network threads and its worker pool, and the order in
// which they stop. Services are built after the Runtime and destroyed before it; every
// coroutine frame finishes (drain()) before the services it uses are destroyed.
#include <boost/asio/io_context.hpp>

#include <chrono>

#include "core/blocking.hpp"

namespace vox::app {

class Runtime {
 public:
  // `threads` network threads (0 = one per core) and `workers` threads for blocking work.
  explicit Runtime(int threads, std::size_t workers = 2);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  boost::asio::io_context& io() { return ioc_; }
  BlockingPool& blocking() { return pool_; }
  int threads() const { return threads_; }

  // Runs the loop on the network threads until stop() (or until it runs out of work).
  void run();
  // Makes run() return; callable from any thread (and from the loop).
  void stop() { ioc_.stop(); }
  // After run() returned: runs the loop again on this thread until no work is left, or
  // `limit` passes (false). Cancelled operations complete here, so coroutine frames end
  // while everything they use is alive.
  bool drain(std::chrono::milliseconds limit);
  // Finishes the blocking work and stops the workers. Idempotent.
  void join_workers() { pool_.join(); }

 private:
  int threads_;
  boost::asio::io_context ioc_;
  BlockingPool pool_;
};

}  // namespace vox::app
