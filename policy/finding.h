// Findings: what every rule reports, on the admission side (a pod spec) and on the node agent
// side (a running process). Both sides use the same rule ids, so metrics, Events, audit
// annotations and quarantine reasons agree whichever component saw the miner.
//
// Severity decides what a finding can do on its own: a strong finding refuses a pod (in an
// Enforce policy) and marks a process as a miner; a weak one only warns, and on the agent only
// adds its weight to a score that must pass the policy threshold.
#pragma once

#include <string>
#include <string_view>

namespace orderguard::policy {

enum class Severity {
  kWeak,    // a miner port, a privileged host pod: common in benign workloads too
  kStrong,  // a stratum URL, a miner binary, a blocked image: enough on its own
};

std::string_view to_string(Severity severity);

// Rule ids (kebab-case). Stable: they appear in denial messages, metrics and annotations.
inline constexpr std::string_view kRuleInvalidImage = "invalid-image";
inline constexpr std::string_view kRuleBlockedImage = "blocked-image";
inline constexpr std::string_view kRuleBlockedDigest = "blocked-digest";
inline constexpr std::string_view kRuleRegistryNotAllowed = "registry-not-allowed";
inline constexpr std::string_view kRuleQuarantinedImage = "quarantined-image";
inline constexpr std::string_view kRuleQuarantinedWorkload = "quarantined-workload";
inline constexpr std::string_view kRuleStratumUrl = "stratum-url";
inline constexpr std::string_view kRuleMinerFlag = "miner-flag";
inline constexpr std::string_view kRuleMinerBinary = "miner-binary";
inline constexpr std::string_view kRulePoolHost = "pool-host";
inline constexpr std::string_view kRuleMinerBase64 = "miner-base64";
inline constexpr std::string_view kRuleDropper = "dropper";
inline constexpr std::string_view kRuleWalletAddress = "wallet-address";
inline constexpr std::string_view kRuleMinerPort = "miner-port";
inline constexpr std::string_view kRuleHostEscape = "host-escape";
inline constexpr std::string_view kRuleCustomSignature = "custom-signature";

// Default weights for scoring (the agent sums them; see process.h). A strong finding alone
// reaches the default threshold of 100; no weak finding does.
inline constexpr int kStrongWeight = 100;
inline constexpr int kDefaultThreshold = 100;

struct Finding {
  std::string rule_id;
  Severity severity = Severity::kStrong;
  int weight = 0;
  std::string container;   // container name; empty for pod-level and process findings
  std::string field_path;  // "spec.template.spec.containers[1].args[3]", "cmdline[2]", "exe"
  std::string message;     // readable, includes a short excerpt of the evidence
  std::string evidence;    // the matched text, truncated
  std::string policy;      // name of the MinerPolicy that produced it; empty for process scans
};

// "rule <id>: container <name> <field path>: <message>"; the container part is left out for
// pod-level findings. Used for denial messages and events.
std::string format_cause(const Finding& finding);

}  // namespace orderguard::policy
