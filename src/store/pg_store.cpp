// The PostgreSQL call store: connecting, migrations, orphans, the writer thread and the
// writes. Reads are in pg_store_reads.cpp.
#include "store/pg_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "core/time.hpp"
#include "store/pg_conn.hpp"
#include "store/pg_readers.hpp"

namespace vox::store {
namespace {

using pg::Params;

// Serialises migrations across every instance migrating this database (an advisory lock
// is per database; the number is "voxstore" in ASCII, so unlikely to meet another app's).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(8534995652270076773)";

// Each migration runs once, in order, inside a transaction; its number is recorded. The
// same tables and versions as the SQLite store (sqlite_store.cpp).
constexpr const char* kMigrations[] = {
    // 1: calls, events, transcript turns. `seq` is SQLite's rowid: the insert order that
    // breaks ties of created_at. created_at sorts bytewise (ISO-8601), as in SQLite.
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
  created_at TEXT COLLATE "C" NOT NULL,
  updated_at TEXT NOT NULL,
  ended_at TEXT,
  metadata TEXT,
  seq BIGSERIAL NOT NULL
);
CREATE INDEX calls_tenant_created ON calls(tenant, created_at DESC);
CREATE INDEX calls_created ON calls(created_at DESC, seq DESC);
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY,
  call_sid TEXT NOT NULL,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_call ON events(call_sid, id);
CREATE TABLE turns (
  id BIGSERIAL PRIMARY KEY,
  call_sid TEXT NOT NULL,
  turn INTEGER NOT NULL,
  speaker TEXT NOT NULL,
  text TEXT NOT NULL,
  start_ms BIGINT,
  end_ms BIGINT,
  heard TEXT,
  interrupted INTEGER NOT NULL DEFAULT 0,
  at TEXT NOT NULL
);
CREATE INDEX turns_call ON turns(call_sid, id);
)sql",
    // 2: per-turn latency by stage (milliseconds).
    R"sql(
CREATE TABLE turn_latency (
  id BIGSERIAL PRIMARY KEY,
  call_sid TEXT NOT NULL,
  turn INTEGER NOT NULL,
  endpoint_ms DOUBLE PRECISION,
  transcript_ms DOUBLE PRECISION,
  agent_ms DOUBLE PRECISION,
  tts_first_byte_ms DOUBLE PRECISION,
  gateway_ms DOUBLE PRECISION,
  response_ms DOUBLE PRECISION,
  heard_ms DOUBLE PRECISION,
  at TEXT NOT NULL
);
CREATE INDEX turn_latency_call ON turn_latency(call_sid, id);
)sql",
    // 3: agent turns stored when they start (reply_id finds them again when they end);
    // the instance that ran each call (its live calls are closed when it restarts).
    R"sql(
ALTER TABLE turns ADD COLUMN reply_id BIGINT;
ALTER TABLE calls ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
CREATE INDEX calls_instance_open ON calls(instance_id, ended_at);
)sql",
    // 4: the LLM agent's stages inside agent_ms.
    R"sql(
ALTER TABLE turn_latency ADD COLUMN llm_first_token_ms DOUBLE PRECISION;
ALTER TABLE turn_latency ADD COLUMN llm_first_piece_ms DOUBLE PRECISION;
)sql",
    // 5: the console's overview reads the last hour of turns and events.
    R"sql(
CREATE INDEX turn_latency_at ON turn_latency(at);
CREATE INDEX events_at ON events(at);
)sql",
};

// A batch this large commits without waiting for the rest of its window.
constexpr std::size_t kMaxBatch = 512;
// At most this many writes share one transaction (a backlog after an outage is split).
constexpr std::size_t kMaxTransaction = 4096;
// Reconnection backoff of the writer.
constexpr std::chrono::milliseconds kFirstBackoff{50}, kMaxBackoff{1000};

constexpr const char* kInsertTurn =
    "INSERT INTO turns(call_sid, turn, speaker, text, start_ms, end_ms, heard, interrupted, at, reply_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

