#include "call/timer.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>

namespace vox::call {
namespace {

class AsioTimer final : public Timer {
 public:
  AsioTimer(boost::asio::any_io_executor strand, Clock& clock) : timer_(std::move(strand)), clock_(clock) {}
  ~AsioTimer() override { timer_.cancel(); }

  void expire_at(Clock::time_point at, std::function<void()> fn) override {
    const auto wait = at - clock_.now();
    timer_.expires_after(wait.count() > 0 ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait)
                                          : std::chrono::steady_clock::duration::zero());
    const auto setting = ++setting_;
    live_->store(setting);
    timer_.async_wait([fn = std::move(fn), setting, live = live_](boost::system::error_code ec) {
      // A later setting (or cancel()) makes this one stale even if it already fired.
      if (!ec && live->load() == setting) fn();
    });
  }
  void cancel() override {
    live_->store(0);
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  Clock& clock_;
  std::uint64_t setting_ = 0;
  std::shared_ptr<std::atomic<std::uint64_t>> live_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace

std::unique_ptr<Timer> AsioTimers::make(boost::asio::any_io_executor strand) {
  return std::make_unique<AsioTimer>(std::move(strand), clock_);
}

}  // namespace vox::call
