#include "operator/render.h"

#include <algorithm>

#include "operator/split.h"

namespace orderguard::op {
namespace {

json common_labels(const OrderService& svc) {
  return {{"app.kubernetes.io/name", "orderservice"},
          {"app.kubernetes.io/instance", svc.meta.name},
          {"app.kubernetes.io/managed-by", kManagedBy},
          {kServiceLabel, svc.meta.name}};
}

json zone_selector(const OrderService& svc, const Zone& zone) {
  return {{kServiceLabel, svc.meta.name}, {kZoneNameLabel, zone.name}};
}

json zone_labels(const OrderService& svc, const Zone& zone) {
  json labels = common_labels(svc);
  labels[kZoneNameLabel] = zone.name;
  return labels;
}

json metadata(const OrderService& svc, const std::string& name, json labels) {
  return {{"name", name},
          {"namespace", svc.meta.ns},
          {"labels", std::move(labels)},
          {"ownerReferences", json::array({owner_reference(svc.meta, "OrderService")})}};
}

}  // namespace

std::string zone_child_name(const OrderService& svc, const Zone& zone) {
  return svc.meta.name + "-" + zone.name;
}
std::string config_map_name(const OrderService& svc) { return svc.meta.name + "-tier-config"; }
std::string selector_string(const OrderService& svc) {
  return std::string(kServiceLabel) + "=" + svc.meta.name;
}
std::string redis_headless_service_name(const std::string& c) { return c + "-redis-headless"; }
std::string redis_client_service_name(const std::string& c) { return c + "-redis"; }
std::string redis_statefulset_name(const std::string& c) { return c + "-redis"; }
std::string routing_config_map_name(const std::string& s) { return s + "-routing"; }

json owner_reference(const ObjectMeta& owner, const std::string& kind) {
  return {{"apiVersion", kApiVersion}, {"kind", kind},       {"name", owner.name},
          {"uid", owner.uid},          {"controller", true}, {"blockOwnerDeletion", true}};
}

std::vector<ZonePlan> plan_zones(const OrderServiceSpec& spec, const std::vector<bool>& healthy) {
  const auto& zones = spec.zones;
  const int32_t mhz = spec.failover.min_healthy_zones;
  const std::vector<bool> serving = serving_zones(zones, healthy, mhz);
  const std::vector<int32_t> weights = effective_weights(zones, serving);
  std::vector<ZonePlan> plan(zones.size());
  for (size_t i = 0; i < zones.size(); ++i) {
    plan[i].zone = zones[i];
    plan[i].healthy = i < healthy.size() ? healthy[i] : true;
    plan[i].serving = serving[i];
    plan[i].weight_in_effect = weights[i];
  }
  if (!spec.autoscaling) {
    auto shares = split_replicas(spec.replicas, zones, healthy, mhz);
    for (size_t i = 0; i < zones.size(); ++i) plan[i].replicas = shares[i];
    return plan;
  }
  // An HPA needs minReplicas >= 1.
  std::vector<Zone> floored = zones;
  for (auto& z : floored) z.min_replicas = std::max(1, z.min_replicas);
  auto mins = split_replicas(spec.autoscaling->min_replicas, floored, healthy, mhz);
  auto maxs = split_replicas(spec.autoscaling->max_replicas, floored, healthy, mhz);
  for (size_t i = 0; i < zones.size(); ++i) {
    plan[i].hpa_min = mins[i];
    plan[i].hpa_max = std::max(mins[i], maxs[i]);
    plan[i].replicas = mins[i];
  }
  return plan;
}

json render_zone_deployment(const OrderService& svc, const Zone& zone,
                            std::optional<int32_t> replicas) {
  const auto& s = svc.spec;
  json container = {
      {"name", "app"},
      {"image", s.image},
      {"ports", json::array({{{"name", "http"}, {"containerPort", s.port}, {"protocol", "TCP"}}})},
      {"envFrom", json::array({{{"configMapRef", {{"name", config_map_name(svc)}}}}})},
  };
  json env = json::array();
  for (const auto& e : s.env) env.push_back({{"name", e.name}, {"value", e.value}});
  env.push_back({{"name", "ORDERGUARD_ZONE"}, {"value", zone.name}});
  container["env"] = env;
  json resources = json::object();
  if (!s.resource_requests.empty()) resources["requests"] = s.resource_requests;
  if (!s.resource_limits.empty()) resources["limits"] = s.resource_limits;
  if (!resources.empty()) container["resources"] = resources;

  json pod_spec = {
      {"containers", json::array({container})},
      {"affinity",
       {{"nodeAffinity",
         {{"requiredDuringSchedulingIgnoredDuringExecution",
           {{"nodeSelectorTerms",
             json::array({{{"matchExpressions",
                            json::array({{{"key", kZoneLabel},
                                          {"operator", "In"},
                                          {"values", json::array({zone.name})}}})}}})}}}}}}},
      {"topologySpreadConstraints",
       json::array({{{"maxSkew", 1},
                     {"topologyKey", "kubernetes.io/hostname"},
                     {"whenUnsatisfiable", "ScheduleAnyway"},
                     {"labelSelector", {{"matchLabels", zone_selector(svc, zone)}}}}})},
  };
  json spec = {
      {"selector", {{"matchLabels", zone_selector(svc, zone)}}},
      {"template", {{"metadata", {{"labels", zone_labels(svc, zone)}}}, {"spec", pod_spec}}},
  };
  if (replicas) spec["replicas"] = *replicas;
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", metadata(svc, zone_child_name(svc, zone), zone_labels(svc, zone))},
          {"spec", spec}};
}