// The parameters of kInsertTurn.
Params turn_params(const std::string& sid, const StoredTurn& t, const std::string& at) {
  Params p;
  p.text(sid).integer(t.index).text(t.speaker).text(t.text).integer(t.start_ms).integer(t.end_ms).opt(t.heard);
  p.integer(t.interrupted ? 1 : 0).text(at);
  if (t.reply_id > 0) p.integer(static_cast<std::int64_t>(t.reply_id));
  else p.opt(std::nullopt);
  return p;
}

}  // namespace

// An awaiting flush(): done once `target` writes are committed.
struct PgCallStore::Flush {
  std::uint64_t target;
  std::chrono::steady_clock::time_point since;
  std::function<void()> complete;  // posts the awaiting coroutine's resumption
};

PgCallStore::PgCallStore(PgSettings settings, BlockingPool* pool, std::vector<std::string>* orphans)
    : settings_(std::move(settings)), pool_(pool) {
  label_ = pg::label(settings_.url);
  std::string error;
  Conn conn = pg::connect(settings_.url, error);
  if (!conn)
    throw std::runtime_error("cannot connect to PostgreSQL at " + label_ + " (" + error +
                             "): check DATABASE_URL / --store, and that the server is running");
  label_ = pg::label(conn);
  try {
    migrate(conn);
    // Calls this instance left live when it last stopped (killed, crashed) have no stream
    // any more: close them before anything else is written.
    if (!settings_.instance_id.empty()) {
      auto closed = close_orphans(conn);
      if (orphans) *orphans = std::move(closed);
    }
  } catch (const pg::Error& e) {
    PQfinish(conn);
    const std::string why = pg::redact(e.what(), settings_.url);
    if (e.transient())
      throw std::runtime_error("PostgreSQL at " + label_ + " could not open the call store now (" + why +
                               "): check that the server is running and accepts writes, and try again");
    throw std::runtime_error("cannot prepare the call store at PostgreSQL " + label_ + " (" + why +
                             "): check that the user may create tables in the database");
  } catch (...) {
    PQfinish(conn);
    throw;
  }
  readers_ = std::make_unique<Readers>(settings_.url, std::max(1, settings_.pool_size), label_);
  writer_conn_ = conn;
  writer_ = std::thread([this] { writer_loop(); });
}

PgCallStore::~PgCallStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  PQfinish(writer_conn_);
}

int PgCallStore::latest_schema_version() { return static_cast<int>(std::size(kMigrations)); }

