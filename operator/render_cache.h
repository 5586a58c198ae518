// Desired children of a CacheTier (L2 Redis Cluster + client settings), as
// pure functions: JSON in, JSON out, no client. Every object carries the
// common labels and an ownerReference (controller=true) to the CacheTier.
//
// Names, for CacheTier "c": StatefulSet, client Service and PDB "c-redis";
// headless Service "c-redis-headless"; server ConfigMap "c-redis-config";
// client ConfigMap "c-client-config"; Jobs "c-redis-bootstrap" and
// "c-redis-rebalance-<shards>".
//
// Cluster size contract: the StatefulSet runs `cluster_shards` x
// (1 + replicasPerShard) pods, where cluster_shards is what the reconciler
// decided (see plan_cache), which is spec.redis.shards except while a scale
// down is refused. The bootstrap Job forms the cluster from every pod; a
// rebalance Job joins the pods of new shards (masters first, then their
// replicas) and moves slots onto the empty masters. Both wait for the pods
// they need to answer PING, so they can be created before the pods are up.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "operator/render.h"
#include "operator/types.h"

namespace orderguard::op {

inline constexpr const char* kCacheTierLabel = "tiers.orderguard.io/cachetier";
// Set by the user once the slots of the shards above N were moved away and
// those nodes were removed from the cluster: allows scaling down to N.
inline constexpr const char* kDrainedToShardsAnnotation = "tiers.orderguard.io/drained-to-shards";
// On Jobs: the shard count the Job forms or grows the cluster to.
inline constexpr const char* kTargetShardsAnnotation = "tiers.orderguard.io/target-shards";
inline constexpr int32_t kRedisPort = 6379;
inline constexpr int32_t kRedisBusPort = 16379;

std::string redis_config_map_name(const std::string& cache_tier);
std::string cache_client_config_map_name(const std::string& cache_tier);
std::string redis_bootstrap_job_name(const std::string& cache_tier);
std::string redis_rebalance_job_name(const std::string& cache_tier, int32_t to_shards);

int32_t redis_pods(int32_t shards, int32_t replicas_per_shard);
// "<sts>-<ordinal>.<headless>.<ns>.svc:6379" for ordinals [from, to).
std::vector<std::string> redis_pod_addresses(const CacheTier& tier, int32_t from, int32_t to);
// "4Gi" -> "4gb", "512Mi" -> "512mb" (Redis units are powers of 1024 too).
std::string redis_memory(const std::string& quantity);

// What this pass does with the cluster's size. `recorded_shards` is the shard
// count status says the cluster was formed or grown to (nullopt before the
// bootstrap Job exists); `drained_to` is the kDrainedToShardsAnnotation value.
struct CachePlan {
  int32_t cluster_shards = 0;  // what the StatefulSet is sized for
  bool scale_down_blocked = false;
  std::optional<int32_t> rebalance_from;  // a scale up from this many shards
};
CachePlan plan_cache(const CacheTierSpec& spec, std::optional<int32_t> recorded_shards,
                     std::optional<int32_t> drained_to);

json render_redis_config_map(const CacheTier& tier);
json render_redis_statefulset(const CacheTier& tier, int32_t cluster_shards);
json render_redis_headless_service(const CacheTier& tier);
json render_redis_client_service(const CacheTier& tier);
json render_redis_pdb(const CacheTier& tier);
json render_redis_bootstrap_job(const CacheTier& tier, int32_t shards);
json render_redis_rebalance_job(const CacheTier& tier, int32_t from_shards, int32_t to_shards);
json render_cache_client_config_map(const CacheTier& tier);

// Every desired child except Jobs, in apply order (configuration first).
std::vector<json> render_cache_children(const CacheTier& tier, const CachePlan& plan);

}  // namespace orderguard::op
