#include "operator/render_cache.h"

#include <algorithm>

namespace orderguard::op {
namespace {

json cache_selector(const CacheTier& tier) { return {{kCacheTierLabel, tier.meta.name}}; }

json cache_labels(const CacheTier& tier) {
  return {{"app.kubernetes.io/name", "cachetier"},
          {"app.kubernetes.io/instance", tier.meta.name},
          {"app.kubernetes.io/component", "redis"},
          {"app.kubernetes.io/managed-by", kManagedBy},
          {kCacheTierLabel, tier.meta.name}};
}

json cache_metadata(const CacheTier& tier, const std::string& name) {
  return {{"name", name},
          {"namespace", tier.meta.ns},
          {"labels", cache_labels(tier)},
          {"ownerReferences", json::array({owner_reference(tier.meta, "CacheTier")})}};
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// A shell loop that waits until every address answers PING: Jobs may be
// created before the pods they talk to are scheduled.
std::string wait_for_pings(const std::vector<std::string>& addresses) {
  std::vector<std::string> hosts;
  for (const auto& a : addresses) hosts.push_back(a.substr(0, a.rfind(':')));
  return "for h in " + join(hosts, " ") + "; do until redis-cli -h \"$h\" -p " +
         std::to_string(kRedisPort) + " ping | grep -q PONG; do sleep 2; done; done";
}

json redis_job(const CacheTier& tier, const std::string& name, int32_t target_shards,
               const std::string& script) {
  json meta = cache_metadata(tier, name);
  meta["annotations"] = {{kTargetShardsAnnotation, std::to_string(target_shards)}};
  json container = {{"name", "redis-cli"},
                    {"image", tier.spec.redis.image},
                    {"command", json::array({"sh", "-c", script})}};
  return {
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata", meta},
      {"spec",
       {{"backoffLimit", 10},
        {"template",
         {{"metadata", {{"labels", {{kCacheTierLabel, tier.meta.name}}}}},
          {"spec", {{"restartPolicy", "OnFailure"}, {"containers", json::array({container})}}}}}}}};
}

}  // namespace

std::string redis_config_map_name(const std::string& c) { return c + "-redis-config"; }
std::string cache_client_config_map_name(const std::string& c) { return c + "-client-config"; }
std::string redis_bootstrap_job_name(const std::string& c) { return c + "-redis-bootstrap"; }
std::string redis_rebalance_job_name(const std::string& c, int32_t to_shards) {
  return c + "-redis-rebalance-" + std::to_string(to_shards);
}

int32_t redis_pods(int32_t shards, int32_t replicas_per_shard) {
  return shards * (1 + replicas_per_shard);
}

std::vector<std::string> redis_pod_addresses(const CacheTier& tier, int32_t from, int32_t to) {
  const std::string sts = redis_statefulset_name(tier.meta.name);
  const std::string headless = redis_headless_service_name(tier.meta.name);
  std::vector<std::string> out;
  for (int32_t i = from; i < to; ++i) {
    out.push_back(sts + "-" + std::to_string(i) + "." + headless + "." + tier.meta.ns +
                  ".svc:" + std::to_string(kRedisPort));
  }
  return out;
}

std::string redis_memory(const std::string& quantity) {
  // The CRD pattern is ^[0-9]+(Mi|Gi)$.
  if (quantity.size() > 2) {
    const std::string unit = quantity.substr(quantity.size() - 2);
    const std::string number = quantity.substr(0, quantity.size() - 2);
    if (unit == "Gi") return number + "gb";
    if (unit == "Mi") return number + "mb";
  }
  return quantity;
}

CachePlan plan_cache(const CacheTierSpec& spec, std::optional<int32_t> recorded_shards,
                     std::optional<int32_t> drained_to) {
  CachePlan plan;
  const int32_t want = spec.redis.shards;
  plan.cluster_shards = want;
  if (!recorded_shards || *recorded_shards == want) return plan;
  if (want > *recorded_shards) {
    plan.rebalance_from = *recorded_shards;
    return plan;
  }
  // Removing pods whose masters still hold slots loses those keys' shard.
  if (drained_to != want) {
    plan.cluster_shards = *recorded_shards;
    plan.scale_down_blocked = true;
  }
  return plan;
}

json render_redis_config_map(const CacheTier& tier) {
  const auto& r = tier.spec.redis;
  std::string conf;
  conf += "port " + std::to_string(kRedisPort) + "\n";
  conf += "cluster-enabled yes\n";
  // On the data volume's path so a restarted pod keeps its node ID and slots.
  conf += "cluster-config-file /data/nodes.conf\n";
  conf += "cluster-node-timeout 5000\n";
  // Peers are addressed by stable DNS names, not pod IPs that change on restart.
  conf += "cluster-preferred-endpoint-type hostname\n";
  conf += "maxmemory " + redis_memory(r.memory) + "\n";
  conf += "maxmemory-policy " + r.maxmemory_policy + "\n";
  conf += "appendonly yes\n";
  conf += "protected-mode no\n";
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", cache_metadata(tier, redis_config_map_name(tier.meta.name))},
          {"data", {{"redis.conf", conf}}}};
}

json render_redis_statefulset(const CacheTier& tier, int32_t cluster_shards) {
  const auto& r = tier.spec.redis;
  const std::string headless = redis_headless_service_name(tier.meta.name);
  // Each pod announces its own stable name so clients outside the pod network
  // of the moment (and restarted peers) reach it.
  const std::string start =
      "exec redis-server /etc/redis/redis.conf --cluster-announce-hostname "
      "\"$(hostname).${HEADLESS}.${NAMESPACE}.svc\"";
  json container = {
      {"name", "redis"},
      {"image", r.image},
      {"command", json::array({"sh", "-c", start})},
      {"env",
       json::array({{{"name", "HEADLESS"}, {"value", headless}},
                    {{"name", "NAMESPACE"},
                     {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}})},
      {"ports", json::array({{{"name", "redis"}, {"containerPort", kRedisPort}},
                             {{"name", "cluster-bus"}, {"containerPort", kRedisBusPort}}})},
      {"resources", {{"requests", {{"memory", r.memory}}}}},
      {"readinessProbe",
       {{"exec", {{"command", json::array({"redis-cli", "ping"})}}}, {"periodSeconds", 5}}},
      {"volumeMounts", json::array({{{"name", "config"}, {"mountPath", "/etc/redis"}},
                                    {{"name", "data"}, {"mountPath", "/data"}}})},
  };
  // Spread copies over zones (hard when zones are listed: a zone outage must
  // leave every shard a copy) and over nodes (soft: small test clusters).
  json spread = json::array();
  json pod_spec = {
      {"containers", json::array({container})},
      {"volumes",
       json::array({{{"name", "config"},
                     {"configMap", {{"name", redis_config_map_name(tier.meta.name)}}}}})}};
  if (!r.zones.empty()) {
    spread.push_back({{"maxSkew", 1},
                      {"topologyKey", kZoneLabel},
                      {"whenUnsatisfiable", "DoNotSchedule"},
                      {"labelSelector", {{"matchLabels", cache_selector(tier)}}}});
    pod_spec["affinity"]["nodeAffinity"] = {
        {"requiredDuringSchedulingIgnoredDuringExecution",
         {{"nodeSelectorTerms",
           json::array({{{"matchExpressions", json::array({{{"key", kZoneLabel},
                                                            {"operator", "In"},
                                                            {"values", r.zones}}})}}})}}}};
  }
  spread.push_back({{"maxSkew", 1},
                    {"topologyKey", "kubernetes.io/hostname"},
                    {"whenUnsatisfiable", "ScheduleAnyway"},
                    {"labelSelector", {{"matchLabels", cache_selector(tier)}}}});
  pod_spec["topologySpreadConstraints"] = spread;
  json pvc_spec = {{"accessModes", json::array({"ReadWriteOnce"})},
                   {"resources", {{"requests", {{"storage", r.storage_size}}}}}};
  if (!r.storage_class_name.empty()) pvc_spec["storageClassName"] = r.storage_class_name;
  pod_spec["affinity"]["podAntiAffinity"] = {
      {"preferredDuringSchedulingIgnoredDuringExecution",
       json::array({{{"weight", 100},
                     {"podAffinityTerm",
                      {{"topologyKey", "kubernetes.io/hostname"},
                       {"labelSelector", {{"matchLabels", cache_selector(tier)}}}}}}})}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", cache_metadata(tier, redis_statefulset_name(tier.meta.name))},
          {"spec",
           {{"replicas", redis_pods(cluster_shards, r.replicas_per_shard)},
            {"serviceName", headless},
            // Cluster members find each other through the bootstrap Job, not
            // through start order: start them all at once.
            {"podManagementPolicy", "Parallel"},
            {"selector", {{"matchLabels", cache_selector(tier)}}},
            {"template", {{"metadata", {{"labels", cache_labels(tier)}}}, {"spec", pod_spec}}},
            // A member's node ID and slots live in /data/nodes.conf: a Pod that
            // comes back with its volume rejoins as the same cluster node.
            {"volumeClaimTemplates",
             json::array({{{"metadata", {{"name", "data"}, {"labels", cache_labels(tier)}}},
                           {"spec", pvc_spec}}})},
            // The cache is rebuilt from the databases: its volumes go with it. A
            // scale down keeps them until the operator has drained the members.
            {"persistentVolumeClaimRetentionPolicy",
             {{"whenDeleted", "Delete"}, {"whenScaled", "Retain"}}}}}};
}

json render_redis_headless_service(const CacheTier& tier) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", cache_metadata(tier, redis_headless_service_name(tier.meta.name))},
      {"spec",
       {{"clusterIP", "None"},
        // Members must resolve each other before they are Ready: readiness
        // needs the cluster, and the cluster needs the names.
        {"publishNotReadyAddresses", true},
        {"selector", cache_selector(tier)},
        {"ports",
         json::array({{{"name", "redis"}, {"port", kRedisPort}, {"protocol", "TCP"}},
                      {{"name", "cluster-bus"}, {"port", kRedisBusPort}, {"protocol", "TCP"}}})}}}};
}

