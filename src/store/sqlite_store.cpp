#include "store/sqlite_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <stdexcept>
#include <unordered_map>
#include <thread>

#include "core/time.hpp"

namespace vox::store {
namespace {

std::string now_iso() { return iso8601_now(); }

sqlite3_stmt* prepare(sqlite3* db, const char* sql, unsigned flags) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, flags, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("sqlite prepare failed: ") + sqlite3_errmsg(db) + " in: " + sql);
  return st;
}

}  // namespace

// The writer thread's connection and its prepared statements, one per SQL text (the
// writes use string literals, so the text's address is its key).
class WriterDb {
 public:
  explicit WriterDb(sqlite3* db) : db(db) {}
  ~WriterDb() {
    for (auto& [sql, st] : cache_) sqlite3_finalize(st);
  }
  WriterDb(const WriterDb&) = delete;
  WriterDb& operator=(const WriterDb&) = delete;
  sqlite3_stmt* statement(const char* sql) {
    auto& slot = cache_[sql];
    if (!slot) slot = prepare(db, sql, SQLITE_PREPARE_PERSISTENT);
    return slot;
  }
  sqlite3* const db;

 private:
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

namespace {

// A prepared statement, finalized on scope exit (or, from the writer's cache, reset and
// cleared for its next use); binds by 1-based position.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db), st_(prepare(db, sql, 0)) {}
  Stmt(WriterDb& w, const char* sql) : db_(w.db), st_(w.statement(sql)), cached_(true) {}
  ~Stmt() {
    if (!cached_) {
      sqlite3_finalize(st_);
      return;
    }
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_or_null(int i, const std::string& v) {
    if (v.empty()) sqlite3_bind_null(st_, i);
    else bind(i, v);
    return *this;
  }
  // A latency in milliseconds; negative (not reached) is stored as NULL.
  Stmt& bind_ms(int i, double v) {
    if (v < 0) sqlite3_bind_null(st_, i);
    else sqlite3_bind_double(st_, i, v);
    return *this;
  }
  double ms(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL ? -1.0 : sqlite3_column_double(st_, col); }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  // Returns true while rows come; throws on errors.
  bool step() {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
             : std::string();
  }
  bool is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  std::int64_t integer(int col) const { return sqlite3_column_int64(st_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  bool cached_ = false;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + msg + " in: " + std::string(sql).substr(0, 80));
  }
}

sqlite3* open_db(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("cannot open the call store '" + path + "': " + msg +
                             " (check that its directory exists and is writable, or set --store)");
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

// Each migration runs once, in order, inside a transaction; its number is recorded.
constexpr const char* kMigrations[] = {
    // 1: calls, events, transcript turns.
    R"sql(
CREATE TABLE calls (
  call_sid TEXT PRIMARY KEY,
  tenant TEXT NOT NULL DEFAULT '',
  agent_id TEXT NOT NULL DEFAULT '',
  voice_id TEXT NOT NULL DEFAULT '',
  voice_settings TEXT,
  from_number TEXT NOT NULL DEFAULT '',
  to_number TEXT NOT NULL DEFAULT '',
  direction TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  ended_at TEXT,
  metadata TEXT
);
CREATE INDEX calls_tenant_created ON calls(tenant, created_at DESC);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  call_sid TEXT NOT NULL,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_call ON events(call_sid, id);
CREATE TABLE turns (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  call_sid TEXT NOT NULL,
  turn INTEGER NOT NULL,
  speaker TEXT NOT NULL,
  text TEXT NOT NULL,
  start_ms INTEGER,
  end_ms INTEGER,
  heard TEXT,
  interrupted INTEGER NOT NULL DEFAULT 0,
  at TEXT NOT NULL
);
CREATE INDEX turns_call ON turns(call_sid, id);
)sql",
    // 2: per-turn latency by stage (milliseconds).
    R"sql(
CREATE TABLE turn_latency (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  call_sid TEXT NOT NULL,
  turn INTEGER NOT NULL,
  endpoint_ms REAL,
  transcript_ms REAL,
  agent_ms REAL,
  tts_first_byte_ms REAL,
  gateway_ms REAL,
  response_ms REAL,
  heard_ms REAL,
  at TEXT NOT NULL
);
CREATE INDEX turn_latency_call ON turn_latency(call_sid, id);
)sql",
    // 3: agent turns stored when they start (reply_id finds them again when they end);
    // the instance that ran each call (its live calls are closed when it restarts).
    R"sql(
ALTER TABLE turns ADD COLUMN reply_id INTEGER;
ALTER TABLE calls ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
CREATE INDEX calls_instance_open ON calls(instance_id, ended_at);
)sql",
    // 4: the LLM agent's stages inside agent_ms.
    R"sql(
ALTER TABLE turn_latency ADD COLUMN llm_first_token_ms REAL;
ALTER TABLE turn_latency ADD COLUMN llm_first_piece_ms REAL;
)sql",
};

