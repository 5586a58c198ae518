#include "operator/types.h"

#include <set>
#include <utility>

namespace orderguard::op {
namespace {

// Reads one JSON object strictly: each accessor consumes a key, finish()
// reports the keys nobody asked for. Errors accumulate so one answer lists
// every cause.
class FieldReader {
 public:
  FieldReader(const json* object, std::string path, std::string trace_path, FieldTrace* trace,
              std::vector<std::string>* errors)
      : object_(object),
        path_(std::move(path)),
        trace_path_(std::move(trace_path)),
        trace_(trace),
        errors_(errors) {}

  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max) {
    const json* v = field(key, "integer");
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) {
      fail(key, "must be an integer");
      return std::nullopt;
    }
    int64_t n = v->get<int64_t>();
    if (n < min || n > max) {
      fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return n;
  }
  void integer32(const std::string& key, int32_t& out, int32_t min, int32_t max) {
    if (auto n = integer(key, min, max)) out = static_cast<int32_t>(*n);
  }
  std::optional<std::string> string(const std::string& key) {
    const json* v = field(key, "string");
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      fail(key, "must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }
  void string_into(const std::string& key, std::string& out) {
    if (auto s = string(key)) out = *s;
  }
  void enum_into(const std::string& key, std::string& out, const std::set<std::string>& allowed) {
    auto s = string(key);
    if (!s) return;
    if (!allowed.contains(*s)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(key, "must be one of " + list);
      return;
    }
    out = *s;
  }
  void boolean_into(const std::string& key, bool& out) {
    const json* v = field(key, "boolean");
    if (v == nullptr) return;
    if (!v->is_boolean()) {
      fail(key, "must be a boolean");
      return;
    }
    out = v->get<bool>();
  }
  // A nested object; absent objects read as {} so their fields are still traced.
  FieldReader object(const std::string& key, bool* present = nullptr) {
    const json* v = field(key, "object");
    if (present != nullptr) *present = v != nullptr && v->is_object();
    if (v != nullptr && !v->is_object()) {
      fail(key, "must be an object");
      v = nullptr;
    }
    return FieldReader(v == nullptr ? &kEmpty : v, child(key), trace_child(key), trace_, errors_);
  }
  // Objects of an array; `each` is called with a reader per element. When the
  // array is absent, `each` runs once on {} in trace mode so item fields are traced.
  template <typename Fn>
  void objects(const std::string& key, Fn&& each) {
    const json* v = field(key, "array");
    if (trace_ != nullptr) (*trace_)[trace_child(key) + "[]"] = "object";
    if (v != nullptr && !v->is_array()) {
      fail(key, "must be an array");
      return;
    }
    if (v == nullptr) {
      if (trace_ != nullptr) {
        FieldReader r(&kEmpty, child(key) + "[]", trace_child(key) + "[]", trace_, nullptr);
        each(r);
      }
      return;
    }
    for (size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      std::string p = child(key) + "[" + std::to_string(i) + "]";
      if (!item.is_object()) {
        errors_->push_back(p + ": must be an object");
        continue;
      }
      FieldReader r(&item, p, trace_child(key) + "[]", trace_, errors_);
      each(r);
      r.finish();
    }
  }
  void strings(const std::string& key, std::vector<std::string>& out) {
    const json* v = field(key, "array");
    if (trace_ != nullptr) (*trace_)[trace_child(key) + "[]"] = "string";
    if (v == nullptr) return;
    if (!v->is_array()) {
      fail(key, "must be an array");
      return;
    }
    out.clear();
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) {
        errors_->push_back(child(key) + "[" + std::to_string(i) + "]: must be a string");
        continue;
      }
      out.push_back((*v)[i].get<std::string>());
    }
  }
  void string_map(const std::string& key, std::map<std::string, std::string>& out) {
    const json* v = field(key, "object");
    if (trace_ != nullptr) (*trace_)[trace_child(key) + "{}"] = "string";
    if (v == nullptr) return;
    if (!v->is_object()) {
      fail(key, "must be an object");
      return;
    }
    for (const auto& [k, val] : v->items()) {
      if (!val.is_string()) {
        errors_->push_back(child(key) + "." + k + ": must be a string");
        continue;
      }
      out[k] = val.get<std::string>();
    }
  }
  void require(const std::string& key) {
    if (!object_->contains(key)) fail(key, "is required");
  }
  // Unknown keys are errors: a field the CRD has but the parser ignores is drift.
  void finish() {
    if (errors_ == nullptr) return;
    for (const auto& [k, v] : object_->items()) {
      if (!seen_.contains(k)) errors_->push_back(child(k) + ": unknown field");
    }
  }

