#include "app/cluster_options.hpp"

namespace vox::app {

void add_cluster_options(CLI::App& cmd, ServerConfig& c) {
  auto& k = c.cluster;
  cmd.add_option("--redis-url", k.redis_url,
                 "Run as one instance of a cluster: Redis (redis://[:password@]host:port[/db], rediss:// for TLS) "
                 "records which instance holds each call, so control actions, client sockets and /generate reach it "
                 "from any instance (docs/deploy.md)")
      ->envname("REDIS_URL");
  cmd.add_option("--redis-ca-file", k.redis_ca_file, "CA bundle for a rediss:// Redis (default: the system's)")
      ->envname("REDIS_CA_FILE");
  cmd.add_option("--advertise-url", k.advertise_url,
                 "The URL the other instances reach this one at, e.g. http://10.0.0.5:8001 (default: http://<host "
                 "name>:<port>)")
      ->envname("VOX_ADVERTISE_URL");
  cmd.add_option("--cluster-heartbeat-ms", k.heartbeat_ms, "How often this instance refreshes its calls in Redis")
      ->envname("CLUSTER_HEARTBEAT_MS")->check(CLI::Range(50, 60000))->capture_default_str();
  cmd.add_option("--cluster-ttl-ms", k.ttl_ms,
                 "An instance silent this long is lost: its calls end with reason instance_lost (at least twice "
                 "the heartbeat)")
      ->envname("CLUSTER_TTL_MS")->check(CLI::Range(100, 600000))->capture_default_str();
  cmd.add_option("--redis-timeout-ms", k.redis_timeout_ms,
                 "Longest wait for one Redis command; past it Redis counts as unreachable (actions on other "
                 "instances' calls answer 503, local calls go on)")
      ->envname("REDIS_TIMEOUT_MS")->check(CLI::Range(10, 60000))->capture_default_str();
  cmd.add_option("--max-calls-per-company", k.max_calls_per_company,
                 "Concurrent calls one company may have (placing or registering more answers 429), across the "
                 "cluster with --redis-url, else on this instance; 0 = no limit")
      ->envname("MAX_CALLS_PER_COMPANY")->check(CLI::Range(0, 1000000))->capture_default_str();
}

}  // namespace vox::app
