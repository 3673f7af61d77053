// PgCallStore against a real PostgreSQL server (a throw-away cluster on loopback): the
// behaviours the SQLite store's tests check (tests/store/call_store_test.cpp), plus what
// only a server brings: instances migrating one database at the same time, and the server
// going away and coming back while writes are queued.
#include "store/pg_store.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cctype>
#include <latch>
#include <thread>
#include <tuple>

#include "app/call_journal.hpp"
#include "call/events.hpp"
#include "support/pg_server.hpp"

namespace vox::test {
namespace {
using namespace std::chrono_literals;
using store::CallPage;
using store::CallQuery;
using store::PgCallStore;
using store::PgSettings;
using store::StoredCall;
using store::StoredEvent;
using store::StoredLatency;
using store::StoredTurn;
using Sids = std::vector<std::string>;
using Rows = std::vector<std::vector<std::string>>;

// Returns true once `probe()` does, false if `timeout` passes first.
template <typename F>
bool eventually(F probe, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (probe()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);  // polling for an event, bounded by the deadline
  }
}

// Runs `sql` on a connection of its own (outside the store); returns the rows as text.
Rows query(const std::string& url, const std::string& sql) {
  Rows out;
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect to " << url << ": " << PQerrorMessage(conn);
    PQfinish(conn);
    return out;
  }
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  for (int i = 0; status == PGRES_TUPLES_OK && i < PQntuples(r); ++i) {
    out.emplace_back();
    for (int j = 0; j < PQnfields(r); ++j) out.back().push_back(PQgetvalue(r, i, j));
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

// The recorded migrations, in order.
Sids migrations(const std::string& url) {
  Sids out;
  for (const auto& row : query(url, "SELECT version, applied_at FROM schema_migrations ORDER BY version")) {
    out.push_back(row[0]);
    EXPECT_FALSE(row[1].empty()) << "migration " << row[0] << " has no applied_at";
  }
  return out;
}

StoredCall full_call(const std::string& sid) {
  StoredCall c;
  c.call_sid = sid;
  c.tenant = "acme";
  c.agent_id = "agent-1";
  c.voice_id = "IKne3meq5aSn9XLyUdCD";
  c.voice_settings_json = R"({"stability":0.7})";
  c.from = "+15550001111";
  c.to = "+15550002222";
  c.direction = "outbound-api";
  c.status = "initiated";
  c.metadata_json = R"({"customer_id":"12345"})";
  return c;
}

StoredTurn turn(int index, std::string speaker, std::string text) {
  StoredTurn t;
  t.index = index;
  t.speaker = std::move(speaker);
  t.text = std::move(text);
  return t;
}

Sids sids(const CallPage& page) {
  Sids out;
  for (const auto& c : page.calls) out.push_back(c.call_sid);
  return out;
}

// One throw-away server for the suite (a database per test); the tests that stop the
// server start their own.
class PgStore : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override {
    if (server_) return;
    try {
      server_ = std::make_unique<PgServer>();
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }

  // A new database named for the test; returns its URL.
  static std::string fresh_db(PgServer& server) {
    static int n = 0;
    std::string name = "t" + std::to_string(++n) + "_";
    for (char c : std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))
      name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    return server.create_database(name.substr(0, 60));
  }
  std::string fresh_db() { return fresh_db(*server_); }

  static PgSettings at(const std::string& url, std::string instance = {}) {
    PgSettings s;
    s.url = url;
    s.instance_id = std::move(instance);
    return s;
  }

  // Five calls whose created_at decides the listing order (newest first).
  static void add_listing(PgCallStore& store) {
    for (const auto& [sid, tenant, status, agent, direction, created] :
         std::vector<std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>>{
             {"CA01", "a", "completed", "x", "inbound", "2024-01-01T00:00:01.000Z"},
             {"CA02", "a", "in-progress", "y", "outbound-api", "2024-01-01T00:00:02.000Z"},
             {"CA03", "b", "completed", "x", "inbound", "2024-01-01T00:00:03.000Z"},
             {"CA04", "a", "completed", "x", "outbound-api", "2024-01-01T00:00:04.000Z"},
             {"CA05", "a", "completed", "x", "inbound", "2024-01-01T00:00:05.000Z"}}) {
      StoredCall c;
      c.call_sid = sid;
      c.tenant = tenant;
      c.status = status;
      c.agent_id = agent;
      c.direction = direction;
      c.created_at = created;
      store.upsert_call(c);
    }
    store.drain();
  }

  static inline std::unique_ptr<PgServer> server_;
};

TEST_F(PgStore, AFreshDatabaseIsMigratedAndReopeningKeepsItsData) {
  const std::string url = fresh_db();
  const std::string sid = "CA00000000000000000000000000000002";
  {
    PgCallStore store(at(url), nullptr);
    EXPECT_EQ(store.schema_version(), 5);
    EXPECT_EQ(PgCallStore::latest_schema_version(), 5);
    EXPECT_EQ(store.write_errors(), 0u);
    EXPECT_FALSE(store.read_call(sid));
    store.upsert_call(full_call(sid));
    store.add_turn(sid, turn(1, "caller", "hello there"));
    store.add_event(sid, "status", "initiated");
    // No drain: the destructor commits everything queued.
  }
  PgCallStore store(at(url), nullptr);
  EXPECT_EQ(store.schema_version(), 5);
  const auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->tenant, "acme");
  ASSERT_EQ(store.read_transcript(sid).size(), 1u);
  EXPECT_EQ(store.read_transcript(sid)[0].text, "hello there");
  ASSERT_EQ(store.read_events(sid).size(), 1u);
  EXPECT_EQ(store.read_events(sid)[0].kind, "status");
  EXPECT_EQ(migrations(url), (Sids{"1", "2", "3", "4", "5"}));  // not migrated twice
}

