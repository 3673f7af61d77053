#pragma once
// The process's event loops, its network threads and its worker pool, and the order in
// which they stop. Each network thread runs its own io_context (no handler moves between
// threads, no strand is needed within a call); the first one also carries the process-wide
// work (signals, shutdown, the store's completions). Services are built after the Runtime
// and destroyed before it; every coroutine frame finishes (drain()) before the services it
// uses are destroyed.
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "core/blocking.hpp"

namespace vox::app {

class Runtime {
 public:
  // `threads` network threads (0 = one per core) and `workers` threads for blocking work.
  explicit Runtime(int threads, std::size_t workers = 2);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The first network thread's io_context: process-wide work.
  boost::asio::io_context& io() { return *contexts_.front(); }
  // Every network thread's io_context, one per thread (connections are spread over them).
  std::vector<boost::asio::io_context*> contexts();
  BlockingPool& blocking() { return pool_; }
  int threads() const { return threads_; }

  // Runs the loops on the network threads (this one runs the first) until stop(), or until
  // the first runs out of work and the others then finish theirs.
  void run();
  // Makes run() return; callable from any thread (and from the loops).
  void stop();
  // After run() returned: runs the loops again until no work is left, or `limit` passes
  // (false). Cancelled operations complete here, so coroutine frames end while everything
  // they use is alive.
  bool drain(std::chrono::milliseconds limit);
  // Finishes the blocking work and stops the workers. Idempotent.
  void join_workers() { pool_.join(); }

 private:
  // Runs every loop, the first on this thread. With `keep_others_alive` the others wait for
  // work until the first returns; then (and without it) each returns when out of work.
  void run_all(bool keep_others_alive);

  int threads_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  BlockingPool pool_;
};

}  // namespace vox::app
