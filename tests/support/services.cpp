#include "support/services.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace vox::test {
namespace fs = std::filesystem;

namespace {

std::string make_temp_dir(const std::string& name) {
  static int n = 0;
  const auto dir = fs::temp_directory_path() / ("vox-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string find_binary(const std::vector<std::string>& candidates, const std::string& package) {
  for (const auto& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) return c;
  throw std::runtime_error(package + " is not installed (looked for " + candidates.front() +
                           "): run scripts/setup.sh, which installs it");
}

// Whether a TCP connection to 127.0.0.1:port succeeds.
bool accepts(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Sends `request` to 127.0.0.1:port and returns what comes back first ("" on failure).
std::string exchange(unsigned short port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[512];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) out.assign(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string tail_of(const std::string& path, std::size_t bytes = 3000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

// Polls `ready` (a probe of the child's port) until it holds or 20 s pass.
template <typename F>
bool wait_for(F ready, ChildProcess& p) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    if (p.exited()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child's start, bounded
  }
  return false;
}

}  // namespace

unsigned short free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

pid_t spawn_logged(const std::vector<std::string>& args, char* const* envp, const std::string& dir,
                   const std::string& log, bool append) {
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, a[0].c_str(), &fa, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + a[0] + ": " + std::strerror(rc));
  return pid;
}

void ChildProcess::start(const std::vector<std::string>& args, const std::string& dir, const std::string& log) {
  stop();
  pid_ = spawn_logged(args, environ, dir, log, true);
}

void ChildProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = 0;
}

bool ChildProcess::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = 0;
    return true;
  }
  return false;
}

RedisServer::RedisServer(std::string password, std::string tls_cert_file, std::string tls_key_file)
    : dir_(make_temp_dir("redis")),
      password_(std::move(password)),
      tls_cert_(std::move(tls_cert_file)),
      tls_key_(std::move(tls_key_file)) {
  port_ = free_loopback_port();
  start();
}

RedisServer::~RedisServer() {
  process_.stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string RedisServer::url() const {
  return (tls_cert_.empty() ? "redis://" : "rediss://") + (password_.empty() ? std::string() : ":" + password_ + "@") + "127.0.0.1:" +
         std::to_string(port_) + "/0";
}

void RedisServer::start() {
  if (process_.running()) return;
  const auto bin = find_binary({"/usr/bin/redis-server"}, "redis-server");
  std::vector<std::string> args = {bin, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir_,
                                   "--daemonize", "no"};
  if (tls_cert_.empty()) {
    args.insert(args.end(), {"--port", std::to_string(port_)});
  } else {
    args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", tls_cert_,
                             "--tls-key-file", tls_key_, "--tls-auth-clients", "no"});
  }
  if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
  process_.start(args, dir_, dir_ + "/redis.log");
  if (!tls_cert_.empty()) {
    // (A TLS server is ready once it accepts; the client's handshake is what the tests check.)
    if (!wait_for([&] { return accepts(port_); }, process_))
      throw std::runtime_error("redis-server (TLS) did not listen on port " + std::to_string(port_) + ":\n" + log_tail());
    return;
  }
  const std::string ping = password_.empty() ? "PING\r\n" : "AUTH " + password_ + "\r\nPING\r\n";
  if (!wait_for([&] { return exchange(port_, ping).find("+PONG") != std::string::npos ||
                             exchange(port_, ping).find("+OK") != std::string::npos; }, process_))
    throw std::runtime_error("redis-server did not answer on port " + std::to_string(port_) + ":\n" + log_tail());
}

void RedisServer::stop() { process_.stop(); }

std::string RedisServer::log_tail() const { return tail_of(dir_ + "/redis.log"); }

std::string haproxy_config(unsigned short port, const std::vector<std::string>& backends) {
  // The documented configuration (deploy/haproxy.cfg), with the test's ports.
  const std::string path = std::string(VOX_SOURCE_DIR) + "/deploy/haproxy.cfg";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream c;
  bool bound = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  bind ", 0) == 0) {
      c << "  bind 127.0.0.1:" << port << "\n";
      bound = true;
    } else if (line.rfind("  server ", 0) != 0) {
      c << line << "\n";
    }
  }
  if (!bound) throw std::runtime_error(path + " has no bind line");
  int i = 0;
  for (const auto& b : backends) c << "  server vox" << ++i << " " << b << " check\n";
  i = 0;
  for (const auto& b : backends) c << "  server vox" << ++i << "-any " << b << " backup\n";
  return c.str();
}

Haproxy::Haproxy(const std::vector<std::string>& backends) : dir_(make_temp_dir("haproxy")) {
  port_ = free_loopback_port();
  config_ = haproxy_config(port_, backends);
  std::ofstream(dir_ + "/haproxy.cfg") << config_;
  const auto bin = find_binary({"/usr/sbin/haproxy", "/usr/bin/haproxy"}, "haproxy");
  process_.start({bin, "-db", "-f", dir_ + "/haproxy.cfg"}, dir_, dir_ + "/haproxy.log");
  if (!wait_for([&] { return accepts(port_); }, process_))
    throw std::runtime_error("haproxy did not listen on port " + std::to_string(port_) + ":\n" + log_tail());
}

Haproxy::~Haproxy() {
  process_.stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string Haproxy::log_tail() const { return tail_of(dir_ + "/haproxy.log"); }

}  // namespace vox::test
