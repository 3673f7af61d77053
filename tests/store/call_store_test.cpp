// CallStore: the SQLite call store (migrations, queued writes, reads, paging) and
// CallJournal, which turns a call's events into its rows.
#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <tuple>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/agent.hpp"
#include "call/events.hpp"
#include "app/call_journal.hpp"

namespace vox::store {
namespace {
using app::CallJournal;
using CallStore = SqliteCallStore;

// The store at `path` with an instance id (to close what it left live) and no worker pool.
SqliteSettings at(const std::string& path, std::string instance = {}) {
  SqliteSettings s;
  s.path = path;
  s.instance_id = std::move(instance);
  return s;
}

// A database path unique to this process (ctest runs tests in parallel processes) and
// test; the file and its WAL companions are removed before and after.
class TempDb {
 public:
  explicit TempDb(const std::string& name)
      : path_((std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name + ".db")).string()) {
    remove();
  }
  ~TempDb() { remove(); }
  TempDb(const TempDb&) = delete;
  TempDb& operator=(const TempDb&) = delete;
  const std::string& path() const { return path_; }

 private:
  void remove() const {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path_ + suffix, ec);
  }
  std::string path_;
};

// Runs `sql` on its own connection to `path` (outside the store); fails the test on error.
void exec_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// Returns the rows of schema_migrations as "version" strings, in order.
std::vector<std::string> recorded_migrations(const std::string& path) {
  std::vector<std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    ADD_FAILURE() << "cannot open " << path;
    return out;
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version", -1, &st, nullptr) ==
      SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.push_back(std::to_string(sqlite3_column_int64(st, 0)));
      const auto* at = sqlite3_column_text(st, 1);
      EXPECT_TRUE(at && *at) << "migration " << out.back() << " has no applied_at";
    }
  } else {
    ADD_FAILURE() << "no schema_migrations table: " << sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
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

std::vector<std::string> sids(const std::vector<StoredCall>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls) out.push_back(c.call_sid);
  return out;
}

TEST(CallStoreTest, AFreshFileIsCreatedAndMigratedToTheLatestVersion) {
  TempDb db("store-fresh");
  ASSERT_FALSE(std::filesystem::exists(db.path()));
  {
    CallStore store(at(db.path()));
    EXPECT_EQ(store.path(), db.path());
    EXPECT_EQ(store.schema_version(), 5);
    EXPECT_TRUE(std::filesystem::exists(db.path()));
    EXPECT_EQ(store.write_errors(), 0u);
    EXPECT_FALSE(store.read_call("CA00000000000000000000000000000001"));
  }
  EXPECT_EQ(recorded_migrations(db.path()), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST(CallStoreTest, ReopeningKeepsTheDataAndTheVersion) {
  TempDb db("store-reopen");
  const std::string sid = "CA00000000000000000000000000000002";
  {
    CallStore store(at(db.path()));
    store.upsert_call(full_call(sid));
    StoredTurn t;
    t.index = 1;
    t.speaker = "caller";
    t.text = "hello there";
    store.add_turn(sid, t);
    store.add_event(sid, "status", "initiated");
    // No flush: the destructor commits everything queued.
  }
  CallStore store(at(db.path()));
  EXPECT_EQ(store.schema_version(), 5);
  const auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(c->status, "initiated");
  ASSERT_EQ(store.read_transcript(sid).size(), 1u);
  EXPECT_EQ(store.read_transcript(sid)[0].text, "hello there");
  ASSERT_EQ(store.read_events(sid).size(), 1u);
  EXPECT_EQ(store.read_events(sid)[0].kind, "status");
  EXPECT_EQ(store.write_errors(), 0u);
  EXPECT_EQ(recorded_migrations(db.path()), (std::vector<std::string>{"1", "2", "3", "4", "5"}));  // not migrated twice
}

TEST(CallStoreTest, UpsertInsertsThenUpdatesOnlyTheFieldsGiven) {
  TempDb db("store-upsert");
  CallStore store(at(db.path()));
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

  // Only the status: every other stored value stays, metadata included.
  StoredCall status_only;
  status_only.call_sid = sid;
  status_only.status = "in-progress";
  store.upsert_call(status_only);
  store.drain();
  const auto second = store.read_call(sid);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, "in-progress");
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
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreTest, AGivenCreatedAtIsKept) {
  TempDb db("store-created-at");
  CallStore store(at(db.path()));
  StoredCall c = full_call("CA00000000000000000000000000000004");
  c.created_at = "2024-01-01T12:00:00.000Z";
  store.upsert_call(c);
  store.drain();
  const auto got = store.read_call(c.call_sid);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->created_at, "2024-01-01T12:00:00.000Z");
}

