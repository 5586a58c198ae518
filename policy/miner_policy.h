// MinerPolicy (security.orderguard.io/v1alpha1, cluster-scoped): the model, its validation
// and compilation, the built-in default, and how several policies combine.
//
//   spec:
//     mode: Enforce | Audit              default Enforce; Audit allows with warnings and
//                                        audit annotations
//     builtinIndicators: true            default true: built-in miner images, signatures,
//                                        pool hosts and ports (indicators.h) apply too
//     blockedImages: ["**/xmrig", "evil.io/**", "xmrig:6.*"]     globs, image_match.h
//     blockedDigests: ["sha256:<64 hex>"]
//     allowedRegistries: ["registry.corp.io", "docker.io/library"]   empty: all allowed
//     signatures:                        searched in command, args, env values, exec hooks
//     - {name: corp-pool, literal: "pool.corp-evil.io", severity: Strong}
//     - {name: xmr-word, regex: "(?i)\\bxmr[a-z]+", severity: Weak}
//     poolHosts: ["pool.example.net"]    extra pool domains (subdomains included)
//     minerPorts: [3333]                 extra miner ports
//     exemptions:
//       namespaces: [kube-system]
//       namespaceSelector: {matchLabels: {..}, matchExpressions: [{key, operator, values}]}
//       serviceAccounts: ["ci:runner"]   "namespace:name"
//     quarantine:                        deprecated: what the node agent wrote before
//                                        Quarantine objects (quarantine.h); still honoured
//     - {image: "docker.io/evil/miner@sha256:..", namespace: shop,
//        workload: {kind: Deployment, name: web}, scope: Workload | Image,
//        reason: "stratum-url in args", time: "2026-08-30T10:00:00Z"}
//     scoring: {threshold: 100, weights: {miner-port: 30}}        node agent scoring
//     agent:                             node agent only (agent/exclusions.h)
//       exclusions:                      processes never reported as miners nor acted on
//         executables: ["/opt/corp/bin/*"]   exe path globs (exe_glob.h), host processes only
//         namespaces: [gpu-batch]            Pods in these namespaces
//         podSelector: {matchLabels: {..}, matchExpressions: [..]}   Pods by their labels
//
// Contract:
// - compile() validates everything and reports every problem at once as one kInvalid error
//   naming each field, e.g. `spec.signatures[2].regex: invalid regex: missing ): (a+`; the
//   webhook refuses such a MinerPolicy at admission with that message. It never throws.
// - compile() reads the object through JsonRef, as the policy reads every object
//   (one read model: the webhook's index of a request, or a document the caller holds),
//   and its spec through api/'s typed decoder (api/security.h), which checks the shape:
//   types, list bounds, unknown fields, each with its field path. compile() then checks
//   the values (globs, RE2, digests, registries, selectors, rule ids) and leaves alone a
//   field the decoder already refused. A null field is an absent one; an integer field
//   takes only numbers written without fraction or exponent, as a DOM's is_number_integer
//   did.
// - User regexes are RE2 (linear time) with bounded pattern length and program size, so a
//   policy cannot make the webhook or the agent hang.
// - A CompiledPolicy is immutable after compile() and safe to share between threads.
//
// Exemptions (an exempt object gets nothing from that policy, including its quarantine):
// - namespaces: exact names.
// - namespaceSelector: Kubernetes label selector semantics over the namespace's labels. When
//   the labels are not known to the caller, the selector does not match (no exemption). An
//   empty selector is refused: it would exempt every namespace.
// - serviceAccounts "ns:name": matches when the requester is that service account
//   (system:serviceaccount:ns:name), or when the object is in namespace ns and its pod spec
//   runs as serviceAccountName name. The second form is what makes exempting a controller-
//   managed workload work (its pods are created by the ReplicaSet controller, not by the
//   service account), and it is no wider than exempting that namespace: only objects in ns
//   can use a service account of ns.
//
// Agent exclusions: every policy's apply (a union; MinerPolicies are cluster-scoped, so only
// cluster administrators write them). An empty podSelector is refused: it would exclude every
// Pod. They change nothing at admission.
//
// Quarantine entries (scope decides what is refused; see rules.h for the matching). The agent
// now creates Quarantine objects instead (quarantine.h), which match the same way; entries
// left in spec.quarantine are honoured, under the policy's mode and exemptions, until removed:
// - Workload: new pods of {namespace, workload} (by owner reference, or through the owning
//   ReplicaSet `<deployment>-<pod-template-hash>` / Job `<cronjob>-<n>`), objects it owns,
//   and creating it again or changing its pod template, until an admin removes the entry.
//   The agent should record the top-level owner (the Deployment, not its ReplicaSet; the
//   CronJob, not its Job), or the next rollout or schedule escapes the entry.
// - Image: `image` everywhere. A digest (bare `sha256:..` or `name@sha256:..`) matches that
//   digest under any name; a reference without digest matches that name (and tag, if given).
//   Only for an image that is itself the miner, never a base image whose container fetched
//   a miner at run time.
//
// Combining policies (combine()): each policy is evaluated on its own and the decisions are
// combined (decision.h): an object is refused when any Enforce policy that does not exempt
// it has a strong finding; findings of Audit policies are warnings. This gives a union of
// blocks, Enforce wins over Audit, and an exemption only lifts the policy that grants it (an
// exemption in one policy cannot switch off another team's policy). No policy at all means
// the built-in default. For the agent, PolicySet::scoring() takes the lowest threshold and
// the highest weight per rule (the most sensitive setting wins, like the union of blocks).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json_doc.h"
#include "base/result.h"
#include "policy/exe_glob.h"
#include "policy/finding.h"
#include "policy/image_match.h"
#include "policy/image_ref.h"
#include "policy/indicators.h"
#include "policy/quarantine.h"

