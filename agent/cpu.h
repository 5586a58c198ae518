// CPU use per process and per thread, from utime+stime deltas of /proc/<pid>/stat and
// /proc/<pid>/task/<tid>/stat between two samples, over the delta of total jiffies in
// /proc/stat. Both are in the same unit (USER_HZ), so no CLK_TCK is involved; the injected
// clock only stamps samples so the report can state the interval.
//
// percent is of one CPU (like top: a process using two cores shows 200).
// Contract: a pid or tid that vanished between samples is skipped; a pid that was reused
// (different starttime) restarts at zero rather than producing a negative or huge delta.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agent/host_view.h"
#include "agent/procfs.h"
#include "base/clock.h"
#include "base/result.h"

namespace orderguard::agent {

struct TaskTicks {
  uint64_t ticks = 0;
  uint64_t starttime = 0;
  std::string comm;
};

struct CpuSample {
  Clock::time_point time{};
  SystemCpu system;
  std::map<int, TaskTicks> processes;                // pid -> ticks
  std::map<int, ProcStat> stats;                     // pid -> its parsed stat, for the scan
  std::map<std::pair<int, int>, TaskTicks> threads;  // (pid, tid) -> ticks
};

struct CpuUsage {
  int pid = 0;
  int tid = 0;  // 0 for a whole process
  std::string comm;
  double percent = 0;  // of one CPU
};

struct CpuShares {
  double interval_seconds = 0;
  int cpus = 0;             // CPUs of the host (the cpuN lines of /proc/stat)
  double busy_percent = 0;  // of all the host's CPUs together: 100 when every CPU was busy
  std::map<int, CpuUsage> processes;
  std::vector<CpuUsage> threads;
  // Top consumers, processes only, highest first.
  std::vector<CpuUsage> top(size_t n) const;
};

// Reads /proc/stat and the stat files of `pids` (and their threads when `threads` is set).
// With `previous` (the last sample of the same host), a multi-threaded process whose start time
// and ticks are unchanged keeps its threads' ticks from there instead of listing task/ again:
// none of its threads can have run a tick (the process's ticks include every thread's, exited
// ones too), so every thread's share is 0 either way.
Result<CpuSample> take_cpu_sample(const HostView& view, const Clock& clock,
                                  const std::vector<int>& pids, bool threads,
                                  const CpuSample* previous = nullptr);

// Pure: shares between two samples. Empty when no jiffies passed.
CpuShares compute_cpu_shares(const CpuSample& before, const CpuSample& after);

}  // namespace orderguard::agent
