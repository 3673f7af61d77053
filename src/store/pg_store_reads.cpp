// The PostgreSQL call store's reads: blocking (read_*) on a reader connection, and
// awaited on the blocking pool.
#include <algorithm>

#include "store/pg_readers.hpp"
#include "store/pg_store.hpp"

namespace vox::store {
namespace {

using pg::Params;

constexpr const char* kCallColumns =
    "call_sid, tenant, agent_id, voice_id, voice_settings, from_number, to_number, direction, status, created_at, "
    "updated_at, ended_at, metadata, instance_id";

StoredCall call_row(const pg::Result& r, int i) {
  StoredCall c;
  c.call_sid = r.text(i, 0);
  c.tenant = r.text(i, 1);
  c.agent_id = r.text(i, 2);
  c.voice_id = r.text(i, 3);
  c.voice_settings_json = r.text(i, 4);
  c.from = r.text(i, 5);
  c.to = r.text(i, 6);
  c.direction = r.text(i, 7);
  c.status = r.text(i, 8);
  c.created_at = r.text(i, 9);
  c.updated_at = r.text(i, 10);
  c.ended_at = r.text(i, 11);
  c.metadata_json = r.text(i, 12);
  c.instance_id = r.text(i, 13);
  return c;
}

}  // namespace

std::optional<StoredCall> PgCallStore::read_call(const std::string& call_sid) const {
  static const std::string sql = std::string("SELECT ") + kCallColumns + " FROM calls WHERE call_sid = $1";
  return readers_->run([&](PGconn* c) -> std::optional<StoredCall> {
    const auto r = pg::exec(c, sql.c_str(), Params().text(call_sid));
    if (r.rows() == 0) return std::nullopt;
    return call_row(r, 0);
  });
}

std::optional<std::string> PgCallStore::read_owner(const std::string& call_sid) const {
  return readers_->run([&](PGconn* c) -> std::optional<std::string> {
    const auto r = pg::exec(c, "SELECT tenant FROM calls WHERE call_sid = $1", Params().text(call_sid));
    if (r.rows() == 0) return std::nullopt;
    return r.text(0, 0);
  });
}

CallPage PgCallStore::read_calls(const CallQuery& q) const {
  // Empty filters match everything: ($n = '' OR column = $n). One row past the page tells
  // whether more follow.
  static const std::string sql = std::string("SELECT ") + kCallColumns +
                                 " FROM calls WHERE ($1::text = '' OR tenant = $1::text) AND "
                                 "($2::text = '' OR status = $2::text) AND ($3::text = '' OR agent_id = $3::text) AND "
                                 "($4::text = '' OR direction = $4::text) AND "
                                 "($7::text = '' OR created_at >= $7::text) AND ($8::text = '' OR created_at < $8::text) AND "
                                 "($9::text = '' OR EXISTS (SELECT 1 FROM turns t WHERE t.call_sid = calls.call_sid AND "
                                 "strpos(lower(t.text), lower($9::text)) > 0)) "
                                 "ORDER BY created_at DESC, seq DESC LIMIT $5::bigint OFFSET $6::bigint";
  const std::int64_t limit = std::max(0, q.limit);
  const std::int64_t offset = std::max(0, q.offset);
  return readers_->run([&](PGconn* c) {
    const auto r = pg::exec(c, sql.c_str(),
                            Params().text(q.tenant).text(q.status).text(q.agent_id).text(q.direction)
                                .integer(limit + 1).integer(offset).text(q.since).text(q.until).text(q.text));
    CallPage page;
    for (int i = 0; i < r.rows(); ++i) page.calls.push_back(call_row(r, i));
    page.has_more = page.calls.size() > static_cast<std::size_t>(limit);
    if (page.has_more) page.calls.pop_back();
    return page;
  });
}

Overview PgCallStore::read_overview(const std::string& tenant, const std::string& since) const {
  return readers_->run([&](PGconn* c) {
    Overview o;
    const auto n = pg::exec(c, "SELECT COUNT(*) FROM calls WHERE ($1::text = '' OR tenant = $1::text) AND created_at >= $2::text",
                      Params().text(tenant).text(since));
    if (n.rows() > 0) o.calls = n.integer(0, 0);
    const auto r = pg::exec(c,
                 "SELECT l.at, l.response_ms FROM turn_latency l JOIN calls c ON c.call_sid = l.call_sid "
                 "WHERE l.at >= $2::text AND ($1::text = '' OR c.tenant = $1::text) AND l.response_ms IS NOT NULL "
                 "ORDER BY l.at DESC LIMIT $3::bigint",
                 Params().text(tenant).text(since).integer(Overview::kOverviewTurns));
    for (int i = 0; i < r.rows(); ++i) o.responses.emplace_back(r.text(i, 0), r.ms(i, 1));
    const auto e = pg::exec(c,
                 "SELECT e.kind, COUNT(*) FROM events e JOIN calls c ON c.call_sid = e.call_sid "
                 "WHERE e.at >= $2::text AND ($1::text = '' OR c.tenant = $1::text) AND "
                 "e.kind IN ('provider_fallback', 'error', 'barge_in') GROUP BY e.kind",
                 Params().text(tenant).text(since));
    for (int i = 0; i < e.rows(); ++i) {
      const auto kind = e.text(i, 0);
      (kind == "provider_fallback" ? o.fallbacks : kind == "error" ? o.errors : o.barge_ins) = e.integer(i, 1);
    }
    return o;
  });
}

std::vector<StoredTurn> PgCallStore::read_transcript(const std::string& call_sid) const {
  return readers_->run([&](PGconn* c) {
    const auto r = pg::exec(c,
                            "SELECT turn, speaker, text, start_ms, end_ms, heard, interrupted, at FROM turns "
                            "WHERE call_sid = $1 ORDER BY id",
                            Params().text(call_sid));
    std::vector<StoredTurn> out;
    for (int i = 0; i < r.rows(); ++i) {
      StoredTurn t;
      t.index = static_cast<int>(r.integer(i, 0));
      t.speaker = r.text(i, 1);
      t.text = r.text(i, 2);
      t.start_ms = r.is_null(i, 3) ? -1 : r.integer(i, 3);
      t.end_ms = r.is_null(i, 4) ? -1 : r.integer(i, 4);
      if (!r.is_null(i, 5)) t.heard = r.text(i, 5);
      t.interrupted = r.integer(i, 6) != 0;
      t.at = r.text(i, 7);
      out.push_back(std::move(t));
    }
    return out;
  });
}

std::vector<StoredEvent> PgCallStore::read_events(const std::string& call_sid) const {
  return readers_->run([&](PGconn* c) {
    const auto r =
        pg::exec(c, "SELECT at, kind, detail FROM events WHERE call_sid = $1 ORDER BY id", Params().text(call_sid));
    std::vector<StoredEvent> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(StoredEvent{r.text(i, 0), r.text(i, 1), r.text(i, 2)});
    return out;
  });
}

std::vector<StoredLatency> PgCallStore::read_latencies(const std::string& call_sid) const {
  return readers_->run([&](PGconn* c) {
    const auto r = pg::exec(c,
                            "SELECT turn, endpoint_ms, transcript_ms, agent_ms, tts_first_byte_ms, gateway_ms, "
                            "response_ms, heard_ms, at, llm_first_token_ms, llm_first_piece_ms FROM turn_latency "
                            "WHERE call_sid = $1 ORDER BY id",
                            Params().text(call_sid));
    std::vector<StoredLatency> out;
    for (int i = 0; i < r.rows(); ++i) {
      StoredLatency l;
      l.turn = static_cast<int>(r.integer(i, 0));
      l.endpoint_ms = r.ms(i, 1);
      l.transcript_ms = r.ms(i, 2);
      l.agent_ms = r.ms(i, 3);
      l.tts_first_byte_ms = r.ms(i, 4);
      l.gateway_ms = r.ms(i, 5);
      l.response_ms = r.ms(i, 6);
      l.heard_ms = r.ms(i, 7);
      l.at = r.text(i, 8);
      l.llm_first_token_ms = r.ms(i, 9);
      l.llm_first_piece_ms = r.ms(i, 10);
      out.push_back(std::move(l));
    }
    return out;
  });
}

int PgCallStore::schema_version() const {
  return readers_->run([](PGconn* c) {
    return static_cast<int>(
        pg::exec(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", Params()).integer(0, 0));
  });
}

std::string PgCallStore::describe() const {
  // No round trip: /health must answer while the server is away.
  return "postgresql " + label_ + ", schema " + std::to_string(schema_);
}

// Each read runs on the pool (or in place without one). The read is a named lambda passed
// on as an xvalue: GCC 12 destroys prvalue class-type arguments of coroutines twice.
boost::asio::awaitable<std::optional<StoredCall>> PgCallStore::call(std::string sid) {
  auto read = [this, sid] { return read_call(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::optional<std::string>> PgCallStore::owner(std::string sid) {
  auto read = [this, sid] { return read_owner(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<CallPage> PgCallStore::calls(CallQuery query) {
  auto read = [this, query] { return read_calls(query); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::vector<StoredTurn>> PgCallStore::transcript(std::string sid) {
  auto read = [this, sid] { return read_transcript(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::vector<StoredEvent>> PgCallStore::events(std::string sid) {
  auto read = [this, sid] { return read_events(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<std::vector<StoredLatency>> PgCallStore::latencies(std::string sid) {
  auto read = [this, sid] { return read_latencies(sid); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

boost::asio::awaitable<Overview> PgCallStore::overview(std::string tenant, std::string since) {
  auto read = [this, tenant, since] { return read_overview(tenant, since); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

}  // namespace vox::store
