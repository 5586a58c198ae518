// Scan reports for tests that drive the responder without scanning a host: a
// miner process (stratum URL in its command line) in a given container.
// Header-only, for tests that link orderguard::agent (the agent's unit tests,
// the closed-loop and chart e2e tests).
#pragma once

#include <string>

#include "agent/scanner.h"
#include "policy/finding.h"

namespace orderguard::e2e {

// A run-time download (exe in /tmp), so the responder's scope is Workload.
inline agent::ScanReport stratum_miner_report(const std::string& container_id) {
  agent::ProcessReport p;
  p.pid = 4321;
  p.ppid = 4000;
  p.comm = "xmrig";
  p.exe = "/tmp/.cache/xmrig";
  p.cmdline = {"/tmp/.cache/xmrig", "-o", "stratum+tcp://pool.minexmr.com:4444"};
  p.container.runtime = "containerd";
  p.container.container_id = container_id;
  policy::Finding f;
  f.rule_id = std::string(policy::kRuleStratumUrl);
  f.severity = policy::Severity::kStrong;
  f.weight = 100;
  f.field_path = "cmdline[2]";
  f.evidence = "stratum+tcp://pool.minexmr.com:4444";
  p.findings = {f};
  p.score = 100;
  p.miner = true;
  agent::ScanReport report;
  report.processes = {p};
  return report;
}

}  // namespace orderguard::e2e