TEST(CallStoreTest, SetStatusEndedSetsEndedAtOnceAndKeepsIt) {
  TempDb db("store-ended");
  CallStore store(at(db.path()));
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

  // Later status updates (a late callback, a second end) keep the first end time.
  store.set_status(sid, "in-progress", false);
  store.set_status(sid, "failed", true);
  store.drain();
  c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "failed");
  EXPECT_EQ(c->ended_at, ended_at);
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreTest, SetStatusOfAnUnknownSidCreatesItsRow) {
  TempDb db("store-unknown-status");
  CallStore store(at(db.path()));
  const std::string sid = "CA00000000000000000000000000000006";
  store.set_status(sid, "completed", true);
  store.drain();
  const auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->call_sid, sid);
  EXPECT_EQ(c->status, "completed");
  EXPECT_FALSE(c->ended_at.empty());
  EXPECT_FALSE(c->created_at.empty());
  EXPECT_EQ(c->tenant, "");
  EXPECT_EQ(c->agent_id, "");
  EXPECT_EQ(c->metadata_json, "");
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreTest, SetVoiceReplacesTheVoiceAndItsSettings) {
  TempDb db("store-voice");
  CallStore store(at(db.path()));
  const std::string sid = "CA00000000000000000000000000000007";
  store.upsert_call(full_call(sid));
  store.set_voice(sid, "21m00Tcm4TlvDq8ikWAM", R"({"stability":0.9})");
  store.drain();
  auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->voice_id, "21m00Tcm4TlvDq8ikWAM");
  EXPECT_EQ(c->voice_settings_json, R"({"stability":0.9})");
  EXPECT_EQ(c->tenant, "acme");
  store.set_voice(sid, "EXAVITQu4vr4xnSDxMaL", "");  // "" clears the settings
  store.drain();
  c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->voice_id, "EXAVITQu4vr4xnSDxMaL");
  EXPECT_EQ(c->voice_settings_json, "");
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreTest, TranscriptKeepsOrderHeardInterruptedAndTimes) {
  TempDb db("store-transcript");
  CallStore store(at(db.path()));
  const std::string sid = "CA00000000000000000000000000000008";
  const std::string other = "CA00000000000000000000000000000009";
  store.upsert_call(full_call(sid));

  StoredTurn greeting;
  greeting.index = 0;
  greeting.speaker = "agent";
  greeting.text = "Hello and welcome.";
  greeting.start_ms = 0;
  greeting.end_ms = 1500;
  greeting.at = "2024-01-01T12:00:00.000Z";
  StoredTurn caller;
  caller.index = 1;
  caller.speaker = "caller";
  caller.text = "hello there";
  caller.start_ms = 2100;
  caller.end_ms = 2900;
  StoredTurn cut;
  cut.index = 1;
  cut.speaker = "agent";
  cut.text = "You said hello there, and that is a fine thing to say.";
  cut.start_ms = 3200;
  cut.end_ms = 3900;
  cut.heard = "You said hello";
  cut.interrupted = true;
  StoredTurn cut_at_once;  // cut before a word was heard: heard is "", not null
  cut_at_once.index = 2;
  cut_at_once.speaker = "agent";
  cut_at_once.text = "Sorry?";
  cut_at_once.heard = "";
  cut_at_once.interrupted = true;

  store.add_turn(sid, greeting);
  store.add_turn(other, caller);  // another call's turn in between
  store.add_turn(sid, caller);
  store.add_turn(sid, cut);
  store.add_turn(sid, cut_at_once);
  store.drain();

  const auto turns = store.read_transcript(sid);
  ASSERT_EQ(turns.size(), 4u);
  EXPECT_EQ(turns[0].index, 0);
  EXPECT_EQ(turns[0].speaker, "agent");
  EXPECT_EQ(turns[0].text, "Hello and welcome.");
  EXPECT_EQ(turns[0].start_ms, 0);
  EXPECT_EQ(turns[0].end_ms, 1500);
  EXPECT_FALSE(turns[0].heard.has_value());
  EXPECT_FALSE(turns[0].interrupted);
  EXPECT_EQ(turns[0].at, "2024-01-01T12:00:00.000Z");

  EXPECT_EQ(turns[1].index, 1);
  EXPECT_EQ(turns[1].speaker, "caller");
  EXPECT_EQ(turns[1].text, "hello there");
  EXPECT_EQ(turns[1].start_ms, 2100);
  EXPECT_EQ(turns[1].end_ms, 2900);
  EXPECT_FALSE(turns[1].heard.has_value());
  EXPECT_FALSE(turns[1].interrupted);
  EXPECT_FALSE(turns[1].at.empty());  // stamped when written

  EXPECT_EQ(turns[2].index, 1);
  EXPECT_EQ(turns[2].speaker, "agent");
  ASSERT_TRUE(turns[2].heard.has_value());
  EXPECT_EQ(*turns[2].heard, "You said hello");
  EXPECT_TRUE(turns[2].interrupted);
  EXPECT_EQ(turns[2].start_ms, 3200);
  EXPECT_EQ(turns[2].end_ms, 3900);

  EXPECT_EQ(turns[3].index, 2);
  ASSERT_TRUE(turns[3].heard.has_value());
  EXPECT_EQ(*turns[3].heard, "");
  EXPECT_TRUE(turns[3].interrupted);
  EXPECT_EQ(turns[3].start_ms, -1);  // unknown times stay unknown
  EXPECT_EQ(turns[3].end_ms, -1);

  ASSERT_EQ(store.read_transcript(other).size(), 1u);
  EXPECT_TRUE(store.read_transcript("CA0000000000000000000000000000000a").empty());
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreTest, EventsKeepTheirOrder) {
  TempDb db("store-events");
  CallStore store(at(db.path()));
  const std::string sid = "CA0000000000000000000000000000000b";
  store.add_event(sid, "status", "initiated");
  store.add_event("CA0000000000000000000000000000000c", "status", "other call");
  store.add_event(sid, "stream_started", "MZ1");
  store.add_event(sid, "dtmf", "5");
  store.add_event(sid, "stream_ended", "");
  store.drain();
  const auto events = store.read_events(sid);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, "status");
  EXPECT_EQ(events[0].detail, "initiated");
  EXPECT_EQ(events[1].kind, "stream_started");
  EXPECT_EQ(events[1].detail, "MZ1");
  EXPECT_EQ(events[2].kind, "dtmf");
  EXPECT_EQ(events[2].detail, "5");
  EXPECT_EQ(events[3].kind, "stream_ended");
  EXPECT_EQ(events[3].detail, "");
  for (const auto& e : events) EXPECT_FALSE(e.at.empty());
  EXPECT_TRUE(store.read_events("CA0000000000000000000000000000000d").empty());
  EXPECT_EQ(store.write_errors(), 0u);
}