 private:
  const json* field(const std::string& key, const char* type) {
    seen_.insert(key);
    if (trace_ != nullptr) (*trace_)[trace_child(key)] = type;
    auto it = object_->find(key);
    if (it == object_->end() || it->is_null()) return nullptr;
    return &*it;
  }
  void fail(const std::string& key, const std::string& message) {
    if (errors_ != nullptr) errors_->push_back(child(key) + ": " + message);
  }
  std::string child(const std::string& key) const { return path_ + "." + key; }
  std::string trace_child(const std::string& key) const { return trace_path_ + "." + key; }

  static const json kEmpty;
  const json* object_;
  std::string path_;
  std::string trace_path_;
  FieldTrace* trace_;
  std::vector<std::string>* errors_;
  std::set<std::string> seen_;
};

const json FieldReader::kEmpty = json::object();

Error invalid(const std::vector<std::string>& errors) {
  std::string message;
  for (const auto& e : errors) message += (message.empty() ? "" : "; ") + e;
  return make_error(ErrorCode::kInvalid, message);
}

template <typename Spec, typename DecodeFn>
Result<Spec> decode(const json& spec, FieldTrace* trace, DecodeFn&& fn) {
  std::vector<std::string> errors;
  if (!spec.is_object()) return invalid({"spec: must be an object"});
  FieldReader r(&spec, "spec", "spec", trace, &errors);
  Spec out;
  fn(r, out);
  r.finish();
  if (!errors.empty()) return invalid(errors);
  return out;
}

std::vector<std::string> unique_names_errors(const std::vector<std::string>& names,
                                             const std::string& path) {
  std::set<std::string> seen;
  std::vector<std::string> errors;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!seen.insert(names[i]).second) {
      errors.push_back(path + "[" + std::to_string(i) + "]: duplicate value \"" + names[i] + "\"");
    }
  }
  return errors;
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

}  // namespace

const kube::Resource& order_services_resource() {
  static const kube::Resource r{kGroup, "v1alpha1", "orderservices", true, "OrderService"};
  return r;
}
const kube::Resource& cache_tiers_resource() {
  static const kube::Resource r{kGroup, "v1alpha1", "cachetiers", true, "CacheTier"};
  return r;
}
const kube::Resource& shard_sets_resource() {
  static const kube::Resource r{kGroup, "v1alpha1", "shardsets", true, "ShardSet"};
  return r;
}

Result<OrderServiceSpec> decode_order_service(const json& spec, FieldTrace* trace) {
  return decode<OrderServiceSpec>(spec, trace, [](FieldReader& r, OrderServiceSpec& s) {
    r.require("image");
    r.require("zones");
    r.string_into("image", s.image);
    r.integer32("port", s.port, 1, 65535);
    auto res = r.object("resources");
    res.string_map("requests", s.resource_requests);
    res.string_map("limits", s.resource_limits);
    res.finish();
    r.objects("env", [&](FieldReader& e) {
      EnvVar v;
      e.require("name");
      e.string_into("name", v.name);
      e.string_into("value", v.value);
      s.env.push_back(std::move(v));
    });
    r.objects("zones", [&](FieldReader& z) {
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
  });
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
  return decode<CacheTierSpec>(spec, trace, [](FieldReader& r, CacheTierSpec& s) {
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
  });
}

Result<CacheTierSpec> parse_cache_tier(const json& spec) {
  auto decoded = decode_cache_tier(spec);
  if (!decoded.ok()) return decoded;
  auto errors = unique_names_errors(decoded->redis.zones, "spec.redis.zones");
  if (!errors.empty()) return invalid(errors);
  return decoded;
}

Result<ShardSetSpec> decode_shard_set(const json& spec, FieldTrace* trace) {
  return decode<ShardSetSpec>(spec, trace, [](FieldReader& r, ShardSetSpec& s) {
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
  });
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

namespace {
template <typename T, typename Spec, typename ParseFn>
Result<T> parse_object(const json& object, ParseFn&& parse_spec) {
  auto meta = parse_meta(object);
  if (!meta.ok()) return meta.error();
  auto spec = parse_spec(object.contains("spec") ? object["spec"] : json());
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

}  // namespace orderguard::op
