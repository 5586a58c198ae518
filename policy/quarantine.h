// Quarantine (security.orderguard.io/v1alpha1, cluster-scoped): one object per quarantined
// workload or image. The node agent creates one when it evicts a miner; the webhook reads them
// through an informer and refuses what they name until the object is deleted or expires.
//
//   metadata:
//     name: deployment.shop.web            quarantine_name(): deterministic, see below
//   spec:
//     scope: Workload | Image
//     namespace: shop                      Workload: the workload's namespace (required);
//                                          Image: where the miner was seen
//     workload: {kind: Deployment, name: web}       Workload only (required there)
//     image: docker.io/library/nginx@sha256:..      Image: refused everywhere (required there);
//                                          Workload: the image the miner ran in, a record only
//     reason: "stratum-url in pod shop/web-7d4b9-x2k on node n1 (pid 4321 xmrig)"
//     nodeName: n1                         the node whose agent found the miner
//     createdBy: orderguard-agent-x7k2p    the agent Pod that created it
//     expiresAt: "2026-09-01T00:00:00Z"    optional: from then on it refuses nothing, and the
//                                          webhook's audit deletes it
//
// Everything but expiresAt is immutable (CEL rules in crds/quarantines.yaml): what an object
// refuses, and which node and agent claimed it, are fixed when it is created, so an admission
// policy can check the creator's claims on CREATE alone.
//
// Contract:
// - Matching is the one of a MinerPolicy's spec.quarantine entries (miner_policy.h, rules.h):
//   Workload refuses new pods of the workload (by owner reference, or through the owning
//   ReplicaSet / Job), objects it owns, and creating or changing its pod template; Image refuses
//   the image everywhere. Unlike those entries, objects apply whatever the MinerPolicies' modes
//   and exemptions say: an object is an explicit decision about one workload or image, and
//   deleting it is how it is lifted.
// - compile_quarantine() validates a Quarantine object and reports every problem at once as
//   one kInvalid error; it never throws. It reads the object through JsonRef, its spec
//   through api/'s typed decoder (api/security.h: the shape, field paths, unknown fields);
//   the values (scope, image, kind, expiresAt) are checked here. Building
//   one (to_quarantine_object, to_json) gives an nlohmann DOM, the model for writing JSON.
// - quarantine_name() is deterministic: the same workload (namespace, kind, name), or the same
//   image (its digest when known, else the reference), always gives the same name, and
//   different ones never do. The agent therefore only ever creates, and reads AlreadyExists as
//   "already quarantined". Readable when it fits ("deployment.shop.web", "pod.shop.x",
//   "image.sha256-<hex>"); otherwise "<prefix>.h-<128-bit SHA-256 prefix in hex>", which no
//   readable name can equal (kinds and namespaces hold no ".", and "h-" names are hashed only).
// - An expired object (expiresAt at or before `now`) matches nothing.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/security.h"
#include "base/json_doc.h"
#include "base/result.h"
#include "base/time_format.h"
#include "policy/image_ref.h"

namespace orderguard::policy {

inline constexpr std::string_view kQuarantineApiVersion = "security.orderguard.io/v1alpha1";
inline constexpr std::string_view kQuarantineKind = "Quarantine";

enum class QuarantineScope { kWorkload, kImage };
std::string_view to_string(QuarantineScope scope);

struct WorkloadRef {
  std::string kind;  // Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
                     // Job, CronJob or Pod
  std::string name;
};

// One quarantine: a Quarantine object's spec, or an entry of a MinerPolicy's spec.quarantine.
struct QuarantineEntry {
  QuarantineScope scope = QuarantineScope::kWorkload;
  std::string image;                  // as written: a reference or a bare digest
  std::optional<ImageRef> image_ref;  // when `image` is a reference
  std::string digest;                 // from the reference or the bare digest
  std::string namespace_name;
  WorkloadRef workload;
  std::string reason;
  std::string time;  // MinerPolicy entries only: when it was added
  // Quarantine objects only.
  std::string node_name;
  std::string created_by;
  std::optional<WallTime> expires_at;
  // Where it comes from, for messages: "Quarantine deployment.shop.web" or
  // "MinerPolicy x spec.quarantine[3]"'s "spec.quarantine[3]".
  std::string field_path;

  // Image scope matching: a digest matches that digest under any name; a reference without
  // digest matches that name (and tag, if given).
  bool matches_image(const ImageRef& ref) const;
  // Whether it refuses anything at `now`.
  bool in_force(WallTime now) const { return !expires_at || now < *expires_at; }
};

// Validates and compiles a decoded spec (api/security.h): a Quarantine's, or a MinerPolicy's
// spec.quarantine entry at `path` ("spec.quarantine[3]"), into `entry`. Problems are (field
// path under `path`, message); none means `entry` is usable.
std::vector<std::pair<std::string, std::string>> compile_quarantine_spec(
    const api::QuarantineSpec& spec, const std::string& path, QuarantineEntry* entry);

// A Quarantine object, compiled. field_path is "Quarantine <name>".
Result<QuarantineEntry> compile_quarantine(JsonRef object);

// The object name for `entry` (see the contract above): a DNS subdomain of at most 253 bytes.
std::string quarantine_name(const QuarantineEntry& entry);

// The Quarantine object the agent creates for `entry` (name from quarantine_name()).
nlohmann::json to_quarantine_object(const QuarantineEntry& entry);

// The JSON form of a MinerPolicy spec.quarantine entry.
nlohmann::json to_json(const QuarantineEntry& entry);

// The Quarantine objects in force, indexed for admission: Workload entries by namespace (a
// request only ever meets those of its own namespace), Image entries in one list.
struct QuarantineSet {
  std::map<std::string, std::vector<QuarantineEntry>, std::less<>> workloads;
  std::vector<QuarantineEntry> images;

  size_t size() const;
  const std::vector<QuarantineEntry>& workloads_in(std::string_view ns) const;
};

QuarantineSet index_quarantines(std::vector<QuarantineEntry> entries);

}  // namespace orderguard::policy