void PgCallStore::migrate(Conn conn) {
  const int latest = latest_schema_version();
  // One transaction per migration, each under the lock and re-reading the version: of
  // several instances starting together one applies it, the others find it done.
  for (;;) {
    pg::exec_script(conn, "BEGIN");
    try {
      pg::exec_script(conn, kMigrationLock);
      pg::exec_script(conn,
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
      const int current = static_cast<int>(
          pg::exec(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", Params()).integer(0, 0));
      if (current > latest)
        throw std::runtime_error("the call store at PostgreSQL " + label_ + " has schema version " +
                                 std::to_string(current) + ", newer than this voxbridge knows (" +
                                 std::to_string(latest) + "): upgrade voxbridge");
      if (current == latest) {
        pg::exec_script(conn, "COMMIT");
        schema_ = current;
        return;
      }
      const int v = current + 1;
      pg::exec_script(conn, kMigrations[v - 1]);
      pg::exec(conn, "INSERT INTO schema_migrations(version, applied_at) VALUES ($1, $2)",
               Params().integer(v).text(iso8601_now()));
      pg::exec_script(conn, "COMMIT");
      spdlog::info("call store postgresql {}: migrated to schema version {}", label_, v);
    } catch (...) {
      PQclear(PQexec(conn, "ROLLBACK"));
      throw;
    }
  }
}

std::vector<std::string> PgCallStore::close_orphans(Conn conn) {
  std::vector<std::string> closed;
  const std::string now = iso8601_now();
  const std::string reason = "server_restart";
  pg::exec_script(conn, "BEGIN");
  try {
    const auto r = pg::exec(conn,
                            "WITH closed AS (UPDATE calls SET status = 'completed', updated_at = $2, ended_at = $2 "
                            "WHERE instance_id = $1 AND ended_at IS NULL AND status = 'in-progress' "
                            "RETURNING call_sid, seq) SELECT call_sid FROM closed ORDER BY seq",
                            Params().text(settings_.instance_id).text(now));
    for (int i = 0; i < r.rows(); ++i) closed.push_back(r.text(i, 0));
    for (const auto& sid : closed)
      pg::exec(conn, "INSERT INTO events(call_sid, at, kind, detail) VALUES ($1, $2, 'stream_ended', $3)",
               Params().text(sid).text(now).text(reason));
    pg::exec_script(conn, "COMMIT");
  } catch (...) {
    PQclear(PQexec(conn, "ROLLBACK"));
    throw;
  }
  return closed;
}

void PgCallStore::enqueue(Write w, Durability d) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (down_ && queue_.size() >= settings_.max_queued) {
      // A long outage: memory stays bounded (what is already queued is kept).
      ++errors_;
      if (!dropping_)
        spdlog::error("call store postgresql {}: unreachable with {} writes queued; dropping new writes", label_,
                      queue_.size());
      dropping_ = true;
      return;
    }
    queue_.push_back(std::move(w));
    ++queued_;
    // The writer waits for a first write, then gathers: only the first write of a batch,
    // the one that fills it, or one that must be committed now wakes it.
    const bool now = d == Durability::kNow;
    if (now) ++urgent_;
    wake = queue_.size() == 1 || queue_.size() == kMaxBatch || now;
  }
  if (wake) cv_.notify_one();
}

bool PgCallStore::reconnect_writer(std::string& error) {
  PQfinish(writer_conn_);
  writer_conn_ = pg::connect(settings_.url, error);
  return writer_conn_ != nullptr;
}

std::uint64_t PgCallStore::commit(std::deque<Write>& batch, std::string& xid) {
  Conn conn = writer_conn_;
  const char* const kXid = "SELECT txid_current()";
  // One transaction per batch: a burst of events costs one commit.
  pg::exec_script(conn, "BEGIN");
  xid = pg::exec(conn, kXid, Params()).text(0, 0);
  std::string first_error;
  try {
    for (auto& w : batch) w(conn);
    pg::exec_script(conn, "COMMIT");
    return 0;
  } catch (const pg::Error& e) {
    if (e.transient()) throw;
    first_error = e.what();
  } catch (const std::exception& e) {
    first_error = e.what();
  }
  // The server rejected a write, which voids the transaction: again, each write in a
  // savepoint, so that only the rejected ones are lost.
  pg::exec_script(conn, "ROLLBACK");
  xid.clear();
  pg::exec_script(conn, "BEGIN");
  xid = pg::exec(conn, kXid, Params()).text(0, 0);
  std::uint64_t failed = 0;
  for (auto& w : batch) {
    pg::exec_script(conn, "SAVEPOINT w");
    try {
      w(conn);
      pg::exec_script(conn, "RELEASE SAVEPOINT w");
    } catch (const pg::Error& e) {
      if (e.transient()) throw;
      ++failed;
      pg::exec_script(conn, "ROLLBACK TO SAVEPOINT w");
    } catch (const std::exception&) {
      ++failed;
      pg::exec_script(conn, "ROLLBACK TO SAVEPOINT w");
    }
  }
  pg::exec_script(conn, "COMMIT");
  if (failed > 0)
    spdlog::error("call store postgresql {}: {} write(s) rejected (first: {})", label_, failed, first_error);
  return failed;
}

bool PgCallStore::was_committed(const std::string& xid) {
  return pg::exec(writer_conn_, "SELECT txid_status($1::bigint)", Params().text(xid)).text(0, 0) == "committed";
}

void PgCallStore::finish_flushes(bool all) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = flushes_.begin(); it != flushes_.end();) {
    auto& f = **it;
    // While the server is unreachable a flush waits at most outage_wait of the outage.
    const bool gave_up = down_ && now >= std::max(f.since, down_since_) + settings_.outage_wait;
    if (all || committed_ >= f.target || gave_up) {
      f.complete();
      --waiters_;
      it = flushes_.erase(it);
    } else {
      ++it;
    }
  }
}

