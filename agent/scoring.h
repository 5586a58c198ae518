// Scoring of the agent's evidence. Every finding is a policy::Finding {rule id, weight,
// evidence}; the agent's own rule ids (below) sit beside the ones policy::scan_process shares
// with the webhook (stratum-url, miner-binary, ...). A process is a miner when the sum over
// distinct rules of the highest weight reaches the threshold of the MinerPolicy scoring (100
// by default), with one exception that no policy can lift: a CPU hog alone is never a miner.
//
// Default weights are chosen so that a stratum URL or a known miner binary (100) is enough on
// its own, and no weak signal alone is. A MinerPolicy's spec.scoring.weights override them by
// rule id; a weight of 0 turns a rule off.
//
// Evidence combines by class: sustained CPU (cpu-hog) together with any identity signal (a
// deleted, memfd or temp-dir executable, a kernel-thread name on a user process, an argv[0]
// naming a well-known program other than the executable) or any network signal (a session to a
// miner port on a non-loopback address, a connection to a pool host) is a miner whatever the
// sum, because a miner must both compute and hide or report its work; the score of such a
// process is raised to the threshold. Environment evidence (LD_PRELOAD into /tmp...) only adds
// its weight. README.md ("Scoring") has the table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

// Process rules.
inline constexpr std::string_view kRuleCpuHog = "cpu-hog";
inline constexpr std::string_view kRulePoolConnection = "pool-connection";
inline constexpr std::string_view kRuleMinerPortConnection = policy::kRuleMinerPort;
inline constexpr std::string_view kRuleExeDeleted = "exe-deleted";
inline constexpr std::string_view kRuleExeMemfd = "exe-memfd";
inline constexpr std::string_view kRuleExeTmp = "exe-tmp";
inline constexpr std::string_view kRuleFakeKernelThread = "fake-kernel-thread";
inline constexpr std::string_view kRuleArgv0Mismatch = "argv0-mismatch";
inline constexpr std::string_view kRuleEnvPreload = "env-preload";
inline constexpr std::string_view kRuleHugePages = "huge-pages";
// Host rules.
inline constexpr std::string_view kRuleHiddenProcess = "hidden-process";
inline constexpr std::string_view kRuleLdPreload = "ld-preload";
inline constexpr std::string_view kRuleCronPersistence = "cron-persistence";
inline constexpr std::string_view kRuleSystemdPersistence = "systemd-persistence";
inline constexpr std::string_view kRuleDropperFile = "dropper-file";
inline constexpr std::string_view kRuleSshKeyAdded = "ssh-key-added";
inline constexpr std::string_view kRuleBinaryModified = "binary-modified";
inline constexpr std::string_view kRuleOversizedFile = "oversized-file";

// What a piece of evidence is about. Only kCpu combined with kIdentity or kNetwork decides on
// its own (see above); the other classes add their weights.
enum class EvidenceClass { kIdentity, kNetwork, kCpu, kMemory, kEnvironment, kHost, kContent };

struct AgentRule {
  std::string_view id;
  policy::Severity severity;
  int weight;
  EvidenceClass evidence_class;
};

// The agent's rules with their default severity and weight.
const std::vector<AgentRule>& agent_rules();

// A finding of an agent rule, weighted by `scoring` (policy override, else the default).
policy::Finding make_finding(std::string_view rule_id, std::string field_path, std::string message,
                             std::string evidence, const policy::Scoring& scoring);

// The class of a rule id: the agent's table, else kContent (the command-line and image rules
// policy::scan_process shares with the webhook).
EvidenceClass evidence_class(std::string_view rule_id);

struct Verdict {
  int score = 0;
  bool miner = false;
  bool combined = false;  // CPU plus identity or network evidence decided it
};

// Sum of the highest weight per distinct rule, raised to the threshold when CPU combines with
// identity or network evidence (each with a weight above 0); miner when the score reaches
// scoring.threshold and at least one finding is not a CPU hog.
Verdict score_process(const std::vector<policy::Finding>& findings, const policy::Scoring& scoring);

}  // namespace orderguard::agent