TEST_F(PgStore, DescribeNamesTheServerAndSchemaButNeverThePassword) {
  const std::string db = fresh_db();
  const std::string name = db.substr(db.rfind('/') + 1);
  // (The test server trusts every local user: the password is only carried.)
  const std::string url = "postgresql://voxbridge:Sup3rSecret@127.0.0.1:" + std::to_string(server_->port()) + "/" + name;
  PgCallStore store(at(url), nullptr);
  EXPECT_EQ(store.describe(), "postgresql 127.0.0.1:" + std::to_string(server_->port()) + "/" + name + ", schema 5");
}

TEST_F(PgStore, AnUnreachableServerThrowsSayingWhatToDoWithoutThePassword) {
  // Port 1 on loopback: nothing listens there.
  const std::string url = "postgresql://voxbridge:Sup3rSecret@127.0.0.1:1/calls?connect_timeout=5";
  try {
    PgCallStore store(at(url), nullptr);
    FAIL() << "connected to " << url;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to PostgreSQL at 127.0.0.1:1/calls"), std::string::npos) << what;
    EXPECT_NE(what.find("DATABASE_URL"), std::string::npos) << what;
    EXPECT_NE(what.find("server is running"), std::string::npos) << what;
    EXPECT_EQ(what.find("Sup3rSecret"), std::string::npos) << what;
  }
}

TEST_F(PgStore, AStoreWithANewerSchemaRefusesToOpen) {
  const std::string url = fresh_db();
  query(url, "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);"
             "INSERT INTO schema_migrations VALUES (99, '2030-01-01T00:00:00Z')");
  try {
    PgCallStore store(at(url), nullptr);
    FAIL() << "opened a store of schema version 99";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("upgrade"), std::string::npos) << what;
    EXPECT_NE(what.find("99"), std::string::npos) << what;
  }
  EXPECT_EQ(migrations(url), Sids{"99"});  // left as it was
  EXPECT_TRUE(query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'calls'").empty());
}

TEST_F(PgStore, StoresStartingTogetherOnAFreshDatabaseMigrateItOnce) {
  // Several rounds, each with four instances released at the same moment.
  for (int round = 0; round < 3; ++round) {
    const std::string url = fresh_db();
    constexpr int kInstances = 4;
    std::latch go(kInstances);
    std::vector<std::string> errors(kInstances);
    std::vector<int> versions(kInstances, -1);
    std::vector<std::thread> threads;
    for (int i = 0; i < kInstances; ++i)
      threads.emplace_back([&, i] {
        go.arrive_and_wait();
        try {
          PgCallStore store(at(url), nullptr);
          versions[static_cast<std::size_t>(i)] = store.schema_version();
          store.add_event("CA" + std::to_string(i), "opened", url);
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(i)] = e.what();
        }
      });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kInstances; ++i) {
      EXPECT_EQ(errors[static_cast<std::size_t>(i)], "") << "instance " << i << ", round " << round;
      EXPECT_EQ(versions[static_cast<std::size_t>(i)], PgCallStore::latest_schema_version()) << "instance " << i << ", round " << round;
    }
    EXPECT_EQ(migrations(url), (Sids{"1", "2", "3", "4", "5"}));
    // Every instance wrote through the one schema.
    EXPECT_EQ(query(url, "SELECT count(*) FROM events WHERE kind = 'opened'"), (Rows{{"4"}}));
  }
}

