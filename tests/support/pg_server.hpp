#pragma once
// A throw-away PostgreSQL cluster for tests: initdb into a fresh temporary directory, the
// server listening on 127.0.0.1 only (a free port; its unix socket inside that directory;
// fsync off), databases created on request, and everything stopped and deleted when the
// fixture goes. It can be stopped at once and started again on the same port and data,
// the way an outage looks to a client.
//
// The binaries come from /usr/lib/postgresql/*/bin (the newest there). initdb and postgres
// refuse to run as root, so under root they run as the `postgres` user (the temporary
// directory is given to it). The server is a child process of the test, sent SIGQUIT if
// the thread that started it dies; start it from the test's own thread.
//
// Not thread-safe: drive one PgServer from one thread.
#include <sys/types.h>

#include <string>

namespace vox::test {

class PgServer {
 public:
  // Creates and starts the cluster; returns once it accepts connections. Throws
  // std::runtime_error saying what is wrong (missing binaries: run scripts/setup.sh).
  PgServer();
  ~PgServer();  // stops the server (immediate) and deletes its directory
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  unsigned short port() const { return port_; }
  // The temporary directory (data in data/, the server log in server.log).
  const std::string& dir() const { return dir_; }
  // "postgresql://voxbridge@127.0.0.1:<port>/<database>" (the superuser, trusted).
  std::string url(const std::string& database = "postgres") const;
  // Creates `name` (letters, digits, '_'); returns its URL. Throws on failure.
  std::string create_database(const std::string& name);

  // Stops the server the way `pg_ctl stop -m immediate` does (SIGQUIT: sessions are cut,
  // no checkpoint) and returns once it has exited. No-op when stopped.
  void stop();
  // Starts it again on the same port and data directory (crash recovery runs); returns
  // once it accepts connections. No-op when running.
  void start();
  bool running() const { return pid_ > 0; }
  // The end of the server's log (for failure messages).
  std::string log_tail(std::size_t bytes = 4000) const;

 private:
  // Starts postgres on port_; false when it exited first (the port was taken).
  bool launch();
  void initdb();

  std::string bin_dir_;
  std::string dir_;
  unsigned short port_ = 0;
  pid_t pid_ = 0;
  bool as_postgres_ = false;  // root: run the binaries as the postgres user
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

}  // namespace vox::test
