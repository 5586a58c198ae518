// Desired children of an OrderService, as pure functions: JSON in, JSON out,
// no client. Every object carries apiVersion, kind, metadata.name/namespace,
// the common labels and an ownerReference (controller=true) to the
// OrderService, ready for server-side apply.
//
// Names: per zone "<svc>-<zone>" (Deployment, HPA, PDB); "<svc>" (Service);
// "<svc>-tier-config" (ConfigMap). Labels: app.kubernetes.io/{name,instance,
// managed-by} plus tiers.orderguard.io/orderservice and, per zone,
// tiers.orderguard.io/zone.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "operator/types.h"

namespace orderguard::op {

inline constexpr const char* kFieldManager = "orderguard-operator";
inline constexpr const char* kManagedBy = "orderguard-operator";
inline constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";
inline constexpr const char* kServiceLabel = "tiers.orderguard.io/orderservice";
inline constexpr const char* kZoneNameLabel = "tiers.orderguard.io/zone";
// Requests-per-second metric the HPA reads per pod (served by a metrics adapter).
inline constexpr const char* kRequestsMetric = "http_requests_per_second";

std::string zone_child_name(const OrderService& svc, const Zone& zone);
std::string config_map_name(const OrderService& svc);
// The Service selector as a label selector string, for status.selector.
std::string selector_string(const OrderService& svc);

json owner_reference(const ObjectMeta& owner, const std::string& kind);

// What one zone gets in this pass.
struct ZonePlan {
  Zone zone;
  bool healthy = true;
  bool serving = true;
  int32_t weight_in_effect = 0;
  int32_t replicas = 0;  // desired replicas (without autoscaling)
  int32_t hpa_min = 0;   // with autoscaling
  int32_t hpa_max = 0;
};

// healthy[i] is zones[i]'s health. Without autoscaling, replicas come from
// split_replicas(spec.replicas); with it, hpa_min/hpa_max split the
// autoscaling bounds the same way (each >= 1, max >= min) and replicas =
// hpa_min (the floor the zone is guaranteed).
std::vector<ZonePlan> plan_zones(const OrderServiceSpec& spec, const std::vector<bool>& healthy);

// `replicas` nullopt: an HPA owns spec.replicas, so the field is left out and
// server-side apply releases it.
json render_zone_deployment(const OrderService& svc, const Zone& zone,
                            std::optional<int32_t> replicas);
json render_zone_hpa(const OrderService& svc, const Zone& zone, int32_t min_replicas,
                     int32_t max_replicas);
json render_zone_pdb(const OrderService& svc, const Zone& zone);
json render_service(const OrderService& svc);
// `cache`/`shards` null: not referenced or not found; the ConfigMap says so.
json render_config_map(const OrderService& svc, const CacheTier* cache, const ShardSet* shards);

// Every desired child for the plan, in apply order (ConfigMap first, so the
// pods of a new Deployment find it).
std::vector<json> render_children(const OrderService& svc, const std::vector<ZonePlan>& plan,
                                  const CacheTier* cache, const ShardSet* shards);

// Naming shared with the CacheTier and ShardSet renderers.
std::string redis_headless_service_name(const std::string& cache_tier);
std::string redis_client_service_name(const std::string& cache_tier);
std::string redis_statefulset_name(const std::string& cache_tier);
std::string routing_config_map_name(const std::string& shard_set);

}  // namespace orderguard::op
