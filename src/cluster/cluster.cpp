#include "cluster/cluster.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "core/spawn.hpp"

namespace vox::cluster {
namespace asio = boost::asio;

namespace {

// Redis server time in ms inside a script (no clock skew between instances).
constexpr const char* kNow = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) ";

// KEYS[1] = the company's set; ARGV = ttl ms, limit, member. 1 = admitted.
const std::string kAdmitScript = std::string(kNow) +
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "if redis.call('ZSCORE', KEYS[1], ARGV[3]) then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3]) return 1 end "
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3]) return 1";

// KEYS[i] = a set, ARGV[1] = ttl ms, ARGV[i+1] = its member: each refreshed.
const std::string kRefreshScript = std::string(kNow) +
    "for i = 1, #KEYS do redis.call('ZADD', KEYS[i], now + tonumber(ARGV[1]), ARGV[i + 1]) end return #KEYS";

// KEYS[1] = a set, ARGV = old member, new member, hold ms.
const std::string kRenameScript = std::string(kNow) +
    "redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) return 1";

// KEYS = a call's owner key, its waiting texts; ARGV = text, limit. The owner's value when
// the call is registered (nothing queued), else 1 = queued, 0 = full.
const std::string kQueueTextScript =
    "local o = redis.call('GET', KEYS[1]) if o then return o end "
    "if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end "
    "redis.call('RPUSH', KEYS[2], ARGV[1]) redis.call('PEXPIRE', KEYS[2], 1800000) return 1";
// KEYS[1] = a call's waiting texts: all of them, removed.
const std::string kTakeTextsScript = "local v = redis.call('LRANGE', KEYS[1], 0, -1) redis.call('DEL', KEYS[1]) return v";

// KEYS[1] = a call's owner key; ARGV[1] = a prefix of its value ("{id} "): deleted only
// while that instance still owns it (a newer stream elsewhere keeps its registration).
const std::string kDeleteIfOwnerScript =
    "local v = redis.call('GET', KEYS[1]) "
    "if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

RedisSettings with_role(RedisSettings s, const char* role) {
  s.role = std::string("redis[") + role + "]";
  return s;
}

}  // namespace

struct Cluster::State {
  State(asio::any_io_executor ex, const ClusterSettings& s)
      : strand(asio::make_strand(ex)),
        beat_redis(std::make_shared<RedisConnection>(strand, with_role(s.redis, "heartbeat"))),
        ask_redis(std::make_shared<RedisConnection>(strand, with_role(s.redis, "lookup"))),
        timer(strand) {}
  asio::strand<asio::any_io_executor> strand;
  std::shared_ptr<RedisConnection> beat_redis;  // heartbeats, registrations, the reaper
  std::shared_ptr<RedisConnection> ask_redis;   // lookups and admissions on the request path
  asio::steady_timer timer;
  bool stopped = false;
  bool beat_failing = false;
  bool registered = false;  // a heartbeat went through (a later SADD adding us again: we were reaped)
  std::function<void(std::vector<std::string>, std::string)> lost;
  std::atomic<std::uint64_t> calls_lost{0};

  struct Held {
    std::string tenant;
    int streams = 0;  // more than one while a reconnected stream overlaps the old one
  };
  mutable std::mutex mu;
  std::map<std::string, Held> calls;                         // sid -> its company
  std::map<std::string, std::set<std::string>> members;       // limit key -> members held here
};

Cluster::Cluster(asio::any_io_executor exec, ClusterSettings settings) : settings_(std::move(settings)) {
  if (settings_.instance_id.empty()) throw std::invalid_argument("a cluster instance needs an id");
  if (settings_.ttl < 2 * settings_.heartbeat)
    throw std::invalid_argument("the cluster TTL must be at least twice the heartbeat interval");
  state_ = std::make_shared<State>(std::move(exec), settings_);
}