class CallStoreQuery : public ::testing::Test {
 protected:
  void SetUp() override {
    // created_at decides the order (newest first).
    add("CA01", "a", "completed", "x", "inbound", "2024-01-01T00:00:01.000Z");
    add("CA02", "a", "in-progress", "y", "outbound-api", "2024-01-01T00:00:02.000Z");
    add("CA03", "b", "completed", "x", "inbound", "2024-01-01T00:00:03.000Z");
    add("CA04", "a", "completed", "x", "outbound-api", "2024-01-01T00:00:04.000Z");
    add("CA05", "a", "completed", "x", "inbound", "2024-01-01T00:00:05.000Z");
    store.drain();
  }
  void add(const std::string& sid, const std::string& tenant, const std::string& status, const std::string& agent,
           const std::string& direction, const std::string& created_at) {
    StoredCall c;
    c.call_sid = sid;
    c.tenant = tenant;
    c.status = status;
    c.agent_id = agent;
    c.direction = direction;
    c.created_at = created_at;
    store.upsert_call(c);
  }
  std::vector<std::string> query(CallQuery q, bool& more) {
    auto page = store.read_calls(q);
    more = page.has_more;
    return sids(page.calls);
  }
  std::vector<std::string> query(CallQuery q) {
    bool more = true;
    auto out = query(std::move(q), more);
    EXPECT_FALSE(more);
    return out;
  }

