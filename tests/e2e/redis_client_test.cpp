// The cluster's Redis client (cluster/redis.hpp) against a real redis-server: pipelining,
// replies of every type, AUTH, TLS (rediss://), an outage and the reconnect after it, and a
// Redis that stops answering (a network black hole) within the command timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cluster/redis.hpp"
#include "e2e_support.hpp"
#include "support/fault_proxy.hpp"
#include "support/services.hpp"
#include "support/test_certs.hpp"

namespace vox::test {
namespace {
namespace asio = boost::asio;
using cluster::RedisConnection;
using cluster::RedisReply;
using cluster::RedisSettings;
using cluster::RedisUnavailable;
using namespace std::chrono_literals;

RedisSettings settings_for(const std::string& url, std::chrono::milliseconds timeout = 1000ms) {
  RedisSettings s;
  s.url = url;
  s.command_timeout = timeout;
  s.backoff_min = 20ms;
  s.backoff_max = 200ms;
  return s;
}

// A connection on its own I/O thread; run() awaits a command there.
struct Client {
  explicit Client(RedisSettings s) : conn(std::make_shared<RedisConnection>(io.context().get_executor(), std::move(s))) {
    conn->start();
  }
  ~Client() { conn->stop(); }
  RedisReply run(std::vector<std::string> args) {
    return io.run([&]() { return conn->command(args); });
  }
  std::vector<RedisReply> pipeline(std::vector<std::vector<std::string>> cmds) {
    return io.run([&]() { return conn->pipeline(cmds); });
  }
  bool wait_connected() {
    return eventually([&] { return conn->connected(); }, 10s);
  }
  IoThread io;
  std::shared_ptr<RedisConnection> conn;
};

TEST(RedisClient, RepliesOfEveryKindInOrderThroughOnePipeline) {
  RedisServer redis;
  Client c(settings_for(redis.url()));
  ASSERT_TRUE(c.wait_connected()) << c.conn->last_error();
  EXPECT_EQ(c.run({"SET", "k", "v a l\r\nue"}).str, "OK");
  EXPECT_EQ(c.run({"GET", "k"}).str, "v a l\r\nue");
  EXPECT_TRUE(c.run({"GET", "missing"}).nil());
  const auto err = c.run({"INCR", "k"});
  EXPECT_TRUE(err.error());
  EXPECT_NE(err.str.find("not an integer"), std::string::npos);
  std::vector<std::vector<std::string>> incrs;
  for (int i = 0; i < 500; ++i) incrs.push_back({"INCR", "n"});
  incrs.push_back({"LRANGE", "nothing", "0", "-1"});
  incrs.push_back({"HSET", "h", "a", "1", "b", "2"});
  incrs.push_back({"HGETALL", "h"});
  const auto replies = c.pipeline(incrs);
  ASSERT_EQ(replies.size(), 503u);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(replies[static_cast<std::size_t>(i)].integer, i + 1);
  EXPECT_EQ(replies[500].type, RedisReply::Type::kArray);
  EXPECT_TRUE(replies[500].elements.empty());
  EXPECT_EQ(replies[501].integer, 2);
  ASSERT_EQ(replies[502].elements.size(), 4u);
  EXPECT_EQ(replies[502].elements[0].str, "a");
  EXPECT_TRUE(c.pipeline({}).empty());  // nothing to send: answered at once, connection kept
  EXPECT_TRUE(c.conn->connected());
}

TEST(RedisClient, PasswordAndItsRefusal) {
  RedisServer redis("s3cret-redis-pass");
  Client good(settings_for(redis.url()));
  ASSERT_TRUE(good.wait_connected()) << good.conn->last_error();
  EXPECT_EQ(good.run({"PING"}).str, "PONG");
  Client bad(settings_for("redis://:wrong-password@127.0.0.1:" + std::to_string(redis.port())));
  ASSERT_TRUE(eventually([&] { return bad.conn->last_error().find("refused") != std::string::npos; }, 10s))
      << bad.conn->last_error();
  EXPECT_FALSE(bad.conn->connected());
  EXPECT_THROW(bad.run({"PING"}), RedisUnavailable);
  EXPECT_EQ(bad.conn->last_error().find("wrong-password"), std::string::npos);
}

TEST(RedisClient, TlsWithTheServersCertificateAuthority) {
  const auto pki = testing::make_test_pki();
  {
    RedisServer redis({}, pki.server_cert_file, pki.server_key_file);
    auto s = settings_for(redis.url());
    s.ca_file = pki.ca_cert_file;
    Client c(s);
    ASSERT_TRUE(c.wait_connected()) << c.conn->last_error() << redis.log_tail();
    EXPECT_EQ(c.run({"SET", "over", "tls"}).str, "OK");
    EXPECT_EQ(c.run({"GET", "over"}).str, "tls");
    // Without that CA the certificate is not trusted.
    Client untrusted(settings_for(redis.url()));
    ASSERT_TRUE(eventually([&] { return untrusted.conn->last_error().find("TLS") != std::string::npos; }, 10s))
        << untrusted.conn->last_error();
    EXPECT_FALSE(untrusted.conn->connected());
  }
  testing::remove_test_pki(pki);
}

TEST(RedisClient, AnOutageFailsCommandsAtOnceAndTheConnectionComesBackByItself) {
  RedisServer redis;
  Client c(settings_for(redis.url(), 5000ms));
  ASSERT_TRUE(c.wait_connected());
  EXPECT_EQ(c.run({"SET", "before", "1"}).str, "OK");
  redis.stop();
  ASSERT_TRUE(eventually([&] { return !c.conn->connected(); }, 10s));
  // Not connected: refused at once (no wait for the 5 s timeout), saying why.
  const auto t0 = std::chrono::steady_clock::now();
  try {
    c.run({"PING"});
    ADD_FAILURE() << "a command succeeded with Redis down";
  } catch (const RedisUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  redis.start();
  ASSERT_TRUE(c.wait_connected()) << c.conn->last_error();
  EXPECT_EQ(c.run({"PING"}).str, "PONG");
  EXPECT_GE(c.conn->reconnects(), 1u);
}

TEST(RedisClient, ARedisThatStopsAnsweringFailsWithinTheCommandTimeout) {
  RedisServer redis;
  testing::FaultProxy proxy("127.0.0.1", redis.port());
  Client c(settings_for("redis://127.0.0.1:" + std::to_string(proxy.port()), 300ms));
  ASSERT_TRUE(c.wait_connected());
  EXPECT_EQ(c.run({"PING"}).str, "PONG");
  testing::Faults f;
  f.blackhole = true;
  proxy.set(f);
  try {
    c.run({"PING"});
    ADD_FAILURE() << "a command succeeded through a black hole";
  } catch (const RedisUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("did not answer within 300 ms"), std::string::npos) << e.what();
  }
  proxy.clear();
  ASSERT_TRUE(eventually([&] {
    try {
      return c.run({"PING"}).str == "PONG";
    } catch (const RedisUnavailable&) {
      return false;
    }
  }, 10s)) << c.conn->last_error();
}

TEST(RedisClient, BadUrlsAreRefusedWithWhatIsWrong) {
  for (const std::string url : {"http://localhost:6379", "redis://", "redis://host:6379/x", "not a url"}) {
    try {
      cluster::parse_redis_url(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
  const auto e = cluster::parse_redis_url("rediss://user:pw@redis.example:6380/2");
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.user, "user");
  EXPECT_EQ(e.password, "pw");
  EXPECT_EQ(e.db, 2);
  EXPECT_EQ(e.display(), "redis.example:6380/2");
}

}  // namespace
}  // namespace vox::test
