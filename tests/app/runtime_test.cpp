// The Runtime's network threads: one io_context each, the calling thread runs the first,
// and drain() finishes work that one loop hands another after that one has stopped.
#include "app/runtime.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "net/thread_context.hpp"

namespace asio = boost::asio;
using vox::app::Runtime;

TEST(Runtime, EachNetworkThreadRunsItsOwnContext) {
  Runtime rt(2, 1);
  const auto contexts = rt.contexts();
  ASSERT_EQ(contexts.size(), 2u);
  EXPECT_NE(contexts[0], contexts[1]);
  EXPECT_EQ(&rt.io(), contexts[0]);

  asio::io_context elsewhere;  // what a thread that runs no loop gets back
  EXPECT_EQ(&vox::net::context_of_this_thread(elsewhere), &elsewhere);

  std::thread::id thread_of[2];
  asio::io_context* context_seen[2] = {nullptr, nullptr};
  std::atomic<int> done{0};
  for (int i = 0; i < 2; ++i) {
    asio::post(*contexts[i], [&, i] {
      thread_of[i] = std::this_thread::get_id();
      context_seen[i] = &vox::net::context_of_this_thread(elsewhere);
      if (++done == 2) rt.stop();
    });
  }
  rt.run();
  ASSERT_EQ(done.load(), 2);
  EXPECT_EQ(thread_of[0], std::this_thread::get_id());  // the caller runs the first loop
  EXPECT_NE(thread_of[1], thread_of[0]);
  EXPECT_EQ(context_seen[0], contexts[0]);
  EXPECT_EQ(context_seen[1], contexts[1]);
}

TEST(Runtime, DrainFinishesWorkPostedToALoopThatHadAlreadyStopped) {
  Runtime rt(2, 1);
  const auto contexts = rt.contexts();
  bool ran = false;
  // The first loop waits until the second has run out of work and returned, then hands
  // it one more handler: drain() must still run it.
  asio::steady_timer poll(*contexts[0]);
  std::function<void()> wait_for_second = [&] {
    if (!contexts[1]->stopped()) {
      poll.expires_after(std::chrono::milliseconds(1));
      poll.async_wait([&](boost::system::error_code) { wait_for_second(); });
      return;
    }
    asio::post(*contexts[1], [&] { ran = true; });
  };
  asio::post(*contexts[0], wait_for_second);
  EXPECT_TRUE(rt.drain(std::chrono::seconds(20)));
  EXPECT_TRUE(ran);
}

TEST(Runtime, DrainGivesUpAtItsLimit) {
  Runtime rt(2, 1);
  asio::steady_timer forever(*rt.contexts()[1]);
  forever.expires_after(std::chrono::hours(1));
  bool fired = false;
  forever.async_wait([&](boost::system::error_code) { fired = true; });
  EXPECT_FALSE(rt.drain(std::chrono::milliseconds(100)));
  EXPECT_FALSE(fired);
}