  TempDb db{"store-query-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())};
  CallStore store{at(db.path())};
};

using Sids = std::vector<std::string>;

TEST_F(CallStoreQuery, EmptyFiltersListEveryCallNewestFirst) {
  EXPECT_EQ(query({}), (Sids{"CA05", "CA04", "CA03", "CA02", "CA01"}));
}

TEST_F(CallStoreQuery, FiltersByTenantStatusAgentAndDirection) {
  CallQuery q;
  q.tenant = "a";
  EXPECT_EQ(query(q), (Sids{"CA05", "CA04", "CA02", "CA01"}));
  q.status = "completed";
  EXPECT_EQ(query(q), (Sids{"CA05", "CA04", "CA01"}));
  q.direction = "inbound";
  EXPECT_EQ(query(q), (Sids{"CA05", "CA01"}));
  q.agent_id = "y";
  EXPECT_EQ(query(q), Sids{});

  CallQuery by_agent;
  by_agent.agent_id = "y";
  EXPECT_EQ(query(by_agent), Sids{"CA02"});
  CallQuery by_direction;
  by_direction.direction = "inbound";
  EXPECT_EQ(query(by_direction), (Sids{"CA05", "CA03", "CA01"}));
  CallQuery by_status;
  by_status.status = "in-progress";
  EXPECT_EQ(query(by_status), Sids{"CA02"});
  CallQuery other_tenant;
  other_tenant.tenant = "b";
  EXPECT_EQ(query(other_tenant), Sids{"CA03"});
  CallQuery nobody;
  nobody.tenant = "c";
  EXPECT_EQ(query(nobody), Sids{});
}

TEST_F(CallStoreQuery, PagesWithLimitOffsetAndHasMore) {
  CallQuery q;
  q.limit = 2;
  bool more = false;
  EXPECT_EQ(query(q, more), (Sids{"CA05", "CA04"}));
  EXPECT_TRUE(more);
  q.offset = 2;
  EXPECT_EQ(query(q, more), (Sids{"CA03", "CA02"}));
  EXPECT_TRUE(more);
  q.offset = 4;
  EXPECT_EQ(query(q, more), Sids{"CA01"});
  EXPECT_FALSE(more);
  q.offset = 3;  // the page ends exactly at the last row
  EXPECT_EQ(query(q, more), (Sids{"CA02", "CA01"}));
  EXPECT_FALSE(more);
  q.offset = 5;
  EXPECT_EQ(query(q, more), Sids{});
  EXPECT_FALSE(more);

  CallQuery exact;
  exact.limit = 5;
  EXPECT_EQ(query(exact, more).size(), 5u);
  EXPECT_FALSE(more);
  exact.limit = 4;
  EXPECT_EQ(query(exact, more).size(), 4u);
  EXPECT_TRUE(more);
}

TEST_F(CallStoreQuery, EqualCreationTimesListTheLaterInsertFirst) {
  add("CA06", "a", "completed", "x", "inbound", "2024-01-01T00:00:09.000Z");
  add("CA07", "a", "completed", "x", "inbound", "2024-01-01T00:00:09.000Z");
  store.drain();
  CallQuery q;
  q.limit = 3;
  bool more = false;
  EXPECT_EQ(query(q, more), (Sids{"CA07", "CA06", "CA05"}));
  EXPECT_TRUE(more);
}

TEST_F(CallStoreQuery, FiltersByCreationTimeAndTranscriptText) {
  StoredTurn said;
  said.speaker = "caller";
  said.text = "I forgot my Password";
  store.add_turn("CA02", said);
  StoredTurn answer;
  answer.speaker = "agent";
  answer.text = "Let me help you with that";
  store.add_turn("CA04", answer);
  store.drain();
  CallQuery since;
  since.since = "2024-01-01T00:00:03";
  EXPECT_EQ(query(since), (Sids{"CA05", "CA04", "CA03"}));
  CallQuery until;
  until.until = "2024-01-01T00:00:03";
  EXPECT_EQ(query(until), (Sids{"CA02", "CA01"}));
  CallQuery window;
  window.since = "2024-01-01T00:00:02";
  window.until = "2024-01-01T00:00:05";
  EXPECT_EQ(query(window), (Sids{"CA04", "CA03", "CA02"}));
  CallQuery day;
  day.since = "2024-01-01";
  day.until = "2024-01-02";
  EXPECT_EQ(query(day).size(), 5u);
  CallQuery text;
  text.text = "password";  // any case, any speaker
  EXPECT_EQ(query(text), (Sids{"CA02"}));
  text.text = "LET ME";
  EXPECT_EQ(query(text), (Sids{"CA04"}));
  text.text = "100%_";  // LIKE's wildcards are plain text here
  EXPECT_EQ(query(text), (Sids{}));
  CallQuery theirs;
  theirs.tenant = "b";
  theirs.text = "password";
  EXPECT_EQ(query(theirs), (Sids{}));
}

TEST(CallStoreTest, TheOverviewCountsACompanysWindow) {
  TempDb db("store-overview");
  CallStore store(at(db.path()));
  auto call = [&](const std::string& sid, const std::string& tenant, const std::string& created) {
    StoredCall c;
    c.call_sid = sid;
    c.tenant = tenant;
    c.created_at = created;
    store.upsert_call(c);
  };
  auto latency = [&](const std::string& sid, double response, const std::string& at) {
    StoredLatency l;
    l.turn = 1;
    l.response_ms = response;
    l.at = at;
    store.add_latency(sid, l);
  };
  const std::string since = "2025-01-01T00:00:00.000Z";
  call("CA000000000000000000000000000000a1", "a", "2026-01-01T00:00:00.000Z");
  call("CA000000000000000000000000000000a2", "a", "2020-01-01T00:00:00.000Z");  // before the window
  call("CA000000000000000000000000000000b1", "b", "2026-01-01T00:00:00.000Z");
  latency("CA000000000000000000000000000000a1", 100, "2026-01-01T00:00:01.000Z");
  latency("CA000000000000000000000000000000a1", 300, "2026-01-01T00:00:02.000Z");
  latency("CA000000000000000000000000000000a1", -1, "2026-01-01T00:00:03.000Z");  // never answered: not counted
  latency("CA000000000000000000000000000000a2", 999, "2020-01-01T00:00:01.000Z");
  latency("CA000000000000000000000000000000b1", 50, "2026-01-01T00:00:01.000Z");
  store.add_event("CA000000000000000000000000000000a1", "provider_fallback", "tts");
  store.add_event("CA000000000000000000000000000000a1", "error", "synthesis failed");
  store.add_event("CA000000000000000000000000000000a1", "barge_in", "heard_ms=1");
  store.add_event("CA000000000000000000000000000000a1", "barge_in", "heard_ms=2");
  store.add_event("CA000000000000000000000000000000a1", "dtmf", "5");
  store.add_event("CA000000000000000000000000000000b1", "error", "recognition failed");
  store.drain();
  const auto a = store.read_overview("a", since);
  EXPECT_EQ(a.calls, 1);
  ASSERT_EQ(a.responses.size(), 2u);
  EXPECT_EQ(a.responses[0], (std::pair<std::string, double>{"2026-01-01T00:00:02.000Z", 300}));  // newest first
  EXPECT_EQ(a.responses[1].second, 100);
  EXPECT_EQ(a.fallbacks, 1);
  EXPECT_EQ(a.errors, 1);
  EXPECT_EQ(a.barge_ins, 2);
  const auto all = store.read_overview("", since);
  EXPECT_EQ(all.calls, 2);
  EXPECT_EQ(all.responses.size(), 3u);
  EXPECT_EQ(all.errors, 2);
  const auto none = store.read_overview("nobody", since);
  EXPECT_EQ(none.calls, 0);
  EXPECT_TRUE(none.responses.empty());
  EXPECT_EQ(none.errors, 0);
}

TEST(CallStoreTest, FlushMakesEveryQueuedWriteVisible) {
  TempDb db("store-flush");
  CallStore store(at(db.path()));
  const std::string sid = "CA0000000000000000000000000000000e";
  store.upsert_call(full_call(sid));
  for (int i = 0; i < 300; ++i) store.add_event(sid, "dtmf", std::to_string(i % 10));
  store.set_status(sid, "completed", true);
  store.drain();
  const auto events = store.read_events(sid);
  ASSERT_EQ(events.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].detail, std::to_string(i % 10));
  const auto c = store.read_call(sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "completed");
  store.drain();  // nothing queued: returns at once
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreTest, APathInAMissingDirectoryThrowsNamingThePath) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            (std::to_string(::getpid()) + "-no-such-directory") / "calls.db")
                               .string();
  ASSERT_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
  try {
    CallStore store(at(path));
    FAIL() << "opened " << path;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(path).parent_path()));
}

