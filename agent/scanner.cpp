#include "agent/scanner.h"

#include <algorithm>

#include "agent/baseline.h"
#include "agent/cpu_limit.h"
#include "agent/environment.h"
#include "agent/identity.h"
#include "agent/procfs.h"
#include "agent/scoring.h"
#include "api/security.h"
#include "policy/indicators.h"

namespace orderguard::agent {
namespace {

// Runs one part of a scan. An exception is recorded in the report and the scan carries on
// without that part: the exception came from bytes of one process or file, and the rest of
// the host still needs watching.
template <typename Fn>
void guarded(std::string_view what, ScanReport* report, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    ++report->error_count;
    if (report->errors.size() < kMaxScanErrors) {
      report->errors.push_back(std::string(what) + ": " + e.what());
    }
  }
}

}  // namespace

std::vector<std::string> pool_hosts_to_resolve(const std::vector<nlohmann::json>& policies) {
  std::vector<std::string> out;
  // combine() applies the built-in default when no policy exists, built-ins included.
  bool builtins = policies.empty();
  for (const nlohmann::json& p : policies) {
    const auto it = p.find("spec");  // end() when p is not an object
    if (it != p.end() && !it->is_object()) continue;
    // Best effort: a policy that does not compile still names the hosts it can.
    const api::MinerPolicySpec spec =
        it == p.end() ? api::MinerPolicySpec{} : api::read_miner_policy(*it);
    builtins = builtins || spec.builtin_indicators;
    for (const std::string& h : spec.pool_hosts) {
      if (!h.empty()) out.push_back(h);
    }
  }
  if (builtins) {
    for (std::string_view d : policy::builtin_pool_domains()) out.emplace_back(d);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool ScanReport::has_miner_severity() const {
  if (std::any_of(processes.begin(), processes.end(),
                  [](const ProcessReport& p) { return p.miner; })) {
    return true;
  }
  return std::any_of(host_findings.begin(), host_findings.end(), [](const policy::Finding& f) {
    return f.severity == policy::Severity::kStrong;
  });
}

Scanner::Scanner(HostView view, const Clock* clock, ProcessProbe* probe,
                 const PoolAddressBook* pools, policy::CompiledPolicy policy, ScanOptions options)
    : view_(std::move(view)),
      clock_(clock),
      probe_(probe),
      policy_(std::move(policy)),
      options_(options),
      persistence_(&view_, clock, options.recent_window),
      pools_(pools) {
  if (probe_ != nullptr) {
    hidden_ = std::make_unique<HiddenProcessScanner>(&view_, probe_, options_.hidden_sweep_chunk);
  }
}

Status Scanner::prime() {
  Result<std::vector<int>> pids = view_.list_pids();
  if (!pids) return pids.error();
  Result<CpuSample> sample = take_cpu_sample(view_, *clock_, *pids, options_.threads);
  if (!sample) return sample.error();
  // The scan reuses this sample's stat of each process; the stored baseline needs only ticks.
  std::map<int, ProcStat> stats = std::move(sample->stats);
  sample->stats.clear();
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

  Result<CpuSample> sample =
      take_cpu_sample(view_, *clock_, pids, options_.threads, last_cpu_ ? &*last_cpu_ : nullptr);
  if (!sample) return sample.error();
  CpuShares shares;
  const bool last_cpu_baseline = last_cpu_.has_value();
  if (last_cpu_) {
    shares = compute_cpu_shares(*last_cpu_, *sample);
    report.cpu_interval_seconds = shares.interval_seconds;
    report.top_cpu = shares.top(options_.top_consumers);
    for (size_t i = 0; i < shares.threads.size() && i < options_.top_consumers; ++i) {
      report.top_threads.push_back(shares.threads[i]);
    }
  }
  // The scan reuses this sample's stat of each process; the stored baseline needs only ticks.
  std::map<int, ProcStat> stats = std::move(sample->stats);
  sample->stats.clear();
  last_cpu_ = std::move(*sample);

  const HostLoad load = host_load(shares);

  std::shared_ptr<const PoolAddresses> pools = pools_ ? pools_->snapshot() : nullptr;
  report.pool_addresses = pools ? pools->size() : 0;
  // Processes unchanged since a clean full check (scanner.h), but for their connections: those
  // are read afresh below, and one with connection findings is checked in full.
  ++scans_;
  const uint64_t recheck_every = static_cast<uint64_t>(std::max(1, options_.recheck_every));
  auto unchanged = [&](int pid, const ProcStat& st) -> CleanProcess* {
    if (!last_cpu_baseline || !st.layout.known()) return nullptr;
    if ((scans_ + static_cast<uint64_t>(pid)) % recheck_every == 0) return nullptr;
    auto prev = clean_.find(pid);
    if (prev == clean_.end()) return nullptr;
    const CleanProcess& c = prev->second;
    const bool same = c.starttime == st.starttime && c.ticks == st.cpu_ticks() &&
                      c.comm == st.comm && c.ppid == st.ppid && c.flags == st.flags &&
                      c.layout == st.layout;
    return same ? &prev->second : nullptr;
  };
  std::unordered_map<int, CleanProcess*> reusable;
  for (const auto& [pid, st] : stats) {
    if (CleanProcess* c = unchanged(pid, st)) reusable.emplace(pid, c);
  }

  std::map<int, std::vector<policy::Finding>> net_findings;
  std::unordered_map<int, std::string> namespace_of;  // the ns/net links read in this scan
  guarded("network", &report, [&] {
    NetworkView net = read_connections(
        view_, pids,
        [&](const TcpEntry& e) { return connection_of_interest(e, policy_, pools.get()); },
        [&](int pid) -> const std::string* {
          auto it = reusable.find(pid);
          return it == reusable.end() ? nullptr : &it->second->netns;
        });
    report.network_namespaces = net.namespaces_read;
    net_findings = check_connections(net, policy_, pools.get());
    namespace_of = std::move(net.namespace_of);
  });

  // One process's checks; nullopt when it has no findings or exited mid-scan. *clean is set
  // when it was read and has no findings.
  auto check_process = [&](int pid, const ProcStat& stat,
                           bool* clean) -> std::optional<ProcessReport> {
    auto share = shares.processes.find(pid);
    auto net_finding = net_findings.find(pid);
    // HugetlbPages lives in /proc/<pid>/status, the costliest file per process: read for a
    // process that used CPU since the last scan (a miner mines) or has connection findings,
    // and for every process when there is no CPU baseline.
    ReadProcessOptions read;
    read.stat = &stat;
    read.cgroup = false;  // read below, only for a process with findings
    read.status = !last_cpu_baseline || net_finding != net_findings.end() ||
                  (share != shares.processes.end() && share->second.percent > 0);
    Result<ProcessSnapshot> snap = read_process(view_, pid, read);
    if (!snap) return std::nullopt;  // exited mid-scan
    // /proc/<pid>/cgroup, read at most once: for the CPU quota of a candidate hog and for the
    // container of a process with findings. Unreadable reads as empty (no quota, no container).
    std::optional<std::string> cgroup;
    auto cgroup_text = [&]() -> std::string {
      if (!cgroup) {
        Result<std::string> cg = view_.read_pid_whole(pid, "cgroup");
        cgroup = cg ? std::move(*cg) : std::string();
      }
      return *cgroup;
    };
    ProcessReport pr;
    pr.pid = pid;
    pr.ppid = snap->stat.ppid;
    pr.start_time = snap->stat.starttime;
    pr.comm = snap->comm;
    pr.exe = snap->exe;
    pr.cmdline = snap->cmdline;
    pr.findings = check_identity(*snap, policy_);
    if (share != shares.processes.end()) {
      pr.cpu_percent = share->second.percent;
      if (std::optional<policy::Finding> hog =
              cpu_hog_finding(view_, cgroup_text, pr.cpu_percent, load, options_.cpu_hog_percent,
                              policy_.scoring, &cgroups_)) {
        pr.findings.push_back(std::move(*hog));
      }
    }
    if (net_finding != net_findings.end()) {
      for (policy::Finding& f : net_finding->second) pr.findings.push_back(std::move(f));
    }
    // environ only for a candidate: findings already, or CPU used (as for status above).
    if (!pr.findings.empty() || read.status) {
      if (Result<std::string> env = view_.read_pid_whole(pid, "environ"); env) {
        // As the process sees it, through its root (a container's own files); the file
        // itself, not a symlink's target, which would resolve against the agent's root. Only
        // a definite "not found" under a readable root says the file is gone.
        const std::string root = view_.pid_path(pid, "root");
        auto exists = [&](const std::string& path) {
          if (!HostView::stat_path(root + "/", true).ok()) return true;
          Result<FileStat> st = HostView::stat_path(root + path, false);
          return st.ok() || st.error().code != ErrorCode::kNotFound;
        };
        for (policy::Finding& f : check_environment(split_cmdline(*env), policy_.scoring, exists)) {
          pr.findings.push_back(std::move(f));
        }
      }
    }
    if (pr.findings.empty()) {
      *clean = true;
      return std::nullopt;
    }
    Verdict v = score_process(pr.findings, policy_.scoring);
    pr.score = v.score;
    pr.miner = v.miner;
    // Only a process with findings needs its container.
    pr.container = container_from_cgroup(cgroup_text());
    return pr;
  };
  // Verdicts carried to the next scan: only processes seen clean in this one.
  std::unordered_map<int, CleanProcess> clean;
  clean.reserve(clean_.size());
  for (int pid : pids) {
    if (pid == options_.self_pid) continue;
    auto stat = stats.find(pid);
    if (stat == stats.end()) continue;  // exited before the CPU sample, or unreadable
    ++report.processes_scanned;
    const ProcStat& st = stat->second;
    if (st.kernel_thread()) continue;
    if (auto reuse = reusable.find(pid); reuse != reusable.end() && !net_findings.contains(pid)) {
      ++report.processes_reused;
      clean.emplace(pid, std::move(*reuse->second));
      continue;
    }
    guarded("pid " + std::to_string(pid), &report, [&] {
      bool is_clean = false;
      std::optional<ProcessReport> pr = check_process(pid, st, &is_clean);
      auto ns = namespace_of.find(pid);
      if (is_clean && st.layout.known() && ns != namespace_of.end()) {
        clean.emplace(pid, CleanProcess{st.starttime, st.cpu_ticks(), st.comm, st.ppid, st.flags,
                                        st.layout, std::move(ns->second)});
      }
      if (pr) {
        // Exclusions (exclusions.h) are checked only for a process with findings, so only
        // those executables are ever hashed.
        pr->excluded_by =
            binary_exclusion(options_.exclusions, &exe_digests_, view_.pid_path(pid, "exe"),
                             pr->exe, !pr->container.empty());
        (pr->excluded_by ? report.excluded : report.processes).push_back(std::move(*pr));
      }
    });
  }
  clean_ = std::move(clean);
  exe_digests_.sweep();
  report.exclusions = options_.exclusions.rules();
  if (options_.exclusions.trusted) report.exclusion_notes = options_.exclusions.trusted->notes;
  for (std::vector<ProcessReport>* list : {&report.processes, &report.excluded}) {
    std::stable_sort(list->begin(), list->end(),
                     [](const ProcessReport& a, const ProcessReport& b) {
                       return a.score != b.score ? a.score > b.score : a.pid < b.pid;
                     });
  }

  if (hidden_ && options_.check_hidden) {
    guarded("hidden processes", &report, [&] {
      HiddenSweep sweep = hidden_->scan(pids);
      report.hidden_sweep_from = sweep.from;
      report.hidden_sweep_to = sweep.to;
      for (policy::Finding& f : HiddenProcessScanner::findings(sweep, policy_.scoring)) {
        report.host_findings.push_back(std::move(f));
      }
    });
  }
  if (options_.check_persistence) {
    guarded("persistence", &report, [&] {
      for (policy::Finding& f : persistence_.scan(policy_)) {
        report.host_findings.push_back(std::move(f));
      }
    });
  }
  if (options_.baseline) {
    guarded("baseline", &report, [&] { report.baseline_findings = check_baseline(view_); });
  }
  return report;
}

}  // namespace orderguard::agent
