// Scoring of the agent's evidence. Every finding is a policy::Finding {rule id, weight,
// evidence}; the agent's own rule ids (below) sit beside the ones policy::scan_process shares
// with the webhook (stratum-url, miner-binary, ...). A process is a miner when the sum over
// distinct rules of the highest weight reaches the threshold of the MinerPolicy scoring (100
// by default), with one exception that no policy can lift: a CPU hog alone is never a miner.
//
// Default weights are chosen so that a stratum URL or a known miner binary (100) is enough on
// its own, a CPU hog (40) plus a pool connection (60) is enough, and no weak signal alone is.
// A MinerPolicy's spec.scoring.weights override them by rule id.
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

struct AgentRule {
  std::string_view id;
  policy::Severity severity;
  int weight;
};

// The agent's rules with their default severity and weight.
const std::vector<AgentRule>& agent_rules();

// A finding of an agent rule, weighted by `scoring` (policy override, else the default).
policy::Finding make_finding(std::string_view rule_id, std::string field_path, std::string message,
                             std::string evidence, const policy::Scoring& scoring);

struct Verdict {
  int score = 0;
  bool miner = false;
};

// Sum of the highest weight per distinct rule; miner when score >= scoring.threshold and at
// least one finding is not a CPU hog.
Verdict score_process(const std::vector<policy::Finding>& findings, const policy::Scoring& scoring);

}  // namespace orderguard::agent
