#include "agent/cpu.h"

#include <algorithm>
#include <chrono>

namespace orderguard::agent {

std::vector<CpuUsage> CpuShares::top(size_t n) const {
  std::vector<CpuUsage> out;
  out.reserve(processes.size());
  for (const auto& [pid, u] : processes) out.push_back(u);
  std::sort(out.begin(), out.end(), [](const CpuUsage& a, const CpuUsage& b) {
    return a.percent != b.percent ? a.percent > b.percent : a.pid < b.pid;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

Result<CpuSample> take_cpu_sample(const HostView& view, const Clock& clock,
                                  const std::vector<int>& pids, bool threads,
                                  const CpuSample* previous) {
  CpuSample sample;
  sample.time = clock.now();
  Result<std::string> stat = view.read_proc("stat");
  if (!stat) return stat.error();
  Result<SystemCpu> sys = parse_system_stat(*stat);
  if (!sys) return sys.error();
  sample.system = *sys;
  // pids ascend (list_pids), so every insertion goes at the end: hinted.
  for (int pid : pids) {
    Result<std::string> text = view.read_pid_whole(pid, "stat");
    if (!text) continue;  // exited or unreadable: not an error
    Result<ProcStat> st = parse_proc_stat(*text);
    if (!st) continue;
    const TaskTicks& ticks = sample.processes
                                 .emplace_hint(sample.processes.end(), pid,
                                               TaskTicks{st->cpu_ticks(), st->starttime, st->comm})
                                 ->second;
    const bool single_thread = st->num_threads == 1;
    sample.stats.emplace_hint(sample.stats.end(), pid, std::move(*st));
    if (!threads) continue;
    if (single_thread) {
      // Its only thread is the process: no task/ listing and no second read.
      sample.threads.emplace_hint(sample.threads.end(), std::pair{pid, pid}, ticks);
      continue;
    }
    if (previous != nullptr) {
      auto before = previous->processes.find(pid);
      if (before != previous->processes.end() && before->second.starttime == ticks.starttime &&
          before->second.ticks == ticks.ticks) {
        auto first = previous->threads.lower_bound({pid, 0});
        auto last = previous->threads.lower_bound({pid + 1, 0});
        if (first != last) {
          for (auto it = first; it != last; ++it) {
            sample.threads.emplace_hint(sample.threads.end(), it->first, it->second);
          }
          continue;
        }
      }
    }
    Result<std::vector<int>> tids = view.list_tasks(pid);
    if (!tids) continue;
    for (int tid : *tids) {
      Result<std::string> ttext = view.read_pid_whole(pid, "task/" + std::to_string(tid) + "/stat");
      if (!ttext) continue;
      Result<ProcStat> tst = parse_proc_stat(*ttext);
      if (!tst) continue;
      sample.threads[{pid, tid}] = TaskTicks{tst->cpu_ticks(), tst->starttime, tst->comm};
    }
  }
  return sample;
}

namespace {

double share(const TaskTicks& before, const TaskTicks& after, uint64_t per_cpu_jiffies) {
  uint64_t base = before.starttime == after.starttime ? before.ticks : 0;
  if (after.ticks < base) return 0;
  return 100.0 * static_cast<double>(after.ticks - base) / static_cast<double>(per_cpu_jiffies);
}

}  // namespace

CpuShares compute_cpu_shares(const CpuSample& before, const CpuSample& after) {
  CpuShares out;
  out.interval_seconds = std::chrono::duration<double>(after.time - before.time).count();
  if (after.system.total <= before.system.total) return out;
  // Total jiffies count every CPU; one CPU's worth of time in the interval is total / cpus.
  int cpus = std::max(1, after.system.cpus);
  uint64_t per_cpu = (after.system.total - before.system.total) / static_cast<uint64_t>(cpus);
  if (per_cpu == 0) return out;
  out.cpus = cpus;
  if (after.system.busy >= before.system.busy) {
    const uint64_t busy = after.system.busy - before.system.busy;
    const uint64_t total = after.system.total - before.system.total;
    out.busy_percent = std::min(100.0, 100.0 * static_cast<double>(busy) / total);
  }
  for (const auto& [pid, a] : after.processes) {
    auto it = before.processes.find(pid);
    if (it == before.processes.end()) continue;  // new process: no baseline yet
    out.processes[pid] = CpuUsage{pid, 0, a.comm, share(it->second, a, per_cpu)};
  }
  for (const auto& [key, a] : after.threads) {
    auto it = before.threads.find(key);
    if (it == before.threads.end()) continue;
    out.threads.push_back(CpuUsage{key.first, key.second, a.comm, share(it->second, a, per_cpu)});
  }
  std::sort(out.threads.begin(), out.threads.end(),
            [](const CpuUsage& x, const CpuUsage& y) { return x.percent > y.percent; });
  return out;
}

}  // namespace orderguard::agent
