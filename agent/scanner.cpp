#include "agent/scanner.h"

#include <algorithm>

#include "agent/baseline.h"
#include "agent/identity.h"
#include "agent/procfs.h"
#include "agent/scoring.h"
#include "policy/indicators.h"

namespace orderguard::agent {
namespace {

std::vector<std::string> pool_hosts() {
  std::vector<std::string> out;
  for (std::string_view d : policy::builtin_pool_domains()) out.emplace_back(d);
  return out;
}

}  // namespace

bool ScanReport::has_miner_severity() const {
  if (std::any_of(processes.begin(), processes.end(),
                  [](const ProcessReport& p) { return p.miner; })) {
    return true;
  }
  return std::any_of(host_findings.begin(), host_findings.end(), [](const policy::Finding& f) {
    return f.severity == policy::Severity::kStrong;
  });
}

Scanner::Scanner(HostView view, const Clock* clock, ProcessProbe* probe, Resolver* resolver,
                 policy::CompiledPolicy policy, ScanOptions options)
    : view_(std::move(view)),
      clock_(clock),
      probe_(probe),
      policy_(std::move(policy)),
      options_(options),
      persistence_(&view_, clock, options.recent_window) {
  if (probe_ != nullptr) {
    hidden_ = std::make_unique<HiddenProcessScanner>(&view_, probe_, options_.hidden_sweep_chunk);
  }
  if (resolver != nullptr) {
    // Pool domains are resolved as exact hosts; the built-in list holds the pool endpoints
    // themselves (Falco's miner_domains), not only their parent domains.
    pools_ =
        std::make_unique<PoolAddressBook>(resolver, clock, pool_hosts(), std::chrono::minutes(10));
  }
}

Status Scanner::prime() {
  Result<std::vector<int>> pids = view_.list_pids();
  if (!pids) return pids.error();
  Result<CpuSample> sample = take_cpu_sample(view_, *clock_, *pids, options_.threads);
  if (!sample) return sample.error();
  last_cpu_ = std::move(*sample);
  return {};
}

Result<ScanReport> Scanner::scan() {
  ScanReport report;
  report.time = clock_->wall_now();
  report.threshold = policy_.scoring.threshold;
  Result<std::vector<int>> listed = view_.list_pids();
  if (!listed) return listed.error();
  std::vector<int> pids = *listed;

  Result<CpuSample> sample = take_cpu_sample(view_, *clock_, pids, options_.threads);
  if (!sample) return sample.error();
  CpuShares shares;
  if (last_cpu_) {
    shares = compute_cpu_shares(*last_cpu_, *sample);
    report.cpu_interval_seconds = shares.interval_seconds;
    report.top_cpu = shares.top(options_.top_consumers);
    for (size_t i = 0; i < shares.threads.size() && i < options_.top_consumers; ++i) {
      report.top_threads.push_back(shares.threads[i]);
    }
  }
  last_cpu_ = std::move(*sample);

  if (pools_) pools_->refresh();
  NetworkView net = read_connections(view_, pids);
  report.network_namespaces = net.namespaces_read;
  std::map<int, std::vector<policy::Finding>> net_findings =
      check_connections(net, policy_, pools_.get());

  for (int pid : pids) {
    if (pid == options_.self_pid) continue;
    Result<ProcessSnapshot> snap = read_process(view_, pid);
    if (!snap) continue;  // exited mid-scan or unreadable
    ++report.processes_scanned;
    if (snap->stat.kernel_thread()) continue;
    ProcessReport pr;
    pr.pid = pid;
    pr.ppid = snap->stat.ppid;
    pr.comm = snap->comm;
    pr.exe = snap->exe;
    pr.cmdline = snap->cmdline;
    pr.findings = check_identity(*snap, policy_);
    if (auto it = shares.processes.find(pid); it != shares.processes.end()) {
      pr.cpu_percent = it->second.percent;
      if (pr.cpu_percent >= options_.cpu_hog_percent) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.0f%%", pr.cpu_percent);
        pr.findings.push_back(make_finding(
            kRuleCpuHog, "cpu", std::string("uses ") + buf + " of a CPU", buf, policy_.scoring));
      }
    }
    if (auto it = net_findings.find(pid); it != net_findings.end()) {
      for (policy::Finding& f : it->second) pr.findings.push_back(std::move(f));
    }
    if (pr.findings.empty()) continue;
    Verdict v = score_process(pr.findings, policy_.scoring);
    pr.score = v.score;
    pr.miner = v.miner;
    pr.container = container_from_cgroup(snap->cgroup);
    report.processes.push_back(std::move(pr));
  }
  std::stable_sort(report.processes.begin(), report.processes.end(),
                   [](const ProcessReport& a, const ProcessReport& b) {
                     return a.score != b.score ? a.score > b.score : a.pid < b.pid;
                   });

  if (hidden_ && options_.check_hidden) {
    HiddenSweep sweep = hidden_->scan(pids);
    report.hidden_sweep_from = sweep.from;
    report.hidden_sweep_to = sweep.to;
    for (policy::Finding& f : HiddenProcessScanner::findings(sweep, policy_.scoring)) {
      report.host_findings.push_back(std::move(f));
    }
  }
  if (options_.check_persistence) {
    for (policy::Finding& f : persistence_.scan(policy_)) {
      report.host_findings.push_back(std::move(f));
    }
  }
  if (options_.baseline) report.baseline_findings = check_baseline(view_);
  return report;
}

}  // namespace orderguard::agent