TEST_F(PgStore, UpsertInsertsThenUpdatesOnlyTheFieldsGiven) {
  PgCallStore store(at(fresh_db()), nullptr);
  const std::string sid = "CA00000000000000000000000000000003";
  store.upsert_call(full_call(sid));
  store.drain();
  const auto first = store.read_call(sid);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->call_sid, sid);
  EXPECT_EQ(first->tenant, "acme");
  EXPECT_EQ(first->agent_id, "agent-1");
  EXPECT_EQ(first->voice_id, "IKne3meq5aSn9XLyUdCD");
  EXPECT_EQ(first->voice_settings_json, R"({"stability":0.7})");
  EXPECT_EQ(first->from, "+15550001111");
  EXPECT_EQ(first->to, "+15550002222");
  EXPECT_EQ(first->direction, "outbound-api");
  EXPECT_EQ(first->status, "initiated");
  EXPECT_EQ(first->metadata_json, R"({"customer_id":"12345"})");
  EXPECT_FALSE(first->created_at.empty());
  EXPECT_FALSE(first->updated_at.empty());
  EXPECT_TRUE(first->ended_at.empty());
  EXPECT_EQ(first->instance_id, "");

  // Only the status: every other stored value stays, metadata included.
  StoredCall status_only;
  status_only.call_sid = sid;
  status_only.status = "in-progress";
  status_only.instance_id = "me:8001";
  store.upsert_call(status_only);
  store.drain();
  const auto second = store.read_call(sid);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, "in-progress");
  EXPECT_EQ(second->instance_id, "me:8001");
  EXPECT_EQ(second->tenant, "acme");
  EXPECT_EQ(second->agent_id, "agent-1");
  EXPECT_EQ(second->voice_id, "IKne3meq5aSn9XLyUdCD");
  EXPECT_EQ(second->voice_settings_json, R"({"stability":0.7})");
  EXPECT_EQ(second->from, "+15550001111");
  EXPECT_EQ(second->to, "+15550002222");
  EXPECT_EQ(second->direction, "outbound-api");
  EXPECT_EQ(second->metadata_json, R"({"customer_id":"12345"})");
  EXPECT_EQ(second->created_at, first->created_at);
  EXPECT_TRUE(second->ended_at.empty());

  // Given fields replace the stored ones.
  StoredCall changes;
  changes.call_sid = sid;
  changes.agent_id = "agent-2";
  changes.to = "+15550003333";
  changes.metadata_json = R"({"call_type":"support"})";
  store.upsert_call(changes);
  store.drain();
  const auto third = store.read_call(sid);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->agent_id, "agent-2");
  EXPECT_EQ(third->to, "+15550003333");
  EXPECT_EQ(third->metadata_json, R"({"call_type":"support"})");
  EXPECT_EQ(third->tenant, "acme");
  EXPECT_EQ(third->status, "in-progress");
  EXPECT_EQ(third->from, "+15550001111");
  EXPECT_EQ(third->instance_id, "me:8001");

  // A given creation time is kept.
  StoredCall dated = full_call("CA00000000000000000000000000000004");
  dated.created_at = "2024-01-01T12:00:00.000Z";
  store.upsert_call(dated);
  store.drain();
  EXPECT_EQ(store.read_call(dated.call_sid)->created_at, "2024-01-01T12:00:00.000Z");
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST_F(PgStore, TheOwnerOfACallNeverChanges) {
  PgCallStore store(at(fresh_db()), nullptr);
  StoredCall c;
  c.call_sid = "CA0123456789abcdef0123456789abcdef";
  c.tenant = "acme";
  c.status = "registered";
  store.upsert_call(c);
  c.tenant = "globex";
  c.status = "in-progress";
  store.upsert_call(c);
  store.drain();
  EXPECT_EQ(store.read_owner(c.call_sid), std::optional<std::string>("acme"));
  EXPECT_EQ(store.read_call(c.call_sid)->status, "in-progress");
  EXPECT_FALSE(store.read_owner("CA00000000000000000000000000000000").has_value());
  // An unowned call is claimed once.
  StoredCall unowned;
  unowned.call_sid = "CA11111111111111111111111111111111";
  store.upsert_call(unowned);
  store.drain();
  EXPECT_EQ(store.read_owner(unowned.call_sid), std::optional<std::string>(""));
  unowned.tenant = "acme";
  store.upsert_call(unowned);
  unowned.tenant = "globex";
  store.upsert_call(unowned);
  store.drain();
  EXPECT_EQ(store.read_owner(unowned.call_sid), std::optional<std::string>("acme"));
}

