#include "app/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace vox::app {

namespace {
int resolve_threads(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

Runtime::Runtime(int threads, std::size_t workers)
    : threads_(resolve_threads(threads)), ioc_(threads_), pool_(std::max<std::size_t>(1, workers)) {}

Runtime::~Runtime() { pool_.join(); }

void Runtime::run() {
  std::vector<std::thread> pool;
  for (int i = 1; i < threads_; ++i) pool.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : pool) t.join();
}

bool Runtime::drain(std::chrono::milliseconds limit) {
  ioc_.restart();
  // A watchdog stops the loop if work is still pending at the limit.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::atomic<bool> timed_out{false};
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, limit, [&] { return finished; })) {
      timed_out = true;
      ioc_.stop();
    }
  });
  ioc_.run();
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  return !timed_out;
}

}  // namespace vox::app
