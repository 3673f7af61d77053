#pragma once
// Several voxbridge instances acting as one, with Redis as their shared directory:
//   - each instance has an id, the URL the others reach it at, and a heartbeat key with a
//     TTL (vox:inst:{id});
//   - each live call is registered to its owner (vox:call:{sid} = "{id} {url}", same TTL,
//     refreshed by the owner's heartbeat) and listed under it (hash vox:inst-calls:{id});
//   - an instance whose heartbeat key expired has lost its calls: the first live instance
//     to take its reap lock hands them to on_calls_lost (ended, reason instance_lost);
//   - per-company limits are sorted sets whose members expire unless their owner refreshes
//     them (a dead instance's share frees itself), checked and added atomically in Lua.
// Control actions on a call owned elsewhere are forwarded to the owner over HTTP or
// WebSocket (cluster/forward.hpp); Redis only says where the owner is.
// Everything here runs on one executor; the public functions may be called from any thread.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "cluster/redis.hpp"

namespace vox::cluster {

struct ClusterSettings {
  ClusterSettings() {}
  RedisSettings redis;            // redis.url empty = no cluster
  std::string instance_id;        // unique per instance
  std::string advertise_url;      // http://host:port the other instances reach this one at (set by start())
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds ttl{5000};  // a silent instance is lost after this long
  std::string prefix = "vox:";
};

// Where a call lives, as the cluster sees it.
struct Owner {
  enum class Kind { kNobody, kHere, kElsewhere, kUnreachable };
  Owner() {}
  Kind kind = Kind::kNobody;
  std::string instance_id;
  std::string url;     // kElsewhere: the owner's advertise URL
  std::string detail;  // kUnreachable: why Redis could not be asked
};

class Cluster {
 public:
  // Throws std::invalid_argument for a bad Redis URL or settings.
  Cluster(boost::asio::any_io_executor exec, ClusterSettings settings);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Receives the calls of instances found lost (on the cluster's executor).
  void on_calls_lost(std::function<void(std::vector<std::string> sids, std::string instance_id)> fn);
  // Starts the heartbeat, advertising `url` to the other instances.
  void start(std::string url);
  // Stops the heartbeat and unregisters this instance (its calls must have ended).
  boost::asio::awaitable<void> stop();

  // This instance's calls (any thread; once per call start and end, never per frame).
  // Once the call is registered, the text queued for it before (queue_text) is handed to
  // `waiting_texts` on the cluster's executor (only when there is some); a registration
  // Redis refuses is tried again every heartbeat while the call lives. Two streams of one
  // sid here (a reconnect) keep it registered until both have ended.
  void call_started(const std::string& sid, const std::string& tenant,
                    std::function<void(std::vector<std::string>)> waiting_texts = {});
  void call_ended(const std::string& sid);
  bool holds(const std::string& sid) const;

  boost::asio::awaitable<Owner> owner_of(std::string sid);

  // Per-company limits across the cluster (`kind`: "calls" or "sockets"). admit() adds
  // `member` and returns true unless `limit` members are held. With `hold` 0 this
  // instance refreshes the member until release() (a client socket); otherwise it is held
  // that long unless refreshed: a placed call's sid, refreshed by whichever instance then
  // runs the call (every live call counts against its company) and released when it ends.
  // Throws RedisUnavailable.
  boost::asio::awaitable<bool> admit(std::string kind, std::string tenant, std::string member, int limit,
                                     std::chrono::milliseconds hold);
  void release(const std::string& kind, const std::string& tenant, const std::string& member);
  // Replaces a held member by another (a placed call's placeholder by its CallSid), held `hold`.
  boost::asio::awaitable<void> rename(std::string kind, std::string tenant, std::string from, std::string to,
                                      std::chrono::milliseconds hold);

  // Client sockets waiting for a company's next call of an agent, across the cluster: a
  // queue per company and agent of "{instance id} {token}" (the instance that holds the
  // call claims the first one still waiting).
  boost::asio::awaitable<void> agent_wait(std::string tenant, std::string agent_id, std::string token);
  void agent_unwait(const std::string& tenant, const std::string& agent_id, const std::string& token);
  // The next waiter of another live instance (nullopt: none). It leaves the queue: give it
  // back with agent_requeue() when the claim failed for a reason that may pass.
  struct Waiter {
    Waiter() {}
    std::string instance_id, url, token;
  };
  boost::asio::awaitable<std::optional<Waiter>> agent_next(std::string tenant, std::string agent_id);
  void agent_requeue(const std::string& tenant, const std::string& agent_id, const Waiter& waiter);

  // Text sent for a call that has not started yet, kept in Redis for whichever instance
  // its stream reaches (at most `limit` waiting; 30 minutes). Atomic with the owner's
  // registration, which takes the queue in the same round trip: either the owner takes
  // the text, or the text is refused here because the call has an owner now (kHeld: send
  // it there). Throws RedisUnavailable.
  struct TextQueued {
    enum class Kind { kQueued, kFull, kHeld };
    TextQueued() {}
    Kind kind = Kind::kQueued;
    Owner owner;  // kHeld
  };
  boost::asio::awaitable<TextQueued> queue_text(std::string sid, std::string text, int limit);

  // The other live instances (those whose heartbeat key lives), for views across the
  // cluster. Throws RedisUnavailable.
  struct Peer {
    Peer() {}
    std::string instance_id, url;
  };
  boost::asio::awaitable<std::vector<Peer>> peers();
  // How many calls the other live instances hold for `tenant` (every company's when
  // empty), as their heartbeats last wrote them. Throws RedisUnavailable.
  boost::asio::awaitable<std::int64_t> calls_elsewhere(std::string tenant);

  bool redis_up() const;
  std::string redis_error() const;
  const RedisEndpoint& redis_endpoint() const;
  const std::string& instance_id() const { return settings_.instance_id; }
  const std::string& url() const { return settings_.advertise_url; }
  const ClusterSettings& settings() const { return settings_; }
  std::uint64_t calls_lost() const;

  struct State;

 private:
  ClusterSettings settings_;
  std::shared_ptr<State> state_;
};

}  // namespace vox::cluster