namespace re2 {
class RE2;
}

namespace orderguard::policy {

inline constexpr std::string_view kMinerPolicyApiVersion = "security.orderguard.io/v1alpha1";
inline constexpr std::string_view kMinerPolicyKind = "MinerPolicy";
inline constexpr std::string_view kBuiltInPolicyName = "orderguard-builtin";

// Bounds on user input, so one MinerPolicy cannot make evaluation slow.
inline constexpr size_t kMaxSignaturePatternLength = 1024;
inline constexpr int kMaxRegexProgramSize = 20000;   // RE2 instructions
inline constexpr int64_t kRegexMaxMemory = 2 << 20;  // bytes, RE2 compile and DFA budget

enum class Mode { kEnforce, kAudit };
std::string_view to_string(Mode mode);

struct LabelRequirement {
  enum class Operator { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kExists;
  std::vector<std::string> values;
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelRequirement> match_expressions;

  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct ServiceAccountRef {
  std::string namespace_name;
  std::string name;
};

struct Exemptions {
  std::set<std::string, std::less<>> namespaces;
  std::optional<LabelSelector> namespace_selector;
  std::vector<ServiceAccountRef> service_accounts;
};

struct Signature {
  Signature();
  Signature(Signature&&) noexcept;
  Signature& operator=(Signature&&) noexcept;
  ~Signature();

  // Offset and length of the first match in `text`.
  std::optional<std::pair<size_t, size_t>> find(std::string_view text) const;

  std::string name;
  std::string field_path;  // "spec.signatures[2]"
  std::string literal;     // exactly one of literal and regex is set
  std::unique_ptr<re2::RE2> regex;
  Severity severity = Severity::kStrong;
};

struct Scoring {
  int threshold = kDefaultThreshold;
  std::map<std::string, int, std::less<>> weights;  // rule id -> weight

  int weight(std::string_view rule_id, int default_weight) const;
};

// spec.agent.exclusions; each entry keeps its field path for reports
// ("MinerPolicy x spec.agent.exclusions.executables[0]").
struct AgentExclusions {
  struct Executable {
    ExeGlob glob;
    std::string field_path;
  };
  std::vector<Executable> executables;
  std::map<std::string, std::string, std::less<>> namespaces;  // name -> field path
  std::optional<LabelSelector> pod_selector;

  bool empty() const { return executables.empty() && namespaces.empty() && !pod_selector; }
};

struct CompiledPolicy {
  std::string name;
  // metadata.name of the MinerPolicy object it was compiled from, also for the built-in
  // default that stands in for one that does not compile (whose `name` says so); empty for
  // the built-in default applied when no MinerPolicy exists. What counts are kept under.
  std::string object_name;
  int64_t generation = 0;
  Mode mode = Mode::kEnforce;
  bool builtin_indicators = true;
  std::vector<ImagePattern> blocked_images;  // user patterns; built-ins live in Indicators
  std::set<std::string, std::less<>> blocked_digests;
  std::vector<RegistryPrefix> allowed_registries;
  std::vector<Signature> signatures;
  DomainSet pool_domains;  // built-ins when enabled, plus spec.poolHosts
  PortSet miner_ports;     // built-ins when enabled, plus spec.minerPorts
  Exemptions exemptions;
  std::vector<QuarantineEntry> quarantine;
  Scoring scoring;
  AgentExclusions agent_exclusions;
};

// A namespace name as the agent's exclusions accept it (flag or MinerPolicy): 1 to 63 bytes.
bool plausible_namespace_name(std::string_view name);

// Validates and compiles a MinerPolicy object (apiVersion/kind optional; metadata.name used
// for messages). All problems are reported together. The object is read in place; the
// CompiledPolicy owns what it keeps.
Result<CompiledPolicy> compile(JsonRef miner_policy);

// Enforce, built-in indicators, nothing else: what applies when no MinerPolicy exists.
CompiledPolicy built_in_default();

struct PolicySet {
  std::vector<CompiledPolicy> policies;

  // Lowest threshold, highest weight per rule across the policies.
  Scoring scoring() const;
};

// The policies in force. Empty input gives the built-in default.
PolicySet combine(std::vector<CompiledPolicy> policies);

}  // namespace orderguard::policy
