// The typed specs of the security.orderguard.io kinds, MinerPolicy and Quarantine, with the
// defaults their CRDs declare (crds/minerpolicies.yaml, crds/quarantines.yaml), and their
// decoders over base's FieldReader. policy/ compiles these specs (miner_policy.h,
// quarantine.h): globs, RE2, digests, image references, selector operators and the rules
// between fields are its part; the shape of the JSON is this one's.
//
// Contract (see base/field_reader.h for the reader's):
//  - decode_*() is strict: every problem of shape is appended to `problems` with its field
//    path ("spec.signatures[2].name: must be a string"), unknown fields included, and the
//    decoding goes on so that one answer lists them all. With `problems` nullptr it is best
//    effort (read_*()).
//  - An absent or null spec decodes to the defaults without a problem; a spec that is not
//    an object is the problem "spec: must be an object".
//  - Enumerations (mode, severity, scope, operator) are kept as written, and so are the
//    strings policy/ parses (images, digests, globs, regexes, times): policy/ refuses bad
//    values with its own messages.
//  - Type problems are worded as MinerPolicy's were before the reader: "must be a list",
//    "must be true or false". A list longer than its bound (kMaxListEntries,
//    kMaxQuarantineEntries) is one problem and reads as absent.
//  - Never throws and never crashes on hostile input.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/field_reader.h"
#include "base/json_doc.h"

namespace orderguard::api {

// Bounds on user input, so one MinerPolicy cannot make evaluation slow.
inline constexpr size_t kMaxListEntries = 1000;  // per list (images, signatures, ...)
inline constexpr size_t kMaxQuarantineEntries = 10000;

// The CRD defaults.
inline constexpr std::string_view kDefaultMode = "Enforce";
inline constexpr std::string_view kDefaultSeverity = "Strong";
inline constexpr int64_t kDefaultScoringThreshold = 100;

struct LabelSelectorRequirementSpec {
  std::string key;
  std::string op;  // In | NotIn | Exists | DoesNotExist, as written
  std::vector<std::string> values;
};

// A Kubernetes label selector (matchLabels, matchExpressions).
struct LabelSelectorSpec {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirementSpec> match_expressions;
};

struct SignatureSpec {
  std::string name;
  std::optional<std::string> literal;  // policy/ wants exactly one of the two
  std::optional<std::string> regex;
  std::string severity = std::string(kDefaultSeverity);  // Strong | Weak, as written
};

struct WorkloadRefSpec {
  std::string kind;
  std::string name;
};

// A Quarantine's spec, or an entry of a MinerPolicy's deprecated spec.quarantine. The two
// share the meaning of their common fields; each kind has only its own (see the decoders).
struct QuarantineSpec {
  std::string scope;  // Workload | Image, as written; the CRDs require it, policy/ reads ""
                      // as Workload as it always did
  std::string namespace_name;
  WorkloadRefSpec workload;
  std::string image;
  std::string reason;
  std::string time;  // MinerPolicy entries only: when the agent added it (RFC 3339)
  // Quarantine objects only.
  std::string node_name;
  std::string created_by;
  std::string expires_at;  // RFC 3339, as written; "" when absent
};

struct MinerPolicyExemptionsSpec {
  std::vector<std::string> namespaces;
  std::optional<LabelSelectorSpec> namespace_selector;  // present, even if empty
  std::vector<std::string> service_accounts;            // "namespace:name", as written
};

struct ScoringSpec {
  int64_t threshold = kDefaultScoringThreshold;  // 1 to INT_MAX
  std::map<std::string, int64_t> weights;        // rule id -> 0 to 1000000
};

struct AgentExclusionsSpec {
  std::vector<std::string> executables;
  std::vector<std::string> namespaces;
  std::optional<LabelSelectorSpec> pod_selector;  // present, even if empty
};

struct MinerPolicySpec {
  std::string mode = std::string(kDefaultMode);  // Enforce | Audit, as written
  bool builtin_indicators = true;
  std::vector<std::string> blocked_images;
  std::vector<std::string> blocked_digests;
  std::vector<std::string> allowed_registries;
  std::vector<SignatureSpec> signatures;
  std::vector<std::string> pool_hosts;
  std::vector<int64_t> miner_ports;  // the valid ones (1 to 65535)
  MinerPolicyExemptionsSpec exemptions;
  std::vector<QuarantineSpec> quarantine;  // deprecated
  ScoringSpec scoring;
  AgentExclusionsSpec agent_exclusions;  // spec.agent.exclusions
};

// `spec` is the object's .spec. Strict when `problems` is given (see above); `trace`
// records the field paths read (the CRD agreement test).
MinerPolicySpec decode_miner_policy(JsonRef spec, std::vector<std::string>* problems,
                                    FieldTrace* trace = nullptr);
QuarantineSpec decode_quarantine(JsonRef spec, std::vector<std::string>* problems,
                                 FieldTrace* trace = nullptr);

// Best effort: what has the right type, defaults for the rest.
MinerPolicySpec read_miner_policy(JsonRef spec);
MinerPolicySpec read_miner_policy(const nlohmann::json& spec);
QuarantineSpec read_quarantine(JsonRef spec);
QuarantineSpec read_quarantine(const nlohmann::json& spec);

}  // namespace orderguard::api
