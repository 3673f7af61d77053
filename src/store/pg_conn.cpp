#include "store/pg_conn.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>

namespace vox::store::pg {
namespace {

// libpq's message on one line (it spans several: "ERROR: ...\nCONTEXT: ...").
std::string trimmed(const char* msg) {
  std::string s;
  for (const char* p = msg ? msg : ""; *p; ++p) {
    const bool space = *p == '\n' || *p == '\t' || *p == ' ';
    if (space && (s.empty() || s.back() == ' ')) continue;
    s += space ? ' ' : *p;
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "unknown error" : s;
}

// SQLSTATEs worth retrying: 08 (connection exception), 57P0x (the server is shutting
// down, crashed, or not ready yet), 40 (deadlock, serialization failure), 53 (out of
// disk, memory or connections) and 25006 (a read-only server: a standby, or a primary
// being failed over).
bool transient_state(const char* state) {
  if (!state) return false;
  for (const char* prefix : {"08", "57P0", "40", "53", "25006"})
    if (std::strncmp(state, prefix, std::strlen(prefix)) == 0) return true;
  return false;
}

[[noreturn]] void fail(PGconn* conn, PGresult* r) {
  std::string msg = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (msg == "unknown error" && r) msg = trimmed(PQerrorMessage(conn));
  const bool transient =
      PQstatus(conn) == CONNECTION_BAD || transient_state(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr);
  PQclear(r);
  throw Error(msg, transient);
}

using Options = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// The URL's options, or null when libpq cannot parse it.
Options parse(const std::string& url) {
  char* err = nullptr;
  Options opts(PQconninfoParse(url.c_str(), &err), &PQconninfoFree);
  PQfreemem(err);
  return opts;
}

std::string option(const Options& opts, const char* name) {
  for (auto* o = opts.get(); o && o->keyword; ++o)
    if (std::strcmp(o->keyword, name) == 0) return o->val ? o->val : "";
  return {};
}

std::string host_port_db(std::string host, std::string port, std::string db) {
  if (host.empty()) host = "localhost";
  if (port.empty()) port = "5432";
  if (db.empty()) db = "(default database)";
  return host + ":" + port + "/" + db;
}

// Discards the server's notices ("relation already exists, skipping"): libpq would print
// them on stderr.
void quiet(void*, const char*) {}

void replace_all(std::string& s, const std::string& what, const std::string& with) {
  if (what.empty()) return;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
}

}  // namespace

Params& Params::ms(double v) {
  if (std::isnan(v) || v < 0) {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  if (std::isinf(v)) {
    values_.emplace_back("Infinity");
    return *this;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  values_.emplace_back(std::string(buf, res.ptr));
  return *this;
}

std::string Result::text(int row, int col) const {
  if (PQgetisnull(r_, row, col)) return {};
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::int64_t Result::integer(int row, int col) const {
  if (PQgetisnull(r_, row, col)) return 0;
  const char* p = PQgetvalue(r_, row, col);
  std::int64_t v = 0;
  std::from_chars(p, p + PQgetlength(r_, row, col), v);
  return v;
}

double Result::ms(int row, int col) const {
  if (PQgetisnull(r_, row, col)) return -1.0;
  const char* p = PQgetvalue(r_, row, col);
  double v = -1.0;
  const std::string_view s(p, static_cast<std::size_t>(PQgetlength(r_, row, col)));
  if (s == "Infinity") return HUGE_VAL;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::int64_t Result::affected() const {
  const char* p = PQcmdTuples(r_);
  std::int64_t v = 0;
  if (p) std::from_chars(p, p + std::strlen(p), v);
  return v;
}

Result exec(PGconn* conn, const char* sql, const Params& params) {
  if (!conn) throw Error("not connected", true);
  const auto& values = params.values();
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v ? v->c_str() : nullptr);
  PGresult* r = PQexecParams(conn, sql, static_cast<int>(ptrs.size()), nullptr, ptrs.data(), nullptr, nullptr, 0);
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(conn, r);
  return Result(r);
}

void exec_script(PGconn* conn, const char* sql) {
  if (!conn) throw Error("not connected", true);
  PGresult* r = PQexec(conn, sql);
  const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(conn, r);
  PQclear(r);
}

std::string label(const std::string& url) {
  const auto opts = parse(url);
  if (!opts) return "(unparsable PostgreSQL URL)";
  std::string host = option(opts, "host");
  if (host.empty()) host = option(opts, "hostaddr");
  std::string db = option(opts, "dbname");
  if (db.empty()) db = option(opts, "user");
  return host_port_db(host, option(opts, "port"), db);
}

std::string label(PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  return host_port_db(host ? host : "", port ? port : "", db ? db : "");
}

std::string redact(std::string text, const std::string& url) {
  replace_all(text, url, "<the PostgreSQL URL>");
  if (const auto opts = parse(url)) replace_all(text, option(opts, "password"), "***");
  // The raw (percent-encoded) password of a URL: user:PASSWORD@host.
  if (const auto scheme = url.find("://"); scheme != std::string::npos) {
    const auto start = scheme + 3;
    const auto end = url.find_first_of("/?", start);
    const std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (const auto at = authority.rfind('@'); at != std::string::npos) {
      const std::string userinfo = authority.substr(0, at);
      if (const auto colon = userinfo.find(':'); colon != std::string::npos)
        replace_all(text, userinfo.substr(colon + 1), "***");
    }
  }
  return text;
}

PGconn* connect(const std::string& url, std::string& error, int connect_timeout_s) {
  // Defaults first: the URL (expanded from dbname) overrides them.
  const std::string timeout = std::to_string(connect_timeout_s);
  // A dead peer is noticed within about a minute (keepalives), and a write nobody
  // acknowledges fails after 30 s, instead of waiting on the kernel's hours.
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "voxbridge", "UTF8", "30", "10", "3", "30000", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (!conn) {
    error = "out of memory";
    return nullptr;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    error = redact(trimmed(PQerrorMessage(conn)), url);
    PQfinish(conn);
    return nullptr;
  }
  PQsetNoticeProcessor(conn, &quiet, nullptr);
  return conn;
}

}  // namespace vox::store::pg