TEST(CallStoreTest, AStoreWithANewerSchemaRefusesToOpen) {
  TempDb db("store-newer-schema");
  exec_sql(db.path(),
           "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at TEXT);"
           "INSERT INTO schema_migrations(version, applied_at) VALUES (99, '2030-01-01T00:00:00Z');");
  try {
    CallStore store(at(db.path()));
    FAIL() << "opened a store of schema version 99";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("upgrade"), std::string::npos) << what;
    EXPECT_NE(what.find("99"), std::string::npos) << what;
    EXPECT_NE(what.find(db.path()), std::string::npos) << what;
  }
  // Nothing was migrated: the newer store is left as it was.
  EXPECT_EQ(recorded_migrations(db.path()), std::vector<std::string>{"99"});
}

// ---- CallJournal ------------------------------------------------------------------

using Kind = call::CallEvent::Kind;

call::CallContext journal_context() {
  call::CallContext ctx;
  ctx.call_sid = "CA1f00000000000000000000000000000f";
  ctx.stream_sid = "MZ1f00000000000000000000000000000f";
  ctx.tenant = "acme";
  ctx.agent_id = "agent456";
  ctx.from = "+15550001111";
  ctx.to = "+15550002222";
  ctx.parameters["direction"] = "inbound";
  return ctx;
}

