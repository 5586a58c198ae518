#include "operator/reconciler.h"

#include <algorithm>

#include "base/log.h"
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
  OrderService& svc = *parsed;
  // Our last status write, when the cache has not caught up with it yet.
  svc.status = status_memo_.current(*live);

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
  const auto nodes = caches_.nodes->list();
  auto health = compute_zone_health(svc, nodes, deployments, now);
  std::vector<bool> healthy;
  for (const auto& h : health) healthy.push_back(h.healthy);

  // 2. The plan and the desired children.
  const auto plan = plan_zones(svc.spec, healthy);
  const auto desired =
      render_children(svc, plan, cache ? &*cache : nullptr, shards ? &*shards : nullptr);

  // 3. Children.
  std::map<std::string, json> applied;
  if (Status st = reconcile_children(svc, desired, &applied); !st.ok()) return st.error();

  // The Deployments just applied are newer than the cache, which learns of
  // them only from the watch. Health and status from them now, so the status
  // written here is the one the next pass computes, not a step behind it
  // (e.g. unavailableSince of a new Deployment). If that changes a zone's
  // verdict, the plan just applied is stale: keep the cache's view and let
  // the next pass, which the apply's watch events trigger, redo both.
  std::map<std::string, json> fresher = deployments;
  bool newer = false;
  for (const auto& zone : svc.spec.zones) {
    auto it = applied.find("Deployment/" + zone_child_name(svc, zone));
    if (it == applied.end()) continue;
    fresher[zone.name] = std::move(it->second);
    newer = true;
  }
  if (newer) {
    auto fresh_health = compute_zone_health(svc, nodes, fresher, now);
    bool same_verdicts = true;
    for (size_t i = 0; i < health.size(); ++i) {
      same_verdicts = same_verdicts && fresh_health[i].healthy == health[i].healthy;
    }
    if (same_verdicts) {
      health = std::move(fresh_health);
      deployments = std::move(fresher);
    }
  }

  // 4. Status.
  json status = compute_status(svc, plan, health, deployments, missing, format_rfc3339(now));
  if (Status st = reconcile_status(svc, *live, status, plan, health); !st.ok()) return st.error();

  // A zone within its grace period is looked at again when the grace ends.
  std::optional<std::chrono::seconds> recheck;
  for (const auto& h : health) {
    if (h.recheck_after && (!recheck || *h.recheck_after < *recheck)) recheck = h.recheck_after;
  }
  if (recheck) return kube::ReconcileResult::requeue_after(*recheck + std::chrono::seconds(1));
  return kube::ReconcileResult::done();
}

}  // namespace orderguard::op
