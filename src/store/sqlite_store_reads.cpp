#include <thread>

#include "store/sqlite_store.hpp"
#include "store/sqlite_detail.hpp"

namespace vox::store {

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
                      "(?3 = '' OR agent_id = ?3) AND (?4 = '' OR direction = ?4) AND "
                      "(?7 = '' OR created_at >= ?7) AND (?8 = '' OR created_at < ?8) AND "
                      "(?9 = '' OR EXISTS (SELECT 1 FROM turns t WHERE t.call_sid = calls.call_sid AND "
                      "instr(lower(t.text), lower(?9)) > 0)) "
                      "ORDER BY created_at DESC, rowid DESC LIMIT ?5 OFFSET ?6")
                         .c_str());
  s.bind(1, q.tenant).bind(2, q.status).bind(3, q.agent_id).bind(4, q.direction);
  s.bind(5, static_cast<std::int64_t>(q.limit) + 1).bind(6, static_cast<std::int64_t>(q.offset));
  s.bind(7, q.since).bind(8, q.until).bind(9, q.text);
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

Overview SqliteCallStore::read_overview(const std::string& tenant, const std::string& since) const {
  slow_disk();
  std::lock_guard lock(reader_mu_);
  Overview o;
  {
    Stmt s(reader_db_, "SELECT COUNT(*) FROM calls WHERE (?1 = '' OR tenant = ?1) AND created_at >= ?2");
    s.bind(1, tenant).bind(2, since);
    if (s.step()) o.calls = s.integer(0);
  }
  {
    Stmt s(reader_db_, "SELECT l.at, l.response_ms FROM turn_latency l JOIN calls c ON c.call_sid = l.call_sid "
                       "WHERE l.at >= ?2 AND (?1 = '' OR c.tenant = ?1) AND l.response_ms IS NOT NULL "
                       "ORDER BY l.at DESC LIMIT ?3");
    s.bind(1, tenant).bind(2, since).bind(3, static_cast<std::int64_t>(Overview::kOverviewTurns));
    while (s.step()) o.responses.emplace_back(s.text(0), s.ms(1));
  }
  {
    Stmt s(reader_db_, "SELECT e.kind, COUNT(*) FROM events e JOIN calls c ON c.call_sid = e.call_sid "
                       "WHERE e.at >= ?2 AND (?1 = '' OR c.tenant = ?1) AND "
                       "e.kind IN ('provider_fallback', 'error', 'barge_in') GROUP BY e.kind");
    s.bind(1, tenant).bind(2, since);
    while (s.step()) {
      const auto kind = s.text(0);
      (kind == "provider_fallback" ? o.fallbacks : kind == "error" ? o.errors : o.barge_ins) = s.integer(1);
    }
  }
  return o;
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

boost::asio::awaitable<Overview> SqliteCallStore::overview(std::string tenant, std::string since) {
  auto read = [this, tenant, since] { return read_overview(tenant, since); };
  if (!pool_) co_return read();
  auto out = co_await run_blocking(*pool_, std::move(read));
  co_return out;
}

}  // namespace vox::store
