#include "app/runtime.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "net/thread_context.hpp"

namespace vox::app {

namespace {
int resolve_threads(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

Runtime::Runtime(int threads, std::size_t workers)
    : threads_(resolve_threads(threads)), pool_(std::max<std::size_t>(1, workers)) {
  // Concurrency hint 1: each io_context is run by exactly one thread.
  for (int i = 0; i < threads_; ++i) contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
}

Runtime::~Runtime() { pool_.join(); }

std::vector<boost::asio::io_context*> Runtime::contexts() {
  std::vector<boost::asio::io_context*> out;
  for (auto& c : contexts_) out.push_back(c.get());
  return out;
}

void Runtime::stop() {
  for (auto& c : contexts_) c->stop();
}

void Runtime::run_all(bool keep_others_alive) {
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<Guard>> guards;
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    // The other loops may have nothing to do until a connection comes: they wait for the
    // first to finish instead of returning at once.
    if (keep_others_alive) guards.push_back(std::make_unique<Guard>(contexts_[i]->get_executor()));
    pool.emplace_back([ctx = contexts_[i].get()] {
      net::ThisThreadRuns mark(*ctx);
      ctx->run();
    });
  }
  {
    net::ThisThreadRuns mark(*contexts_.front());
    contexts_.front()->run();
  }
  guards.clear();
  for (auto& t : pool) t.join();
}

void Runtime::run() { run_all(true); }

bool Runtime::drain(std::chrono::milliseconds limit) {
  for (auto& c : contexts_) c->restart();
  // A watchdog stops the loops if work is still pending at the limit.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  bool timed_out = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, limit, [&] { return finished; })) {
      timed_out = true;
      stop();
    }
  });
  for (bool more = true; more;) {
    run_all(false);
    // A loop may have posted to another after that one ran out of work and returned: run
    // again until a pass finds nothing left anywhere.
    more = false;
    for (auto& c : contexts_) {
      {
        std::lock_guard lock(mu);  // never undo the watchdog's stop()
        if (timed_out) break;
        c->restart();
      }
      if (c->poll() > 0) more = true;
    }
  }
  std::unique_lock lock(mu);
  finished = true;
  const bool drained = !timed_out;
  lock.unlock();
  cv.notify_all();
  watchdog.join();
  return drained;
}

}  // namespace vox::app