call::CallEvent event(Kind kind) {
  call::CallEvent e;
  e.kind = kind;
  return e;
}

TEST(CallStoreJournal, StartedWritesTheCallInProgressWithItsOwner) {
  TempDb db("journal-started");
  CallStore store(at(db.path()));
  CallJournal journal(store);
  const auto ctx = journal_context();
  journal.on_event(ctx, event(Kind::started));
  store.drain();
  const auto c = store.read_call(ctx.call_sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "in-progress");
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(c->agent_id, "agent456");
  EXPECT_EQ(c->from, "+15550001111");
  EXPECT_EQ(c->to, "+15550002222");
  EXPECT_EQ(c->direction, "inbound");
  EXPECT_TRUE(c->ended_at.empty());
  const auto events = store.read_events(ctx.call_sid);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "stream_started");
  EXPECT_NE(events[0].detail.find(ctx.stream_sid), std::string::npos) << events[0].detail;
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreJournal, StartedKeepsWhatTheControlApiRegistered) {
  TempDb db("journal-registered");
  CallStore store(at(db.path()));
  auto ctx = journal_context();
  StoredCall registered;
  registered.call_sid = ctx.call_sid;
  registered.tenant = "acme";
  registered.voice_id = "IKne3meq5aSn9XLyUdCD";
  registered.status = "registered";
  registered.metadata_json = R"({"customer_id":"12345"})";
  store.upsert_call(registered);
  CallJournal journal(store);
  ctx.parameters.erase("direction");
  journal.on_event(ctx, event(Kind::started));
  store.drain();
  const auto c = store.read_call(ctx.call_sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "in-progress");
  EXPECT_EQ(c->voice_id, "IKne3meq5aSn9XLyUdCD");
  EXPECT_EQ(c->metadata_json, R"({"customer_id":"12345"})");
  EXPECT_EQ(c->agent_id, "agent456");
}