void PgCallStore::writer_loop() {
  std::deque<Write> batch;  // taken from the queue, not committed yet (kept across an outage)
  auto backoff = kFirstBackoff;
  std::chrono::steady_clock::time_point stop_at{};
  // A transaction whose COMMIT may have reached the server before the connection went:
  // asked about after reconnecting, so that the batch is not written twice.
  std::optional<std::string> unsure;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (batch.empty()) {
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) break;
        if (settings_.commit_window.count() > 0)
          cv_.wait_for(lock, settings_.commit_window,
                       [&] { return stopping_ || waiters_ > 0 || urgent_ > 0 || queue_.size() >= kMaxBatch; });
        // (A batch kept from a failed attempt is retried as it was: the server may have
        // committed it, see `unsure`.)
        while (!queue_.empty() && batch.size() < kMaxTransaction) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        urgent_ = queue_.empty() ? 0 : 1;  // a backlog is committed without gathering
      }
      if (stopping_ && stop_at == std::chrono::steady_clock::time_point{}) stop_at = std::chrono::steady_clock::now();
    }
    std::string error, xid;
    std::uint64_t rejected = 0;
    bool lost = false;
    try {
      if (!pg::healthy(writer_conn_) && !reconnect_writer(error)) {
        lost = true;
      } else if (unsure && was_committed(*unsure)) {
        unsure.reset();  // it was: the batch is in
      } else {
        unsure.reset();
        rejected = commit(batch, xid);
      }
    } catch (const pg::Error& e) {
      if (e.transient()) {
        lost = true;
        error = e.what();
        if (!xid.empty()) unsure = xid;
      } else {
        rejected = batch.size();  // COMMIT itself refused: the batch is gone
        spdlog::error("call store postgresql {}: commit failed ({}); {} write(s) lost", label_, e.what(), batch.size());
      }
    }
    std::unique_lock lock(mu_);
    if (!lost) {
      if (down_)
        spdlog::info("call store postgresql {}: writing again; {} write(s) kept during the outage", label_,
                     batch.size() + queue_.size());
      committed_ += batch.size();
      errors_ += rejected;
      down_ = false;
      dropping_ = false;
      batch.clear();
      backoff = kFirstBackoff;
      finish_flushes(false);
      lock.unlock();
      idle_cv_.notify_all();
      continue;
    }
    // The connection is gone (or the server cannot take writes now): keep the batch, count
    // the failure, reconnect and retry with backoff.
    PQfinish(writer_conn_);
    writer_conn_ = nullptr;
    ++errors_;
    const auto now = std::chrono::steady_clock::now();
    if (!down_) {
      down_ = true;
      down_since_ = now;
      spdlog::warn("call store postgresql {}: cannot write ({}); {} write(s) kept, retrying", label_,
                   pg::redact(error, settings_.url), batch.size() + queue_.size());
    }
    if (stopping_ && now >= std::max(stop_at, down_since_) + settings_.outage_wait) {
      const std::size_t lost_writes = batch.size() + queue_.size();
      spdlog::error("call store postgresql {}: still unreachable at shutdown; {} write(s) lost", label_, lost_writes);
      committed_ += lost_writes;
      errors_ += lost_writes;
      queue_.clear();
      batch.clear();
      finish_flushes(true);
      lock.unlock();
      idle_cv_.notify_all();
      break;
    }
    finish_flushes(false);
    idle_cv_.notify_all();  // drain() waiters time their wait from now on
    cv_.wait_for(lock, backoff, [] { return false; });
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  std::lock_guard lock(mu_);
  finish_flushes(true);
}