json render_redis_client_service(const CacheTier& tier) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", cache_metadata(tier, redis_client_service_name(tier.meta.name))},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", cache_selector(tier)},
            {"ports", json::array({{{"name", "redis"},
                                    {"port", kRedisPort},
                                    {"targetPort", "redis"},
                                    {"protocol", "TCP"}}})}}}};
}

json render_redis_pdb(const CacheTier& tier) {
  return {{"apiVersion", "policy/v1"},
          {"kind", "PodDisruptionBudget"},
          {"metadata", cache_metadata(tier, redis_statefulset_name(tier.meta.name))},
          {"spec",
           {{"maxUnavailable", 1},
            {"selector", {{"matchLabels", cache_selector(tier)}}},
            {"unhealthyPodEvictionPolicy", "AlwaysAllow"}}}};
}

json render_redis_bootstrap_job(const CacheTier& tier, int32_t shards) {
  const auto all =
      redis_pod_addresses(tier, 0, redis_pods(shards, tier.spec.redis.replicas_per_shard));
  const std::string script = wait_for_pings(all) + "; redis-cli --cluster create " +
                             join(all, " ") + " --cluster-replicas " +
                             std::to_string(tier.spec.redis.replicas_per_shard) + " --cluster-yes";
  return redis_job(tier, redis_bootstrap_job_name(tier.meta.name), shards, script);
}

