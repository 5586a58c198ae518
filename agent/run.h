// `orderguard-agent run`: the DaemonSet mode. Scans the host every interval and responds
// (responder.h) to what it finds on this node.
//
// Loop: informers on this node's Pods (fieldSelector spec.nodeName=<node>) and on the
// MinerPolicies (scoring, threshold, signatures; the scanner is rebuilt when they change);
// prime, then scan + respond every interval until SIGTERM/SIGINT, which ends the loop at the
// next wait and shuts down cleanly.
//
// Pool addresses (the pool-connection rule): unless resolve_pools is off, a PoolAddressBook
// resolves the pool hosts of the policies in force (pool_hosts_to_resolve) on a thread of its
// own, at once when they change and then every pool_refresh; each scan reads the latest
// snapshot, so a slow or failing DNS never delays a scan (until the first resolution
// completes, scans check connections against no pool address).
//
// Exclusions (exclusions.h): the command line's and every MinerPolicy's
// spec.agent.exclusions; binaries and executable globs in the scanner, Pods (namespaces, pod
// selectors) after each scan against the pod cache. Excluded processes are logged at debug
// ("process excluded", with the exclusion) and neither counted nor acted on.
//
// Metrics on --metrics-addr: orderguard_agent_scans_total{result},
// orderguard_agent_findings_total{rule} (each finding once: see FindingCounter),
// orderguard_agent_evictions_total{result} (results as in PodAction::outcome),
// orderguard_agent_scan_duration_seconds, orderguard_agent_processes_scanned,
// orderguard_agent_pool_addresses, orderguard_agent_errors_total{stage} (scan: a process or check
// that threw and was skipped; respond: a pod or Node response that failed; cycle: a whole cycle
// that threw). /healthz: the scan loop ran within 3 intervals (plus a minute of grace). /readyz:
// the informers have synced.
//
// Host data never ends the loop: what throws while scanning one process or running one check
// is skipped by the scanner, what throws while responding to one pod by the responder, and
// anything else ends only that cycle; each is logged and counted, and the next process, pod or
// cycle runs. A crash would restart the pod into the same bytes and leave the node unwatched.
//
// Logs (JSON lines on stderr): what the responder does at info; with --log-level debug, one
// "process findings" line per process with findings per scan (pid, comm, container, rules,
// score, miner), so what was seen and left alone can be followed too.
//
// Exit codes: 0 after a signal, 2 when start-up fails (no node name, no API access, port in
// use): the kubelet restarts the pod.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/host_view.h"
#include "agent/responder.h"
#include "agent/scanner.h"
#include "kube/config.h"

namespace orderguard::agent {

struct RunOptions {
  std::string kubeconfig;  // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  // Client-side rate limit of API requests.
  double kube_api_qps = kube::Config{}.qps;
  int kube_api_burst = kube::Config{}.burst;
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
  std::string metrics_addr = ":9090";
  bool resolve_pools = true;
  std::chrono::milliseconds pool_refresh{std::chrono::minutes(10)};
  HostPaths paths;
  ScanOptions scan;
  ResponderOptions respond;  // node_name required
};

// Which findings of a scan are new, so orderguard_agent_findings_total counts each once: a
// process finding once per (pid, start time, rule), for the process's lifetime (a rule that
// comes and goes, like cpu-hog, is not counted again); a host finding once per (rule, field)
// while consecutive scans report it. Excluded processes are not counted. A process is
// forgotten when `alive(pid, start_time)` says it exited, so memory holds only live processes
// that had findings.
class FindingCounter {
 public:
  using Alive = std::function<bool(int pid, uint64_t start_time)>;

  // The rule ids to count for `report`, one per new finding.
  std::vector<std::string> fresh(const ScanReport& report, const Alive& alive);
  size_t processes_remembered() const { return processes_.size(); }

 private:
  std::map<std::pair<int, uint64_t>, std::set<std::string>> processes_;
  std::set<std::pair<std::string, std::string>> host_;
};

// Runs until a shutdown signal; call after kube::block_shutdown_signals().
int run_agent(RunOptions options);

}  // namespace orderguard::agent
