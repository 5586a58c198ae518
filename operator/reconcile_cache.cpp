// The CacheTier pass (steps in tier_reconciler.h) and its status.
#include <charconv>

#include "operator/failover.h"
#include "operator/reconciler.h"
#include "operator/tier_reconciler.h"

namespace orderguard::op {
namespace {

std::optional<int32_t> parse_int(const std::string& s) {
  int32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string scale_down_message(const CacheTier& tier, int32_t cluster_shards) {
  const int32_t want = tier.spec.redis.shards;
  const std::string n = std::to_string(want);
  return "spec.redis.shards is " + n + " but the cluster has " + std::to_string(cluster_shards) +
         " shards; the StatefulSet keeps " +
         std::to_string(redis_pods(cluster_shards, tier.spec.redis.replicas_per_shard)) +
         " pods until the extra shards are drained: move their slots to the first " + n +
         " masters (redis-cli --cluster rebalance <seed> --cluster-weight <node-id>=0 for each "
         "extra master), remove the extra masters and their replicas (redis-cli --cluster "
         "del-node <seed> <node-id>), then annotate the CacheTier " +
         kDrainedToShardsAnnotation + "=" + n;
}

}  // namespace

bool job_complete(const json& job) {
  const json status = job.value("status", json::object());
  for (const auto& c : status.value("conditions", json::array())) {
    if (c.value("type", "") == "Complete" && c.value("status", "") == "True") return true;
  }
  return status.value("succeeded", 0) > 0;
}

json compute_cache_status(const CacheTier& tier, const json& old_status, const CachePlan& plan,
                          const json* sts, const json* bootstrap_job,
                          const std::string& rebalance_job, const std::string& now) {
  const int64_t gen = tier.meta.generation;
  const int32_t per_shard = 1 + tier.spec.redis.replicas_per_shard;
  const int32_t pods = redis_pods(plan.cluster_shards, tier.spec.redis.replicas_per_shard);
  int32_t ready = 0;
  int32_t existing = 0;  // Pods the StatefulSet has created, ready or not
  bool rolling = sts == nullptr;
  if (sts != nullptr) {
    const json st = sts->value("status", json::object());
    ready = st.value("readyReplicas", 0);
    existing = st.value("replicas", 0);
    rolling = st.value("observedGeneration", int64_t{0}) <
                  (*sts)["metadata"].value("generation", int64_t{0}) ||
              st.value("updatedReplicas", 0) < pods || st.value("replicas", 0) != pods;
  }
  // Which pod serves which shard is Redis's choice, not visible in the
  // StatefulSet: with every pod ready every shard is; otherwise a lower bound.
  const int32_t ready_shards = ready >= pods ? plan.cluster_shards : ready / per_shard;

  json bootstrap = old_status.value("bootstrap", json::object());
  if (bootstrap_job != nullptr) {
    const json ann = (*bootstrap_job)["metadata"].value("annotations", json::object());
    bootstrap["job"] = (*bootstrap_job)["metadata"]["name"];
    bootstrap["shards"] =
        parse_int(ann.value(kTargetShardsAnnotation, "")).value_or(plan.cluster_shards);
    bootstrap["completed"] = bootstrap.value("completed", false) || job_complete(*bootstrap_job);
  }
  const bool bootstrapped = bootstrap.value("completed", false);

  json status = {{"observedGeneration", gen}, {"clusterShards", plan.cluster_shards},
                 {"replicas", existing},      {"readyReplicas", ready},
                 {"desiredReplicas", pods},   {"readyShards", ready_shards}};
  if (!bootstrap.empty()) status["bootstrap"] = bootstrap;
  std::string rebalance =
      rebalance_job.empty() ? old_status.value("rebalanceJob", "") : rebalance_job;
  if (!rebalance.empty()) status["rebalanceJob"] = rebalance;

  json conditions = old_status.value("conditions", json::array());
  const std::string pods_msg =
      std::to_string(ready) + "/" + std::to_string(pods) + " Redis pods ready";
  if (plan.scale_down_blocked) {
    conditions = set_condition(conditions, "Ready", "False", "ScaleDownBlocked",
                               scale_down_message(tier, plan.cluster_shards), gen, now);
  } else if (ready < pods) {
    conditions = set_condition(conditions, "Ready", "False", "PodsNotReady", pods_msg, gen, now);
  } else if (!bootstrapped) {
    conditions = set_condition(conditions, "Ready", "False", "BootstrapPending",
                               "the bootstrap Job has not completed", gen, now);
  } else {
    conditions = set_condition(conditions, "Ready", "True", "ClusterReady",
                               "every Redis pod is ready and the cluster is formed", gen, now);
  }
  if (rolling || !bootstrapped || !rebalance_job.empty()) {
    conditions = set_condition(conditions, "Progressing", "True", "Reconciling",
                               rolling         ? "the Redis StatefulSet is being created or updated"
                               : !bootstrapped ? "waiting for the bootstrap Job"
                                               : "a rebalance Job grows the cluster",
                               gen, now);
  } else {
    conditions = set_condition(conditions, "Progressing", "False", "Stable",
                               "the Redis StatefulSet is up to date", gen, now);
  }
  if (plan.scale_down_blocked) {
    conditions = set_condition(conditions, "Degraded", "True", "ScaleDownBlocked",
                               "scale down refused until the extra shards are drained", gen, now);
  } else if (bootstrapped && ready < pods) {
    conditions = set_condition(conditions, "Degraded", "True", "PodsNotReady", pods_msg, gen, now);
  } else {
    conditions = set_condition(conditions, "Degraded", "False", "AsExpected",
                               "no known degradation", gen, now);
  }
  status["conditions"] = conditions;
  return status;
}

CacheTierReconciler::CacheTierReconciler(kube::Client& client, TierCaches caches,
                                         const Clock& clock)
    : client_(client), caches_(caches), clock_(clock) {}

kube::ReconcileOutcome CacheTierReconciler::reconcile(const kube::Request& request) {
  namespace res = kube::resources;
  kube::ObjectPtr live = caches_.cache_tiers->get(request.ns, request.name);
  // Gone or going: the garbage collector removes the children.
  if (live == nullptr || (*live)["metadata"].contains("deletionTimestamp")) {
    return kube::ReconcileResult::done();
  }
  auto parsed = parse_cache_tier_object(*live);
  if (!parsed.ok()) return kube::terminal(parsed.error());
  const CacheTier& tier = *parsed;
  // Our last status write, when the cache has not caught up with it yet.
  const json old_status = status_memo_.current(*live);
  const json annotations = (*live)["metadata"].value("annotations", json::object());

  // 1. The cluster's size: what status recorded against what spec asks.
  std::optional<int32_t> recorded;
  if (old_status.contains("bootstrap") && old_status.contains("clusterShards")) {
    recorded = old_status["clusterShards"].get<int32_t>();
  }
  const CachePlan plan =
      plan_cache(tier.spec, recorded, parse_int(annotations.value(kDrainedToShardsAnnotation, "")));

  // 2. Children other than Jobs.
  const std::vector<ChildKind> kinds = {
      {"ConfigMap", &res::kConfigMaps, caches_.config_maps},
      {"Service", &res::kServices, caches_.services},
      {"StatefulSet", &res::kStatefulSets, caches_.stateful_sets},
      {"PodDisruptionBudget", &res::kPodDisruptionBudgets, caches_.pdbs},
      {"Job", &res::kJobs, caches_.jobs, /*create_only=*/true, /*prune=*/false},
  };
  std::vector<json> desired = render_cache_children(tier, plan);

  // 3. Jobs: the bootstrap until it is recorded completed; a scale up's rebalance.
  const std::string bootstrap_name = redis_bootstrap_job_name(tier.meta.name);
  const bool bootstrapped = old_status.value("bootstrap", json::object()).value("completed", false);
  if (!bootstrapped) {
    // A bootstrap that never finished forms the cluster at today's size.
    desired.push_back(render_redis_bootstrap_job(tier, plan.cluster_shards));
  }
  std::string rebalance;
  if (plan.rebalance_from) {
    desired.push_back(render_redis_rebalance_job(tier, *plan.rebalance_from, plan.cluster_shards));
    rebalance = desired.back()["metadata"]["name"];
  }
  if (Status st = converge_children(client_, tier.meta, desired, kinds); !st.ok()) {
    return st.error();
  }

  // 4. Status.
  kube::ObjectPtr sts =
      caches_.stateful_sets->get(tier.meta.ns, redis_statefulset_name(tier.meta.name));
  kube::ObjectPtr job = caches_.jobs->get(tier.meta.ns, bootstrap_name);
  json bootstrap_stub;
  if (job == nullptr && !bootstrapped) {
    // Just created: the cache has not seen it yet, but it exists.
    bootstrap_stub = render_redis_bootstrap_job(tier, plan.cluster_shards);
  }
  const json* bootstrap_job = job != nullptr             ? job.get()
                              : bootstrap_stub.is_null() ? nullptr
                                                         : &bootstrap_stub;
  json status = compute_cache_status(tier, old_status, plan, sts.get(), bootstrap_job, rebalance,
                                     format_rfc3339(clock_.wall_now()));
  if (status == old_status) return kube::ReconcileResult::done();
  auto patched = client_.patch(cache_tiers_resource(), tier.meta.ns, tier.meta.name,
                               kube::PatchType::kMerge, {{"status", status}}, "status");
  if (!patched.ok()) return patched.error();
  status_memo_.wrote(*live, status);
  return kube::ReconcileResult::done();
}

}  // namespace orderguard::op