json render_redis_rebalance_job(const CacheTier& tier, int32_t from_shards, int32_t to_shards) {
  const int32_t r = tier.spec.redis.replicas_per_shard;
  const std::string seed = redis_pod_addresses(tier, 0, 1)[0];
  const int32_t old_pods = redis_pods(from_shards, r);
  const int32_t new_masters_end = old_pods + (to_shards - from_shards);
  const auto masters = redis_pod_addresses(tier, old_pods, new_masters_end);
  const auto replicas = redis_pod_addresses(tier, new_masters_end, redis_pods(to_shards, r));
  std::vector<std::string> steps;
  steps.push_back(wait_for_pings(redis_pod_addresses(tier, 0, redis_pods(to_shards, r))));
  // The cluster must be formed (bootstrap done) before it can grow: every slot
  // has an owner. A full `check` would not do as the wait: after an attempt that
  // stopped mid-migration it fails for good on the slot left open.
  steps.push_back("until redis-cli --cluster check " + seed +
                  " | grep -q 'All 16384 slots covered'; do sleep 5; done");
  // A slot left migrating/importing by an earlier attempt blocks add-node and
  // rebalance: finish moving its keys first (`fix` moves them, it drops none).
  steps.push_back("{ redis-cli --cluster check " + seed + " || redis-cli --cluster fix " + seed +
                  " --cluster-yes; }");
  // A node already in the cluster is refused by add-node: skip it, so a retried
  // Job picks up where it stopped.
  for (const auto& m : masters) {
    steps.push_back("redis-cli --cluster add-node " + m + " " + seed + " || true");
  }
  // Without --cluster-master-id, redis-cli attaches a replica to the master
  // with the fewest replicas: the new, empty ones.
  for (const auto& s : replicas) {
    steps.push_back("redis-cli --cluster add-node " + s + " " + seed + " --cluster-slave || true");
  }
  steps.push_back("sleep 5");
  steps.push_back("redis-cli --cluster rebalance " + seed + " --cluster-use-empty-masters");
  return redis_job(tier, redis_rebalance_job_name(tier.meta.name, to_shards), to_shards,
                   join(steps, " && "));
}

