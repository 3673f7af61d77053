#pragma once
// The call store: every call, its events, its transcript and its turns' latency, kept
// for the control API and the console. This is the interface the rest of voxbridge sees;
// SQLite (sqlite_store.hpp) is the embedded implementation. Writes are queued and never
// block the caller; reads are awaited and run off the network threads.
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vox::store {

struct StoredCall {
  std::string call_sid;
  std::string tenant;
  std::string agent_id;
  std::string voice_id;
  std::string voice_settings_json;  // "" = none
  std::string from, to;
  std::string direction;
  std::string status;
  std::string created_at;
  std::string updated_at;
  std::string ended_at;  // "" while not ended
  std::string metadata_json;  // "" = none
  std::string instance_id;    // the server that ran its stream ("" = none yet)
};

struct StoredTurn {
  int index = 0;            // conversation turn (0: greeting or control-API text)
  std::string speaker;      // caller | agent
  std::string text;
  std::int64_t start_ms = -1, end_ms = -1;
  std::optional<std::string> heard;  // agent turns cut by a barge-in or a stop
  bool interrupted = false;
  std::string at;           // ISO-8601 when written
  std::uint64_t reply_id = 0;  // agent turns: the reply's id in its stream (0 = none)
};

// A turn's latency by stage (milliseconds; -1 = not reached), as GET /calls/{sid}/latency shows it.
struct StoredLatency {
  int turn = 0;
  double endpoint_ms = -1, transcript_ms = -1, agent_ms = -1, tts_first_byte_ms = -1, gateway_ms = -1,
         response_ms = -1, heard_ms = -1;
  double llm_first_token_ms = -1, llm_first_piece_ms = -1;  // LLM agents only
  std::string at;
};

struct StoredEvent {
  std::string at;
  std::string kind;
  std::string detail;
};

// Which calls to list. (Not an aggregate: it is passed by value to coroutines, which
// GCC 12 mishandles for aggregate prvalues.)
struct CallQuery {
  CallQuery() {}
  std::string tenant;  // "" = every tenant
  std::string status, agent_id, direction;
  std::string since, until;  // created_at >= since, < until (ISO-8601 prefixes; "" = open)
  std::string text;          // words in the transcript (a case-insensitive substring; "" = any)
  int limit = 50;
  int offset = 0;
};

// A page of calls, newest first; `has_more` tells whether rows follow it.
struct CallPage {
  CallPage() {}
  std::vector<StoredCall> calls;
  bool has_more = false;
};

// A company's recent activity, for the console's overview.
struct Overview {
  Overview() {}
  std::int64_t calls = 0;  // calls created in the window
  // (at, response_ms) of the turns timed in the window, newest first, at most kOverviewTurns.
  std::vector<std::pair<std::string, double>> responses;
  std::int64_t fallbacks = 0, errors = 0, barge_ins = 0;  // events in the window
  static constexpr int kOverviewTurns = 100000;
};

class CallStore {
 public:
  virtual ~CallStore() = default;

  // Writes: queued, never block on the disk. Each is committed in order.
  // Inserts the call or updates it: empty fields leave the stored value alone, and the
  // owner (tenant), once stored, never changes.
  virtual void upsert_call(StoredCall call) = 0;
  virtual void set_status(std::string call_sid, std::string status, bool ended) = 0;
  virtual void set_voice(std::string call_sid, std::string voice_id, std::string settings_json) = 0;
  virtual void add_turn(std::string call_sid, StoredTurn turn) = 0;
  // Completes the agent turn stored for `turn.reply_id` (times, what was heard, whether it
  // was cut); stores it whole if it was not stored when it started.
  virtual void finish_turn(std::string call_sid, StoredTurn turn) = 0;
  virtual void add_event(std::string call_sid, std::string kind, std::string detail) = 0;
  virtual void add_latency(std::string call_sid, StoredLatency latency) = 0;
  // Completes once every write queued before it is committed.
  virtual boost::asio::awaitable<void> flush() = 0;
  // Commits everything queued, blocking the calling thread (shutdown, tools).
  virtual void drain() = 0;

  // Reads, awaited (they run off the network threads).
  virtual boost::asio::awaitable<std::optional<StoredCall>> call(std::string call_sid) = 0;
  // The stored owner of a call ("" = none), or nullopt when the call is not stored.
  virtual boost::asio::awaitable<std::optional<std::string>> owner(std::string call_sid) = 0;
  virtual boost::asio::awaitable<CallPage> calls(CallQuery query) = 0;
  virtual boost::asio::awaitable<std::vector<StoredTurn>> transcript(std::string call_sid) = 0;
  virtual boost::asio::awaitable<std::vector<StoredEvent>> events(std::string call_sid) = 0;
  virtual boost::asio::awaitable<std::vector<StoredLatency>> latencies(std::string call_sid) = 0;
  // What happened since `since` (ISO-8601) in the calls of `tenant` ("" = every tenant).
  virtual boost::asio::awaitable<Overview> overview(std::string tenant, std::string since) = 0;

  // Writes that failed (logged); 0 when healthy.
  virtual std::uint64_t write_errors() const = 0;
  // What the store is, for logs and /health ("sqlite voxbridge.db, schema 3").
  virtual std::string describe() const = 0;
};

}  // namespace vox::store
