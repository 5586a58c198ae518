// The ShardSet pass (steps in tier_reconciler.h) and its status.
#include "operator/failover.h"
#include "operator/reconciler.h"
#include "operator/tier_reconciler.h"

namespace orderguard::op {

json compute_shard_status(const ShardSet& set, const json& old_status,
                          const std::vector<const json*>& stateful_sets, const std::string& now) {
  const int64_t gen = set.meta.generation;
  const int32_t want = 1 + set.spec.replicas_per_shard;
  json shards = json::array();
  int32_t ready_shards = 0;
  bool rolling = false;
  std::vector<std::string> not_ready, no_primary;
  for (int32_t db = 0; db < set.spec.databases; ++db) {
    const json* sts = db < static_cast<int32_t>(stateful_sets.size()) ? stateful_sets[db] : nullptr;
    int32_t ready = 0;
    if (sts == nullptr) {
      rolling = true;
    } else {
      const json st = sts->value("status", json::object());
      ready = st.value("readyReplicas", 0);
      if (st.value("observedGeneration", int64_t{0}) <
              (*sts)["metadata"].value("generation", int64_t{0}) ||
          st.value("updatedReplicas", 0) < want || st.value("replicas", 0) != want) {
        rolling = true;
      }
    }
    const bool ok = ready >= want;
    if (ok) ++ready_shards;
    const std::string name = shard_statefulset_name(set.meta.name, db);
    if (!ok) not_ready.push_back(name + " " + std::to_string(ready) + "/" + std::to_string(want));
    // Pods start in order (OrderedReady): no ready pod means no primary.
    if (ready == 0) no_primary.push_back(name);
    shards.push_back({{"database", db},
                      {"statefulSet", name},
                      {"replicas", want},
                      {"readyReplicas", ready},
                      {"ready", ok}});
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  json conditions = old_status.value("conditions", json::array());
  if (not_ready.empty()) {
    conditions = set_condition(conditions, "Ready", "True", "AllShardsReady",
                               "every database shard has all its members ready", gen, now);
  } else {
    conditions = set_condition(conditions, "Ready", "False", "ShardsNotReady",
                               "shards below their ready members: " + join(not_ready), gen, now);
  }
  conditions = rolling ? set_condition(conditions, "Progressing", "True", "RollingOut",
                                       "shard StatefulSets are being created or updated", gen, now)
                       : set_condition(conditions, "Progressing", "False", "Stable",
                                       "every shard StatefulSet is up to date", gen, now);
  // Degraded: some shard serves with fewer copies than asked, but serves.
  std::vector<std::string> degraded;
  for (const auto& s : shards) {
    if (!s["ready"].get<bool>() && s["readyReplicas"].get<int32_t>() > 0) {
      degraded.push_back(s["statefulSet"]);
    }
  }
  conditions =
      degraded.empty()
          ? set_condition(conditions, "Degraded", "False", "AsExpected",
                          "no shard serves with missing members", gen, now)
          : set_condition(conditions, "Degraded", "True", "MembersNotReady",
                          "shards serving with missing members: " + join(degraded), gen, now);
  return {{"observedGeneration", gen},
          {"readyShards", ready_shards},
          {"routingConfigMap", routing_config_map_name(set.meta.name)},
          {"shards", shards},
          {"conditions", conditions}};
}

ShardSetReconciler::ShardSetReconciler(kube::Client& client, TierCaches caches, const Clock& clock)
    : client_(client), caches_(caches), clock_(clock) {}

kube::ReconcileOutcome ShardSetReconciler::reconcile(const kube::Request& request) {
  namespace res = kube::resources;
  kube::ObjectPtr live = caches_.shard_sets->get(request.ns, request.name);
  if (live == nullptr || (*live)["metadata"].contains("deletionTimestamp")) {
    return kube::ReconcileResult::done();
  }
  auto parsed = parse_shard_set_object(*live);
  if (!parsed.ok()) return kube::terminal(parsed.error());
  const ShardSet& set = *parsed;

  // 1. Children.
  const std::vector<ChildKind> kinds = {
      {"ConfigMap", &res::kConfigMaps, caches_.config_maps},
      {"Service", &res::kServices, caches_.services},
      {"StatefulSet", &res::kStatefulSets, caches_.stateful_sets},
      {"PodDisruptionBudget", &res::kPodDisruptionBudgets, caches_.pdbs},
  };
  if (Status st = converge_children(client_, set.meta, render_shard_children(set), kinds);
      !st.ok()) {
    return st.error();
  }

  // 2. Status.
  std::vector<kube::ObjectPtr> held;
  std::vector<const json*> stateful_sets;
  for (int32_t db = 0; db < set.spec.databases; ++db) {
    held.push_back(
        caches_.stateful_sets->get(set.meta.ns, shard_statefulset_name(set.meta.name, db)));
    stateful_sets.push_back(held.back().get());
  }
  // Our last status write, when the cache has not caught up with it yet.
  const json old_status = status_memo_.current(*live);
  json status =
      compute_shard_status(set, old_status, stateful_sets, format_time(clock_.wall_now()));
  if (status == old_status) return kube::ReconcileResult::done();
  auto patched = client_.patch(shard_sets_resource(), set.meta.ns, set.meta.name,
                               kube::PatchType::kMerge, {{"status", status}}, "status");
  if (!patched.ok()) return patched.error();
  status_memo_.wrote(*live, status);
  return kube::ReconcileResult::done();
}

}  // namespace orderguard::op
