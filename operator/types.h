// C++ types of the tier resources (API group tiers.orderguard.io/v1alpha1)
// and their parsers.
//
// Contracts:
//  - decode_* is structural: it reads every field it knows, refuses unknown
//    fields and wrong JSON types, and applies the CRD's defaults (the API server
//    applies them too; repeating them keeps unit tests and `route` honest).
//    Every error names the field path ("spec.zones[1].weight: ...").
//  - parse_* = decode_* + the semantic rules the CRD states in CEL (weights sum
//    to 100, unique zone names, min <= max, ...). All causes are listed in one
//    Error (code kInvalid), separated by "; ".
//  - With a FieldTrace, decode_* records every field path it asks for, present
//    or not, with its JSON schema type, so a test can compare the parser with
//    the CRD schema (operator/test/crd_schema_test.cpp). Paths: "spec.zones"
//    (array), "spec.zones[]" (its items), "spec.zones[].name",
//    "spec.resources.requests{}" (values of a string map).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::op {

using nlohmann::json;

inline constexpr const char* kGroup = "tiers.orderguard.io";
inline constexpr const char* kApiVersion = "tiers.orderguard.io/v1alpha1";

const kube::Resource& order_services_resource();
const kube::Resource& cache_tiers_resource();
const kube::Resource& shard_sets_resource();

// path -> JSON schema type ("string", "integer", "boolean", "object", "array").
using FieldTrace = std::map<std::string, std::string>;

// Name, namespace, uid and generation: what children and status need.
struct ObjectMeta {
  std::string name;
  std::string ns;
  std::string uid;
  int64_t generation = 0;
};

// ---- OrderService ----
struct Zone {
  std::string name;  // a topology.kubernetes.io/zone value
  int32_t weight = 0;
  int32_t min_replicas = 1;
};

struct EnvVar {
  std::string name;
  std::string value;
};

struct Autoscaling {
  int32_t min_replicas = 1;
  int32_t max_replicas = 1;
  int32_t target_cpu_utilization_percentage = 70;
  int32_t target_requests_per_second_per_pod = 100;
};

struct Failover {
  int32_t unhealthy_after_seconds = 60;
  int32_t min_healthy_zones = 1;
};

struct OrderServiceSpec {
  std::string image;
  int32_t port = 8080;
  std::map<std::string, std::string> resource_requests;
  std::map<std::string, std::string> resource_limits;
  std::vector<EnvVar> env;
  std::vector<Zone> zones;
  int32_t replicas = 3;
  std::optional<Autoscaling> autoscaling;
  Failover failover;
  std::string cache_ref;      // "" when unset
  std::string shard_set_ref;  // "" when unset
};

struct OrderService {
  ObjectMeta meta;
  OrderServiceSpec spec;
  json status = json::object();
};

// ---- CacheTier ----
struct CacheTierSpec {
  struct L1 {
    int32_t max_entries = 10000;
    int32_t ttl_seconds = 60;
    int32_t ttl_jitter_percent = 10;
  } l1;
  struct Redis {
    std::string image = "redis:7.2";
    int32_t shards = 3;
    int32_t replicas_per_shard = 1;
    std::string memory = "1Gi";
    std::string maxmemory_policy = "allkeys-lru";
    std::vector<std::string> zones;
    std::string storage_size = "10Gi";
    std::string storage_class_name;  // "" = the cluster's default class
  } redis;
  struct Protection {
    std::optional<int64_t> bloom_expected_items;  // no bloom filter when unset
    int32_t bloom_false_positive_rate_ppm = 10000;
    int32_t null_value_ttl_seconds = 30;
    bool hot_key_mutex = true;
    std::vector<std::string> warm_up_keys;
  } protection;
};

struct CacheTier {
  ObjectMeta meta;
  CacheTierSpec spec;
};

// ---- ShardSet ----
inline constexpr const char* kEngineMySql = "mysql";
inline constexpr const char* kEngineMariaDb = "mariadb";

struct ShardSetSpec {
  std::string engine = kEngineMySql;  // mysql | mariadb; the CRD forbids changing it
  std::string shard_key;
  std::string strategy = "hash";  // hash | range
  int32_t databases = 1;
  int32_t tables_per_database = 1;
  std::string time_split = "none";  // none | monthly | daily
  int32_t replicas_per_shard = 1;
  // Defaults that depend on other fields, which a CRD default cannot express:
  // decode leaves them empty when absent and parse_shard_set fills them in
  // (image: default_shard_image(engine); table_columns:
  // default_table_columns(shard_key)).
  std::string image;
  std::string table_columns;  // the column and index list inside CREATE TABLE (...)
  std::string storage_size = "100Gi";
  std::string storage_class_name;
  std::vector<std::string> zones;
  std::string deletion_policy = "Retain";  // Retain | Delete
};

struct ShardSet {
  ObjectMeta meta;
  ShardSetSpec spec;
};

// "mysql:8.0" for mysql, "mariadb:11.4" for mariadb.
std::string default_shard_image(const std::string& engine);
// order_id BIGINT UNSIGNED primary key, the shard key (indexed), created_at and
// a JSON body.
std::string default_table_columns(const std::string& shard_key);

// `spec` is the object's .spec.
Result<OrderServiceSpec> decode_order_service(const json& spec, FieldTrace* trace = nullptr);
Result<OrderServiceSpec> parse_order_service(const json& spec);
Result<CacheTierSpec> decode_cache_tier(const json& spec, FieldTrace* trace = nullptr);
Result<CacheTierSpec> parse_cache_tier(const json& spec);
Result<ShardSetSpec> decode_shard_set(const json& spec, FieldTrace* trace = nullptr);
Result<ShardSetSpec> parse_shard_set(const json& spec);

// Whole objects as the API server returns them (metadata + spec + status).
Result<OrderService> parse_order_service_object(const json& object);
Result<CacheTier> parse_cache_tier_object(const json& object);
Result<ShardSet> parse_shard_set_object(const json& object);

}  // namespace orderguard::op
