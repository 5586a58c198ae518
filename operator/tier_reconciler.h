// The CacheTier and ShardSet reconcilers. Same shape as the OrderService one
// (reconciler.h): a pass reads the whole state from informer caches, applies
// each desired child that differs (server-side apply, field manager
// orderguard-operator, hash annotation for no-op detection), deletes owned
// children no longer desired, and writes status only when it changed. A
// converged pass sends no request.
//
// CacheTier steps (reconcile_cache.cpp): plan the cluster size from spec and
// status (plan_cache: scale up -> rebalance Job; scale down refused until the
// user marks the cluster drained), converge the children, create the
// bootstrap Job until status records it completed and the rebalance Job of a
// scale up (Jobs are create-only: their pod template is immutable, and a
// finished Job is history, not drift), then status.
//
// ShardSet steps (reconcile_shards.cpp): create the credentials Secret unless
// status records it (create only: an existing Secret, perhaps the user's, is
// never read or changed, so the operator needs no read access to Secrets),
// converge the children (a database removed from spec loses its StatefulSets,
// replicasPerShard 0 the replica StatefulSet; their PVCs follow
// deletionPolicy) and the schema Job of the current period (create-only, left
// out once status records it complete, never pruned: finished Jobs expire by
// TTL), then status with per-shard readiness of the primary and of the
// replicas and the schema Job's progress. "Today" is the Clock's wall time in
// UTC; with a time split the pass asks to run again when the next period
// starts.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "kube/controller.h"
#include "kube/informer.h"
#include "operator/reconciler.h"
#include "operator/render_cache.h"
#include "operator/render_shards.h"
#include "operator/status_memo.h"
#include "operator/types.h"

namespace orderguard::op {

// The caches the tier passes read; all must be running and outlive the reconcilers.
struct TierCaches {
  kube::Informer* cache_tiers = nullptr;
  kube::Informer* shard_sets = nullptr;
  kube::Informer* stateful_sets = nullptr;
  kube::Informer* services = nullptr;
  kube::Informer* config_maps = nullptr;
  kube::Informer* pdbs = nullptr;
  kube::Informer* jobs = nullptr;
};

// ---- pure status (unit tested) ----

// `sts`, `bootstrap_job`: null when absent. `old_status`: the live status.
// Pod counts: replicas and readyReplicas are the StatefulSet's status (the Pods
// that exist and are ready: the printer columns), desiredReplicas what it is
// sized for.
json compute_cache_status(const CacheTier& tier, const json& old_status, const CachePlan& plan,
                          const json* sts, const json* bootstrap_job,
                          const std::string& rebalance_job, const std::string& now);
// A database shard's StatefulSets as the cache holds them, null when absent.
struct ShardStatefulSets {
  const json* primary = nullptr;
  const json* replicas = nullptr;  // absent, and not expected, with replicasPerShard 0
};
// `shards[i]`: database i's. A shard is ready when its primary is and all its
// replicas are; Degraded names the shards whose primary serves without them.
// The schema Job a pass wants and the Job as the cache holds it (null when
// absent: just created, or collected after it finished).
struct SchemaJobState {
  std::string period;  // period_suffix(), "none" for timeSplit none
  std::string name;
  const json* job = nullptr;
};
// `credentials_secret`: the Secret known to exist, "" until then.
// status.schema.complete stays true for the same Job once it was seen to
// succeed; condition SchemaReady follows it.
json compute_shard_status(const ShardSet& set, const json& old_status,
                          const std::vector<ShardStatefulSets>& shards,
                          const std::string& credentials_secret, const SchemaJobState& schema,
                          const std::string& now);
// How long until the next period starts, when the next period's schema Job
// must run (so the tables of the period after it exist a period ahead);
// nullopt for timeSplit none.
std::optional<std::chrono::system_clock::duration> until_next_period(
    const ShardSet& set, std::chrono::system_clock::time_point now);
bool job_complete(const json& job);

class CacheTierReconciler {
 public:
  CacheTierReconciler(kube::Client& client, TierCaches caches, const Clock& clock);
  kube::ReconcileOutcome reconcile(const kube::Request& request);

 private:
  kube::Client& client_;
  TierCaches caches_;
  const Clock& clock_;
  StatusMemo status_memo_;
};

class ShardSetReconciler {
 public:
  ShardSetReconciler(kube::Client& client, TierCaches caches, const Clock& clock);
  kube::ReconcileOutcome reconcile(const kube::Request& request);

 private:
  // Creates the credentials Secret with new random passwords; one that exists
  // already is success.
  Status create_credentials(const ShardSet& set);

  kube::Client& client_;
  TierCaches caches_;
  const Clock& clock_;
  StatusMemo status_memo_;
};

}  // namespace orderguard::op
