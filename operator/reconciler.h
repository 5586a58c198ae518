// The OrderService reconciler: one pass reads the whole state from the
// informer caches, decides zone health, applies every desired child, deletes
// the children no longer desired, and writes status when it changed.
//
// Steps (each in its own file):
//  1. failover.cpp          zone health from Nodes and Deployments
//  2. render.cpp / split.cpp the plan per zone and the desired children
//  3. reconcile_children.cpp server-side apply (field manager
//     orderguard-operator, force) of each child that differs from the cache,
//     deletion of owned children that are no longer desired
//  4. reconcile_status.cpp   conditions (metav1.Condition rules), per-zone
//     status, Events on failover and recovery; written only when changed
//
// A pass that finds everything converged sends no request at all: a child is
// applied only when it is missing, when its desired content changed (hash
// annotation) or when the live object no longer holds the desired fields.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kube/client.h"
#include "kube/controller.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "operator/failover.h"
#include "operator/render.h"
#include "operator/status_memo.h"
#include "operator/types.h"

namespace orderguard::op {

inline constexpr const char* kSpecHashAnnotation = "tiers.orderguard.io/spec-hash";

// The caches a pass reads; all must be running and outlive the reconciler.
struct OrderServiceCaches {
  kube::Informer* order_services = nullptr;
  kube::Informer* deployments = nullptr;
  kube::Informer* hpas = nullptr;
  kube::Informer* pdbs = nullptr;
  kube::Informer* services = nullptr;
  kube::Informer* config_maps = nullptr;
  kube::Informer* nodes = nullptr;
  kube::Informer* cache_tiers = nullptr;
  kube::Informer* shard_sets = nullptr;
};

// ---- pure helpers (unit tested) ----

// True when every field of `desired` is in `live` with the same value
// (objects: recursively; arrays: same length, element by element). An empty
// desired map or list matches an absent one: the server omits them.
bool is_subset(const json& desired, const json& live);
// Stable hash of the object's JSON (fnv1a64, base/hash.h), as hex.
std::string content_hash(const json& object);
// Whether `desired` (carrying its hash annotation) must be applied over `live`.
bool needs_apply(const json& desired, const json* live);

// One child kind a converge pass handles.
struct ChildKind {
  std::string kind;
  const kube::Resource* resource = nullptr;
  kube::Informer* cache = nullptr;
  bool create_only = false;  // never updated once it exists
  bool prune = true;         // owned objects not desired are deleted
};

// Which children were last found to match their desired state, by object and
// resourceVersion: an object is immutable at a resourceVersion, and its desired
// state is named by its content hash, so a match found once holds until either
// changes. With it a pass over unchanged children decodes none of them from the
// (compact) caches. Thread-safe; bounded (it forgets everything past kMaxEntries).
class ApplyMemo {
 public:
  static constexpr size_t kMaxEntries = 1 << 20;
  // Whether `key` at `resource_version` was found to match the desired state `hash`.
  bool matches(std::string_view key, std::string_view resource_version,
               std::string_view hash) const;
  void record(std::string_view key, std::string_view resource_version, std::string_view hash);

 private:
  struct Seen {
    uint64_t resource_version = 0;
    uint64_t hash = 0;
  };
  mutable std::mutex mu_;
  // Keys, versions and hashes are kept as 64-bit FNV-1a digests: a few bytes
  // per child of a large cache instead of three strings.
  std::unordered_map<uint64_t, Seen> seen_;
};

// Step 3 of every reconciler: applies each of `desired` that needs it
// (needs_apply; create_only kinds only when missing) and deletes the owner's
// pruned-kind children that are not in `desired`. Every desired kind must be
// in `kinds`. `applied`, when given, receives what the server answered to each
// apply, keyed "Kind/name": newer than the caches until the watch delivers it.
Status converge_children(kube::Client& client, const ObjectMeta& owner,
                         const std::vector<json>& desired, const std::vector<ChildKind>& kinds,
                         std::map<std::string, json>* applied = nullptr, ApplyMemo* memo = nullptr);

// Sets a condition in `conditions` (a metav1.Condition list): lastTransitionTime
// changes only when status changes; the list stays ordered by first insertion.
json set_condition(json conditions, const std::string& type, const std::string& status,
                   const std::string& reason, const std::string& message, int64_t generation,
                   const std::string& now);

// The whole status for this pass. Degraded says where the share of unhealthy
// zones went: ZoneFailover (to the healthy zones it names), MinHealthyZones
// (unhealthy zones kept serving to reach failover.minHealthyZones) or
// NoHealthyZone (no zone is healthy, so none took anything over).
json compute_status(const OrderService& svc, const std::vector<ZonePlan>& plan,
                    const std::vector<ZoneHealth>& health,
                    const std::map<std::string, json>& deployments,
                    const std::vector<std::string>& missing_refs, const std::string& now);

// An Event a pass records about zone health, from the status before the pass
// (svc.status) and its verdicts. A zone turning unhealthy: ZoneFailover naming
// the zones its share moves to, or ZoneUnhealthy when minHealthyZones keeps it
// serving. The last healthy zone going: one NoHealthyZone, since no zone can
// take a share. A zone healthy again: ZoneRecovered (Normal).
struct ZoneEvent {
  bool normal = false;  // Normal, else Warning
  std::string reason;
  std::string message;
};
std::vector<ZoneEvent> zone_events(const OrderService& svc, const std::vector<ZonePlan>& plan,
                                   const std::vector<ZoneHealth>& health);

class OrderServiceReconciler {
 public:
  // `events` may be null (no Events recorded).
  OrderServiceReconciler(kube::Client& client, OrderServiceCaches caches,
                         kube::EventRecorder* events, const Clock& clock);

  kube::ReconcileOutcome reconcile(const kube::Request& request);

 private:
  Status reconcile_children(const OrderService& svc, const std::vector<json>& desired,
                            std::map<std::string, json>* applied);
  Status reconcile_status(const OrderService& svc, const json& live, const json& status,
                          const std::vector<ZonePlan>& plan, const std::vector<ZoneHealth>& health);
  void record_zone_events(const json& live, const OrderService& svc,
                          const std::vector<ZonePlan>& plan, const std::vector<ZoneHealth>& health);

  kube::Client& client_;
  OrderServiceCaches caches_;
  kube::EventRecorder* events_;
  const Clock& clock_;
  StatusMemo status_memo_;
  ApplyMemo apply_memo_;
};

}  // namespace orderguard::op