json render_zone_hpa(const OrderService& svc, const Zone& zone, int32_t min_replicas,
                     int32_t max_replicas) {
  Autoscaling a = svc.spec.autoscaling.value_or(Autoscaling{});
  json metrics = json::array(
      {{{"type", "Resource"},
        {"resource",
         {{"name", "cpu"},
          {"target",
           {{"type", "Utilization"},
            {"averageUtilization", a.target_cpu_utilization_percentage}}}}}},
       {{"type", "Pods"},
        {"pods",
         {{"metric", {{"name", kRequestsMetric}}},
          {"target",
           {{"type", "AverageValue"},
            {"averageValue", std::to_string(a.target_requests_per_second_per_pod)}}}}}}});
  return {
      {"apiVersion", "autoscaling/v2"},
      {"kind", "HorizontalPodAutoscaler"},
      {"metadata", metadata(svc, zone_child_name(svc, zone), zone_labels(svc, zone))},
      {"spec",
       {{"scaleTargetRef",
         {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", zone_child_name(svc, zone)}}},
        {"minReplicas", min_replicas},
        {"maxReplicas", max_replicas},
        {"metrics", metrics}}}};
}

json render_zone_pdb(const OrderService& svc, const Zone& zone) {
  return {{"apiVersion", "policy/v1"},
          {"kind", "PodDisruptionBudget"},
          {"metadata", metadata(svc, zone_child_name(svc, zone), zone_labels(svc, zone))},
          {"spec",
           {{"maxUnavailable", 1},
            {"selector", {{"matchLabels", zone_selector(svc, zone)}}},
            // A pod that is not ready can always be evicted: it serves nothing, and
            // the node agent must be able to evict a compromised pod.
            {"unhealthyPodEvictionPolicy", "AlwaysAllow"}}}};
}

json render_service(const OrderService& svc) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", metadata(svc, svc.meta.name, common_labels(svc))},
      {"spec",
       {{"type", "ClusterIP"},
        {"selector", {{kServiceLabel, svc.meta.name}}},
        {"ports",
         json::array(
             {{{"name", "http"}, {"port", 80}, {"targetPort", "http"}, {"protocol", "TCP"}}})}}}};
}

