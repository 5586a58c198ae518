// One scan of the host: every check, combined into a ScanReport that the CLI prints and the
// responder (evictions, quarantine, node marking) consumes.
//
// Usage: construct once and call scan() repeatedly; the first scan() has no CPU baseline, so
// call prime() first (the CLI primes, waits --interval, then scans). State kept between scans:
// the previous CPU sample, the hidden-process sweep position, the SSH key baseline and the
// pool address book.
//
// Contract: scan() fails (kInternal/kNotFound...) only when the proc root itself cannot be
// listed or /proc/stat cannot be read; a process that vanishes or cannot be read is skipped,
// and unreadable host files are skipped too.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/cgroup.h"
#include "agent/cpu.h"
#include "agent/hidden.h"
#include "agent/host_view.h"
#include "agent/network.h"
#include "agent/persistence.h"
#include "kube/clock.h"
#include "kube/result.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

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
};

struct ProcessReport {
  int pid = 0;
  int ppid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> cmdline;
  double cpu_percent = 0;
  ContainerRef container;  // container id, pod UID, runtime; empty on the host
  std::vector<policy::Finding> findings;
  int score = 0;
  bool miner = false;
};

struct ScanReport {
  std::chrono::system_clock::time_point time{};
  double cpu_interval_seconds = 0;  // 0 when the scan had no CPU baseline
  size_t processes_scanned = 0;
  size_t network_namespaces = 0;
  int threshold = 0;
  std::vector<ProcessReport> processes;  // processes with at least one finding, by score
  std::vector<CpuUsage> top_cpu;
  std::vector<CpuUsage> top_threads;
  std::vector<policy::Finding> host_findings;
  std::vector<policy::Finding>
      baseline_findings;  // with ScanOptions::baseline; never miner evidence
  int hidden_sweep_from = 0;
  int hidden_sweep_to = 0;

  // A miner process or a strong host finding: what exit code 1 and node marking mean.
  bool has_miner_severity() const;
};

class Scanner {
 public:
  // `probe` and `resolver` may be null (no hidden-process / pool-address checks).
  Scanner(HostView view, const Clock* clock, ProcessProbe* probe, Resolver* resolver,
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
  std::unique_ptr<PoolAddressBook> pools_;
};

}  // namespace orderguard::agent