TEST_F(PgStore, SetStatusEndsOnceCreatesUnknownCallsAndSetVoiceReplacesTheVoice) {
  PgCallStore store(at(fresh_db()), nullptr);
  const std::string sid = "CA00000000000000000000000000000005";
  store.upsert_call(full_call(sid));
  store.set_status(sid, "ringing", false);
  store.drain();
  auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "ringing");
  EXPECT_TRUE(c->ended_at.empty());

  store.set_status(sid, "completed", true);
  store.drain();
  c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "completed");
  ASSERT_FALSE(c->ended_at.empty());
  const std::string ended_at = c->ended_at;
  EXPECT_EQ(c->tenant, "acme");  // set_status touches the status only
  // Later updates (a late callback, a second end) keep the first end time.
  store.set_status(sid, "in-progress", false);
  store.set_status(sid, "failed", true);
  store.drain();
  c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "failed");
  EXPECT_EQ(c->ended_at, ended_at);

  // A call never seen gets a row.
  const std::string unknown = "CA00000000000000000000000000000006";
  store.set_status(unknown, "completed", true);
  store.drain();
  c = store.read_call(unknown);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "completed");
  EXPECT_FALSE(c->ended_at.empty());
  EXPECT_FALSE(c->created_at.empty());
  EXPECT_EQ(c->tenant, "");
  EXPECT_EQ(c->metadata_json, "");

  store.set_voice(sid, "21m00Tcm4TlvDq8ikWAM", R"({"stability":0.9})");
  store.drain();
  c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->voice_id, "21m00Tcm4TlvDq8ikWAM");
  EXPECT_EQ(c->voice_settings_json, R"({"stability":0.9})");
  store.set_voice(sid, "EXAVITQu4vr4xnSDxMaL", "");  // "" clears the settings
  store.drain();
  c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->voice_id, "EXAVITQu4vr4xnSDxMaL");
  EXPECT_EQ(c->voice_settings_json, "");
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST_F(PgStore, TranscriptKeepsOrderHeardInterruptedTimesAndFinishedReplies) {
  PgCallStore store(at(fresh_db()), nullptr);
  const std::string sid = "CA00000000000000000000000000000008";
  const std::string other = "CA00000000000000000000000000000009";
  StoredTurn greeting = turn(0, "agent", "Hello and welcome.");
  greeting.start_ms = 0;
  greeting.end_ms = 1500;
  greeting.at = "2024-01-01T12:00:00.000Z";
  StoredTurn caller = turn(1, "caller", "hello there");
  caller.start_ms = 2100;
  caller.end_ms = 2900;
  StoredTurn cut_at_once = turn(2, "agent", "Sorry?");  // cut before a word was heard: heard is "", not null
  cut_at_once.heard = "";
  cut_at_once.interrupted = true;
  // A reply stored when it starts and completed when it ends; the latest row of its id.
  StoredTurn started = turn(1, "agent", "You said hello there, and that is fine.");
  started.reply_id = 7;
  StoredTurn finished = started;
  finished.heard = "You said hello";
  finished.interrupted = true;
  finished.start_ms = 3200;
  finished.end_ms = 3900;
  // Finished without having been stored: stored whole.
  StoredTurn never_started = turn(3, "agent", "Goodbye.");
  never_started.reply_id = 8;
  never_started.start_ms = 5000;
  never_started.end_ms = 5800;

  store.add_turn(sid, greeting);
  store.add_turn(other, caller);  // another call's turn in between
  store.add_turn(sid, caller);
  store.add_turn(sid, started);
  store.add_turn(sid, cut_at_once);
  store.drain();
  auto turns = store.read_transcript(sid);
  ASSERT_EQ(turns.size(), 4u);
  EXPECT_FALSE(turns[2].heard.has_value());  // a crash now keeps the reply, without what was heard
  EXPECT_FALSE(turns[2].interrupted);

  store.finish_turn(sid, finished);
  store.finish_turn(sid, never_started);
  store.drain();
  turns = store.read_transcript(sid);
  ASSERT_EQ(turns.size(), 5u);
  EXPECT_EQ(turns[0].index, 0);
  EXPECT_EQ(turns[0].speaker, "agent");
  EXPECT_EQ(turns[0].text, "Hello and welcome.");
  EXPECT_EQ(turns[0].start_ms, 0);
  EXPECT_EQ(turns[0].end_ms, 1500);
  EXPECT_FALSE(turns[0].heard.has_value());
  EXPECT_EQ(turns[0].at, "2024-01-01T12:00:00.000Z");
  EXPECT_EQ(turns[1].speaker, "caller");
  EXPECT_EQ(turns[1].text, "hello there");
  EXPECT_EQ(turns[1].start_ms, 2100);
  EXPECT_EQ(turns[1].end_ms, 2900);
  EXPECT_FALSE(turns[1].at.empty());  // stamped when written
  EXPECT_EQ(turns[2].text, "You said hello there, and that is fine.");
  ASSERT_TRUE(turns[2].heard.has_value());
  EXPECT_EQ(*turns[2].heard, "You said hello");
  EXPECT_TRUE(turns[2].interrupted);
  EXPECT_EQ(turns[2].start_ms, 3200);
  EXPECT_EQ(turns[2].end_ms, 3900);
  EXPECT_EQ(turns[3].text, "Sorry?");
  ASSERT_TRUE(turns[3].heard.has_value());
  EXPECT_EQ(*turns[3].heard, "");
  EXPECT_TRUE(turns[3].interrupted);
  EXPECT_EQ(turns[3].start_ms, -1);
  EXPECT_EQ(turns[4].index, 3);
  EXPECT_EQ(turns[4].text, "Goodbye.");
  EXPECT_EQ(turns[4].start_ms, 5000);
  EXPECT_FALSE(turns[4].heard.has_value());
  ASSERT_EQ(store.read_transcript(other).size(), 1u);
  EXPECT_TRUE(store.read_transcript("CA00000000000000000000000000000099").empty());

  // A resumed stream numbers its replies from 1 again: the latest row of an id is completed.
  StoredTurn again = turn(4, "agent", "Again.");
  again.reply_id = 7;
  store.add_turn(sid, again);
  again.heard = "Again.";
  again.end_ms = 9000;
  store.finish_turn(sid, again);
  store.drain();
  turns = store.read_transcript(sid);
  ASSERT_EQ(turns.size(), 6u);
  EXPECT_EQ(turns[5].end_ms, 9000);
  EXPECT_EQ(turns[2].end_ms, 3900);
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST_F(PgStore, EventsAndLatenciesKeepOrderAndUnreachedStagesAreNull) {
  PgCallStore store(at(fresh_db()), nullptr);
  const std::string sid = "CA0000000000000000000000000000000f";
  store.add_event(sid, "stream_started", "MZ1");
  store.add_event("CA0000000000000000000000000000000e", "dtmf", "9");
  store.add_event(sid, "dtmf", "5");
  store.add_event(sid, "stream_ended", "");
  StoredLatency a;
  a.turn = 1;
  a.endpoint_ms = 612.5;
  a.transcript_ms = 31;
  a.agent_ms = 0.25;
  a.tts_first_byte_ms = 40;
  a.gateway_ms = 0.3;
  a.response_ms = 71.5;
  a.heard_ms = 402;
  a.llm_first_token_ms = 123.456789;
  store.add_latency(sid, a);
  StoredLatency b;
  b.turn = 2;
  b.endpoint_ms = 600;
  b.transcript_ms = 20;  // the rest never happened (the call ended)
  store.add_latency(sid, b);
  store.drain();

  const auto events = store.read_events(sid);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, "stream_started");
  EXPECT_EQ(events[0].detail, "MZ1");
  EXPECT_EQ(events[1].detail, "5");
  EXPECT_EQ(events[2].kind, "stream_ended");
  EXPECT_EQ(events[2].detail, "");
  for (const auto& e : events) EXPECT_FALSE(e.at.empty());

  const auto got = store.read_latencies(sid);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].turn, 1);
  EXPECT_DOUBLE_EQ(got[0].endpoint_ms, 612.5);
  EXPECT_DOUBLE_EQ(got[0].agent_ms, 0.25);
  EXPECT_DOUBLE_EQ(got[0].gateway_ms, 0.3);
  EXPECT_DOUBLE_EQ(got[0].heard_ms, 402);
  EXPECT_DOUBLE_EQ(got[0].llm_first_token_ms, 123.456789);
  EXPECT_EQ(got[0].llm_first_piece_ms, -1);
  EXPECT_FALSE(got[0].at.empty());
  EXPECT_EQ(got[1].turn, 2);
  EXPECT_DOUBLE_EQ(got[1].transcript_ms, 20);
  EXPECT_EQ(got[1].agent_ms, -1);
  EXPECT_EQ(got[1].response_ms, -1);
  EXPECT_EQ(got[1].heard_ms, -1);
  EXPECT_TRUE(store.read_latencies("CA00000000000000000000000000000099").empty());
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST_F(PgStore, ListingFiltersAndPagesNewestFirst) {
  PgCallStore store(at(fresh_db()), nullptr);
  add_listing(store);
  auto list = [&](const CallQuery& q, bool& more) {
    auto page = store.read_calls(q);
    more = page.has_more;
    return sids(page);
  };
  bool more = true;
  EXPECT_EQ(list(CallQuery(), more), (Sids{"CA05", "CA04", "CA03", "CA02", "CA01"}));
  EXPECT_FALSE(more);

  CallQuery q;
  q.tenant = "a";
  EXPECT_EQ(list(q, more), (Sids{"CA05", "CA04", "CA02", "CA01"}));
  q.status = "completed";
  EXPECT_EQ(list(q, more), (Sids{"CA05", "CA04", "CA01"}));
  q.direction = "inbound";
  EXPECT_EQ(list(q, more), (Sids{"CA05", "CA01"}));
  q.agent_id = "y";
  EXPECT_EQ(list(q, more), Sids{});
  CallQuery by_agent;
  by_agent.agent_id = "y";
  EXPECT_EQ(list(by_agent, more), Sids{"CA02"});
  CallQuery by_direction;
  by_direction.direction = "inbound";
  EXPECT_EQ(list(by_direction, more), (Sids{"CA05", "CA03", "CA01"}));
  CallQuery other_tenant;
  other_tenant.tenant = "b";
  EXPECT_EQ(list(other_tenant, more), Sids{"CA03"});
  EXPECT_FALSE(more);

  CallQuery page;
  page.limit = 2;
  EXPECT_EQ(list(page, more), (Sids{"CA05", "CA04"}));
  EXPECT_TRUE(more);
  page.offset = 2;
  EXPECT_EQ(list(page, more), (Sids{"CA03", "CA02"}));
  EXPECT_TRUE(more);
  page.offset = 3;  // the page ends exactly at the last row
  EXPECT_EQ(list(page, more), (Sids{"CA02", "CA01"}));
  EXPECT_FALSE(more);
  page.offset = 4;
  EXPECT_EQ(list(page, more), Sids{"CA01"});
  EXPECT_FALSE(more);
  page.offset = 5;
  EXPECT_EQ(list(page, more), Sids{});
  EXPECT_FALSE(more);
  CallQuery exact;
  exact.limit = 5;
  EXPECT_EQ(list(exact, more).size(), 5u);
  EXPECT_FALSE(more);
  exact.limit = 4;
  EXPECT_EQ(list(exact, more).size(), 4u);
  EXPECT_TRUE(more);

  // Equal creation times list the later insert first.
  StoredCall six;
  six.call_sid = "CA06";
  six.created_at = "2024-01-01T00:00:09.000Z";
  StoredCall seven = six;
  seven.call_sid = "CA07";
  store.upsert_call(six);
  store.upsert_call(seven);
  store.upsert_call(six);  // an update does not move it
  store.drain();
  CallQuery top;
  top.limit = 3;
  EXPECT_EQ(list(top, more), (Sids{"CA07", "CA06", "CA05"}));
  EXPECT_TRUE(more);
}

