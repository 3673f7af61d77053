#pragma once
// The embedded call store: one SQLite file (WAL). Writes are queued to one writer thread
// and committed in batches (one transaction per gather window, prepared statements
// reused); reads use their own
// connection, run on the blocking pool when awaited, or directly through the read_*
// methods (start-up, tools, tests). Created on first start; migrations are numbered and
// each runs once, in a transaction.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/blocking.hpp"
#include "store/call_store.hpp"

struct sqlite3;

namespace vox::store {

struct SqliteSettings {
  std::string path = "voxbridge.db";
  // With an instance id, the calls that instance left in progress (it was killed or
  // crashed) are closed as "server_restart" when the store opens.
  std::string instance_id;
  std::chrono::milliseconds delay{0};  // tests: every read and commit waits this long first (a slow disk)
  // Events and latencies that arrive within this window of the first one share its
  // transaction (one commit and one wake-up of the writer thread for all of them). A
  // call's record or transcript, a read (which first waits for the writes before it) or
  // shutdown commits at once. 0 = commit per wake-up.
  std::chrono::milliseconds commit_window{50};
};

class WriterDb;

class SqliteCallStore final : public CallStore {
 public:
  // Opens (creating if needed) and migrates the database; awaited reads run on `pool`
  // (null: in place). The sids of calls closed as "server_restart" go to `orphans`.
  // Throws std::runtime_error saying what to do when the file cannot be opened.
  explicit SqliteCallStore(SqliteSettings settings, BlockingPool* pool = nullptr,
                           std::vector<std::string>* orphans = nullptr);
  ~SqliteCallStore() override;  // commits everything queued, then closes
  SqliteCallStore(const SqliteCallStore&) = delete;
  SqliteCallStore& operator=(const SqliteCallStore&) = delete;

  void upsert_call(StoredCall call) override;
  void set_status(std::string call_sid, std::string status, bool ended) override;
  void set_voice(std::string call_sid, std::string voice_id, std::string settings_json) override;
  void add_turn(std::string call_sid, StoredTurn turn) override;
  void finish_turn(std::string call_sid, StoredTurn turn) override;
  void add_event(std::string call_sid, std::string kind, std::string detail) override;
  void add_latency(std::string call_sid, StoredLatency latency) override;
  boost::asio::awaitable<void> flush() override;
  void drain() override;

  boost::asio::awaitable<std::optional<StoredCall>> call(std::string call_sid) override;
  boost::asio::awaitable<std::optional<std::string>> owner(std::string call_sid) override;
  boost::asio::awaitable<CallPage> calls(CallQuery query) override;
  boost::asio::awaitable<std::vector<StoredTurn>> transcript(std::string call_sid) override;
  boost::asio::awaitable<std::vector<StoredEvent>> events(std::string call_sid) override;
  boost::asio::awaitable<std::vector<StoredLatency>> latencies(std::string call_sid) override;
  boost::asio::awaitable<Overview> overview(std::string tenant, std::string since) override;
  std::uint64_t write_errors() const override;
  std::string describe() const override;

  // The same reads, blocking the calling thread.
  std::optional<StoredCall> read_call(const std::string& call_sid) const;
  std::optional<std::string> read_owner(const std::string& call_sid) const;
  CallPage read_calls(const CallQuery& query) const;
  std::vector<StoredTurn> read_transcript(const std::string& call_sid) const;
  std::vector<StoredEvent> read_events(const std::string& call_sid) const;
  std::vector<StoredLatency> read_latencies(const std::string& call_sid) const;
  Overview read_overview(const std::string& tenant, const std::string& since) const;
  int schema_version() const;
  const std::string& path() const { return settings_.path; }

 private:
  using Write = std::function<void(WriterDb&)>;
  // kNow: the call's record and its transcript (a started reply survives a kill -9):
  // committed as soon as the writer gets to it. kBatched: events and latencies, which
  // join the current gather window.
  enum class Durability { kNow, kBatched };
  void enqueue(Write w, Durability d = Durability::kBatched);
  void writer_loop();
  void migrate();
  std::vector<std::string> close_orphans(const std::string& instance_id, const std::string& reason);
  void slow_disk() const;

  SqliteSettings settings_;
  BlockingPool* pool_;
  sqlite3* writer_db_ = nullptr;
  sqlite3* reader_db_ = nullptr;
  mutable std::mutex reader_mu_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Write> queue_;
  std::uint64_t queued_ = 0, committed_ = 0, errors_ = 0;
  int waiters_ = 0;  // drain() calls waiting for the writer: no gathering while there are any
  int urgent_ = 0;   // kNow writes queued: no gathering while there are any
  bool stopping_ = false;
  std::unique_ptr<WriterDb> writer_ctx_;  // the writer thread's connection and statement cache
  std::thread writer_;
};

}  // namespace vox::store
