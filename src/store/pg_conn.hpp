#pragma once
// libpq helpers for the PostgreSQL call store (pg_store.hpp), shared by its writer and
// its readers: values always travel as parameters ($1, $2, ...; never spliced into SQL),
// results are freed on scope exit, errors say whether the connection was lost, and the
// server is named for messages without its password. Internal to the store module.
#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vox::store::pg {

// A statement failed. transient(): the same work may succeed later, on a new connection
// (the connection is gone, the server is shutting down, read-only or out of resources, a
// deadlock or serialization failure); otherwise the server rejected the statement itself
// (bad data, a constraint) and would again.
class Error : public std::runtime_error {
 public:
  Error(const std::string& what, bool transient) : std::runtime_error(what), transient_(transient) {}
  bool transient() const { return transient_; }

 private:
  bool transient_;
};

// Positional parameters in text form; a missing value is SQL NULL.
class Params {
 public:
  Params& text(std::string v) {
    values_.emplace_back(std::move(v));
    return *this;
  }
  // "" is stored as NULL.
  Params& text_or_null(const std::string& v) {
    if (v.empty()) values_.emplace_back(std::nullopt);
    else values_.emplace_back(v);
    return *this;
  }
  Params& opt(const std::optional<std::string>& v) {
    values_.push_back(v);
    return *this;
  }
  Params& integer(std::int64_t v) {
    values_.emplace_back(std::to_string(v));
    return *this;
  }
  Params& boolean(bool v) {
    values_.emplace_back(v ? "true" : "false");
    return *this;
  }
  // A latency in milliseconds: negative (not reached) and NaN are stored as NULL.
  Params& ms(double v);
  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

// A statement's result (text format), cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&&) = delete;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  // The value as text ("" for NULL).
  std::string text(int row, int col) const;
  std::int64_t integer(int row, int col) const;  // 0 for NULL
  double ms(int row, int col) const;             // -1 for NULL
  // Rows an INSERT / UPDATE / DELETE touched.
  std::int64_t affected() const;

 private:
  PGresult* r_;
};

// Runs one parameterised statement; throws Error.
Result exec(PGconn* conn, const char* sql, const Params& params);
// Runs statements that take no values (DDL, BEGIN, COMMIT); throws Error.
void exec_script(PGconn* conn, const char* sql);

// The server a URL names, for messages: "host:port/db", never the user or password.
std::string label(const std::string& url);
// The server a live connection is talking to, the same way.
std::string label(PGconn* conn);
// `text` with the URL's password (raw and decoded) and the URL itself masked.
std::string redact(std::string text, const std::string& url);

// Opens a connection (blocking; at most `connect_timeout_s` per address unless the URL
// says otherwise). Returns null and sets `error` (libpq's message, password removed).
PGconn* connect(const std::string& url, std::string& error, int connect_timeout_s = 10);

// True when `conn` is usable (open and not broken).
inline bool healthy(PGconn* conn) { return conn && PQstatus(conn) == CONNECTION_OK; }

}  // namespace vox::store::pg