json render_config_map(const OrderService& svc, const CacheTier* cache, const ShardSet* shards) {
  json data = json::object();
  json tier = {{"service", svc.meta.name}};
  if (!svc.spec.cache_ref.empty()) {
    data["ORDERGUARD_CACHE_TIER"] = svc.spec.cache_ref;
    if (cache == nullptr) {
      data["ORDERGUARD_CACHE_STATUS"] = "NotFound";
    } else {
      const auto& c = cache->spec;
      const std::string ns = cache->meta.ns;
      const std::string headless = redis_headless_service_name(cache->meta.name);
      const int32_t pods = c.redis.shards * (1 + c.redis.replicas_per_shard);
      // Seeds: a few cluster members are enough for a client to discover the rest.
      std::string seeds;
      for (int32_t i = 0; i < std::min(pods, 6); ++i) {
        seeds += (seeds.empty() ? "" : ",") + redis_statefulset_name(cache->meta.name) + "-" +
                 std::to_string(i) + "." + headless + "." + ns + ".svc:6379";
      }
      data["ORDERGUARD_CACHE_STATUS"] = "Found";
      data["ORDERGUARD_CACHE_L1_MAX_ENTRIES"] = std::to_string(c.l1.max_entries);
      data["ORDERGUARD_CACHE_L1_TTL_SECONDS"] = std::to_string(c.l1.ttl_seconds);
      data["ORDERGUARD_CACHE_L1_TTL_JITTER_PERCENT"] = std::to_string(c.l1.ttl_jitter_percent);
      data["ORDERGUARD_CACHE_REDIS_ENDPOINT"] =
          redis_client_service_name(cache->meta.name) + "." + ns + ".svc:6379";
      data["ORDERGUARD_CACHE_REDIS_SEEDS"] = seeds;
      data["ORDERGUARD_CACHE_NULL_VALUE_TTL_SECONDS"] =
          std::to_string(c.protection.null_value_ttl_seconds);
      data["ORDERGUARD_CACHE_HOT_KEY_MUTEX"] = c.protection.hot_key_mutex ? "true" : "false";
      if (c.protection.bloom_expected_items) {
        data["ORDERGUARD_CACHE_BLOOM_EXPECTED_ITEMS"] =
            std::to_string(*c.protection.bloom_expected_items);
        data["ORDERGUARD_CACHE_BLOOM_FALSE_POSITIVE_RATE_PPM"] =
            std::to_string(c.protection.bloom_false_positive_rate_ppm);
      }
    }
  }
  if (!svc.spec.shard_set_ref.empty()) {
    data["ORDERGUARD_SHARDSET"] = svc.spec.shard_set_ref;
    data["ORDERGUARD_SHARDSET_ROUTING_CONFIGMAP"] = routing_config_map_name(svc.spec.shard_set_ref);
    data["ORDERGUARD_SHARDSET_STATUS"] = shards == nullptr ? "NotFound" : "Found";
    if (shards != nullptr) {
      data["ORDERGUARD_SHARDSET_SHARD_KEY"] = shards->spec.shard_key;
      data["ORDERGUARD_SHARDSET_TIME_SPLIT"] = shards->spec.time_split;
    }
  }
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", metadata(svc, config_map_name(svc), common_labels(svc))},
          {"data", data}};
}

std::vector<json> render_children(const OrderService& svc, const std::vector<ZonePlan>& plan,
                                  const CacheTier* cache, const ShardSet* shards) {
  std::vector<json> out;
  out.push_back(render_config_map(svc, cache, shards));
  out.push_back(render_service(svc));
  const bool autoscaled = svc.spec.autoscaling.has_value();
  for (const auto& p : plan) {
    out.push_back(
        render_zone_deployment(svc, p.zone, autoscaled ? std::nullopt : std::optional(p.replicas)));
    if (autoscaled) out.push_back(render_zone_hpa(svc, p.zone, p.hpa_min, p.hpa_max));
    out.push_back(render_zone_pdb(svc, p.zone));
  }
  return out;
}

}  // namespace orderguard::op
