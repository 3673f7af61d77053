// The cluster's directory (cluster/cluster.hpp) with two instances sharing a real
// redis-server, without HTTP: text queued for a call that has not started reaches the
// instance its stream starts on, exactly once, whatever the order; a reconnected stream
// keeps its call registered; a registration Redis missed is made again.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/cluster.hpp"
#include "e2e_support.hpp"
#include "support/services.hpp"

namespace vox::test {
namespace {
using cluster::Cluster;
using cluster::Owner;
using namespace std::chrono_literals;
using Kind = Cluster::TextQueued::Kind;

// One instance's directory on its own I/O thread (its advertised URL is never dialled).
struct Instance {
  Instance(const std::string& redis_url, std::string id, std::chrono::milliseconds heartbeat = 100ms) {
    cluster::ClusterSettings s;
    s.redis.url = redis_url;
    s.redis.backoff_min = 20ms;
    s.redis.backoff_max = 100ms;
    s.instance_id = id;
    s.heartbeat = heartbeat;
    s.ttl = 5 * heartbeat;
    cluster = std::make_unique<Cluster>(io.context().get_executor(), s);
    cluster->start("http://127.0.0.1:9/" + id);
  }
  ~Instance() {
    io.run([&] { return cluster->stop(); });
  }
  Cluster::TextQueued queue(const std::string& sid, const std::string& text, int limit = 20) {
    return io.run([&] { return cluster->queue_text(sid, text, limit); });
  }
  Owner owner_of(const std::string& sid) {
    return io.run([&] { return cluster->owner_of(sid); });
  }
  bool ready() {
    return eventually([&] { return cluster->redis_up(); }, 10s);
  }
  IoThread io;
  std::unique_ptr<Cluster> cluster;
};

// What an owner was handed by call_started.
struct Handed {
  std::function<void(std::vector<std::string>)> callback() {
    return [this](std::vector<std::string> texts) {
      std::lock_guard lock(mu);
      got.insert(got.end(), texts.begin(), texts.end());
    };
  }
  std::vector<std::string> texts() {
    std::lock_guard lock(mu);
    return got;
  }
  std::mutex mu;
  std::vector<std::string> got;
};

TEST(ClusterDirectory, TextQueuedBeforeTheStreamGoesToItsOwnerAndTextAfterItFindsTheOwner) {
  RedisServer redis;
  Instance a(redis.url(), "a"), b(redis.url(), "b");
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(b.ready());
  const std::string sid = "CA" + std::string(32, '1');
  EXPECT_EQ(b.queue("CA" + std::string(32, '2'), "x", 1).kind, Kind::kQueued);
  EXPECT_EQ(b.queue("CA" + std::string(32, '2'), "y", 1).kind, Kind::kFull);

  ASSERT_EQ(b.queue(sid, "one").kind, Kind::kQueued);
  ASSERT_EQ(b.queue(sid, "two").kind, Kind::kQueued);
  Handed first;
  a.cluster->call_started(sid, "acme", first.callback());
  ASSERT_TRUE(eventually([&] { return first.texts().size() == 2; }, 10s));
  EXPECT_EQ(first.texts(), (std::vector<std::string>{"one", "two"}));

  // Registered now: the text is not queued but sent to the owner.
  const auto later = b.queue(sid, "three");
  ASSERT_EQ(later.kind, Kind::kHeld);
  EXPECT_EQ(later.owner.kind, Owner::Kind::kElsewhere);
  EXPECT_EQ(later.owner.instance_id, "a");
  EXPECT_EQ(later.owner.url, "http://127.0.0.1:9/a");
  const auto here = a.queue(sid, "three");
  ASSERT_EQ(here.kind, Kind::kHeld);
  EXPECT_EQ(here.owner.kind, Owner::Kind::kHere);

  // Ended: the next stream of the sid gets what is queued from now on, and nothing refused above.
  a.cluster->call_ended(sid);
  ASSERT_TRUE(eventually([&] { return b.owner_of(sid).kind == Owner::Kind::kNobody; }, 10s));
  ASSERT_EQ(b.queue(sid, "four").kind, Kind::kQueued);
  Handed second;
  b.cluster->call_started(sid, "acme", second.callback());
  ASSERT_TRUE(eventually([&] { return !second.texts().empty(); }, 10s));
  EXPECT_EQ(second.texts(), (std::vector<std::string>{"four"}));
  b.cluster->call_ended(sid);
}

TEST(ClusterDirectory, AReconnectedStreamKeepsItsCallRegisteredUntilBothStreamsEnd) {
  RedisServer redis;
  Instance a(redis.url(), "a"), b(redis.url(), "b");
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(b.ready());
  const std::string sid = "CA" + std::string(32, '3');
  a.cluster->call_started(sid, "acme");
  a.cluster->call_started(sid, "acme");  // the new stream, before the old one has ended
  ASSERT_TRUE(eventually([&] { return b.owner_of(sid).kind == Owner::Kind::kElsewhere; }, 10s));
  a.cluster->call_ended(sid);  // the old stream
  EXPECT_TRUE(a.cluster->holds(sid));  // (its heartbeat keeps registering what it holds)
  EXPECT_EQ(b.owner_of(sid).instance_id, "a");
  a.cluster->call_ended(sid);
  EXPECT_FALSE(a.cluster->holds(sid));
  EXPECT_TRUE(eventually([&] { return b.owner_of(sid).kind == Owner::Kind::kNobody; }, 10s));
}

TEST(ClusterDirectory, ACallStartedWhileRedisWasDownIsRegisteredAndGetsItsTextWhenRedisReturns) {
  RedisServer redis;
  // A long heartbeat: the retried registration, not the next heartbeat, is what takes the text.
  Instance a(redis.url(), "a", 1500ms), b(redis.url(), "b");
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(b.ready());
  redis.stop();
  const std::string sid = "CA" + std::string(32, '4');
  Handed handed;
  a.cluster->call_started(sid, "acme", handed.callback());
  ASSERT_TRUE(eventually([&] { return !b.cluster->redis_up(); }, 10s));
  redis.start();  // empty: what the registration wrote before is gone either way
  ASSERT_TRUE(b.ready());
  Cluster::TextQueued q;
  ASSERT_TRUE(eventually([&] {
    try {
      q = b.queue(sid, "hello");
      return true;
    } catch (const std::exception&) {
      return false;  // b's connection not back yet
    }
  }, 10s));
  if (q.kind == Kind::kHeld) {
    EXPECT_EQ(q.owner.instance_id, "a");  // a registered first; the text goes to it directly
  } else {
    ASSERT_EQ(q.kind, Kind::kQueued);
    EXPECT_TRUE(eventually([&] { return handed.texts() == std::vector<std::string>{"hello"}; }, 10s));
  }
  EXPECT_TRUE(eventually([&] { return b.owner_of(sid).kind == Owner::Kind::kElsewhere; }, 10s));
  a.cluster->call_ended(sid);
}

}  // namespace
}  // namespace vox::test
