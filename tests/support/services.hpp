#pragma once
// Real servers for the cluster tests, each a child process on free loopback ports in a
// temporary directory, stopped and deleted with the fixture: redis-server and HAProxy
// (Debian packages; scripts/setup.sh installs them). Drive each from one thread.
#include <sys/types.h>

#include <string>
#include <vector>

namespace vox::test {

// Starts `argv` (argv[0] the binary's path) in `dir` with the environment `envp`, stdout and
// stderr going to `log` (appended to with `append`, else truncated), with SIGINT and SIGTERM
// at their defaults and unblocked whatever the test runner set. Returns its pid; throws
// std::runtime_error when it cannot be started.
pid_t spawn_logged(const std::vector<std::string>& argv, char* const* envp, const std::string& dir,
                   const std::string& log, bool append);

// A free TCP port on 127.0.0.1 (bound and released: the caller binds it next).
unsigned short free_loopback_port();

// A child process with its output in `log`; killed (SIGKILL) and reaped by stop().
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Throws std::runtime_error when `args[0]` cannot be started.
  void start(const std::vector<std::string>& args, const std::string& dir, const std::string& log);
  void stop();
  bool running() const { return pid_ > 0; }
  // Whether it has exited (reaps it).
  bool exited();

 private:
  pid_t pid_ = 0;
};

class RedisServer {
 public:
  // Starts redis-server (no persistence) with `password` if not empty; returns once it
  // answers PING. With `tls_cert_file` and `tls_key_file` it speaks TLS only (rediss://).
  // Throws std::runtime_error (missing binary: run scripts/setup.sh).
  explicit RedisServer(std::string password = {}, std::string tls_cert_file = {}, std::string tls_key_file = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const;  // redis://[:password@]127.0.0.1:port/0
  void stop();              // kills it at once (an outage)
  void start();             // again, same port; returns once it answers
  bool running() const { return process_.running(); }
  std::string log_tail() const;

 private:
  std::string dir_, password_, tls_cert_, tls_key_;
  unsigned short port_ = 0;
  ChildProcess process_;
};

class Haproxy {
 public:
  // Round-robin over `backends` ("127.0.0.1:port"), HTTP mode with WebSocket upgrades,
  // health-checked on GET /health/ready. Returns once it listens. Throws std::runtime_error.
  explicit Haproxy(const std::vector<std::string>& backends);
  ~Haproxy();
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string config() const { return config_; }
  std::string log_tail() const;

 private:
  std::string dir_, config_;
  unsigned short port_ = 0;
  ChildProcess process_;
};

// deploy/haproxy.cfg (the documented configuration) listening on 127.0.0.1:`port`, its
// server lines replaced by `backends`.
std::string haproxy_config(unsigned short port, const std::vector<std::string>& backends);

}  // namespace vox::test
