#pragma once
// The call store: a SQLite file (WAL) with every call, its events and its transcript.
// Writes are queued to one writer thread and committed in small batches, so callers
// (call strands, HTTP handlers) never wait on the disk. Reads use their own connection
// and may run on any thread. Created on first start; migrations are versioned.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct sqlite3;

namespace vox::store {

struct StoredCall {
  std::string call_sid;
  std::string tenant;
  std::string agent_id;
  std::string voice_id;
  std::string voice_settings_json;  // "" = none
  std::string from, to;
  std::string direction;
  std::string status;
  std::string created_at;
  std::string updated_at;
  std::string ended_at;  // "" while not ended
  std::string metadata_json;  // "" = none
  std::string instance_id;    // the server that ran its stream ("" = none yet)
};

struct StoredTurn {
  int index = 0;            // conversation turn (0: greeting or control-API text)
  std::string speaker;      // caller | agent
  std::string text;
  std::int64_t start_ms = -1, end_ms = -1;
  std::optional<std::string> heard;  // agent turns cut by a barge-in or a stop
  bool interrupted = false;
  std::string at;           // ISO-8601 when written
  std::uint64_t reply_id = 0;  // agent turns: the reply's id in its stream (0 = none)
};

// A turn's latency by stage (milliseconds; -1 = not reached), as GET /calls/{sid}/latency shows it.
struct StoredLatency {
  int turn = 0;
  double endpoint_ms = -1, transcript_ms = -1, agent_ms = -1, tts_first_byte_ms = -1, gateway_ms = -1,
         response_ms = -1, heard_ms = -1;
  std::string at;
};

struct StoredEvent {
  std::string at;
  std::string kind;
  std::string detail;
};

struct CallQuery {
  std::string tenant;  // "" = every tenant
  std::string status, agent_id, direction;
  int limit = 50;
  int offset = 0;
};

class CallStore {
 public:
  // Opens (creating if needed) the database at `path` and migrates it. With
  // `instance_id` and `orphans`, the calls that instance left in progress (it was killed
  // or crashed) are closed as "server_restart" and their sids returned in `orphans`.
  // Throws std::runtime_error saying what to do when the file cannot be opened.
  explicit CallStore(std::string path, std::string instance_id = {}, std::vector<std::string>* orphans = nullptr);
  ~CallStore();  // commits everything queued, then closes
  CallStore(const CallStore&) = delete;
  CallStore& operator=(const CallStore&) = delete;

  // Queued writes (never block on the disk).
  // Inserts the call or updates it: empty fields leave the stored value alone, and the
  // owner (tenant), once stored, never changes.
  void upsert_call(StoredCall call);
  void set_status(std::string call_sid, std::string status, bool ended);
  void set_voice(std::string call_sid, std::string voice_id, std::string settings_json);
  void add_turn(std::string call_sid, StoredTurn turn);
  // Completes the agent turn stored for `turn.reply_id` (times, what was heard, whether it
  // was cut); stores it whole if it was not stored when it started.
  void finish_turn(std::string call_sid, StoredTurn turn);
  void add_event(std::string call_sid, std::string kind, std::string detail);
  void add_latency(std::string call_sid, StoredLatency latency);
  // Waits until every write queued so far is committed.
  void flush();

  // Reads.
  std::optional<StoredCall> call(const std::string& call_sid) const;
  // The stored owner of a call ("" = none), or nullopt when the call is not stored.
  std::optional<std::string> owner(const std::string& call_sid) const;
  // Newest first; `has_more` tells whether rows follow the page.
  std::vector<StoredCall> calls(const CallQuery& query, bool& has_more) const;
  std::vector<StoredTurn> transcript(const std::string& call_sid) const;
  std::vector<StoredEvent> events(const std::string& call_sid) const;
  std::vector<StoredLatency> latencies(const std::string& call_sid) const;
  int schema_version() const;
  const std::string& path() const { return path_; }
  // Writes that failed (logged); 0 when healthy.
  std::uint64_t write_errors() const;

 private:
  using Write = std::function<void(sqlite3*)>;
  void enqueue(Write w);
  void writer_loop();
  void migrate();
  std::vector<std::string> close_orphans(const std::string& instance_id, const std::string& reason);

  std::string path_;
  sqlite3* writer_db_ = nullptr;
  sqlite3* reader_db_ = nullptr;
  mutable std::mutex reader_mu_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Write> queue_;
  std::uint64_t queued_ = 0, committed_ = 0, errors_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace vox::store
