#include "agent/scoring.h"

#include <algorithm>
#include <initializer_list>

#include "base/text.h"
#include "policy/process.h"

namespace orderguard::agent {

using policy::Severity;

const std::vector<AgentRule>& agent_rules() {
  static const std::vector<AgentRule>* const kRules = new std::vector<AgentRule>{
      {kRuleCpuHog, Severity::kWeak, 40, EvidenceClass::kCpu},
      {kRulePoolConnection, Severity::kWeak, 60, EvidenceClass::kNetwork},
      {kRuleMinerPortConnection, Severity::kWeak, 30, EvidenceClass::kNetwork},
      {kRuleExeDeleted, Severity::kWeak, 20, EvidenceClass::kIdentity},
      {kRuleExeMemfd, Severity::kWeak, 40, EvidenceClass::kIdentity},
      {kRuleExeTmp, Severity::kWeak, 40, EvidenceClass::kIdentity},
      {kRuleFakeKernelThread, Severity::kWeak, 50, EvidenceClass::kIdentity},
      // "nginx: worker process" running /tmp/x: as telling as a temp-dir executable.
      {kRuleArgv0Mismatch, Severity::kWeak, 40, EvidenceClass::kIdentity},
      // LD_PRELOAD or LD_LIBRARY_PATH into /tmp, a home directory, a relative path...: how
      // userland rootkits hide a miner, but also how some build and test tools work, so it
      // only adds to other evidence.
      {kRuleEnvPreload, Severity::kWeak, 30, EvidenceClass::kEnvironment},
      {kRuleHugePages, Severity::kWeak, 20, EvidenceClass::kMemory},
      {kRuleHiddenProcess, Severity::kStrong, policy::kStrongWeight, EvidenceClass::kHost},
      {kRuleLdPreload, Severity::kStrong, policy::kStrongWeight, EvidenceClass::kHost},
      {kRuleCronPersistence, Severity::kStrong, policy::kStrongWeight, EvidenceClass::kHost},
      {kRuleSystemdPersistence, Severity::kStrong, policy::kStrongWeight, EvidenceClass::kHost},
      {kRuleDropperFile, Severity::kStrong, policy::kStrongWeight, EvidenceClass::kHost},
      {kRuleSshKeyAdded, Severity::kWeak, 30, EvidenceClass::kHost},
      {kRuleBinaryModified, Severity::kWeak, 10, EvidenceClass::kHost},
      // A crontab, unit, ld.so.preload or authorized_keys past 64 MiB (or with a 1 MiB line)
      // exists to hide an entry from scanners: as strong as the entry it hides.
      {kRuleOversizedFile, Severity::kStrong, policy::kStrongWeight, EvidenceClass::kHost},
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
  f.evidence = truncate_utf8(evidence, 200);
  return f;
}

EvidenceClass evidence_class(std::string_view rule_id) {
  const auto& rules = agent_rules();
  auto it =
      std::find_if(rules.begin(), rules.end(), [&](const AgentRule& r) { return r.id == rule_id; });
  return it != rules.end() ? it->evidence_class : EvidenceClass::kContent;
}

Verdict score_process(const std::vector<policy::Finding>& findings,
                      const policy::Scoring& scoring) {
  Verdict v;
  v.score = policy::score_findings(findings, scoring);
  const auto any_of_class = [&](std::initializer_list<EvidenceClass> classes) {
    return std::any_of(findings.begin(), findings.end(), [&](const policy::Finding& f) {
      const EvidenceClass c = evidence_class(f.rule_id);
      return f.weight > 0 && std::find(classes.begin(), classes.end(), c) != classes.end();
    });
  };
  if (any_of_class({EvidenceClass::kCpu}) &&
      any_of_class({EvidenceClass::kIdentity, EvidenceClass::kNetwork})) {
    v.combined = true;
    v.score = std::max(v.score, scoring.threshold);
  }
  bool other_than_cpu = std::any_of(findings.begin(), findings.end(), [](const policy::Finding& f) {
    return f.rule_id != kRuleCpuHog;
  });
  v.miner = other_than_cpu && v.score >= scoring.threshold;
  return v;
}

}  // namespace orderguard::agent
