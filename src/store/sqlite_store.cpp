#include "store/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "store/sqlite_detail.hpp"

namespace vox::store {
namespace {

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
    // 5: the console's overview reads the last hour of turns and events.
    R"sql(
CREATE INDEX turn_latency_at ON turn_latency(at);
CREATE INDEX events_at ON events(at);
)sql",
};

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

}  // namespace vox::store
