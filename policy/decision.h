// The admission decision: one AdmissionRequest's object against the policies in force.
//
// Contract:
// - evaluate() never throws and always returns a Decision.
// - Only CREATE and UPDATE of kinds with a pod spec (workload.h) and of ConfigMaps and
//   Secrets (config_object.h: their values, scored as one configuration), and CONNECT of
//   PodExecOptions (pods/exec, command only), are checked; anything else is allowed with a
//   reason. An object of a checked kind whose pod spec cannot be read is refused, and so is
//   a ConfigMap or Secret that is not a JSON object.
// - UPDATE of a ConfigMap or Secret whose data, binaryData and stringData are unchanged is
//   allowed without checks (labels, annotations, finalizers), as for pod specs below.
//   Exemptions apply as for pods (a ConfigMap runs as no service account: only the
//   requester's account and the namespace count); quarantine entries do not.
// - UPDATE whose pod spec is unchanged from oldObject is allowed without checks: scaling,
//   label changes and finalizer removal of an existing (even quarantined) workload must keep
//   working, and nothing can start a new image or command without changing the spec.
//   Objects being deleted (metadata.deletionTimestamp) are allowed for the same reason.
// - Each policy is evaluated on its own (see miner_policy.h, "Combining policies"):
//     exempt                 -> that policy contributes nothing (the reason is kept)
//     Enforce + a strong     -> refused; the message lists every finding of that policy
//     Enforce, weak only     -> allowed with warnings
//     Audit                  -> allowed with warnings ("[audit]") and audit annotations
//   The object is refused when any policy refuses it.
// - Quarantine objects (input.quarantines, quarantine.h) refuse what they name whatever the
//   policies' modes and exemptions say; those whose expiresAt is at or before input.now are
//   skipped. Their causes come first in the message.
// - The denial message lists every cause once: `rule <id>: container <name> <field path>:
//   <message>` joined by "; " (capped at kMaxMessageBytes). Warnings are each under 120
//   bytes (kMaxWarningBytes), at most kMaxWarnings of them.
// - Audit annotations (keys without the webhook prefix the API server adds):
//     miner-decision   denied | audit | warned | exempt
//     miner-rules      comma-separated rule ids found
//     miner-policies   policies that reported findings ("Quarantine" for the objects)
//     miner-findings   the causes, truncated
//     miner-exempt     the exemption reason
//   Nothing is annotated for a clean object.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/json_doc.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"
#include "policy/quarantine.h"

namespace orderguard::policy {

inline constexpr size_t kMaxWarningBytes = 119;
inline constexpr size_t kMaxWarnings = 20;
inline constexpr size_t kMaxMessageBytes = 4096;
inline constexpr size_t kMaxAnnotationBytes = 2048;

struct UserInfo {
  std::string username;  // "system:serviceaccount:ns:name" for service accounts
  std::vector<std::string> groups;
};

struct AdmissionInput {
  std::string kind;          // request.kind.kind: "Pod", "Deployment", ..., "PodExecOptions"
  std::string sub_resource;  // request.subResource: "", "ephemeralcontainers", "exec"
  std::string operation;     // "CREATE", "UPDATE", "DELETE", "CONNECT"
  std::string namespace_name;
  std::string name;
  // Labels of the request's namespace; nullopt when the caller does not know them (then
  // namespaceSelector exemptions cannot match).
  std::optional<std::map<std::string, std::string>> namespace_labels;
  UserInfo user;
  // request.object and request.oldObject (UPDATE), read in place: refs into the request's
  // index (base/json_doc.h) or into a document the caller holds (the audit's, the tests').
  // The document must outlive the evaluate() call. An invalid ref reads as null.
  JsonRef object_ref;
  JsonRef old_object_ref;
  // The Quarantine objects in force (null: none), and the wall time their expiry is compared
  // with. The default `now`, the epoch, treats none as expired: a caller that forgets the
  // clock refuses too much, never too little.
  const QuarantineSet* quarantines = nullptr;
  WallTime now{};
};

struct Decision {
  bool allowed = true;
  std::string message;  // why it is refused; empty when allowed
  std::string reason;   // why it was allowed without findings (exempt, unchanged, kind)
  std::vector<std::string> warnings;
  std::vector<Finding> findings;  // of every non-exempt policy, each tagged with its policy
  std::map<std::string, std::string> audit_annotations;
  // The MinerPolicy objects (CompiledPolicy::object_name) that refused the object (Enforce,
  // a strong finding), and those in Audit mode that would have (a strong finding), each
  // once: what denials and violations are counted under. A Quarantine object's refusal and
  // the built-in default applied when no MinerPolicy exists name no policy here.
  std::vector<std::string> refused_by;
  std::vector<std::string> reported_by;
};

Decision evaluate(const PolicySet& policies, const AdmissionInput& input);
Decision evaluate(const CompiledPolicy& policy, const AdmissionInput& input);

}  // namespace orderguard::policy
