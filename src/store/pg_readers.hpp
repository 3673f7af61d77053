#pragma once
// The reader connections of PgCallStore: at most `size` open at once, one per read at a
// time (a mutex and a condition variable hand them out), opened when first needed. A read
// whose connection was lost (the server restarted) resets it and runs once more; a
// connection that stays broken is closed and reopened by a later read. Internal.
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "store/pg_conn.hpp"
#include "store/pg_store.hpp"

namespace vox::store {

class PgCallStore::Readers {
 public:
  Readers(std::string url, int size, std::string label)
      : url_(std::move(url)), size_(size), label_(std::move(label)) {}
  ~Readers() {
    for (PGconn* c : idle_) PQfinish(c);
  }
  Readers(const Readers&) = delete;
  Readers& operator=(const Readers&) = delete;

  // Returns f(conn) run on a reader connection; throws std::runtime_error naming the
  // server when it cannot be reached or rejects the read.
  template <typename F>
  std::invoke_result_t<F&, PGconn*> run(F&& f) {
    Lease lease(*this);
    try {
      return f(lease.conn);
    } catch (const pg::Error& e) {
      if (!e.transient()) throw std::runtime_error("call store read failed at PostgreSQL " + label_ + ": " + e.what());
      // The server restarted or the network dropped: reconnect once and read again.
      PQreset(lease.conn);
      if (!pg::healthy(lease.conn))
        throw std::runtime_error("call store: PostgreSQL at " + label_ + " is unreachable (" +
                                 pg::redact(e.what(), url_) + ")");
    }
    try {
      return f(lease.conn);
    } catch (const pg::Error& e) {
      throw std::runtime_error("call store read failed at PostgreSQL " + label_ + ": " + pg::redact(e.what(), url_));
    }
  }

 private:
  // A connection taken for one read, given back (or closed when broken) on scope exit.
  struct Lease {
    explicit Lease(Readers& r) : readers(r), conn(r.acquire()) {}
    ~Lease() { readers.release(conn); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Readers& readers;
    PGconn* conn;
  };

  PGconn* acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();
    std::string error;
    PGconn* c = pg::connect(url_, error);
    if (c) return c;
    lock.lock();
    --open_;
    lock.unlock();
    cv_.notify_one();
    throw std::runtime_error("call store: cannot connect to PostgreSQL at " + label_ + " (" + error + ")");
  }

  void release(PGconn* c) {
    const bool keep = pg::healthy(c);
    if (!keep) PQfinish(c);
    {
      std::lock_guard lock(mu_);
      if (keep) idle_.push_back(c);
      else --open_;
    }
    cv_.notify_one();
  }

  const std::string url_;
  const int size_;
  const std::string label_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> idle_;
  int open_ = 0;  // idle and leased
};

}  // namespace vox::store
