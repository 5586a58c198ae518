#include "api/tiers.h"

#include <utility>

namespace orderguard::api {
namespace {

using nlohmann::json;
using base::invalid_error;

template <typename N>
using Reader = base::FieldReader<N>;

Error invalid(const std::vector<std::string>& errors) { return invalid_error(errors); }

std::vector<std::string> unique_names_errors(const std::vector<std::string>& names,
                                             const std::string& path) {
  return base::duplicate_errors(names, path);
}

Result<ObjectMeta> parse_meta(const json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return make_error(ErrorCode::kInvalid, "metadata: must be an object");
  }
  const json& m = object["metadata"];
  ObjectMeta meta;
  meta.name = m.value("name", "");
  meta.ns = m.value("namespace", "");
  meta.uid = m.value("uid", "");
  meta.generation = m.value("generation", int64_t{0});
  if (meta.name.empty()) return make_error(ErrorCode::kInvalid, "metadata.name: is required");
  return meta;
}

// The decoders' bodies, one per kind, over either node adapter.
constexpr auto kOrderServiceFields = [](auto& r, OrderServiceSpec& s) {
  r.require("image");
  r.require("zones");
  r.string_into("image", s.image);
  r.integer32("port", s.port, 1, 65535);
  auto res = r.object("resources");
  res.string_map("requests", s.resource_requests);
  res.string_map("limits", s.resource_limits);
  res.finish();
  r.objects("env", [&](auto& e) {
    EnvVar v;
    e.require("name");
    e.string_into("name", v.name);
    e.string_into("value", v.value);
    s.env.push_back(std::move(v));
  });
  r.objects("zones", [&](auto& z) {
    Zone zone;
    z.require("name");
    z.require("weight");
    z.string_into("name", zone.name);
    z.integer32("weight", zone.weight, 0, 100);
    z.integer32("minReplicas", zone.min_replicas, 0, 1000);
    s.zones.push_back(std::move(zone));
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

constexpr auto kCacheTierFields = [](auto& r, CacheTierSpec& s) {
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
  redis.enum_into("maxmemoryPolicy", s.redis.maxmemory_policy,
                  {"allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl",
                   "noeviction"});
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
  if (auto n = bloom.integer("expectedItems", 1, INT64_MAX))
    s.protection.bloom_expected_items = n;
  bloom.integer32("falsePositiveRatePPM", s.protection.bloom_false_positive_rate_ppm, 1, 100000);
  bloom.finish();
  p.integer32("nullValueTTLSeconds", s.protection.null_value_ttl_seconds, 0, 3600);
  p.boolean_into("hotKeyMutex", s.protection.hot_key_mutex);
  p.strings("warmUpKeys", s.protection.warm_up_keys);
  p.finish();
};

constexpr auto kShardSetFields = [](auto& r, ShardSetSpec& s) {
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

template <typename Spec, typename Fields>
Result<Spec> decode_strict(const json& spec, FieldTrace* trace, const Fields& fields) {
  std::vector<std::string> problems;
  Spec out = base::decode_object<Spec>(base::NlohmannNode(spec), "spec", trace, &problems, fields);
  if (!problems.empty()) return invalid(problems);
  return out;
}

template <typename Spec, typename Node, typename Fields>
Spec read_spec(Node spec, const Fields& fields) {
  return base::decode_object<Spec>(spec, "spec", nullptr, nullptr, fields);
}

}  // namespace

Result<OrderServiceSpec> decode_order_service(const json& spec, FieldTrace* trace) {
  return decode_strict<OrderServiceSpec>(spec, trace, kOrderServiceFields);
}
OrderServiceSpec read_order_service(const json& spec) { return read_spec<OrderServiceSpec>(base::NlohmannNode(spec), kOrderServiceFields); }
OrderServiceSpec read_order_service(kube::JsonRef spec) { return read_spec<OrderServiceSpec>(base::JsonRefNode(spec), kOrderServiceFields); }

Result<OrderServiceSpec> parse_order_service(const json& spec) {
  auto decoded = decode_order_service(spec);
  if (!decoded.ok()) return decoded;
  const OrderServiceSpec& s = *decoded;
  std::vector<std::string> errors;
  if (s.image.empty()) errors.push_back("spec.image: must not be empty");
  if (s.zones.empty()) errors.push_back("spec.zones: at least one zone is required");
  std::vector<std::string> names;
  int sum = 0;
  for (const auto& z : s.zones) {
    names.push_back(z.name);
    sum += z.weight;
    if (z.name.empty()) errors.push_back("spec.zones: zone names must not be empty");
  }
  for (auto& e : unique_names_errors(names, "spec.zones"))
    errors.push_back(e + " (zone names must be unique)");
  if (!s.zones.empty() && sum != 100) {
    errors.push_back("spec.zones: zone weights must sum to 100 (they sum to " +
                     std::to_string(sum) + ")");
  }
  if (s.autoscaling) {
    if (s.autoscaling->min_replicas > s.autoscaling->max_replicas) {
      errors.push_back("spec.autoscaling: minReplicas must be <= maxReplicas");
    }
    if (s.autoscaling->min_replicas < static_cast<int32_t>(s.zones.size())) {
      errors.push_back("spec.autoscaling.minReplicas: must be at least the number of zones");
    }
  }
  if (s.failover.min_healthy_zones > static_cast<int32_t>(s.zones.size()) && !s.zones.empty()) {
    errors.push_back("spec.failover.minHealthyZones: must not exceed the number of zones");
  }
  if (!errors.empty()) return invalid(errors);
  return decoded;
}

Result<CacheTierSpec> decode_cache_tier(const json& spec, FieldTrace* trace) {
  return decode_strict<CacheTierSpec>(spec, trace, kCacheTierFields);
}
CacheTierSpec read_cache_tier(const json& spec) { return read_spec<CacheTierSpec>(base::NlohmannNode(spec), kCacheTierFields); }
CacheTierSpec read_cache_tier(kube::JsonRef spec) { return read_spec<CacheTierSpec>(base::JsonRefNode(spec), kCacheTierFields); }

Result<CacheTierSpec> parse_cache_tier(const json& spec) {
  auto decoded = decode_cache_tier(spec);
  if (!decoded.ok()) return decoded;
  auto errors = unique_names_errors(decoded->redis.zones, "spec.redis.zones");
  if (!errors.empty()) return invalid(errors);
  return decoded;
}

Result<ShardSetSpec> decode_shard_set(const json& spec, FieldTrace* trace) {
  return decode_strict<ShardSetSpec>(spec, trace, kShardSetFields);
}
ShardSetSpec read_shard_set(const json& spec) { return read_spec<ShardSetSpec>(base::NlohmannNode(spec), kShardSetFields); }
ShardSetSpec read_shard_set(kube::JsonRef spec) { return read_spec<ShardSetSpec>(base::JsonRefNode(spec), kShardSetFields); }

std::string default_shard_image(const std::string& engine) {
  return engine == kEngineMariaDb ? "mariadb:11.4" : "mysql:8.0";
}

std::string default_table_columns(const std::string& shard_key) {
  return "order_id BIGINT UNSIGNED NOT NULL, " + shard_key +
         " VARCHAR(64) NOT NULL, created_at DATETIME(3) NOT NULL, body JSON, "
         "PRIMARY KEY (order_id), KEY (" +
         shard_key + ")";
}

Result<ShardSetSpec> parse_shard_set(const json& spec) {
  auto decoded = decode_shard_set(spec);
  if (!decoded.ok()) return decoded;
  ShardSetSpec& s = *decoded;
  std::vector<std::string> errors = unique_names_errors(s.zones, "spec.zones");
  if (s.shard_key.empty()) errors.push_back("spec.shardKey: must not be empty");
  if (int64_t{s.databases} * s.tables_per_database > 65536) {
    errors.push_back("spec: databases x tablesPerDatabase must not exceed 65536 tables");
  }
  // The CRD's pattern: the list goes inside one statement of the schema SQL
  // the client reads line by line, so no statement end, no client command
  // (backslash) and no line break.
  for (unsigned char c : s.table_columns) {
    if (c == ';' || c == '\\' || c < 0x20 || c == 0x7f) {
      errors.push_back(
          "spec.tableColumns: must not contain ';', a backslash or control characters (it is "
          "the list inside one CREATE TABLE statement)");
      break;
    }
  }
  if (!errors.empty()) return invalid(errors);
  if (s.image.empty()) s.image = default_shard_image(s.engine);
  if (s.table_columns.empty()) s.table_columns = default_table_columns(s.shard_key);
  return decoded;
}

const json& spec_of(const json& object) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find("spec");
  return it == object.end() ? kNull : *it;
}

namespace {
template <typename T, typename Spec, typename ParseFn>
Result<T> parse_object(const json& object, ParseFn&& parse_spec) {
  auto meta = parse_meta(object);
  if (!meta.ok()) return meta.error();
  auto spec = parse_spec(spec_of(object));
  if (!spec.ok()) {
    Error e = spec.error();
    e.message = meta->ns + "/" + meta->name + ": " + e.message;
    return e;
  }
  T out;
  out.meta = std::move(meta).value();
  out.spec = std::move(spec).value();
  return out;
}
}  // namespace

Result<OrderService> parse_order_service_object(const json& object) {
  auto r = parse_object<OrderService, OrderServiceSpec>(object, parse_order_service);
  if (r.ok() && object.contains("status") && object["status"].is_object()) {
    r->status = object["status"];
  }
  return r;
}
Result<CacheTier> parse_cache_tier_object(const json& object) {
  return parse_object<CacheTier, CacheTierSpec>(object, parse_cache_tier);
}
Result<ShardSet> parse_shard_set_object(const json& object) {
  return parse_object<ShardSet, ShardSetSpec>(object, parse_shard_set);
}

}  // namespace orderguard::api
