#pragma once
// What the SQLite store's files share (sqlite_store.cpp writes, sqlite_store_reads.cpp
// reads): prepared statements, the writer's statement cache, the call row. Internal to
// store/.
#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/time.hpp"
#include "store/call_store.hpp"

namespace vox::store {
inline std::string now_iso() { return iso8601_now(); }

inline sqlite3_stmt* prepare(sqlite3* db, const char* sql, unsigned flags) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, flags, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("sqlite prepare failed: ") + sqlite3_errmsg(db) + " in: " + sql);
  return st;
}


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

inline void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + msg + " in: " + std::string(sql).substr(0, 80));
  }
}

inline sqlite3* open_db(const std::string& path) {
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

inline StoredCall read_call_row(const Stmt& s) {
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
inline constexpr const char* kCallColumns =
    "call_sid, tenant, agent_id, voice_id, voice_settings, from_number, to_number, direction, status, created_at, "
    "updated_at, ended_at, metadata, instance_id";

}  // namespace vox::store
