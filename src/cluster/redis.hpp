#pragma once
// A Redis client for the cluster: RESP encoded and parsed by hiredis (redisFormatCommandArgv,
// redisReader), carried by Asio (plain TCP or TLS, which hiredis 0.14 lacks), on one
// executor. One connection per role; commands are pipelined (every command is written as
// soon as it is issued, replies are matched in order); a dropped connection fails what is
// waiting at once and is reopened with jittered backoff. A command never waits longer than
// the command timeout: Redis being slow or gone is reported, never waited out.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vox::cluster {

struct RedisSettings {
  RedisSettings() {}  // not an aggregate (passed to coroutines; see net::TlsOptions)
  // redis://[[user]:password@]host[:port][/db] or rediss:// for TLS.
  std::string url;
  std::string ca_file;  // rediss://: replaces the system CA store
  bool verify = true;   // rediss://: check the certificate and host name
  std::chrono::milliseconds command_timeout{1000};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds backoff_min{100}, backoff_max{3000};
  std::string role = "redis";  // for log lines ("redis[heartbeat]")
};

// Where a redis:// URL points, parsed. Throws std::invalid_argument saying what is wrong.
struct RedisEndpoint {
  std::string host, port = "6379", user, password;
  int db = 0;
  bool tls = false;
  std::string display() const;  // host:port/db, never the password
};
RedisEndpoint parse_redis_url(const std::string& url);

struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;  // string, status or error text
  std::vector<RedisReply> elements;
  bool nil() const { return type == Type::kNil; }
  bool error() const { return type == Type::kError; }
};

// Redis could not be asked (not connected, timed out, dropped): the caller answers 503.
class RedisUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  // Throws std::invalid_argument for a bad URL.
  RedisConnection(boost::asio::any_io_executor exec, RedisSettings settings);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Starts connecting (and reconnecting for as long as it runs); stop() closes for good.
  // Both from any thread.
  void start();
  void stop();

  // Sends one command; awaitable from any executor (it runs on the connection's and
  // resumes on the caller's). An error reply is returned, not thrown; throws
  // RedisUnavailable when Redis cannot answer within the command timeout.
  boost::asio::awaitable<RedisReply> command(std::vector<std::string> args);
  // Several commands written together, their replies in order (one round trip).
  boost::asio::awaitable<std::vector<RedisReply>> pipeline(std::vector<std::vector<std::string>> commands);

  bool connected() const;
  // What went wrong last ("" while connected), for /health and 503 details.
  std::string last_error() const;
  const RedisEndpoint& endpoint() const { return endpoint_; }
  std::uint64_t reconnects() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  RedisEndpoint endpoint_;
};

}  // namespace vox::cluster
