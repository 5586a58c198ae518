#include "operator/reconciler.h"

#include <algorithm>

#include "kube/log.h"
#include "operator/split.h"

namespace orderguard::op {

OrderServiceReconciler::OrderServiceReconciler(kube::Client& client, OrderServiceCaches caches,
                                               kube::EventRecorder* events, const Clock& clock)
    : client_(client), caches_(caches), events_(events), clock_(clock) {}

kube::ReconcileOutcome OrderServiceReconciler::reconcile(const kube::Request& request) {
  kube::ObjectPtr live = caches_.order_services->get(request.ns, request.name);
  // Gone or going: the garbage collector removes the children.
  if (live == nullptr || (*live)["metadata"].contains("deletionTimestamp")) {
    return kube::ReconcileResult::done();
  }
  auto parsed = parse_order_service_object(*live);
  // The CRD's schema and CEL rules refuse invalid specs; one that still fails
  // here can only be fixed by the user: do not retry.
  if (!parsed.ok()) return kube::terminal(parsed.error());
  const OrderService& svc = *parsed;

  // Referenced tiers (absent ones are reported in status, not fatal).
  std::vector<std::string> missing;
  std::optional<CacheTier> cache;
  std::optional<ShardSet> shards;
  if (!svc.spec.cache_ref.empty()) {
    auto obj = caches_.cache_tiers->get(svc.meta.ns, svc.spec.cache_ref);
    if (obj != nullptr) {
      auto c = parse_cache_tier_object(*obj);
      if (c.ok()) cache = std::move(c).value();
    }
    if (!cache) missing.push_back("CacheTier " + svc.spec.cache_ref);
  }
  if (!svc.spec.shard_set_ref.empty()) {
    auto obj = caches_.shard_sets->get(svc.meta.ns, svc.spec.shard_set_ref);
    if (obj != nullptr) {
      auto s = parse_shard_set_object(*obj);
      if (s.ok()) shards = std::move(s).value();
    }
    if (!shards) missing.push_back("ShardSet " + svc.spec.shard_set_ref);
  }

  // 1. Zone health.
  std::map<std::string, json> deployments;
  for (const auto& zone : svc.spec.zones) {
    auto d = caches_.deployments->get(svc.meta.ns, zone_child_name(svc, zone));
    if (d != nullptr) deployments[zone.name] = *d;
  }
  const auto now = clock_.wall_now();
  const auto health = compute_zone_health(svc, caches_.nodes->list(), deployments, now);
  std::vector<bool> healthy;
  for (const auto& h : health) healthy.push_back(h.healthy);

  // 2. The plan and the desired children.
  const auto plan = plan_zones(svc.spec, healthy);
  const auto desired =
      render_children(svc, plan, cache ? &*cache : nullptr, shards ? &*shards : nullptr);

  // 3. Children.
  if (Status st = reconcile_children(svc, desired); !st.ok()) return st.error();

  // 4. Status.
  json status = compute_status(svc, plan, health, deployments, missing, format_time(now));
  if (Status st = reconcile_status(svc, *live, status, health); !st.ok()) return st.error();

  // A zone within its grace period is looked at again when the grace ends.
  std::optional<std::chrono::seconds> recheck;
  for (const auto& h : health) {
    if (h.recheck_after && (!recheck || *h.recheck_after < *recheck)) recheck = h.recheck_after;
  }
  if (recheck) return kube::ReconcileResult::requeue_after(*recheck + std::chrono::seconds(1));
  return kube::ReconcileResult::done();
}

}  // namespace orderguard::op
