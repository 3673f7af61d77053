#pragma once
// The turn API of the phone-call tester voxbridge replaces (see README "Turn API"):
//   GET /generate?client=..&sid=CA..&first=true|false&timeout=S&input=TEXT&talk_timeout=S
// with header X-API-KEY. One request is one turn of a call: play `input` into the call
// (if given), wait until Twilio has played it (its mark came back), then wait up to
// `timeout` seconds for what the other side says, and answer it:
//   200 {"response": "<what they said>", "latency_ms": .., "playback_ms": .., "skipped": [..]}
//   200 {"response": "call ended: ...", "ended": true, "reason": "hung_up|talk_timeout|error|shutdown", "detail": ..}
//   204 nothing said within `timeout`
//   400 bad parameters; 403 wrong key; 404 unknown sid (first=true and input first wait
//   up to `timeout` for a call that has not reached us yet); 409 another /generate is waiting
//   on the call; 502 our speech synthesis failed; 503 API_KEY not configured.
// Any number of calls at once, each by its own sid.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "api/settings.hpp"
#include "net/router.hpp"

namespace vox::call {
class TurnHub;
}

namespace vox::net {
class LoadMonitor;
}
namespace vox::cluster {
class Forwarder;
}

namespace vox::api {

struct GenerateQuery {
  GenerateQuery() {}  // not an aggregate: passed to coroutines (see net::TlsOptions)
  std::string client;
  std::string sid;
  bool first = false;
  std::chrono::milliseconds timeout{30000};
  std::string input;  // "" = nothing to say this turn
  std::optional<std::chrono::milliseconds> talk_timeout;
};

// The longest `timeout` accepted, and the longest wait for our own input to play.
inline constexpr std::chrono::seconds kMaxGenerateTimeout{600};
inline constexpr std::chrono::seconds kMaxPlaybackWait{600};

// Parses the query string; throws ApiError(400) naming the bad parameter.
GenerateQuery parse_generate_query(std::string_view query, std::size_t max_input_chars);

// Parses a bool the way the original (FastAPI) did: true/false, 1/0, yes/no, on/off
// (any case); nullopt otherwise.
std::optional<bool> parse_bool(std::string_view s);

// `load` (may be null): a first turn (first=true: new work) gets 503 with Retry-After while
// the server sheds load; the turns of a call already followed always go ahead.
// `forwarder` (may be null): a turn on a call another instance holds is relayed to it (a
// first turn or input waits for the call to reach any instance of the cluster).
void add_generate_route(net::Router& router, const ApiSettings& config, call::TurnHub& turns,
                        net::LoadMonitor* load = nullptr, cluster::Forwarder* forwarder = nullptr);

}  // namespace vox::api