StoredCall read_call_row(const Stmt& s) {
  StoredCall c;
  c.call_sid = s.text(0);
  c.tenant = s.text(1);
  c.agent_id = s.text(2);
  c.voice_id = s.text(3);
  c.voice_settings_json = s.text(4);
  c.from = s.text(5);
  c.to = s.text(6);
  c.direction = s.text(7);
  c.status = s.text(8);
  c.created_at = s.text(9);
  c.updated_at = s.text(10);
  c.ended_at = s.text(11);
  c.metadata_json = s.text(12);
  c.instance_id = s.text(13);
  return c;
}
constexpr const char* kCallColumns =
    "call_sid, tenant, agent_id, voice_id, voice_settings, from_number, to_number, direction, status, created_at, "
    "updated_at, ended_at, metadata, instance_id";

}  // namespace

SqliteCallStore::SqliteCallStore(SqliteSettings settings, BlockingPool* pool, std::vector<std::string>* orphans)
    : settings_(std::move(settings)), pool_(pool) {
  writer_db_ = open_db(settings_.path);
  try {
    exec(writer_db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    migrate();
    reader_db_ = open_db(settings_.path);
    // Calls this instance left live when it last stopped (killed, crashed) have no stream
    // any more: close them before anything else is written.
    if (!settings_.instance_id.empty()) {
      auto closed = close_orphans(settings_.instance_id, "server_restart");
      if (orphans) *orphans = std::move(closed);
    }
  } catch (...) {
    sqlite3_close(reader_db_);
    sqlite3_close(writer_db_);
    throw;
  }
  writer_ctx_ = std::make_unique<WriterDb>(writer_db_);
  writer_ = std::thread([this] { writer_loop(); });
}

SqliteCallStore::~SqliteCallStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  writer_ctx_.reset();  // its statements are finalized before the connection closes
  sqlite3_close(reader_db_);
  sqlite3_close(writer_db_);
}