TEST(CallStoreJournal, ACallsEventsBecomeTurnsEventsAndItsEnd) {
  TempDb db("journal-call");
  CallStore store(at(db.path()));
  CallJournal journal(store);
  const auto ctx = journal_context();
  journal.on_event(ctx, event(Kind::started));

  auto said = event(Kind::transcript);
  said.turn = 1;
  said.text = "hello there";
  said.start_ms = 1200;
  said.end_ms = 2000;
  journal.on_event(ctx, said);

  auto started = event(Kind::reply_started);  // stored now, completed when it finishes
  started.turn = 1;
  started.reply_id = 1;
  started.text = "You said hello there";
  journal.on_event(ctx, started);

  auto barge = event(Kind::barge_in);
  barge.turn = 1;
  barge.text = "You said hello there";
  barge.heard = "You said";
  barge.heard_ms = 640;
  journal.on_event(ctx, barge);

  auto cut = event(Kind::reply_finished);
  cut.turn = 1;
  cut.reply_id = 1;
  cut.text = "You said hello there";
  cut.heard = "You said";
  cut.interrupted = true;
  cut.start_ms = 2300;
  cut.end_ms = 2940;
  journal.on_event(ctx, cut);

  auto whole = event(Kind::reply_finished);  // played to the end: no heard (and never started: stored whole)
  whole.turn = 2;
  whole.reply_id = 2;
  whole.text = "Goodbye.";
  whole.heard = "Goodbye.";
  whole.start_ms = 4000;
  whole.end_ms = 4800;
  journal.on_event(ctx, whole);

  auto key = event(Kind::dtmf);
  key.text = "5";
  journal.on_event(ctx, key);

  auto fallback = event(Kind::provider_fallback);
  fallback.detail = "elevenlabs tts failed; espeak-ng took over";
  journal.on_event(ctx, fallback);

  auto failed = event(Kind::reply_failed);
  failed.detail = "engine down";
  journal.on_event(ctx, failed);

  auto stt = event(Kind::stt_failure);
  stt.turn = 3;
  stt.detail = "timeout";
  journal.on_event(ctx, stt);

  auto ended = event(Kind::ended);
  ended.detail = "stop";
  journal.on_event(ctx, ended);
  store.drain();

  const auto turns = store.read_transcript(ctx.call_sid);
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[0].speaker, "caller");
  EXPECT_EQ(turns[0].index, 1);
  EXPECT_EQ(turns[0].text, "hello there");
  EXPECT_EQ(turns[0].start_ms, 1200);
  EXPECT_EQ(turns[0].end_ms, 2000);
  EXPECT_FALSE(turns[0].heard.has_value());
  EXPECT_FALSE(turns[0].interrupted);
  EXPECT_EQ(turns[1].speaker, "agent");
  EXPECT_EQ(turns[1].index, 1);
  EXPECT_EQ(turns[1].text, "You said hello there");
  ASSERT_TRUE(turns[1].heard.has_value());
  EXPECT_EQ(*turns[1].heard, "You said");
  EXPECT_TRUE(turns[1].interrupted);
  EXPECT_EQ(turns[1].start_ms, 2300);
  EXPECT_EQ(turns[1].end_ms, 2940);
  EXPECT_EQ(turns[2].speaker, "agent");
  EXPECT_EQ(turns[2].index, 2);
  EXPECT_EQ(turns[2].text, "Goodbye.");
  EXPECT_FALSE(turns[2].heard.has_value());
  EXPECT_FALSE(turns[2].interrupted);

  const auto events = store.read_events(ctx.call_sid);
  std::vector<std::string> kinds;
  for (const auto& e : events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"stream_started", "barge_in", "dtmf", "provider_fallback", "error", "error",
                                             "stream_ended"}));
  ASSERT_EQ(events.size(), 7u);
  EXPECT_NE(events[1].detail.find("heard_ms=640"), std::string::npos) << events[1].detail;
  EXPECT_NE(events[1].detail.find("You said"), std::string::npos) << events[1].detail;
  EXPECT_EQ(events[2].detail, "5");
  EXPECT_EQ(events[3].detail, "elevenlabs tts failed; espeak-ng took over");
  EXPECT_NE(events[4].detail.find("engine down"), std::string::npos) << events[4].detail;
  EXPECT_NE(events[5].detail.find("turn 3"), std::string::npos) << events[5].detail;
  EXPECT_NE(events[5].detail.find("timeout"), std::string::npos) << events[5].detail;
  EXPECT_EQ(events[6].detail, "stop");

  const auto c = store.read_call(ctx.call_sid);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "completed");
  EXPECT_FALSE(c->ended_at.empty());
  EXPECT_EQ(c->tenant, "acme");
  EXPECT_EQ(store.write_errors(), 0u);
}

TEST(CallStoreJournal, AReplyIsStoredWhenItStartsAndCompletedWhenItEnds) {
  TempDb db("journal-reply");
  CallStore store(at(db.path()));
  CallJournal journal(store);
  const auto ctx = journal_context();
  journal.on_event(ctx, event(Kind::started));
  auto started = event(Kind::reply_started);
  started.reply_id = 7;
  started.turn = 2;
  started.text = "A long answer";
  journal.on_event(ctx, started);
  store.drain();
  // A crash now would leave the reply stored, without what was heard.
  auto turns = store.read_transcript(ctx.call_sid);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_EQ(turns[0].speaker, "agent");
  EXPECT_EQ(turns[0].text, "A long answer");
  EXPECT_FALSE(turns[0].heard.has_value());

  auto cut = event(Kind::reply_finished);
  cut.reply_id = 7;
  cut.turn = 2;
  cut.text = "A long answer";
  cut.interrupted = true;
  cut.heard = "A long";
  cut.start_ms = 100;
  cut.end_ms = 900;
  journal.on_event(ctx, cut);
  store.drain();
  turns = store.read_transcript(ctx.call_sid);
  ASSERT_EQ(turns.size(), 1u);
  ASSERT_TRUE(turns[0].heard.has_value());
  EXPECT_EQ(*turns[0].heard, "A long");
  EXPECT_TRUE(turns[0].interrupted);
  EXPECT_EQ(turns[0].start_ms, 100);
  EXPECT_EQ(turns[0].end_ms, 900);
}

TEST(CallStoreTest, TheOwnerOfACallNeverChanges) {
  TempDb db("owner");
  CallStore store(at(db.path()));
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
  unowned.tenant = "acme";
  store.upsert_call(unowned);
  unowned.tenant = "globex";
  store.upsert_call(unowned);
  store.drain();
  EXPECT_EQ(store.read_owner(unowned.call_sid), std::optional<std::string>("acme"));
}