TEST_F(PgStore, ListingByTimeAndTranscriptTextAndTheOverview) {
  PgCallStore store(at(fresh_db()), nullptr);
  add_listing(store);
  StoredTurn said;
  said.speaker = "caller";
  said.text = "I forgot my Password";
  store.add_turn("CA02", said);
  StoredLatency l;
  l.turn = 1;
  l.response_ms = 120;
  l.at = "2024-01-01T00:00:02.500Z";
  store.add_latency("CA02", l);
  l.response_ms = 80;
  l.at = "2023-12-31T00:00:00.000Z";  // before the window
  store.add_latency("CA02", l);
  store.add_latency("CA03", l);
  store.add_event("CA02", "barge_in", "heard_ms=1");
  store.add_event("CA03", "provider_fallback", "tts");
  store.drain();
  auto list = [&](const CallQuery& q) { return sids(store.read_calls(q)); };
  CallQuery window;
  window.since = "2024-01-01T00:00:02";
  window.until = "2024-01-01T00:00:05";
  EXPECT_EQ(list(window), (Sids{"CA04", "CA03", "CA02"}));
  CallQuery text;
  text.text = "PASSWORD";
  EXPECT_EQ(list(text), (Sids{"CA02"}));
  text.text = "100%_";
  EXPECT_EQ(list(text), (Sids{}));
  text.tenant = "b";
  text.text = "password";
  EXPECT_EQ(list(text), (Sids{}));
  const auto a = store.read_overview("a", "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(a.calls, 4);
  ASSERT_EQ(a.responses.size(), 1u);
  EXPECT_EQ(a.responses[0].second, 120);
  EXPECT_EQ(a.barge_ins, 1);
  EXPECT_EQ(a.fallbacks, 0);
  const auto all = store.read_overview("", "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(all.calls, 5);
  EXPECT_EQ(all.fallbacks, 1);
}

TEST_F(PgStore, FlushAndAwaitedReadsRunOffTheCallersThread) {
  const std::string url = fresh_db();
  BlockingPool pool(2);
  PgCallStore store(at(url), &pool);
  const std::string sid = "CA0000000000000000000000000000000e";
  boost::asio::io_context io;
  std::vector<StoredEvent> events;
  std::optional<StoredCall> call;
  std::optional<std::string> owner;
  std::vector<StoredTurn> transcript;
  std::vector<StoredLatency> latencies;
  CallPage page;
  bool done = false;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        co_await store.flush();  // nothing queued: completes at once
        store.upsert_call(full_call(sid));
        for (int i = 0; i < 300; ++i) store.add_event(sid, "dtmf", std::to_string(i % 10));
        StoredTurn t = turn(1, "caller", "one");
        store.add_turn(sid, t);
        StoredLatency l;
        l.turn = 1;
        l.endpoint_ms = 5;
        store.add_latency(sid, l);
        store.set_status(sid, "completed", true);
        co_await store.flush();
        events = co_await store.events(sid);
        call = co_await store.call(sid);
        owner = co_await store.owner(sid);
        transcript = co_await store.transcript(sid);
        latencies = co_await store.latencies(sid);
        CallQuery q;
        q.tenant = "acme";
        page = co_await store.calls(q);
        done = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  ASSERT_TRUE(done);
  ASSERT_EQ(events.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].detail, std::to_string(i % 10));
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status, "completed");
  EXPECT_EQ(owner, std::optional<std::string>("acme"));
  ASSERT_EQ(transcript.size(), 1u);
  ASSERT_EQ(latencies.size(), 1u);
  EXPECT_EQ(sids(page), Sids{sid});
  EXPECT_EQ(store.pending_writes(), 0u);
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST_F(PgStore, AWriteTheServerRejectsLosesOnlyItself) {
  PgCallStore store(at(fresh_db()), nullptr);
  const std::string sid = "CA00000000000000000000000000000010";
  // One transaction for the burst; the server refuses text that is not UTF-8.
  for (int i = 0; i < 10; ++i) store.add_event(sid, "dtmf", std::to_string(i));
  store.add_event(sid, "note", std::string("not \xff\xfe UTF-8"));
  for (int i = 10; i < 20; ++i) store.add_event(sid, "dtmf", std::to_string(i));
  store.drain();
  const auto events = store.read_events(sid);
  ASSERT_EQ(events.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].detail, std::to_string(i));
  EXPECT_EQ(store.write_errors(), 1u);
}