void SqliteCallStore::migrate() {
  exec(writer_db_, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  int current = 0;
  {
    Stmt s(writer_db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (s.step()) current = static_cast<int>(s.integer(0));
  }
  const int latest = static_cast<int>(std::size(kMigrations));
  if (current > latest)
    throw std::runtime_error("the call store '" + settings_.path + "' has schema version " + std::to_string(current) +
                             ", newer than this voxbridge knows (" + std::to_string(latest) + "): upgrade voxbridge");
  for (int v = current + 1; v <= latest; ++v) {
    exec(writer_db_, "BEGIN IMMEDIATE");
    try {
      exec(writer_db_, kMigrations[v - 1]);
      Stmt s(writer_db_, "INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)");
      s.bind(1, static_cast<std::int64_t>(v)).bind(2, now_iso()).step();
      exec(writer_db_, "COMMIT");
    } catch (...) {
      exec(writer_db_, "ROLLBACK");
      throw;
    }
    spdlog::info("call store {}: migrated to schema version {}", settings_.path, v);
  }
}

int SqliteCallStore::schema_version() const {
  std::lock_guard lock(reader_mu_);
  Stmt s(reader_db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

namespace {
// A batch this large commits without waiting for the rest of its window.
constexpr std::size_t kMaxBatch = 512;
}  // namespace

void SqliteCallStore::enqueue(Write w, Durability d) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(w));
    ++queued_;
    // The writer waits for a first write, then gathers: only the first write of a batch,
    // the one that fills it, or one that must be on disk now wakes it, not every write.
    const bool now = d == Durability::kNow;
    if (now) ++urgent_;
    wake = queue_.size() == 1 || queue_.size() == kMaxBatch || now;
  }
  if (wake) cv_.notify_one();
}

void SqliteCallStore::writer_loop() {
  for (;;) {
    std::deque<Write> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      if (settings_.commit_window.count() > 0)
        cv_.wait_for(lock, settings_.commit_window,
                     [&] { return stopping_ || waiters_ > 0 || urgent_ > 0 || queue_.size() >= kMaxBatch; });
      batch.swap(queue_);
      urgent_ = 0;
    }
    // One transaction per batch: a burst of events costs one commit.
    slow_disk();
    std::uint64_t failed = 0;
    try {
      exec(writer_db_, "BEGIN");
      for (auto& w : batch) {
        try {
          w(*writer_ctx_);
        } catch (const std::exception& e) {
          ++failed;
          spdlog::error("call store write failed ({}): {}", settings_.path, e.what());
        }
      }
      exec(writer_db_, "COMMIT");
    } catch (const std::exception& e) {
      failed = batch.size();
      spdlog::error("call store commit failed ({}): {}; {} write(s) lost", settings_.path, e.what(), batch.size());
      sqlite3_exec(writer_db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    {
      std::lock_guard lock(mu_);
      committed_ += batch.size();
      errors_ += failed;
    }
    idle_cv_.notify_all();
  }
}

void SqliteCallStore::drain() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_;
  if (committed_ >= target) return;
  // The writer stops gathering while anyone waits for it.
  ++waiters_;
  cv_.notify_one();
  idle_cv_.wait(lock, [&] { return committed_ >= target; });
  --waiters_;
}

std::uint64_t SqliteCallStore::write_errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

void SqliteCallStore::upsert_call(StoredCall c) {
  enqueue([c = std::move(c)](WriterDb& db) {
    const std::string now = now_iso();
    Stmt s(db,
           "INSERT INTO calls(call_sid, tenant, agent_id, voice_id, voice_settings, from_number, to_number, direction, "
           "status, created_at, updated_at, ended_at, metadata, instance_id) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
           "ON CONFLICT(call_sid) DO UPDATE SET "
           // The owner is set once: a later write never moves a call to another company.
           "tenant = CASE WHEN tenant = '' THEN excluded.tenant ELSE tenant END, "
           "instance_id = CASE WHEN excluded.instance_id <> '' THEN excluded.instance_id ELSE instance_id END, "
           "agent_id = CASE WHEN excluded.agent_id <> '' THEN excluded.agent_id ELSE agent_id END, "
           "voice_id = CASE WHEN excluded.voice_id <> '' THEN excluded.voice_id ELSE voice_id END, "
           "voice_settings = COALESCE(excluded.voice_settings, voice_settings), "
           "from_number = CASE WHEN excluded.from_number <> '' THEN excluded.from_number ELSE from_number END, "
           "to_number = CASE WHEN excluded.to_number <> '' THEN excluded.to_number ELSE to_number END, "
           "direction = CASE WHEN excluded.direction <> '' THEN excluded.direction ELSE direction END, "
           "status = CASE WHEN excluded.status <> '' THEN excluded.status ELSE status END, "
           "updated_at = excluded.updated_at, "
           "ended_at = COALESCE(excluded.ended_at, ended_at), "
           "metadata = COALESCE(excluded.metadata, metadata)");
    s.bind(1, c.call_sid).bind(2, c.tenant).bind(3, c.agent_id).bind(4, c.voice_id).bind_or_null(5, c.voice_settings_json);
    s.bind(6, c.from).bind(7, c.to).bind(8, c.direction).bind(9, c.status);
    s.bind(10, c.created_at.empty() ? now : c.created_at).bind(11, now).bind_or_null(12, c.ended_at);
    s.bind_or_null(13, c.metadata_json);
    s.bind(14, c.instance_id);
    s.step();
  }, Durability::kNow);
}

void SqliteCallStore::set_status(std::string call_sid, std::string status, bool ended) {
  enqueue([sid = std::move(call_sid), status = std::move(status), ended](WriterDb& db) {
    const std::string now = now_iso();
    // A call we never saw created (e.g. a status callback of another app) gets a row too.
    Stmt ins(db, "INSERT OR IGNORE INTO calls(call_sid, created_at, updated_at) VALUES (?1, ?2, ?2)");
    ins.bind(1, sid).bind(2, now).step();
    Stmt s(db, "UPDATE calls SET status = ?2, updated_at = ?3, ended_at = CASE WHEN ?4 THEN COALESCE(ended_at, ?3) "
               "ELSE ended_at END WHERE call_sid = ?1");
    s.bind(1, sid).bind(2, status).bind(3, now).bind(4, static_cast<std::int64_t>(ended ? 1 : 0)).step();
  }, Durability::kNow);
}

void SqliteCallStore::set_voice(std::string call_sid, std::string voice_id, std::string settings_json) {
  enqueue([sid = std::move(call_sid), voice = std::move(voice_id), settings = std::move(settings_json)](WriterDb& db) {
    Stmt s(db, "UPDATE calls SET voice_id = ?2, voice_settings = ?3, updated_at = ?4 WHERE call_sid = ?1");
    s.bind(1, sid).bind(2, voice).bind_or_null(3, settings).bind(4, now_iso()).step();
  });
}

void SqliteCallStore::add_turn(std::string call_sid, StoredTurn t) {
  enqueue([sid = std::move(call_sid), t = std::move(t)](WriterDb& db) {
    Stmt s(db, "INSERT INTO turns(call_sid, turn, speaker, text, start_ms, end_ms, heard, interrupted, at, reply_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, sid).bind(2, static_cast<std::int64_t>(t.index)).bind(3, t.speaker).bind(4, t.text);
    s.bind(5, t.start_ms).bind(6, t.end_ms);
    if (t.heard) s.bind(7, *t.heard);
    s.bind(8, static_cast<std::int64_t>(t.interrupted ? 1 : 0)).bind(9, t.at.empty() ? now_iso() : t.at);
    if (t.reply_id > 0) s.bind(10, static_cast<std::int64_t>(t.reply_id));
    s.step();
  }, Durability::kNow);
}

void SqliteCallStore::finish_turn(std::string call_sid, StoredTurn t) {
  if (t.reply_id == 0) return add_turn(std::move(call_sid), std::move(t));  // nothing to find it by
  enqueue([sid = std::move(call_sid), t = std::move(t)](WriterDb& db) {
    // The latest row of that reply (a resumed stream numbers its replies from 1 again).
    Stmt s(db, "UPDATE turns SET start_ms = ?3, end_ms = ?4, heard = ?5, interrupted = ?6 WHERE id = "
               "(SELECT id FROM turns WHERE call_sid = ?1 AND reply_id = ?2 ORDER BY id DESC LIMIT 1)");
    s.bind(1, sid).bind(2, static_cast<std::int64_t>(t.reply_id)).bind(3, t.start_ms).bind(4, t.end_ms);
    if (t.heard) s.bind(5, *t.heard);
    s.bind(6, static_cast<std::int64_t>(t.interrupted ? 1 : 0));
    s.step();
    if (sqlite3_changes(db.db) == 0) {
      // Not stored when it started (an older writer): store it whole now.
      Stmt ins(db, "INSERT INTO turns(call_sid, turn, speaker, text, start_ms, end_ms, heard, interrupted, at, reply_id) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      ins.bind(1, sid).bind(2, static_cast<std::int64_t>(t.index)).bind(3, t.speaker).bind(4, t.text);
      ins.bind(5, t.start_ms).bind(6, t.end_ms);
      if (t.heard) ins.bind(7, *t.heard);
      ins.bind(8, static_cast<std::int64_t>(t.interrupted ? 1 : 0)).bind(9, now_iso());
      ins.bind(10, static_cast<std::int64_t>(t.reply_id));
      ins.step();
    }
  }, Durability::kNow);
}

std::vector<std::string> SqliteCallStore::close_orphans(const std::string& instance_id, const std::string& reason) {
  std::vector<std::string> closed;
  const std::string now = now_iso();
  std::lock_guard lock(reader_mu_);
  // On the writer's connection, before the writer thread takes it over (start-up only).
  exec(writer_db_, "BEGIN IMMEDIATE");
  try {
    {
      Stmt s(writer_db_, "SELECT call_sid FROM calls WHERE instance_id = ?1 AND ended_at IS NULL AND status = 'in-progress'");
      s.bind(1, instance_id);
      while (s.step()) closed.push_back(s.text(0));
    }
    for (const auto& sid : closed) {
      Stmt u(writer_db_, "UPDATE calls SET status = 'completed', updated_at = ?2, ended_at = ?2 WHERE call_sid = ?1");
      u.bind(1, sid).bind(2, now).step();
      Stmt e(writer_db_, "INSERT INTO events(call_sid, at, kind, detail) VALUES (?, ?, 'stream_ended', ?)");
      e.bind(1, sid).bind(2, now).bind(3, reason).step();
    }
    exec(writer_db_, "COMMIT");
  } catch (...) {
    sqlite3_exec(writer_db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return closed;
}

void SqliteCallStore::add_event(std::string call_sid, std::string kind, std::string detail) {
  enqueue([sid = std::move(call_sid), kind = std::move(kind), detail = std::move(detail)](WriterDb& db) {
    Stmt s(db, "INSERT INTO events(call_sid, at, kind, detail) VALUES (?, ?, ?, ?)");
    s.bind(1, sid).bind(2, now_iso()).bind(3, kind).bind(4, detail).step();
  });
}

void SqliteCallStore::add_latency(std::string call_sid, StoredLatency l) {
  enqueue([sid = std::move(call_sid), l = std::move(l)](WriterDb& db) {
    Stmt s(db, "INSERT INTO turn_latency(call_sid, turn, endpoint_ms, transcript_ms, agent_ms, tts_first_byte_ms, "
               "gateway_ms, response_ms, heard_ms, at, llm_first_token_ms, llm_first_piece_ms) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, sid).bind(2, static_cast<std::int64_t>(l.turn));
    s.bind_ms(3, l.endpoint_ms).bind_ms(4, l.transcript_ms).bind_ms(5, l.agent_ms).bind_ms(6, l.tts_first_byte_ms);
    s.bind_ms(7, l.gateway_ms).bind_ms(8, l.response_ms).bind_ms(9, l.heard_ms).bind(10, l.at.empty() ? now_iso() : l.at);
    s.bind_ms(11, l.llm_first_token_ms).bind_ms(12, l.llm_first_piece_ms);
    s.step();
  });
}

std::vector<StoredLatency> SqliteCallStore::read_latencies(const std::string& call_sid) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  Stmt s(reader_db_, "SELECT turn, endpoint_ms, transcript_ms, agent_ms, tts_first_byte_ms, gateway_ms, response_ms, "
                     "heard_ms, at, llm_first_token_ms, llm_first_piece_ms FROM turn_latency WHERE call_sid = ? ORDER BY id");
  s.bind(1, call_sid);
  std::vector<StoredLatency> out;
  while (s.step()) {
    StoredLatency l;
    l.turn = static_cast<int>(s.integer(0));
    l.endpoint_ms = s.ms(1);
    l.transcript_ms = s.ms(2);
    l.agent_ms = s.ms(3);
    l.tts_first_byte_ms = s.ms(4);
    l.gateway_ms = s.ms(5);
    l.response_ms = s.ms(6);
    l.heard_ms = s.ms(7);
    l.at = s.text(8);
    l.llm_first_token_ms = s.ms(9);
    l.llm_first_piece_ms = s.ms(10);
    out.push_back(std::move(l));
  }
  return out;
}

std::optional<std::string> SqliteCallStore::read_owner(const std::string& call_sid) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  Stmt s(reader_db_, "SELECT tenant FROM calls WHERE call_sid = ?");
  s.bind(1, call_sid);
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

std::optional<StoredCall> SqliteCallStore::read_call(const std::string& call_sid) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  Stmt s(reader_db_, (std::string("SELECT ") + kCallColumns + " FROM calls WHERE call_sid = ?").c_str());
  s.bind(1, call_sid);
  if (!s.step()) return std::nullopt;
  return read_call_row(s);
}

CallPage SqliteCallStore::read_calls(const CallQuery& q) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  // Empty filters match everything: (?n = '' OR column = ?n).
  Stmt s(reader_db_, (std::string("SELECT ") + kCallColumns +
                      " FROM calls WHERE (?1 = '' OR tenant = ?1) AND (?2 = '' OR status = ?2) AND "
                      "(?3 = '' OR agent_id = ?3) AND (?4 = '' OR direction = ?4) "
                      "ORDER BY created_at DESC, rowid DESC LIMIT ?5 OFFSET ?6")
                         .c_str());
  s.bind(1, q.tenant).bind(2, q.status).bind(3, q.agent_id).bind(4, q.direction);
  s.bind(5, static_cast<std::int64_t>(q.limit) + 1).bind(6, static_cast<std::int64_t>(q.offset));
  CallPage page;
  while (s.step()) page.calls.push_back(read_call_row(s));
  page.has_more = page.calls.size() > static_cast<std::size_t>(q.limit);
  if (page.has_more) page.calls.pop_back();
  return page;
}

std::vector<StoredTurn> SqliteCallStore::read_transcript(const std::string& call_sid) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  Stmt s(reader_db_, "SELECT turn, speaker, text, start_ms, end_ms, heard, interrupted, at FROM turns "
                     "WHERE call_sid = ? ORDER BY id");
  s.bind(1, call_sid);
  std::vector<StoredTurn> out;
  while (s.step()) {
    StoredTurn t;
    t.index = static_cast<int>(s.integer(0));
    t.speaker = s.text(1);
    t.text = s.text(2);
    t.start_ms = s.is_null(3) ? -1 : s.integer(3);
    t.end_ms = s.is_null(4) ? -1 : s.integer(4);
    if (!s.is_null(5)) t.heard = s.text(5);
    t.interrupted = s.integer(6) != 0;
    t.at = s.text(7);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<StoredEvent> SqliteCallStore::read_events(const std::string& call_sid) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  Stmt s(reader_db_, "SELECT at, kind, detail FROM events WHERE call_sid = ? ORDER BY id");
  s.bind(1, call_sid);
  std::vector<StoredEvent> out;
  while (s.step()) out.push_back(StoredEvent{s.text(0), s.text(1), s.text(2)});
  return out;
}

}  // namespace vox::store

namespace vox::store {

void SqliteCallStore::slow_disk() const {
  if (settings_.delay.count() > 0) std::this_thread::sleep_for(settings_.delay);
}

// Each read runs on the pool (or in place without one). The read is a named lambda passed
// on as an xvalue: GCC 12 destroys prvalue class-type arguments of coroutines twice.
boost::asio::awaitable<void> SqliteCallStore::flush() {
  auto wait = [this] { drain(); };
  if (!pool_) {
    wait();
    co_return;
  }
  co_await run_blocking(*pool_, std::move(wait));
}

boost::asio::awaitable<std::optional<StoredCall>> SqliteCallStore::call(std::string sid) {
  auto read = [this, sid] { return read_call(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::optional<std::string>> SqliteCallStore::owner(std::string sid) {
  auto read = [this, sid] { return read_owner(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<CallPage> SqliteCallStore::calls(CallQuery query) {
  auto read = [this, query] { return read_calls(query); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::vector<StoredTurn>> SqliteCallStore::transcript(std::string sid) {
  auto read = [this, sid] { return read_transcript(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::vector<StoredEvent>> SqliteCallStore::events(std::string sid) {
  auto read = [this, sid] { return read_events(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::vector<StoredLatency>> SqliteCallStore::latencies(std::string sid) {
  auto read = [this, sid] { return read_latencies(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

std::string SqliteCallStore::describe() const {
  return "sqlite " + settings_.path + " (schema version " + std::to_string(schema_version()) + ")";
}

}  // namespace vox::store
