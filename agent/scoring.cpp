#include "agent/scoring.h"

#include <algorithm>

#include "policy/process.h"

namespace orderguard::agent {

using policy::Severity;

const std::vector<AgentRule>& agent_rules() {
  static const std::vector<AgentRule>* const kRules = new std::vector<AgentRule>{
      {kRuleCpuHog, Severity::kWeak, 40},
      {kRulePoolConnection, Severity::kWeak, 60},
      {kRuleMinerPortConnection, Severity::kWeak, 30},
      {kRuleExeDeleted, Severity::kWeak, 20},
      {kRuleExeMemfd, Severity::kWeak, 40},
      {kRuleExeTmp, Severity::kWeak, 40},
      {kRuleFakeKernelThread, Severity::kWeak, 50},
      {kRuleHugePages, Severity::kWeak, 20},
      {kRuleHiddenProcess, Severity::kStrong, policy::kStrongWeight},
      {kRuleLdPreload, Severity::kStrong, policy::kStrongWeight},
      {kRuleCronPersistence, Severity::kStrong, policy::kStrongWeight},
      {kRuleSystemdPersistence, Severity::kStrong, policy::kStrongWeight},
      {kRuleDropperFile, Severity::kStrong, policy::kStrongWeight},
      {kRuleSshKeyAdded, Severity::kWeak, 30},
      {kRuleBinaryModified, Severity::kWeak, 10},
      // A crontab, unit, ld.so.preload or authorized_keys past 64 MiB (or with a 1 MiB line)
      // exists to hide an entry from scanners: as strong as the entry it hides.
      {kRuleOversizedFile, Severity::kStrong, policy::kStrongWeight},
  };
  return *kRules;
}

policy::Finding make_finding(std::string_view rule_id, std::string field_path, std::string message,
                             std::string evidence, const policy::Scoring& scoring) {
  policy::Finding f;
  f.rule_id = std::string(rule_id);
  const auto& rules = agent_rules();
  auto it =
      std::find_if(rules.begin(), rules.end(), [&](const AgentRule& r) { return r.id == rule_id; });
  f.severity = it != rules.end() ? it->severity : Severity::kWeak;
  f.weight = scoring.weight(rule_id, it != rules.end() ? it->weight : 0);
  f.field_path = std::move(field_path);
  f.message = std::move(message);
  f.evidence = policy::truncate_utf8(evidence, 200);
  return f;
}

Verdict score_process(const std::vector<policy::Finding>& findings,
                      const policy::Scoring& scoring) {
  Verdict v;
  v.score = policy::score_findings(findings, scoring);
  bool other_than_cpu = std::any_of(findings.begin(), findings.end(), [](const policy::Finding& f) {
    return f.rule_id != kRuleCpuHog;
  });
  v.miner = other_than_cpu && v.score >= scoring.threshold;
  return v;
}

}  // namespace orderguard::agent
