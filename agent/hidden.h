// Hidden processes (unhide's brute technique): pids that answer kill(pid, 0) or getpgid but
// are missing from the /proc listing, which is what a getdents-hooking rootkit or an
// ld.so.preload library that filters readdir produces.
//
// False positives this guards against:
// - Threads: readdir(/proc) lists only thread-group leaders but signals reach tids. A
//   candidate whose /proc/<pid>/status names another Tgid, or that appears in the task/ of a
//   listed process, is a thread.
// - Races: a process started after the listing. Candidates are re-listed and re-probed
//   before they are reported, and a pid that exited since is dropped.
// The sweep up to pid_max (/proc/sys/kernel/pid_max, up to 4,194,304) is spread over scans:
// each scan probes at most `chunk` pids, continuing where the previous one stopped.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "agent/host_view.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

struct HiddenSweep {
  int from = 0;  // first pid probed
  int to = 0;    // one past the last pid probed
  bool wrapped = false;
  std::vector<int> hidden;
};

class HiddenProcessScanner {
 public:
  // chunk == 0 sweeps the whole range every scan.
  HiddenProcessScanner(const HostView* view, ProcessProbe* probe, int chunk);

  // Probes the next chunk against `listed` (the pids of the listing taken this scan).
  HiddenSweep scan(const std::vector<int>& listed);

  // Host findings for a sweep.
  static std::vector<policy::Finding> findings(const HiddenSweep& sweep,
                                               const policy::Scoring& scoring);

  int pid_max() const { return pid_max_; }

 private:
  bool is_thread(int pid, const std::vector<int>& listed);

  const HostView* view_;
  ProcessProbe* probe_;
  int chunk_;
  int pid_max_ = 32768;
  int next_ = 1;
};

}  // namespace orderguard::agent
