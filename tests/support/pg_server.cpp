#include "support/pg_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace vox::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The newest /usr/lib/postgresql/<version>/bin that has initdb and postgres.
std::string find_bin_dir() {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "postgres")) continue;
    found.emplace_back(std::atoi(entry.path().filename().c_str()), bin.string());
  }
  if (found.empty())
    throw std::runtime_error(
        "PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin: run scripts/setup.sh "
        "(it installs the postgresql package)");
  std::sort(found.begin(), found.end());
  return found.back().second;
}

// A port nobody listens on now (the kernel's choice).
unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_tail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  std::string s = all.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

// Waits for `pid` to exit within `timeout`; returns its wait status, or -1 if it did not.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return 0;  // not our child any more
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);  // polling a child's exit, bounded by the deadline
  }
}

}  // namespace

PgServer::PgServer() {
  bin_dir_ = find_bin_dir();
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw)
      throw std::runtime_error("running as root, PostgreSQL needs the `postgres` user to run as (created by the "
                               "postgresql package): run scripts/setup.sh");
    as_postgres_ = true;
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
  }
  std::string tmpl = (fs::temp_directory_path() / "vox-pg-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory under " + tmpl);
  dir_ = tmpl;
  try {
    if (as_postgres_ && ::chown(dir_.c_str(), uid_, gid_) != 0)
      throw std::runtime_error("cannot give " + dir_ + " to the postgres user");
    initdb();
    // A free port can be taken between our check and the server's bind: try another.
    for (int attempt = 0;; ++attempt) {
      port_ = free_port();
      if (launch()) break;
      if (attempt == 4) throw std::runtime_error("PostgreSQL did not start:\n" + log_tail());
    }
  } catch (...) {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

PgServer::~PgServer() {
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PgServer::url(const std::string& database) const {
  return "postgresql://voxbridge@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgServer::log_tail(std::size_t bytes) const { return read_tail(dir_ + "/server.log", bytes); }

namespace {

// Runs `argv` (argv[0] a full path) in `dir`, output appended to `log`, as uid/gid when
// `as_user`; killed with `death_signal` when the calling thread dies. Returns its pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& log, bool as_user,
            uid_t uid, gid_t gid, int death_signal) {
  // Everything the child needs is made before fork(): after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid > 0) return pid;
  if (as_user && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) ::_exit(126);
  // (Set after the uid change, which clears it.)
  ::prctl(PR_SET_PDEATHSIG, death_signal);
  if (::getppid() != parent) ::_exit(125);  // the parent is already gone
  if (::chdir(dir.c_str()) != 0) ::_exit(124);
  // A thread of a pool may have every signal blocked; the server must get SIGQUIT.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int in = ::open("/dev/null", O_RDONLY);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (in < 0 || out < 0) ::_exit(123);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

}  // namespace

void PgServer::initdb() {
  const std::vector<std::string> args = {bin_dir_ + "/initdb", "-D", dir_ + "/data", "-A", "trust", "-U", "voxbridge",
                                         "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"};
  const pid_t pid = spawn(args, dir_, dir_ + "/initdb.log", as_postgres_, uid_, gid_, SIGKILL);
  const int status = wait_exit(pid, 120s);
  if (status == -1) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, 10s);
    throw std::runtime_error("initdb did not finish in 120 s:\n" + read_tail(dir_ + "/initdb.log", 4000));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("initdb failed (status " + std::to_string(status) + ") in " + dir_ + ":\n" +
                             read_tail(dir_ + "/initdb.log", 4000));
}

bool PgServer::launch() {
  const std::vector<std::string> args = {bin_dir_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_),
                                         "-k", dir_, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                         "-c", "shared_buffers=32MB", "-c", "max_connections=100"};
  // (Not synchronous_commit=off: an immediate stop would lose the last commits, which
  // is not what a client of a real server sees.)
  pid_ = spawn(args, dir_, dir_ + "/server.log", as_postgres_, uid_, gid_, SIGQUIT);
  // Until it accepts connections (crash recovery after an immediate stop included).
  const std::string ping = "host=127.0.0.1 port=" + std::to_string(port_) +
                           " user=voxbridge dbname=postgres connect_timeout=2";
  const auto deadline = Clock::now() + 60s;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      const std::string log = log_tail();
      if (log.find("could not bind") != std::string::npos || log.find("already in use") != std::string::npos)
        return false;
      throw std::runtime_error("PostgreSQL exited while starting (status " + std::to_string(status) + "):\n" + log);
    }
    if (PQping(ping.c_str()) == PQPING_OK) return true;
    if (Clock::now() >= deadline) {
      stop();
      throw std::runtime_error("PostgreSQL did not accept connections within 60 s:\n" + log_tail());
    }
    std::this_thread::sleep_for(10ms);  // polling readiness, bounded by the deadline
  }
}

void PgServer::start() {
  if (pid_ > 0) return;
  if (!launch()) throw std::runtime_error("PostgreSQL could not listen on port " + std::to_string(port_) + " again:\n" +
                                          log_tail());
}

void PgServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGQUIT);  // immediate shutdown, as pg_ctl stop -m immediate
  if (wait_exit(pid_, 30s) == -1) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, 10s);
  }
  pid_ = 0;
}

std::string PgServer::create_database(const std::string& name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      }))
    throw std::invalid_argument("database names here are letters, digits and '_': " + name);
  PGconn* conn = PQconnectdb(url().c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + msg);
  }
  PGresult* r = PQexec(conn, ("CREATE DATABASE \"" + name + "\"").c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string msg = ok ? "" : PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(conn);
  if (!ok) throw std::runtime_error("CREATE DATABASE " + name + " failed: " + msg);
  return url(name);
}

}  // namespace vox::test