Cluster::~Cluster() {
  state_->beat_redis->stop();
  state_->ask_redis->stop();
  auto s = state_;
  asio::post(s->strand, [s] {
    s->stopped = true;
    s->timer.cancel();
  });
}

void Cluster::on_calls_lost(std::function<void(std::vector<std::string>, std::string)> fn) { state_->lost = std::move(fn); }

namespace {

std::string key(const ClusterSettings& s, std::string_view kind, std::string_view rest) {
  return s.prefix + std::string(kind) + ":" + std::string(rest);
}

std::string ttl_ms(const ClusterSettings& s) { return std::to_string(s.ttl.count()); }

bool still_held(const std::shared_ptr<Cluster::State>& st, const std::string& sid) {
  std::lock_guard lock(st->mu);
  return st->calls.count(sid) != 0;
}

// One heartbeat: this instance, its calls and its limit members, all refreshed in one round trip.
asio::awaitable<void> beat(const ClusterSettings& s, std::shared_ptr<Cluster::State> st) {
  std::vector<std::vector<std::string>> cmds;
  const auto ttl = ttl_ms(s);
  const std::string me = s.instance_id + " " + s.advertise_url;
  cmds.push_back({"SET", key(s, "inst", s.instance_id), s.advertise_url, "PX", ttl});
  cmds.push_back({"SADD", s.prefix + "instances", s.instance_id});
  // The calls hash is rewritten whole (in a transaction), so a call whose removal failed
  // during an outage does not linger in it.
  std::vector<std::string> hset{"HSET", key(s, "inst-calls", s.instance_id)};
  std::vector<std::string> refresh{"EVAL", kRefreshScript, "0"};
  std::vector<std::string> refresh_members{ttl};
  {
    std::lock_guard lock(st->mu);
    std::size_t n = 0;
    for (const auto& [sid, held] : st->calls) {
      const auto& tenant = held.tenant;
      cmds.push_back({"SET", key(s, "call", sid), me, "PX", ttl});
      hset.push_back(sid);
      hset.push_back(tenant);
      // A live call counts against its company's limit for as long as its owner lives.
      refresh.push_back(key(s, "limit:calls", tenant));
      refresh_members.push_back(sid);
      ++n;
    }
    for (const auto& [k, set] : st->members)
      for (const auto& m : set) {
        refresh.push_back(k);
        refresh_members.push_back(m);
        ++n;
      }
    refresh[2] = std::to_string(n);
  }
  cmds.push_back({"MULTI"});
  cmds.push_back({"DEL", key(s, "inst-calls", s.instance_id)});
  if (hset.size() > 2) cmds.push_back(std::move(hset));
  cmds.push_back({"EXEC"});
  if (refresh[2] != "0") {
    refresh.insert(refresh.end(), refresh_members.begin(), refresh_members.end());
    cmds.push_back(std::move(refresh));
  }
  auto replies = co_await st->beat_redis->pipeline(std::move(cmds));
  for (const auto& r : replies)
    if (r.error()) spdlog::warn("cluster heartbeat: Redis answered an error: {}", r.str);
  // SADD answers 1 when it added us: the others had taken this instance for lost (its
  // heartbeat lapsed) and ended its calls in the store.
  if (replies.size() > 1 && replies[1].integer == 1 && st->registered)
    spdlog::error("cluster: this instance ({}) was taken for lost while it lived (its heartbeat lapsed for more than "
                  "the TTL of {} ms): the others ended its calls in the store; raise --cluster-ttl-ms or check the "
                  "path to Redis", s.instance_id, s.ttl.count());
  st->registered = true;
}

// Finds instances whose heartbeat expired and ends their calls (once, under a lock key).
asio::awaitable<void> reap(const ClusterSettings& s, std::shared_ptr<Cluster::State> st) {
  std::vector<std::string> smembers{"SMEMBERS", s.prefix + "instances"};
  const auto all = co_await st->beat_redis->command(std::move(smembers));
  std::vector<std::string> others;
  for (const auto& e : all.elements)
    if (e.str != s.instance_id) others.push_back(e.str);
  if (others.empty()) co_return;
  std::vector<std::vector<std::string>> checks;
  for (const auto& id : others) checks.push_back({"EXISTS", key(s, "inst", id)});
  const auto alive = co_await st->beat_redis->pipeline(std::move(checks));
  for (std::size_t i = 0; i < others.size(); ++i) {
    if (alive[i].integer != 0) continue;
    const auto& dead = others[i];
    std::vector<std::string> lock{"SET", key(s, "reap", dead), s.instance_id, "NX", "PX", "30000"};
    const auto got = co_await st->beat_redis->command(std::move(lock));
    if (got.nil() || got.error()) continue;  // another instance is reaping it
    // Still gone now that we hold the lock? (A slow instance may have come back.)
    std::vector<std::string> again{"EXISTS", key(s, "inst", dead)};
    if ((co_await st->beat_redis->command(std::move(again))).integer != 0) {
      std::vector<std::string> unlock{"DEL", key(s, "reap", dead)};
      co_await st->beat_redis->command(std::move(unlock));
      continue;
    }
    std::vector<std::string> hgetall{"HGETALL", key(s, "inst-calls", dead)};
    const auto calls = co_await st->beat_redis->command(std::move(hgetall));
    // A call another instance has taken over since (a new stream after a redirect) is not lost.
    std::vector<std::vector<std::string>> owners;
    for (std::size_t j = 0; j + 1 < calls.elements.size(); j += 2) owners.push_back({"GET", key(s, "call", calls.elements[j].str)});
    const auto owned = co_await st->beat_redis->pipeline(std::move(owners));
    const std::string prefix = dead + " ";
    std::vector<std::string> sids;
    std::vector<std::vector<std::string>> cleanup;
    for (std::size_t j = 0; j + 1 < calls.elements.size(); j += 2) {
      const auto& sid = calls.elements[j].str;
      const auto& tenant = calls.elements[j + 1].str;
      const auto& owner = owned[j / 2];
      if (!owner.nil() && owner.str.rfind(prefix, 0) != 0) continue;
      sids.push_back(sid);
      cleanup.push_back({"EVAL", kDeleteIfOwnerScript, "1", key(s, "call", sid), prefix});
      cleanup.push_back({"ZREM", key(s, "limit:calls", tenant), sid});
    }
    cleanup.push_back({"DEL", key(s, "inst-calls", dead)});
    cleanup.push_back({"SREM", s.prefix + "instances", dead});
    co_await st->beat_redis->pipeline(std::move(cleanup));
    spdlog::warn("cluster: instance {} stopped heartbeating; {} of its call(s) end with reason instance_lost", dead,
                 sids.size());
    st->calls_lost += sids.size();
    if (!sids.empty() && st->lost) st->lost(std::move(sids), dead);
  }
}

// Calls and members a previous run of this instance left registered (it was killed).
asio::awaitable<void> forget_previous_life(const ClusterSettings& s, std::shared_ptr<Cluster::State> st) {
  std::vector<std::string> hgetall{"HGETALL", key(s, "inst-calls", s.instance_id)};
  const auto calls = co_await st->beat_redis->command(std::move(hgetall));
  std::vector<std::vector<std::string>> cleanup;
  std::size_t dropped = 0;
  for (std::size_t j = 0; j + 1 < calls.elements.size(); j += 2) {
    // A call that started in this run before its first heartbeat is registered already:
    // it is not from a previous life. (The hash itself is rewritten by every heartbeat.)
    if (still_held(st, calls.elements[j].str)) continue;
    cleanup.push_back({"EVAL", kDeleteIfOwnerScript, "1", key(s, "call", calls.elements[j].str), s.instance_id + " "});
    cleanup.push_back({"ZREM", key(s, "limit:calls", calls.elements[j + 1].str), calls.elements[j].str});
    ++dropped;
  }
  cleanup.push_back({"DEL", key(s, "inst-calls", s.instance_id)});
  co_await st->beat_redis->pipeline(std::move(cleanup));
  if (dropped > 0) spdlog::info("cluster: dropped {} call(s) a previous run of {} left registered", dropped, s.instance_id);
}

asio::awaitable<void> heartbeat_loop(ClusterSettings s, std::shared_ptr<Cluster::State> st) {
  bool fresh = true;
  while (!st->stopped) {
    std::string failed;
    try {
      if (fresh && st->beat_redis->connected()) {
        co_await forget_previous_life(s, st);
        fresh = false;
      }
      if (!fresh) {
        co_await beat(s, st);
        co_await reap(s, st);
      }
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (!failed.empty() && !st->beat_failing) {
      spdlog::warn("cluster: heartbeat failed ({}); local calls go on, calls on other instances cannot be reached "
                   "until Redis answers again", failed);
      st->beat_failing = true;
    } else if (failed.empty() && st->beat_failing && !fresh) {
      spdlog::info("cluster: Redis answers again; heartbeat resumed");
      st->beat_failing = false;
    }
    if (st->stopped) break;
    st->timer.expires_after(s.heartbeat);
    co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// The owner key first, then the texts queued before it (in one round trip on one
// connection): text queued after the key was set finds the owner instead.
asio::awaitable<void> register_call(ClusterSettings s, std::shared_ptr<Cluster::State> st, std::string sid,
                                    std::string tenant, std::function<void(std::vector<std::string>)> waiting_texts) {
  asio::steady_timer retry(st->strand);
  for (int attempt = 0; !st->stopped && still_held(st, sid); ++attempt) {
    std::vector<std::vector<std::string>> cmds;
    cmds.push_back({"SET", key(s, "call", sid), s.instance_id + " " + s.advertise_url, "PX", ttl_ms(s)});
    cmds.push_back({"HSET", key(s, "inst-calls", s.instance_id), sid, tenant});
    cmds.push_back({"EVAL", kTakeTextsScript, "1", key(s, "texts", sid)});
    std::string failed;
    std::vector<RedisReply> replies;
    try {
      replies = co_await st->beat_redis->pipeline(std::move(cmds));
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (failed.empty()) {
      std::vector<std::string> texts;
      if (replies.size() == 3)
        for (const auto& e : replies[2].elements) texts.push_back(e.str);
      if (!texts.empty() && waiting_texts) waiting_texts(std::move(texts));
      co_return;
    }
    if (attempt == 0) spdlog::debug("cluster: registering {} is tried again each heartbeat: {}", sid, failed);
    retry.expires_after(s.heartbeat);
    co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> unregister_call(ClusterSettings s, std::shared_ptr<Cluster::State> st, std::string sid,
                                      std::string tenant) {
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back({"EVAL", kDeleteIfOwnerScript, "1", key(s, "call", sid), s.instance_id + " "});
  cmds.push_back({"HDEL", key(s, "inst-calls", s.instance_id), sid});
  cmds.push_back({"ZREM", key(s, "limit:calls", tenant), sid});
  try {
    co_await st->beat_redis->pipeline(std::move(cmds));
  } catch (const std::exception& e) {
    spdlog::debug("cluster: unregistering {} failed ({}); its key expires with the TTL", sid, e.what());
  }
}

asio::awaitable<void> remove_member(std::shared_ptr<Cluster::State> st, std::string k, std::string member) {
  std::vector<std::string> zrem{"ZREM", std::move(k), std::move(member)};
  try {
    co_await st->beat_redis->command(std::move(zrem));
  } catch (const std::exception&) {
    // Not refreshed any more: it expires with the TTL.
  }
}

// On the cluster's strand: no heartbeat after this.
asio::awaitable<void> halt_heartbeat(std::shared_ptr<Cluster::State> st) {
  st->stopped = true;
  st->timer.cancel();
  co_return;
}

}  // namespace

void Cluster::start(std::string url) {
  settings_.advertise_url = std::move(url);
  state_->beat_redis->start();
  state_->ask_redis->start();
  vox::spawn(state_->strand, heartbeat_loop(settings_, state_), "cluster heartbeat");
}

asio::awaitable<void> Cluster::stop() {
  auto st = state_;
  const auto& s = settings_;
  // The heartbeat first, so no beat registers this instance again after it left.
  co_await asio::co_spawn(st->strand, halt_heartbeat(st), asio::use_awaitable);
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back({"DEL", key(s, "inst", s.instance_id)});
  cmds.push_back({"SREM", s.prefix + "instances", s.instance_id});
  cmds.push_back({"DEL", key(s, "inst-calls", s.instance_id)});
  try {
    co_await st->beat_redis->pipeline(std::move(cmds));
  } catch (const std::exception& e) {
    spdlog::warn("cluster: could not unregister {} ({}); the others drop it after the TTL", s.instance_id, e.what());
  }
  st->beat_redis->stop();
  st->ask_redis->stop();
  asio::post(st->strand, [st] {
    st->stopped = true;
    st->timer.cancel();
  });
}

void Cluster::call_started(const std::string& sid, const std::string& tenant,
                           std::function<void(std::vector<std::string>)> waiting_texts) {
  {
    std::lock_guard lock(state_->mu);
    auto& held = state_->calls[sid];
    held.tenant = tenant;
    ++held.streams;
  }
  vox::spawn(state_->strand, register_call(settings_, state_, sid, tenant, std::move(waiting_texts)),
             "cluster registration");
}

void Cluster::call_ended(const std::string& sid) {
  std::string tenant;
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->calls.find(sid);
    if (it == state_->calls.end()) return;
    if (--it->second.streams > 0) return;  // a newer stream of the call still runs here
    tenant = std::move(it->second.tenant);
    state_->calls.erase(it);
  }
  vox::spawn(state_->strand, unregister_call(settings_, state_, sid, tenant), "cluster registration");
}

bool Cluster::holds(const std::string& sid) const { return still_held(state_, sid); }

namespace {
// A call key's value, "{id} {url}".
Owner owner_from(const std::string& value, const std::string& me) {
  Owner o;
  const auto space = value.find(' ');
  if (space == std::string::npos) return o;
  o.instance_id = value.substr(0, space);
  o.url = value.substr(space + 1);
  // Our own id on a call we do not hold: left by an earlier run, so nobody has it.
  o.kind = o.instance_id == me ? Owner::Kind::kNobody : Owner::Kind::kElsewhere;
  return o;
}
}  // namespace

asio::awaitable<Owner> Cluster::owner_of(std::string sid) {
  Owner o;
  if (holds(sid)) {
    o.kind = Owner::Kind::kHere;
    o.instance_id = settings_.instance_id;
    o.url = settings_.advertise_url;
    co_return o;
  }
  std::vector<std::string> get{"GET", key(settings_, "call", sid)};
  std::string failed;
  RedisReply r;
  try {
    r = co_await state_->ask_redis->command(std::move(get));
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (!failed.empty()) {
    o.kind = Owner::Kind::kUnreachable;
    o.detail = failed;
    co_return o;
  }
  if (r.nil() || r.error()) co_return o;
  co_return owner_from(r.str, settings_.instance_id);
}

asio::awaitable<bool> Cluster::admit(std::string kind, std::string tenant, std::string member, int limit,
                                     std::chrono::milliseconds hold) {
  const auto k = key(settings_, "limit:" + kind, tenant);
  const bool refreshed_here = hold.count() == 0;
  const auto ttl = refreshed_here ? ttl_ms(settings_) : std::to_string(hold.count());
  std::vector<std::string> eval{"EVAL", kAdmitScript, "1", k, ttl, std::to_string(limit), member};
  const auto r = co_await state_->ask_redis->command(std::move(eval));
  if (r.error()) throw RedisUnavailable("Redis refused the limit check: " + r.str);
  if (r.integer != 1) co_return false;
  if (!refreshed_here) co_return true;
  std::lock_guard lock(state_->mu);
  state_->members[k].insert(member);
  co_return true;
}

void Cluster::release(const std::string& kind, const std::string& tenant, const std::string& member) {
  const auto k = key(settings_, "limit:" + kind, tenant);
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->members.find(k);
    if (it != state_->members.end() && it->second.erase(member) != 0 && it->second.empty()) state_->members.erase(it);
  }
  vox::spawn(state_->strand, remove_member(state_, k, member), "cluster limit release");
}

asio::awaitable<void> Cluster::rename(std::string kind, std::string tenant, std::string from, std::string to,
                                      std::chrono::milliseconds hold) {
  std::vector<std::string> eval{"EVAL", kRenameScript, "1", key(settings_, "limit:" + kind, tenant), std::move(from),
                                std::move(to), std::to_string(hold.count())};
  co_await state_->ask_redis->command(std::move(eval));
}

namespace {
std::string waiters_key(const ClusterSettings& s, const std::string& tenant, const std::string& agent_id) {
  return key(s, "agent-wait", tenant + ":" + agent_id);
}

asio::awaitable<void> remove_waiter(std::shared_ptr<Cluster::State> st, std::string k, std::string entry) {
  std::vector<std::string> lrem{"LREM", std::move(k), "0", std::move(entry)};
  try {
    co_await st->beat_redis->command(std::move(lrem));
  } catch (const std::exception&) {
    // Left in the queue: whoever pops it finds the token unknown and takes the next.
  }
}
}  // namespace

asio::awaitable<void> Cluster::agent_wait(std::string tenant, std::string agent_id, std::string token) {
  std::vector<std::vector<std::string>> cmds;
  const auto k = waiters_key(settings_, tenant, agent_id);
  cmds.push_back({"RPUSH", k, settings_.instance_id + " " + token});
  cmds.push_back({"PEXPIRE", k, "86400000"});
  // (On the connection agent_unwait() uses too: a removal never overtakes its addition.)
  co_await state_->beat_redis->pipeline(std::move(cmds));
}

namespace {
asio::awaitable<void> push_front(std::shared_ptr<Cluster::State> st, std::string k, std::string entry) {
  std::vector<std::string> lpush{"LPUSH", std::move(k), std::move(entry)};
  try {
    co_await st->beat_redis->command(std::move(lpush));
  } catch (const std::exception& e) {
    spdlog::warn("cluster: a waiting client socket could not be queued again ({})", e.what());
  }
}
}  // namespace

void Cluster::agent_requeue(const std::string& tenant, const std::string& agent_id, const Waiter& waiter) {
  vox::spawn(state_->strand,
             push_front(state_, waiters_key(settings_, tenant, agent_id), waiter.instance_id + " " + waiter.token),
             "cluster waiter requeue");
}

void Cluster::agent_unwait(const std::string& tenant, const std::string& agent_id, const std::string& token) {
  vox::spawn(state_->strand,
             remove_waiter(state_, waiters_key(settings_, tenant, agent_id), settings_.instance_id + " " + token),
             "cluster waiter removal");
}

asio::awaitable<std::optional<Cluster::Waiter>> Cluster::agent_next(std::string tenant, std::string agent_id) {
  const auto k = waiters_key(settings_, tenant, agent_id);
  for (int tries = 0; tries < 100; ++tries) {
    std::vector<std::string> lpop{"LPOP", k};
    const auto r = co_await state_->beat_redis->command(std::move(lpop));
    if (r.nil() || r.error()) break;
    const auto space = r.str.find(' ');
    if (space == std::string::npos) continue;
    const std::string id = r.str.substr(0, space);
    if (id == settings_.instance_id) continue;  // (a waiter here would have been bound here)
    std::vector<std::string> get{"GET", key(settings_, "inst", id)};
    const auto url = co_await state_->beat_redis->command(std::move(get));
    if (url.nil() || url.error()) continue;  // that instance is gone
    Waiter w;
    w.instance_id = id;
    w.url = url.str;
    w.token = r.str.substr(space + 1);
    co_return w;
  }
  co_return std::nullopt;
}

asio::awaitable<Cluster::TextQueued> Cluster::queue_text(std::string sid, std::string text, int limit) {
  std::vector<std::string> eval{"EVAL", kQueueTextScript, "2", key(settings_, "call", sid),
                                key(settings_, "texts", sid), std::move(text), std::to_string(limit)};
  const auto r = co_await state_->beat_redis->command(std::move(eval));
  if (r.error()) throw RedisUnavailable("Redis refused to queue the text: " + r.str);
  TextQueued q;
  if (r.type == RedisReply::Type::kInteger) {
    q.kind = r.integer == 1 ? TextQueued::Kind::kQueued : TextQueued::Kind::kFull;
    co_return q;
  }
  q.kind = TextQueued::Kind::kHeld;
  q.owner = owner_from(r.str, settings_.instance_id);
  if (q.owner.kind == Owner::Kind::kNobody && holds(sid)) {
    q.owner.kind = Owner::Kind::kHere;
    q.owner.url = settings_.advertise_url;
  }
  co_return q;
}

asio::awaitable<std::vector<Cluster::Peer>> Cluster::peers() {
  std::vector<std::string> smembers{"SMEMBERS", settings_.prefix + "instances"};
  const auto all = co_await state_->ask_redis->command(std::move(smembers));
  if (all.error()) throw RedisUnavailable("Redis refused the instance list: " + all.str);
  std::vector<std::string> ids;
  std::vector<std::vector<std::string>> gets;
  for (const auto& e : all.elements)
    if (e.str != settings_.instance_id) {
      ids.push_back(e.str);
      gets.push_back({"GET", key(settings_, "inst", e.str)});
    }
  std::vector<Peer> out;
  if (ids.empty()) co_return out;
  const auto urls = co_await state_->ask_redis->pipeline(std::move(gets));
  for (std::size_t i = 0; i < ids.size() && i < urls.size(); ++i) {
    if (urls[i].nil() || urls[i].error()) continue;  // gone (about to be reaped)
    Peer p;
    p.instance_id = ids[i];
    p.url = urls[i].str;
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const Peer& a, const Peer& b) { return a.instance_id < b.instance_id; });
  co_return out;
}

asio::awaitable<std::int64_t> Cluster::calls_elsewhere(std::string tenant) {
  const auto others = co_await peers();
  std::int64_t n = 0;
  if (others.empty()) co_return n;
  std::vector<std::vector<std::string>> hvals;
  for (const auto& p : others) hvals.push_back({"HVALS", key(settings_, "inst-calls", p.instance_id)});
  const auto replies = co_await state_->ask_redis->pipeline(std::move(hvals));
  for (const auto& r : replies)
    for (const auto& e : r.elements)
      if (tenant.empty() || e.str == tenant) ++n;
  co_return n;
}

const RedisEndpoint& Cluster::redis_endpoint() const { return state_->ask_redis->endpoint(); }

bool Cluster::redis_up() const { return state_->ask_redis->connected() && state_->beat_redis->connected(); }

std::string Cluster::redis_error() const {
  auto e = state_->ask_redis->last_error();
  if (e.empty()) e = state_->beat_redis->last_error();
  return e;
}

std::uint64_t Cluster::calls_lost() const { return state_->calls_lost.load(); }

}  // namespace vox::cluster