TEST_F(PgStore, ARestartClosesTheCallsItsInstanceLeftLive) {
  const std::string url = fresh_db();
  {
    PgCallStore store(at(url), nullptr);
    for (const auto& [sid, instance, status] :
         std::vector<std::tuple<std::string, std::string, std::string>>{{"CA01", "me:8001", "in-progress"},
                                                                        {"CA02", "me:8001", "registered"},
                                                                        {"CA03", "other:8001", "in-progress"},
                                                                        {"CA05", "me:8001", "in-progress"}}) {
      StoredCall c;
      c.call_sid = sid;
      c.instance_id = instance;
      c.status = status;
      store.upsert_call(c);
    }
    store.set_status("CA04", "in-progress", false);  // no instance: not ours to close
  }
  std::vector<std::string> closed;
  PgCallStore store(at(url, "me:8001"), nullptr, &closed);
  EXPECT_EQ(closed, (Sids{"CA01", "CA05"}));
  EXPECT_EQ(store.read_call("CA01")->status, "completed");
  EXPECT_FALSE(store.read_call("CA01")->ended_at.empty());
  EXPECT_EQ(store.read_call("CA02")->status, "registered");
  EXPECT_EQ(store.read_call("CA03")->status, "in-progress");
  EXPECT_EQ(store.read_call("CA04")->status, "in-progress");
  const auto events = store.read_events("CA01");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "stream_ended");
  EXPECT_EQ(events[0].detail, "server_restart");
  // Closed once: a second start finds nothing left.
  std::vector<std::string> again{"sentinel"};
  { PgCallStore second(at(url, "me:8001"), nullptr, &again); }
  EXPECT_TRUE(again.empty());
}

