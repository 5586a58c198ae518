// The tier resources (API group tiers.orderguard.io, version v1alpha1) as C++ types:
// OrderService, CacheTier and ShardSet, their specs, the defaults their CRDs declare,
// and their decoders. The one place that reads the spec of these kinds; everything
// else (operator, webhook) uses the types.
//
// Contracts:
//  - decode_* is structural: it reads every field it knows, refuses unknown
//    fields and wrong JSON types, and applies the CRD's defaults (the API server
//    applies them too; repeating them keeps unit tests and `route` honest).
//    Every error names the field path ("spec.zones[1].weight: ...").
//  - parse_* = decode_* + the semantic rules the CRD states in CEL (weights sum
//    to 100, unique zone names, min <= max, ...). All causes are listed in one
//    Error (code kInvalid), separated by "; ".
//  - read_* is decode_* at best effort, for checks that only want some fields of
//    an object that may not decode: what has the right type is read, the rest keeps
//    its default, and array elements keep their indices. It never fails.
//  - With a FieldTrace, decode_* records every field path it asks for, present
//    or not, with its JSON schema type, so a test can compare the decoder with
//    the CRD schema (api/test/crd_schema_test.cpp); see base/field_reader.h.
//  - All of them go through FieldReader, over an nlohmann DOM (the
//    operator's informer caches) or a JsonRef (the webhook's requests).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/field_reader.h"
#include "base/json_doc.h"
#include "base/result.h"

namespace orderguard::api {

inline constexpr const char* kGroup = "tiers.orderguard.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "tiers.orderguard.io/v1alpha1";

inline constexpr const char* kOrderServiceKind = "OrderService";
inline constexpr const char* kCacheTierKind = "CacheTier";
inline constexpr const char* kShardSetKind = "ShardSet";
// The resource (plural) names of the three kinds.
inline constexpr const char* kOrderServicesPlural = "orderservices";
inline constexpr const char* kCacheTiersPlural = "cachetiers";
inline constexpr const char* kShardSetsPlural = "shardsets";

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
  nlohmann::json status = nlohmann::json::object();  // as the API server holds it
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
Result<OrderServiceSpec> decode_order_service(const nlohmann::json& spec,
                                              FieldTrace* trace = nullptr);
Result<OrderServiceSpec> parse_order_service(const nlohmann::json& spec);
Result<CacheTierSpec> decode_cache_tier(const nlohmann::json& spec, FieldTrace* trace = nullptr);
Result<CacheTierSpec> parse_cache_tier(const nlohmann::json& spec);
Result<ShardSetSpec> decode_shard_set(const nlohmann::json& spec, FieldTrace* trace = nullptr);
Result<ShardSetSpec> parse_shard_set(const nlohmann::json& spec);

// Best effort (see above); `spec` may be anything, an absent or non-object spec reads as
// the defaults.
OrderServiceSpec read_order_service(const nlohmann::json& spec);
OrderServiceSpec read_order_service(JsonRef spec);
CacheTierSpec read_cache_tier(const nlohmann::json& spec);
CacheTierSpec read_cache_tier(JsonRef spec);
ShardSetSpec read_shard_set(const nlohmann::json& spec);
ShardSetSpec read_shard_set(JsonRef spec);

// The object's .spec, or null when it has none (no copy).
const nlohmann::json& spec_of(const nlohmann::json& object);

// Whole objects as the API server returns them (metadata + spec + status).
Result<OrderService> parse_order_service_object(const nlohmann::json& object);
Result<CacheTier> parse_cache_tier_object(const nlohmann::json& object);
Result<ShardSet> parse_shard_set_object(const nlohmann::json& object);

}  // namespace orderguard::api
