// One scan of the host: every check, combined into a ScanReport that the CLI prints and the
// responder (evictions, quarantine, node marking) consumes.
//
// Usage: construct once and call scan() repeatedly; the first scan() has no CPU baseline, so
// call prime() first (the CLI primes, waits --interval, then scans). State kept between scans:
// the previous CPU sample, the hidden-process sweep position and the SSH key baseline. Pool
// addresses come from a PoolAddressBook the caller owns and refreshes (network.h): a scan only
// reads its latest snapshot, so it never waits on DNS.
//
// Cost: each process's stat is read once per scan (the CPU sample; the identity checks reuse
// it), its task/ directory only when it has more than one thread, its status (huge pages) only
// when it used CPU since the last scan or has connection findings, its cgroup only when it has
// findings, and fd links only in network namespaces holding a connection of interest.
//
// Unchanged processes: a process whose last full check found nothing, and whose stat shows no
// change since (same start time, CPU ticks, comm, ppid, flags and address-space layout, see
// ExecLayout) and which has no connection findings now, keeps that verdict without its
// cmdline, exe and ns/net being read again; a network namespace whose processes are all
// unchanged is not read either (read_connections). exec() keeps pid, start time and, when short,
// the ticks, but changes comm (unless the new program has the old name) and always the layout, so
// an exec'd miner is read at the next scan; so is anything that used CPU. A process with findings
// is never skipped, a process whose layout is not known (no ptrace rights, old kernel) never
// either, and each reused verdict is checked again in full every ScanOptions::recheck_every
// scans (spread over the scans by pid) so nothing is trusted for long.
//
// Contract: scan() fails (kInternal/kNotFound...) only when the proc root itself cannot be
// listed or /proc/stat cannot be read; a process that vanishes or cannot be read is skipped,
// and unreadable host files are skipped too. An exception while checking one process or
// running one check (a library meeting bytes nobody planned for) skips that process or check
// only: it is recorded in ScanReport::errors and the scan carries on, because a scanner that
// dies on one hostile process leaves the node unwatched.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/cgroup.h"
#include "agent/cpu.h"
#include "agent/cpu_limit.h"
#include "agent/exclusions.h"
#include "agent/hidden.h"
#include "agent/host_view.h"
#include "agent/network.h"
#include "agent/persistence.h"
#include "base/clock.h"
#include "base/result.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

inline constexpr size_t kMaxScanErrors = 20;

struct ScanOptions {
  double cpu_hog_percent = 80;  // of one CPU
  size_t top_consumers = 10;
  bool threads = true;         // per-thread CPU shares
  int hidden_sweep_chunk = 0;  // 0: the whole pid range every scan
  bool check_hidden = true;
  bool check_persistence = true;
  bool baseline = false;  // hardening checks (baseline.h); reported apart from miner evidence
  std::chrono::seconds recent_window = std::chrono::hours(24);
  int self_pid = 0;  // the agent: never reported
  // A process whose clean verdict was reused is checked in full at least every this many
  // scans; 1 checks every process in full every scan.
  int recheck_every = 10;
  // orderguard's binaries and executable globs (exclusions.h): a process with findings that
  // one matches goes to ScanReport::excluded.
  ExclusionConfig exclusions;
};

struct ProcessReport {
  int pid = 0;
  int ppid = 0;
  uint64_t start_time = 0;  // clock ticks after boot (stat): with pid, names one process
  std::string comm;
  std::string exe;
  std::vector<std::string> cmdline;
  double cpu_percent = 0;
  ContainerRef container;  // container id, pod UID, runtime; empty on the host
  std::vector<policy::Finding> findings;
  int score = 0;
  bool miner = false;  // score >= threshold; for an excluded process, what it would have been
  std::optional<ExclusionRule> excluded_by;  // set in ScanReport::excluded only
};

struct ScanReport {
  std::chrono::system_clock::time_point time{};
  double cpu_interval_seconds = 0;  // 0 when the scan had no CPU baseline
  size_t processes_scanned = 0;
  size_t processes_reused = 0;  // of those, unchanged since a clean check (no cmdline/exe read)
  size_t network_namespaces = 0;
  size_t pool_addresses = 0;  // resolved pool addresses the connections were checked against
  int threshold = 0;
  std::vector<ProcessReport> processes;  // processes with at least one finding, by score
  // Processes with findings that an exclusion matched (exclusions.h), by score: never miners,
  // never acted on.
  std::vector<ProcessReport> excluded;
  std::vector<ExclusionRule> exclusions;     // in force for this scan
  std::vector<std::string> exclusion_notes;  // how the trusted binaries were loaded
  std::vector<CpuUsage> top_cpu;
  std::vector<CpuUsage> top_threads;
  std::vector<policy::Finding> host_findings;
  std::vector<policy::Finding>
      baseline_findings;  // with ScanOptions::baseline; never miner evidence
  int hidden_sweep_from = 0;
  int hidden_sweep_to = 0;
  // What threw and was skipped ("pid 1234: ...", "persistence: ..."): the first
  // kMaxScanErrors of them; error_count counts them all.
  std::vector<std::string> errors;
  size_t error_count = 0;

  // A miner process or a strong host finding: what exit code 1 and node marking mean.
  bool has_miner_severity() const;
};

// The pool host names to resolve for `policies` (valid MinerPolicy objects; none: the built-in
// default): the built-in pool domains unless every policy turns builtinIndicators off, plus
// every spec.poolHosts entry. Sorted, unique.
std::vector<std::string> pool_hosts_to_resolve(const std::vector<nlohmann::json>& policies);

class Scanner {
 public:
  // `probe` and `pools` may be null (no hidden-process / pool-address checks); both must
  // outlive the scanner.
  Scanner(HostView view, const Clock* clock, ProcessProbe* probe, const PoolAddressBook* pools,
          policy::CompiledPolicy policy, ScanOptions options);

  // Takes the CPU baseline.
  Status prime();
  Result<ScanReport> scan();

 private:
  HostView view_;
  const Clock* clock_;
  ProcessProbe* probe_;
  policy::CompiledPolicy policy_;
  ScanOptions options_;
  std::optional<CpuSample> last_cpu_;
  std::unique_ptr<HiddenProcessScanner> hidden_;
  PersistenceScanner persistence_;
  const PoolAddressBook* pools_;
  ExeDigestCache exe_digests_;
  // Processes whose last full check found nothing, with what their stat showed then (pid ->).
  struct CleanProcess {
    uint64_t starttime = 0;
    uint64_t ticks = 0;
    std::string comm;
    int ppid = 0;
    uint32_t flags = 0;
    ExecLayout layout;
    std::string netns;  // readlink(/proc/<pid>/ns/net)
  };
  std::unordered_map<int, CleanProcess> clean_;
  uint64_t scans_ = 0;
  CgroupLocator cgroups_;  // cgroup namespace paths found once (cpu_limit.h)
};

}  // namespace orderguard::agent