TEST_F(PgStore, TheJournalWritesACallThroughTheInterface) {
  PgCallStore pg(at(fresh_db()), nullptr);
  store::CallStore& store = pg;
  app::CallJournal journal(store, "me:8001");
  call::CallContext ctx;
  ctx.call_sid = "CA1f00000000000000000000000000000f";
  ctx.stream_sid = "MZ1f00000000000000000000000000000f";
  ctx.tenant = "acme";
  ctx.agent_id = "agent456";
  ctx.parameters["direction"] = "inbound";
  using Kind = call::CallEvent::Kind;
  auto event = [](Kind k) {
    call::CallEvent e;
    e.kind = k;
    return e;
  };
  journal.on_event(ctx, event(Kind::started));
  auto started = event(Kind::reply_started);
  started.turn = 1;
  started.reply_id = 1;
  started.text = "A long answer";
  journal.on_event(ctx, started);
  auto cut = started;
  cut.kind = Kind::reply_finished;
  cut.interrupted = true;
  cut.heard = "A long";
  cut.start_ms = 100;
  cut.end_ms = 900;
  journal.on_event(ctx, cut);
  auto ended = event(Kind::ended);
  ended.detail = "stop";
  journal.on_event(ctx, ended);
  store.drain();
  const auto c = pg.read_call(ctx.call_sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "completed");
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(c->instance_id, "me:8001");
  EXPECT_FALSE(c->ended_at.empty());
  const auto turns = pg.read_transcript(ctx.call_sid);
  ASSERT_EQ(turns.size(), 1u);
  ASSERT_TRUE(turns[0].heard.has_value());
  EXPECT_EQ(*turns[0].heard, "A long");
  EXPECT_TRUE(turns[0].interrupted);
  const auto events = pg.read_events(ctx.call_sid);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "stream_started");
  EXPECT_EQ(events[1].kind, "stream_ended");
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST_F(PgStore, WritesQueuedWhileTheServerIsDownAreCommittedWhenItIsBack) {
  std::unique_ptr<PgServer> own;  // stopped and started here: not the suite's server
  try {
    own = std::make_unique<PgServer>();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const std::string url = fresh_db(*own);
  PgSettings s = at(url);
  s.pool_size = 1;
  s.outage_wait = 300ms;
  s.max_queued = 250;
  PgCallStore store(s, nullptr);
  const std::string sid = "CA00000000000000000000000000000011";
  store.upsert_call(full_call(sid));
  store.drain();
  ASSERT_TRUE(store.read_call(sid));  // the reader connection is open (and will go stale)

  own->stop();
  // None of these waits for the server.
  const auto queued_at = std::chrono::steady_clock::now();
  store.set_status(sid, "in-progress", false);
  for (int i = 0; i < 200; ++i) store.add_event(sid, "dtmf", std::to_string(i));
  store.add_turn(sid, turn(1, "caller", "are you there"));
  StoredLatency l;
  l.turn = 1;
  l.endpoint_ms = 700;
  store.add_latency(sid, l);
  EXPECT_LT(std::chrono::steady_clock::now() - queued_at, 200ms);

  // The writer notices, counts the failure and keeps the writes.
  ASSERT_TRUE(eventually([&] { return !store.writer_connected(); }, 10s));
  EXPECT_GT(store.write_errors(), 0u);
  EXPECT_EQ(store.pending_writes(), 203u);
  // drain() stops waiting after outage_wait; the writes stay queued.
  const auto drain_at = std::chrono::steady_clock::now();
  store.drain();
  EXPECT_LT(std::chrono::steady_clock::now() - drain_at, 5s);
  EXPECT_EQ(store.pending_writes(), 203u);

  own->start();
  ASSERT_TRUE(eventually([&] { return store.pending_writes() == 0; }, 30s)) << store.pending_writes() << " left";
  EXPECT_TRUE(store.writer_connected());
  // Read on the reader connection the restart broke (it is reset).
  const auto events = store.read_events(sid);
  ASSERT_EQ(events.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].detail, std::to_string(i));
  const auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "in-progress");
  EXPECT_EQ(c->tenant, "acme");
  ASSERT_EQ(store.read_transcript(sid).size(), 1u);
  ASSERT_EQ(store.read_latencies(sid).size(), 1u);
  EXPECT_EQ(query(url, "SELECT count(*) FROM events"), (Rows{{"200"}}));  // nothing twice

  // A second outage: reads fail at once, saying so; writes beyond max_queued are dropped
  // and counted, the rest kept.
  own->stop();
  try {
    store.read_call(sid);
    ADD_FAILURE() << "read a stopped server";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("PostgreSQL at 127.0.0.1:" + std::to_string(own->port())), std::string::npos)
        << e.what();
  }
  store.add_event(sid, "second", "-");
  ASSERT_TRUE(eventually([&] { return !store.writer_connected(); }, 10s));
  const auto errors_before = store.write_errors();
  for (int i = 0; i < 300; ++i) store.add_event(sid, "second", std::to_string(i));
  EXPECT_EQ(store.pending_writes(), 251u);  // the one in hand and 250 queued
  EXPECT_GE(store.write_errors(), errors_before + 50);
  own->start();
  EXPECT_TRUE(store.read_call(sid));  // the broken reader was closed: a new one
  ASSERT_TRUE(eventually([&] { return store.pending_writes() == 0; }, 30s)) << store.pending_writes() << " left";
  EXPECT_EQ(query(url, "SELECT count(*) FROM events WHERE kind = 'second'"), (Rows{{"251"}}));
}

}  // namespace
}  // namespace vox::test
