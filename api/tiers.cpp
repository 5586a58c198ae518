#include "api/tiers.h"

#include <utility>

#include "api/tiers_fields.h"

namespace orderguard::api {
namespace {

using detail::kCacheTierFields;
using detail::kOrderServiceFields;
using detail::kShardSetFields;
using detail::read_spec;

using nlohmann::json;

Error invalid(const std::vector<std::string>& errors) { return invalid_error(errors); }

std::vector<std::string> unique_names_errors(const std::vector<std::string>& names,
                                             const std::string& path) {
  return duplicate_errors(names, path);
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

template <typename Spec, typename Fields>
Result<Spec> decode_strict(const json& spec, FieldTrace* trace, const Fields& fields) {
  std::vector<std::string> problems;
  Spec out = decode_object<Spec>(NlohmannNode(spec), "spec", trace, &problems, fields);
  if (!problems.empty()) return invalid(problems);
  return out;
}

}  // namespace

Result<OrderServiceSpec> decode_order_service(const json& spec, FieldTrace* trace) {
  return decode_strict<OrderServiceSpec>(spec, trace, kOrderServiceFields);
}
OrderServiceSpec read_order_service(const json& spec) {
  return read_spec<OrderServiceSpec>(NlohmannNode(spec), kOrderServiceFields);
}

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
CacheTierSpec read_cache_tier(const json& spec) {
  return read_spec<CacheTierSpec>(NlohmannNode(spec), kCacheTierFields);
}

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
ShardSetSpec read_shard_set(const json& spec) {
  return read_spec<ShardSetSpec>(NlohmannNode(spec), kShardSetFields);
}

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
