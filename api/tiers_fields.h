// The fields of each tier kind's spec, as one function per kind over FieldReader of
// either node adapter (internal to api/: tiers.cpp instantiates them for nlohmann DOMs,
// tiers_ref.cpp for JsonRefs, so a binary that reads only one model links only its code).
#pragma once

#include "api/tiers.h"

namespace orderguard::api::detail {

inline constexpr auto kOrderServiceFields = [](auto& r, OrderServiceSpec& s) {
  r.require("image");
  r.require("zones");
  r.string_into("image", s.image);
  r.integer32("port", s.port, 1, 65535);
  auto res = r.object("resources");
  res.string_map("requests", s.resource_requests);
  res.string_map("limits", s.resource_limits);
  res.finish();
  r.items("env", s.env, [](auto& e, EnvVar& v) {
    e.require("name");
    e.string_into("name", v.name);
    e.string_into("value", v.value);
  });
  r.items("zones", s.zones, [](auto& z, Zone& zone) {
    z.require("name");
    z.require("weight");
    z.string_into("name", zone.name);
    z.integer32("weight", zone.weight, 0, 100);
    z.integer32("minReplicas", zone.min_replicas, 0, 1000);
  });
  r.integer32("replicas", s.replicas, 0, 10000);
  bool has_autoscaling = false;
  auto as = r.object("autoscaling", &has_autoscaling);
  Autoscaling a;
  if (has_autoscaling) {
    as.require("minReplicas");
    as.require("maxReplicas");
  }
  as.integer32("minReplicas", a.min_replicas, 1, 10000);
  as.integer32("maxReplicas", a.max_replicas, 1, 10000);
  as.integer32("targetCPUUtilizationPercentage", a.target_cpu_utilization_percentage, 1, 100);
  as.integer32("targetRequestsPerSecondPerPod", a.target_requests_per_second_per_pod, 1, 1000000);
  as.finish();
  if (has_autoscaling) s.autoscaling = a;
  auto fo = r.object("failover");
  fo.integer32("unhealthyAfterSeconds", s.failover.unhealthy_after_seconds, 0, 86400);
  fo.integer32("minHealthyZones", s.failover.min_healthy_zones, 1, 10);
  fo.finish();
  bool has_ref = false;
  auto cache = r.object("cacheRef", &has_ref);
  if (has_ref) cache.require("name");
  cache.string_into("name", s.cache_ref);
  cache.finish();
  auto shards = r.object("shardSetRef", &has_ref);
  if (has_ref) shards.require("name");
  shards.string_into("name", s.shard_set_ref);
  shards.finish();
};

inline constexpr auto kCacheTierFields = [](auto& r, CacheTierSpec& s) {
  r.require("redis");
  auto l1 = r.object("l1");
  l1.integer32("maxEntries", s.l1.max_entries, 0, 100000000);
  l1.integer32("ttlSeconds", s.l1.ttl_seconds, 1, 86400);
  l1.integer32("ttlJitterPercent", s.l1.ttl_jitter_percent, 0, 50);
  l1.finish();
  auto redis = r.object("redis");
  redis.string_into("image", s.redis.image);
  redis.integer32("shards", s.redis.shards, 3, 100);
  redis.integer32("replicasPerShard", s.redis.replicas_per_shard, 0, 5);
  redis.string_into("memory", s.redis.memory);
  redis.enum_into(
      "maxmemoryPolicy", s.redis.maxmemory_policy,
      {"allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl", "noeviction"});
  redis.strings("zones", s.redis.zones);
  auto storage = redis.object("storage");
  storage.string_into("size", s.redis.storage_size);
  storage.string_into("storageClassName", s.redis.storage_class_name);
  storage.finish();
  redis.finish();
  auto p = r.object("protection");
  bool has_bloom = false;
  auto bloom = p.object("bloomFilter", &has_bloom);
  if (has_bloom) bloom.require("expectedItems");
  if (auto n = bloom.integer("expectedItems", 1, INT64_MAX)) s.protection.bloom_expected_items = n;
  bloom.integer32("falsePositiveRatePPM", s.protection.bloom_false_positive_rate_ppm, 1, 100000);
  bloom.finish();
  p.integer32("nullValueTTLSeconds", s.protection.null_value_ttl_seconds, 0, 3600);
  p.boolean_into("hotKeyMutex", s.protection.hot_key_mutex);
  p.strings("warmUpKeys", s.protection.warm_up_keys);
  p.finish();
};

inline constexpr auto kShardSetFields = [](auto& r, ShardSetSpec& s) {
  r.require("shardKey");
  r.require("databases");
  r.enum_into("engine", s.engine, {kEngineMySql, kEngineMariaDb});
  r.string_into("shardKey", s.shard_key);
  r.enum_into("strategy", s.strategy, {"hash", "range"});
  r.integer32("databases", s.databases, 1, 1024);
  r.integer32("tablesPerDatabase", s.tables_per_database, 1, 1024);
  r.enum_into("timeSplit", s.time_split, {"none", "monthly", "daily"});
  r.integer32("replicasPerShard", s.replicas_per_shard, 0, 5);
  r.string_into("image", s.image);
  r.string_into("tableColumns", s.table_columns);
  auto storage = r.object("storage");
  storage.string_into("size", s.storage_size);
  storage.string_into("storageClassName", s.storage_class_name);
  storage.finish();
  r.strings("zones", s.zones);
  r.enum_into("deletionPolicy", s.deletion_policy, {"Retain", "Delete"});
};

template <typename Spec, typename Node, typename Fields>
Spec read_spec(Node spec, const Fields& fields) {
  return decode_object<Spec>(spec, "spec", nullptr, nullptr, fields);
}

}  // namespace orderguard::api::detail
