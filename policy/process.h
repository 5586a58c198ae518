// The node agent's side of the indicators: one running process (from /proc) checked with the
// same matchers and rule ids as the admission rules, so the agent and the webhook agree on
// what a miner is and report it the same way.
//
// Rule ids produced: miner-binary (comm, exe, argv), stratum-url, miner-flag, pool-host,
// miner-base64, wallet-address, dropper (argv and environ), custom-signature (with a policy).
// Field paths: "comm", "exe", "cmdline[i]", "environ[i]".
//
// Scoring: score = the sum over distinct rule ids of the highest weight found for that rule
// (ten stratum URLs are one signal, not ten). A process is a miner when the score reaches
// the threshold; with the defaults any strong finding does and no weak one alone does. The
// agent adds its own findings (CPU hog, pool connection, exe in /tmp) before comparing.
//
// Contract: pure function of its input, never throws, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::policy {

struct ProcessInfo {
  std::string comm;                  // /proc/<pid>/comm (at most 15 characters)
  std::string exe;                   // readlink /proc/<pid>/exe, may end in " (deleted)"
  std::vector<std::string> cmdline;  // /proc/<pid>/cmdline split at NUL
  std::optional<std::vector<std::string>> environ;  // /proc/<pid>/environ, "KEY=value"
};

struct ProcessFindings {
  std::vector<Finding> findings;
  int score = 0;
  bool strong = false;  // any strong finding

  bool is_miner(int threshold) const { return score >= threshold; }
};

// Built-in indicators only.
ProcessFindings scan_process(const ProcessInfo& process);
// The policy's indicators (built-ins when enabled, its pool hosts and signatures) and its
// scoring weights.
ProcessFindings scan_process(const ProcessInfo& process, const CompiledPolicy& policy);

// Sum over distinct rule ids of the highest weight (after `scoring` overrides).
int score_findings(const std::vector<Finding>& findings, const Scoring& scoring);

}  // namespace orderguard::policy