TEST(CallStoreTest, ARestartClosesTheCallsItsInstanceLeftLive) {
  TempDb db("orphans");
  {
    CallStore store(at(db.path()));
    for (const auto& [sid, instance, status] :
         std::vector<std::tuple<std::string, std::string, std::string>>{{"CA01", "me:8001", "in-progress"},
                                                                        {"CA02", "me:8001", "registered"},
                                                                        {"CA03", "other:8001", "in-progress"}}) {
      StoredCall c;
      c.call_sid = sid;
      c.instance_id = instance;
      c.status = status;
      store.upsert_call(c);
    }
    store.set_status("CA04", "in-progress", false);  // no instance: not ours to close
  }
  std::vector<std::string> closed;
  CallStore store(at(db.path(), "me:8001"), nullptr, &closed);
  EXPECT_EQ(closed, (std::vector<std::string>{"CA01"}));
  EXPECT_EQ(store.read_call("CA01")->status, "completed");
  EXPECT_FALSE(store.read_call("CA01")->ended_at.empty());
  EXPECT_EQ(store.read_call("CA02")->status, "registered");
  EXPECT_EQ(store.read_call("CA03")->status, "in-progress");
  const auto events = store.read_events("CA01");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].detail, "server_restart");
  // Closed once: a second start finds nothing left.
  std::vector<std::string> again;
  { CallStore second(at(db.path(), "me:8001"), nullptr, &again); }
  EXPECT_TRUE(again.empty());
}

TEST(CallStoreJournal, AResumedStreamSaysSo) {
  TempDb db("journal-resumed");
  CallStore store(at(db.path()));
  CallJournal journal(store);
  const auto ctx = journal_context();
  auto resumed = event(Kind::started);
  resumed.detail = "resumed";
  journal.on_event(ctx, resumed);
  store.drain();
  const auto events = store.read_events(ctx.call_sid);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].detail, "resumed " + ctx.stream_sid);
}

TEST(CallStoreJournal, EventsWithoutACallSidAreIgnored) {
  TempDb db("journal-no-sid");
  CallStore store(at(db.path()));
  CallJournal journal(store);
  auto ctx = journal_context();
  ctx.call_sid.clear();
  for (const Kind k : {Kind::started, Kind::transcript, Kind::reply_finished, Kind::dtmf, Kind::ended})
    journal.on_event(ctx, event(k));
  store.drain();
  const auto page = store.read_calls(CallQuery{});
  EXPECT_TRUE(page.calls.empty());
  EXPECT_FALSE(page.has_more);
  EXPECT_TRUE(store.read_events("").empty());
  EXPECT_TRUE(store.read_transcript("").empty());
  EXPECT_EQ(store.write_errors(), 0u);
}

}  // namespace
}  // namespace vox::store

namespace vox::store {
namespace {

TEST(CallStoreTest, TurnLatenciesAreStoredWithUnreachedStagesAsNull) {
  TempDb db("store-latency");
  const std::string sid = "CA0000000000000000000000000000000f";
  CallStore store(at(db.path()));
  StoredLatency a;
  a.turn = 1;
  a.endpoint_ms = 612.5;
  a.transcript_ms = 31;
  a.agent_ms = 0.25;
  a.tts_first_byte_ms = 40;
  a.gateway_ms = 0.3;
  a.response_ms = 71.5;
  a.heard_ms = 402;
  store.add_latency(sid, a);
  StoredLatency b;
  b.turn = 2;
  b.endpoint_ms = 600;
  b.transcript_ms = 20;  // the rest never happened (the call ended)
  store.add_latency(sid, b);
  store.add_latency("CA0000000000000000000000000000000e", a);
  store.drain();
  const auto got = store.read_latencies(sid);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].turn, 1);
  EXPECT_DOUBLE_EQ(got[0].endpoint_ms, 612.5);
  EXPECT_DOUBLE_EQ(got[0].agent_ms, 0.25);
  EXPECT_DOUBLE_EQ(got[0].gateway_ms, 0.3);
  EXPECT_DOUBLE_EQ(got[0].heard_ms, 402);
  EXPECT_FALSE(got[0].at.empty());
  EXPECT_EQ(got[1].turn, 2);
  EXPECT_DOUBLE_EQ(got[1].transcript_ms, 20);
  EXPECT_EQ(got[1].agent_ms, -1);
  EXPECT_EQ(got[1].response_ms, -1);
  EXPECT_EQ(got[1].heard_ms, -1);
  EXPECT_TRUE(store.read_latencies("CA00000000000000000000000000000099").empty());
}

}  // namespace
}  // namespace vox::store