json render_cache_client_config_map(const CacheTier& tier) {
  const auto& c = tier.spec;
  const int32_t pods = redis_pods(c.redis.shards, c.redis.replicas_per_shard);
  // A few members are enough for a cluster client to discover the rest.
  const auto seeds = redis_pod_addresses(tier, 0, std::min(pods, 6));
  json data = {
      {"L1_MAX_ENTRIES", std::to_string(c.l1.max_entries)},
      {"L1_TTL_SECONDS", std::to_string(c.l1.ttl_seconds)},
      {"L1_TTL_JITTER_PERCENT", std::to_string(c.l1.ttl_jitter_percent)},
      {"REDIS_ENDPOINT", redis_client_service_name(tier.meta.name) + "." + tier.meta.ns +
                             ".svc:" + std::to_string(kRedisPort)},
      {"REDIS_SEEDS", join(seeds, ",")},
      {"NULL_VALUE_TTL_SECONDS", std::to_string(c.protection.null_value_ttl_seconds)},
      {"HOT_KEY_MUTEX", c.protection.hot_key_mutex ? "true" : "false"},
      {"BLOOM_FILTER_ENABLED", c.protection.bloom_expected_items ? "true" : "false"},
      {"WARM_UP_KEYS", join(c.protection.warm_up_keys, "\n")},
  };
  if (c.protection.bloom_expected_items) {
    data["BLOOM_EXPECTED_ITEMS"] = std::to_string(*c.protection.bloom_expected_items);
    data["BLOOM_FALSE_POSITIVE_RATE_PPM"] =
        std::to_string(c.protection.bloom_false_positive_rate_ppm);
  }
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", cache_metadata(tier, cache_client_config_map_name(tier.meta.name))},
          {"data", data}};
}

std::vector<json> render_cache_children(const CacheTier& tier, const CachePlan& plan) {
  return {render_redis_config_map(tier),
          render_cache_client_config_map(tier),
          render_redis_headless_service(tier),
          render_redis_client_service(tier),
          render_redis_statefulset(tier, plan.cluster_shards),
          render_redis_pdb(tier)};
}

}  // namespace orderguard::op