void PgCallStore::drain() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_;
  if (committed_ >= target) return;
  // The writer stops gathering while anyone waits for it.
  ++waiters_;
  cv_.notify_one();
  const auto since = std::chrono::steady_clock::now();
  while (committed_ < target) {
    if (!down_) {
      idle_cv_.wait(lock);
      continue;
    }
    const auto until = std::max(since, down_since_) + settings_.outage_wait;
    if (std::chrono::steady_clock::now() >= until) {
      spdlog::warn("call store postgresql {}: unreachable; stopped waiting with {} write(s) queued", label_,
                   queued_ - committed_);
      break;
    }
    idle_cv_.wait_until(lock, until);
  }
  --waiters_;
}

boost::asio::awaitable<void> PgCallStore::flush() {
  co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
      [this](auto handler) {
        // The awaiting executor has work outstanding until the flush is done.
        auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        std::function<void()> complete = [home, h] { boost::asio::post(home, [h] { std::move (*h)(); }); };
        {
          std::lock_guard lock(mu_);
          if (committed_ < queued_) {
            flushes_.push_back(std::make_unique<Flush>(Flush{queued_, std::chrono::steady_clock::now(), std::move(complete)}));
            ++waiters_;
            complete = nullptr;
          }
        }
        if (complete) complete();  // nothing queued
        else cv_.notify_one();
      },
      boost::asio::use_awaitable);
}

std::uint64_t PgCallStore::write_errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

bool PgCallStore::writer_connected() const {
  std::lock_guard lock(mu_);
  return !down_;
}

std::size_t PgCallStore::pending_writes() const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(queued_ - committed_);
}

void PgCallStore::upsert_call(StoredCall c) {
  enqueue([c = std::move(c)](Conn conn) {
    const std::string now = iso8601_now();
    pg::exec(conn,
             "INSERT INTO calls(call_sid, tenant, agent_id, voice_id, voice_settings, from_number, to_number, direction, "
             "status, created_at, updated_at, ended_at, metadata, instance_id) "
             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
             "ON CONFLICT (call_sid) DO UPDATE SET "
             // The owner is set once: a later write never moves a call to another company.
             "tenant = CASE WHEN calls.tenant = '' THEN excluded.tenant ELSE calls.tenant END, "
             "instance_id = CASE WHEN excluded.instance_id <> '' THEN excluded.instance_id ELSE calls.instance_id END, "
             "agent_id = CASE WHEN excluded.agent_id <> '' THEN excluded.agent_id ELSE calls.agent_id END, "
             "voice_id = CASE WHEN excluded.voice_id <> '' THEN excluded.voice_id ELSE calls.voice_id END, "
             "voice_settings = COALESCE(excluded.voice_settings, calls.voice_settings), "
             "from_number = CASE WHEN excluded.from_number <> '' THEN excluded.from_number ELSE calls.from_number END, "
             "to_number = CASE WHEN excluded.to_number <> '' THEN excluded.to_number ELSE calls.to_number END, "
             "direction = CASE WHEN excluded.direction <> '' THEN excluded.direction ELSE calls.direction END, "
             "status = CASE WHEN excluded.status <> '' THEN excluded.status ELSE calls.status END, "
             "updated_at = excluded.updated_at, "
             "ended_at = COALESCE(excluded.ended_at, calls.ended_at), "
             "metadata = COALESCE(excluded.metadata, calls.metadata)",
             Params()
                 .text(c.call_sid).text(c.tenant).text(c.agent_id).text(c.voice_id).text_or_null(c.voice_settings_json)
                 .text(c.from).text(c.to).text(c.direction).text(c.status)
                 .text(c.created_at.empty() ? now : c.created_at).text(now).text_or_null(c.ended_at)
                 .text_or_null(c.metadata_json).text(c.instance_id));
  }, Durability::kNow);
}

