#pragma once
// The PostgreSQL call store (libpq): the same tables, migrations and behaviour as the
// embedded SQLite store (sqlite_store.hpp), for several voxbridge instances sharing one
// database. Writes are queued to one writer thread with its own connection and committed
// in batches (one transaction per gather window; a call's record and transcript at once);
// when the server goes away the writer keeps the queued writes, reconnects with backoff
// and commits them when it is back (a batch whose COMMIT was cut off is looked up by its
// transaction id, not written twice). A write the server rejects (say, text that is not
// UTF-8) is dropped alone, counted and logged; the rest of its batch commits. Reads are awaited on the blocking pool and use a
// small pool of reader connections. Migrations are numbered, each in a transaction that
// holds an advisory lock, so instances starting together apply each one exactly once.
//
// Every method may be called from any thread.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/blocking.hpp"
#include "store/call_store.hpp"

struct pg_conn;

namespace vox::store {

struct PgSettings {
  // A libpq connection URL or key=value string: postgresql://user:pw@host:port/db?...
  std::string url;
  // With an instance id, the calls that instance left in progress (it was killed or
  // crashed) are closed as "server_restart" when the store opens.
  std::string instance_id;
  int pool_size = 4;  // reader connections (at least 1)
  // Events and latencies that arrive within this window of the first one share its
  // transaction; a call's record or transcript commits at once. 0 = commit per wake-up.
  std::chrono::milliseconds commit_window{50};
  // While PostgreSQL is unreachable, drain() and flush() give up waiting after this long
  // (the writes stay queued and are committed when it is back).
  std::chrono::milliseconds outage_wait{10000};
  // Writes queued beyond this while PostgreSQL is unreachable are dropped (and counted).
  std::size_t max_queued = 200000;
};

class PgCallStore final : public CallStore {
 public:
  // Connects, migrates and (with an instance id) closes that instance's orphaned calls;
  // their sids go to `orphans`. Awaited reads run on `pool` (null: in place). Throws
  // std::runtime_error saying what to do when the server cannot be reached or the
  // schema is newer than this build.
  PgCallStore(PgSettings settings, BlockingPool* pool, std::vector<std::string>* orphans = nullptr);
  ~PgCallStore() override;  // commits everything queued (waiting at most outage_wait for a lost server), then closes
  PgCallStore(const PgCallStore&) = delete;
  PgCallStore& operator=(const PgCallStore&) = delete;

  void upsert_call(StoredCall call) override;
  void set_status(std::string call_sid, std::string status, bool ended) override;
  void set_voice(std::string call_sid, std::string voice_id, std::string settings_json) override;
  void add_turn(std::string call_sid, StoredTurn turn) override;
  void finish_turn(std::string call_sid, StoredTurn turn) override;
  void add_event(std::string call_sid, std::string kind, std::string detail) override;
  void add_latency(std::string call_sid, StoredLatency latency) override;
  // Completes once every write queued before it is committed (or after outage_wait while
  // the server is unreachable). Holds no thread while it waits.
  boost::asio::awaitable<void> flush() override;
  void drain() override;

  boost::asio::awaitable<std::optional<StoredCall>> call(std::string call_sid) override;
  boost::asio::awaitable<std::optional<std::string>> owner(std::string call_sid) override;
  boost::asio::awaitable<CallPage> calls(CallQuery query) override;
  boost::asio::awaitable<std::vector<StoredTurn>> transcript(std::string call_sid) override;
  boost::asio::awaitable<std::vector<StoredEvent>> events(std::string call_sid) override;
  boost::asio::awaitable<std::vector<StoredLatency>> latencies(std::string call_sid) override;
  boost::asio::awaitable<Overview> overview(std::string tenant, std::string since) override;
  // Writes the server rejected (dropped) plus failed attempts to commit a batch while the
  // connection was lost (those writes are kept and retried); 0 when healthy.
  std::uint64_t write_errors() const override;
  // "postgresql 127.0.0.1:5432/voxbridge, schema 4" (never the user or password).
  std::string describe() const override;

  // The same reads, blocking the calling thread. They throw std::runtime_error when the
  // server cannot be reached.
  std::optional<StoredCall> read_call(const std::string& call_sid) const;
  std::optional<std::string> read_owner(const std::string& call_sid) const;
  CallPage read_calls(const CallQuery& query) const;
  std::vector<StoredTurn> read_transcript(const std::string& call_sid) const;
  std::vector<StoredEvent> read_events(const std::string& call_sid) const;
  std::vector<StoredLatency> read_latencies(const std::string& call_sid) const;
  Overview read_overview(const std::string& tenant, const std::string& since) const;
  int schema_version() const;        // read from the database
  static int latest_schema_version();  // the migrations this build knows
  // True while the writer has a working connection.
  bool writer_connected() const;
  // Writes queued and not yet committed.
  std::size_t pending_writes() const;

 private:
  using Conn = ::pg_conn*;
  using Write = std::function<void(Conn)>;
  enum class Durability { kNow, kBatched };  // as in SqliteCallStore
  struct Flush;
  class Readers;

  void enqueue(Write w, Durability d = Durability::kBatched);
  void writer_loop();
  // Commits `batch` on the writer's connection; returns the writes the server rejected.
  // Throws pg::Error (lost) when the connection goes away: the batch is kept. `xid` is
  // the transaction's id, to ask after a connection lost during COMMIT.
  std::uint64_t commit(std::deque<Write>& batch, std::string& xid);
  bool was_committed(const std::string& xid);
  bool reconnect_writer(std::string& error);
  void finish_flushes(bool all);  // with mu_ held
  void migrate(Conn conn);
  std::vector<std::string> close_orphans(Conn conn);

  PgSettings settings_;
  BlockingPool* pool_;
  std::string label_;  // host:port/db
  int schema_ = 0;     // after migrating
  std::unique_ptr<Readers> readers_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Write> queue_;
  std::uint64_t queued_ = 0, committed_ = 0, errors_ = 0;
  std::deque<std::unique_ptr<Flush>> flushes_;  // awaiting flush() calls, in queue order
  int waiters_ = 0;  // drain() / flush() calls waiting: no gathering while there are any
  int urgent_ = 0;   // kNow writes queued: no gathering while there are any
  bool stopping_ = false;
  bool down_ = false;  // the writer has lost its connection and not got it back
  std::chrono::steady_clock::time_point down_since_{};
  bool dropping_ = false;  // max_queued reached in this outage (logged once)
  Conn writer_conn_ = nullptr;
  std::thread writer_;
};

}  // namespace vox::store
