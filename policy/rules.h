// The admission rule table: small functions, each with an id, a severity and a default
// weight, that read one PodContext (pod_context.h) under one CompiledPolicy and report
// findings {rule_id, severity, weight, container, field_path, message, evidence}.
//
//   id                     severity  what
//   invalid-image          strong    an image reference that does not parse
//   blocked-image          strong    matches a blockedImages glob, or a built-in miner image
//   blocked-digest         strong    digest in blockedDigests
//   registry-not-allowed   strong    allowedRegistries is set and the image is outside it
//   quarantined-image      strong    a quarantine entry of scope Image matches
//   quarantined-workload   strong    the object is, or belongs to, a quarantined workload
//                                    (both: spec.quarantine entries here; Quarantine objects
//                                    through find_quarantined_* in decision.cpp)
//   stratum-url            strong    stratum+tcp:// and friends
//   miner-flag             strong    xmrig options, -a rx/0, --coin monero, -o pool + -u
//   miner-binary           strong    xmrig, kinsing, kdevtmpfsi, ... as a path component
//   pool-host              strong    a host under a pool domain
//   miner-base64           strong    base64 forms of the above
//   dropper                strong    curl|wget ... | sh, chmod +x in /tmp and run, ...
//   wallet-address         strong    a Monero address
//   custom-signature       per sig.  spec.signatures (literal or RE2)
//   miner-port             weak      an endpoint host:port on a miner port
//   host-escape            weak      privileged container + hostPID + hostPath "/"
//
// Contract:
// - Weak findings never refuse anything on their own: decision.h only refuses on a strong
//   finding and lists weak ones as warnings (or alongside the strong causes).
// - A listening port (`--port 3333`, `0.0.0.0:3333`) is not a miner-port finding: only an
//   endpoint the pod would connect to is. A benign nginx with --port 3333 gets no finding.
// - Built-in text signatures and host-escape run only when the policy has
//   builtinIndicators; pool-host and miner-port use the policy's sets (built-ins when
//   enabled, plus spec.poolHosts and spec.minerPorts); user lists and quarantine always run.
// - Findings are de-duplicated by (rule, container, field path) and capped at kMaxFindings.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "policy/finding.h"
#include "policy/indicators.h"
#include "policy/miner_policy.h"
#include "policy/pod_context.h"
#include "policy/quarantine.h"

namespace orderguard::policy {

inline constexpr size_t kMaxFindings = 100;
inline constexpr int kMinerPortWeight = 30;
inline constexpr int kHostEscapeWeight = 40;
inline constexpr int kWeakSignatureWeight = 30;

struct Rule;

struct RuleInput {
  const PodContext& pod;
  const CompiledPolicy& policy;
  const Indicators& indicators;
  const Rule& rule;
};

struct Rule {
  std::string_view id;
  Severity severity;
  int weight;
  std::string_view summary;
  void (*check)(const RuleInput& in, std::vector<Finding>* out);
};

std::span<const Rule> rule_table();
const Rule* find_rule(std::string_view id);

// Quarantine matching, shared by the rule table (a MinerPolicy's spec.quarantine entries) and
// the Quarantine objects (decision.h): quarantined-image and quarantined-workload findings,
// strong, naming the entry (its field_path) and its reason. Entries not in force at `now` are
// skipped.
void find_quarantined_images(const PodContext& pod, std::span<const QuarantineEntry> entries,
                             WallTime now, std::vector<Finding>* out);
void find_quarantined_workloads(const PodContext& pod, std::span<const QuarantineEntry> entries,
                                WallTime now, std::vector<Finding>* out);

// Runs every rule of the table. Weights come from the policy's scoring overrides, else the
// table; findings carry the policy's name.
std::vector<Finding> run_rules(const PodContext& pod, const CompiledPolicy& policy);

}  // namespace orderguard::policy