void PgCallStore::set_status(std::string call_sid, std::string status, bool ended) {
  enqueue([sid = std::move(call_sid), status = std::move(status), ended](Conn conn) {
    // A call we never saw created (e.g. a status callback of another app) gets a row too;
    // the first end time stays.
    pg::exec(conn,
             "INSERT INTO calls(call_sid, status, created_at, updated_at, ended_at) "
             "VALUES ($1, $2, $3, $3, CASE WHEN $4::boolean THEN $3::text END) "
             "ON CONFLICT (call_sid) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, "
             "ended_at = COALESCE(calls.ended_at, excluded.ended_at)",
             Params().text(sid).text(status).text(iso8601_now()).boolean(ended));
  }, Durability::kNow);
}

void PgCallStore::set_voice(std::string call_sid, std::string voice_id, std::string settings_json) {
  enqueue([sid = std::move(call_sid), voice = std::move(voice_id), settings = std::move(settings_json)](Conn conn) {
    pg::exec(conn, "UPDATE calls SET voice_id = $2, voice_settings = $3, updated_at = $4 WHERE call_sid = $1",
             Params().text(sid).text(voice).text_or_null(settings).text(iso8601_now()));
  });
}

void PgCallStore::add_turn(std::string call_sid, StoredTurn t) {
  enqueue([sid = std::move(call_sid), t = std::move(t)](Conn conn) {
    pg::exec(conn, kInsertTurn, turn_params(sid, t, t.at.empty() ? iso8601_now() : t.at));
  }, Durability::kNow);
}

void PgCallStore::finish_turn(std::string call_sid, StoredTurn t) {
  if (t.reply_id == 0) return add_turn(std::move(call_sid), std::move(t));  // nothing to find it by
  enqueue([sid = std::move(call_sid), t = std::move(t)](Conn conn) {
    // The latest row of that reply (a resumed stream numbers its replies from 1 again).
    const auto r = pg::exec(conn,
                            "UPDATE turns SET start_ms = $3, end_ms = $4, heard = $5, interrupted = $6 WHERE id = "
                            "(SELECT id FROM turns WHERE call_sid = $1 AND reply_id = $2 ORDER BY id DESC LIMIT 1)",
                            Params()
                                .text(sid).integer(static_cast<std::int64_t>(t.reply_id)).integer(t.start_ms)
                                .integer(t.end_ms).opt(t.heard).integer(t.interrupted ? 1 : 0));
    // Not stored when it started (an older writer): store it whole now.
    if (r.affected() == 0) pg::exec(conn, kInsertTurn, turn_params(sid, t, iso8601_now()));
  }, Durability::kNow);
}

void PgCallStore::add_event(std::string call_sid, std::string kind, std::string detail) {
  enqueue([sid = std::move(call_sid), kind = std::move(kind), detail = std::move(detail)](Conn conn) {
    pg::exec(conn, "INSERT INTO events(call_sid, at, kind, detail) VALUES ($1, $2, $3, $4)",
             Params().text(sid).text(iso8601_now()).text(kind).text(detail));
  });
}

void PgCallStore::add_latency(std::string call_sid, StoredLatency l) {
  enqueue([sid = std::move(call_sid), l = std::move(l)](Conn conn) {
    pg::exec(conn,
             "INSERT INTO turn_latency(call_sid, turn, endpoint_ms, transcript_ms, agent_ms, tts_first_byte_ms, "
             "gateway_ms, response_ms, heard_ms, at, llm_first_token_ms, llm_first_piece_ms) "
             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
             Params()
                 .text(sid).integer(l.turn).ms(l.endpoint_ms).ms(l.transcript_ms).ms(l.agent_ms).ms(l.tts_first_byte_ms)
                 .ms(l.gateway_ms).ms(l.response_ms).ms(l.heard_ms).text(l.at.empty() ? iso8601_now() : l.at)
                 .ms(l.llm_first_token_ms).ms(l.llm_first_piece_ms));
  });
}

}  // namespace vox::store
