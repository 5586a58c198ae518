// CPU measured against what a process may use. A miner in a Pod with a CPU limit of 500m never
// reaches 80 % of one CPU, and neither does a miner starved to its share on a busy host, so the
// cpu-hog rule measures a process's use against three allowances and fires on any of them:
//
// - one CPU: at least hog_percent (ScanOptions::cpu_hog_percent, 80) of one CPU, as before;
// - its CPU limit: at least hog_percent of its cgroup's CPU quota (400m of a 500m limit). The
//   effective quota is the smallest over the process's cgroup and every ancestor (the kubelet
//   sets the Pod's quota on the Pod's cgroup and the container's below it), read from the host's
//   cgroupfs (<host_root>/sys/fs/cgroup): the cpu controller's cpu.cfs_quota_us over
//   cpu.cfs_period_us on cgroup v1 (the hierarchy in "cpu,cpuacct" or "cpu"), cpu.max on v2;
// - its fair share on a busy host: when the host's CPUs were at least kBusyHostPercent busy
//   over the interval, at least hog_percent of (CPUs / processes that competed), where a process
//   competed when it used at least kCompetingPercent of a CPU.
// Below kHogFloorPercent of one CPU a process is never a hog, whatever its allowance (an idle
// daemon under a 10m limit or on a host of a thousand busy processes).
//
// Cost: the quota is read only for a candidate (at least the floor): its cgroup file and one
// or two small files per ancestor.
//
// Cgroup namespaces: a reader inside a cgroup namespace (the agent's Pod on cgroup v2) sees
// other processes' paths as "/../../kubepods-...": the path below the "/.." components is looked
// up from the hierarchy's root first, and when it is not there, as the unique directory of the
// hierarchy (searched breadth-first, at most kMaxCgroupSearchDirs directories) under which that
// path exists. Not found or ambiguous: no quota is known and the other two allowances apply.
// A CgroupLocator remembers where each such path was found, so a scanner searches once per
// container rather than once per scan.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cpu.h"
#include "agent/host_view.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

inline constexpr double kBusyHostPercent = 90;  // of all CPUs over the interval
inline constexpr double kCompetingPercent = 1;  // of one CPU
inline constexpr double kHogFloorPercent = 10;  // of one CPU
inline constexpr size_t kMaxCgroupSearchDirs = 4096;

// Pure: cgroup v2 cpu.max ("max 100000": none; "50000 100000": 0.5 CPU). nullopt when there is
// no quota or the text is malformed.
std::optional<double> parse_cpu_max(std::string_view text);
// Pure: cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us (quota -1: none), in CPUs.
std::optional<double> parse_cfs_quota(std::string_view quota, std::string_view period);

struct CpuLimit {
  double cpus = 0;     // the quota in CPUs (0.5 for 500m)
  std::string cgroup;  // the cgroup whose quota it is, relative to its hierarchy
};

// Where the cgroup paths seen from inside a cgroup namespace were found (see above), by
// hierarchy and path. An entry is used only while its directory still exists; at most
// kMaxRemembered entries (all forgotten when full: containers come and go).
class CgroupLocator {
 public:
  static constexpr size_t kMaxRemembered = 4096;
  const std::vector<std::string>* find(const std::string& key) const;
  void remember(std::string key, std::vector<std::string> parts);

 private:
  std::map<std::string, std::vector<std::string>> found_;
};

// The effective CPU quota of a process whose /proc/<pid>/cgroup is `cgroup_text`; nullopt when
// none applies or none can be read (see above). `locator` may be null (search every time).
std::optional<CpuLimit> read_cpu_limit(const HostView& view, std::string_view cgroup_text,
                                       CgroupLocator* locator = nullptr);

// The host over one CPU interval.
struct HostLoad {
  int cpus = 1;
  double busy_percent = 0;  // of all CPUs
  size_t competing = 0;     // processes that used at least kCompetingPercent of a CPU

  bool busy() const { return busy_percent >= kBusyHostPercent; }
  // Percent of one CPU each competing process would get if the CPUs were shared evenly.
  double fair_share_percent() const;
};
HostLoad host_load(const CpuShares& shares);

struct HogDecision {
  bool hog = false;
  std::string message;  // "uses 48% of a CPU, 96% of its 500m limit"
};

// Pure: whether `percent` (of one CPU) makes a cpu-hog against any allowance.
HogDecision decide_cpu_hog(double percent, const std::optional<CpuLimit>& limit,
                           const HostLoad& load, double hog_percent);

// "500m", "2 CPUs", "1 CPU".
std::string format_cpus(double cpus);

// The cpu-hog finding of a process that used `percent` of a CPU, or nullopt. `cgroup_text`
// (its /proc/<pid>/cgroup, which the caller reads once and reuses for the container) is asked
// for only when the usage reaches the floor, so the quota is read only for candidates.
std::optional<policy::Finding> cpu_hog_finding(const HostView& view,
                                               const std::function<std::string()>& cgroup_text,
                                               double percent, const HostLoad& load,
                                               double hog_percent, const policy::Scoring& scoring,
                                               CgroupLocator* locator = nullptr);

}  // namespace orderguard::agent
