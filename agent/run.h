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
// Metrics on --metrics-addr: orderguard_agent_scans_total{result},
// orderguard_agent_findings_total{rule}, orderguard_agent_evictions_total{result} (results as
// in PodAction::outcome), orderguard_agent_scan_duration_seconds,
// orderguard_agent_processes_scanned, orderguard_agent_pool_addresses,
// orderguard_agent_errors_total{stage} (scan: a process or check that threw and was skipped;
// respond: a pod or Node response that failed; cycle: a whole cycle that threw). /healthz: the
// scan loop ran within 3 intervals (plus a minute of grace). /readyz: the informers have synced.
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
#include <string>

#include "agent/host_view.h"
#include "agent/responder.h"
#include "agent/scanner.h"

namespace orderguard::agent {

struct RunOptions {
  std::string kubeconfig;  // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
  std::string metrics_addr = ":9090";
  bool resolve_pools = true;
  std::chrono::milliseconds pool_refresh{std::chrono::minutes(10)};
  HostPaths paths;
  ScanOptions scan;
  ResponderOptions respond;  // node_name required
};

// Runs until a shutdown signal; call after kube::block_shutdown_signals().
int run_agent(RunOptions options);

}  // namespace orderguard::agent
