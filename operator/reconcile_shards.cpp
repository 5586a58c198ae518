// The ShardSet pass (steps in tier_reconciler.h) and its status.
#include <algorithm>
#include <chrono>

#include "base/log.h"
#include "kube/pki.h"
#include "operator/failover.h"
#include "operator/reconciler.h"
#include "operator/tier_reconciler.h"

namespace orderguard::op {

namespace {

// Ready pods of a StatefulSet, and whether it is still being created or
// rolled out towards `want` pods.
struct Members {
  int32_t ready = 0;
  bool rolling = false;
};

Members members(const json* sts, int32_t want) {
  if (sts == nullptr) return {0, want > 0};
  const json st = sts->value("status", json::object());
  const bool rolling = st.value("observedGeneration", int64_t{0}) <
                           (*sts)["metadata"].value("generation", int64_t{0}) ||
                       st.value("updatedReplicas", 0) < want || st.value("replicas", 0) != want;
  return {st.value("readyReplicas", 0), rolling};
}

bool job_failed(const json& job) {
  for (const auto& c : job.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Failed" && c.value("status", "") == "True") return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

json compute_shard_status(const ShardSet& set, const json& old_status,
                          const std::vector<ShardStatefulSets>& shard_sets,
                          const std::string& credentials_secret, const SchemaJobState& schema,
                          const std::string& now) {
  const int64_t gen = set.meta.generation;
  const int32_t want_replicas = set.spec.replicas_per_shard;
  json shards = json::array();
  int32_t ready_shards = 0;
  bool rolling = false;
  std::vector<std::string> no_primary, missing_replicas;
  for (int32_t db = 0; db < set.spec.databases; ++db) {
    const ShardStatefulSets sts =
        db < static_cast<int32_t>(shard_sets.size()) ? shard_sets[db] : ShardStatefulSets{};
    const Members primary = members(sts.primary, 1);
    const Members replicas = members(sts.replicas, want_replicas);
    rolling = rolling || primary.rolling || replicas.rolling;
    const bool primary_ready = primary.ready >= 1;
    const bool ok = primary_ready && replicas.ready >= want_replicas;
    if (ok) ++ready_shards;
    const std::string name = shard_statefulset_name(set.meta.name, db);
    if (!primary_ready) {
      no_primary.push_back(name);
    } else if (!ok) {
      missing_replicas.push_back(name + " " + std::to_string(replicas.ready) + "/" +
                                 std::to_string(want_replicas) + " replicas");
    }
    shards.push_back({{"database", db},
                      {"statefulSet", name},
                      {"replicas", 1 + want_replicas},
                      {"readyReplicas", primary.ready + replicas.ready},
                      {"primaryReady", primary_ready},
                      {"ready", ok}});
  }
  json conditions = old_status.value("conditions", json::array());
  if (!no_primary.empty()) {
    conditions = set_condition(conditions, "Ready", "False", "PrimaryNotReady",
                               "shards without a ready primary: " + join(no_primary), gen, now);
  } else if (!missing_replicas.empty()) {
    conditions =
        set_condition(conditions, "Ready", "False", "ReplicasNotReady",
                      "shards below their ready replicas: " + join(missing_replicas), gen, now);
  } else {
    conditions = set_condition(conditions, "Ready", "True", "AllShardsReady",
                               "every database shard has its primary and replicas ready", gen, now);
  }
  conditions = rolling ? set_condition(conditions, "Progressing", "True", "RollingOut",
                                       "shard StatefulSets are being created or updated", gen, now)
                       : set_condition(conditions, "Progressing", "False", "Stable",
                                       "every shard StatefulSet is up to date", gen, now);
  // Degraded: a shard serves writes, but with fewer copies than asked.
  conditions =
      missing_replicas.empty()
          ? set_condition(conditions, "Degraded", "False", "AsExpected",
                          "no primary serves without its replicas", gen, now)
          : set_condition(conditions, "Degraded", "True", "ReplicasNotReady",
                          "primaries serving without all their replicas: " + join(missing_replicas),
                          gen, now);
  const json old_schema = old_status.value("schema", json::object());
  const bool schema_complete =
      (old_schema.value("job", "") == schema.name && old_schema.value("complete", false)) ||
      (schema.job != nullptr && job_complete(*schema.job));
  if (schema_complete) {
    conditions = set_condition(
        conditions, "SchemaReady", "True", "SchemaCreated",
        "the schema Job " + schema.name + " created the databases and the tables on every shard",
        gen, now);
  } else if (schema.job != nullptr && job_failed(*schema.job)) {
    conditions = set_condition(conditions, "SchemaReady", "False", "SchemaJobFailed",
                               "the schema Job " + schema.name +
                                   " failed (its pods' logs say why); delete it to run it again",
                               gen, now);
  } else {
    conditions =
        set_condition(conditions, "SchemaReady", "False", "SchemaPending",
                      "waiting for the schema Job " + schema.name + " to complete", gen, now);
  }
  json status = {{"observedGeneration", gen},
                 {"readyShards", ready_shards},
                 {"routingConfigMap", routing_config_map_name(set.meta.name)},
                 {"shards", shards},
                 {"conditions", conditions}};
  if (!credentials_secret.empty()) status["credentialsSecret"] = credentials_secret;
  status["schema"] = {
      {"period", schema.period}, {"job", schema.name}, {"complete", schema_complete}};
  return status;
}

std::optional<std::chrono::system_clock::duration> until_next_period(
    const ShardSet& set, std::chrono::system_clock::time_point now) {
  const auto today = std::chrono::floor<std::chrono::days>(now);
  const auto next = next_period_start(set.spec.time_split, today);
  if (!next) return std::nullopt;
  // At least a second: a wake-up a hair early (the queue runs on the
  // monotonic clock) finds the old period and asks again, without spinning.
  return std::max<std::chrono::system_clock::duration>(std::chrono::sys_time(*next) - now,
                                                       std::chrono::seconds(1));
}

Status ShardSetReconciler::create_credentials(const ShardSet& set) {
  auto root = kube::random_alphanumeric(kPasswordLength);
  if (!root.ok()) return root.error();
  auto replication = kube::random_alphanumeric(kPasswordLength);
  if (!replication.ok()) return replication.error();
  auto created = client_.create(kube::resources::kSecrets, set.meta.ns,
                                render_credentials_secret(set, *root, *replication));
  if (created.ok()) {
    log::info("created credentials Secret", {{"owner", set.meta.ns + "/" + set.meta.name},
                                             {"name", credentials_secret_name(set.meta.name)}});
    return {};
  }
  if (created.error().code == ErrorCode::kAlreadyExists) return {};
  return created.error();
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
  // Our last status write, when the cache has not caught up with it yet.
  const json old_status = status_memo_.current(*live);

  // 1. Credentials, before the pods that read them. Status records the Secret
  // once it exists, so a converged pass sends nothing.
  const std::string secret = credentials_secret_name(set.meta.name);
  if (old_status.value("credentialsSecret", "") != secret) {
    if (Status st = create_credentials(set); !st.ok()) return st.error();
  }

  // 2. Children, and the schema Job of today's period until status records
  // it complete (after that, its TTL may collect it without a rerun).
  const auto now = clock_.wall_now();
  const auto today = std::chrono::floor<std::chrono::days>(now);
  const std::vector<ChildKind> kinds = {
      {"ConfigMap", &res::kConfigMaps, caches_.config_maps},
      {"Service", &res::kServices, caches_.services},
      {"StatefulSet", &res::kStatefulSets, caches_.stateful_sets},
      {"PodDisruptionBudget", &res::kPodDisruptionBudgets, caches_.pdbs},
      {"Job", &res::kJobs, caches_.jobs, /*create_only=*/true, /*prune=*/false},
  };
  std::vector<json> desired = render_shard_children(set, today);
  const std::string job_name = schema_job_name(set, today);
  const json old_schema = old_status.value("schema", json::object());
  if (old_schema.value("job", "") != job_name || !old_schema.value("complete", false)) {
    desired.push_back(render_schema_job(set, today));
  }
  if (Status st = converge_children(client_, set.meta, desired, kinds); !st.ok()) {
    return st.error();
  }

  // 3. Status.
  std::vector<kube::ObjectPtr> held;
  std::vector<ShardStatefulSets> stateful_sets;
  for (int32_t db = 0; db < set.spec.databases; ++db) {
    ShardStatefulSets shard;
    held.push_back(
        caches_.stateful_sets->get(set.meta.ns, shard_statefulset_name(set.meta.name, db)));
    shard.primary = held.back().get();
    if (set.spec.replicas_per_shard > 0) {
      held.push_back(caches_.stateful_sets->get(set.meta.ns,
                                                shard_replica_statefulset_name(set.meta.name, db)));
      shard.replicas = held.back().get();
    }
    stateful_sets.push_back(shard);
  }
  kube::ObjectPtr job = caches_.jobs->get(set.meta.ns, job_name);
  const SchemaJobState schema{set.spec.time_split == "none"
                                  ? std::string("none")
                                  : period_suffix(set.spec.time_split, today),
                              job_name, job.get()};
  json status =
      compute_shard_status(set, old_status, stateful_sets, secret, schema, format_rfc3339(now));
  if (status != old_status) {
    auto patched = client_.patch(shard_sets_resource(), set.meta.ns, set.meta.name,
                                 kube::PatchType::kMerge, {{"status", status}}, "status");
    if (!patched.ok()) return patched.error();
    status_memo_.wrote(*live, status);
  }

  // 4. The next period's tables are due when it starts.
  if (auto wait = until_next_period(set, now)) {
    return kube::ReconcileResult::requeue_after(std::chrono::duration_cast<Clock::duration>(*wait));
  }
  return kube::ReconcileResult::done();
}

}  // namespace orderguard::op
