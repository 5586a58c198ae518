#include "agent/identity.h"

#include <array>

#include "agent/scoring.h"
#include "policy/process.h"

namespace orderguard::agent {
namespace {

constexpr std::string_view kDeleted = " (deleted)";

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Kernel thread name prefixes as ps shows them (kernel/kthread.c users).
constexpr std::array<std::string_view, 18> kKernelThreadPrefixes = {
    "kworker",   "kthreadd",   "ksoftirqd", "kswapd",    "migration/", "rcu_",
    "watchdog/", "khugepaged", "kblockd",   "kcompactd", "jbd2/",      "cpuhp/",
    "irq/",      "oom_reaper", "writeback", "kauditd",   "ksmd",       "kdevtmpfs",
};

}  // namespace

bool looks_like_kernel_thread_name(std::string_view name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') return true;
  for (std::string_view p : kKernelThreadPrefixes) {
    if (starts_with(name, p)) return true;
  }
  return false;
}

std::vector<policy::Finding> check_identity(const ProcessSnapshot& p,
                                            const policy::CompiledPolicy& pol) {
  std::vector<policy::Finding> out;
  const policy::Scoring& sc = pol.scoring;
  if (p.stat.kernel_thread()) return out;

  std::string_view exe = p.exe;
  bool deleted = ends_with(exe, kDeleted);
  std::string_view exe_path = deleted ? exe.substr(0, exe.size() - kDeleted.size()) : exe;
  bool memfd = starts_with(exe_path, "/memfd:") || starts_with(exe_path, "memfd:");
  if (memfd) {
    if (exe_path.find("runc_cloned") == std::string_view::npos) {
      out.push_back(make_finding(kRuleExeMemfd, "exe", "executable is a memfd (fileless)",
                                 std::string(exe), sc));
    }
  } else if (deleted) {
    out.push_back(make_finding(kRuleExeDeleted, "exe", "executable was deleted after start",
                               std::string(exe), sc));
  }
  for (std::string_view dir : {"/tmp/", "/var/tmp/", "/dev/shm/"}) {
    if (starts_with(exe_path, dir)) {
      out.push_back(make_finding(kRuleExeTmp, "exe", "executable runs from " + std::string(dir),
                                 std::string(exe), sc));
      break;
    }
  }

  std::string_view argv0 = p.cmdline.empty() ? std::string_view() : p.cmdline[0];
  bool kthread_name = looks_like_kernel_thread_name(p.comm) ||
                      (argv0.size() >= 2 && argv0.front() == '[' && argv0.back() == ']');
  if (kthread_name && p.stat.pid != 2 && (p.exe_readable || p.stat.ppid != 2)) {
    std::string field = looks_like_kernel_thread_name(p.comm) ? "comm" : "cmdline[0]";
    std::string name = field == "comm" ? p.comm : std::string(argv0);
    out.push_back(make_finding(kRuleFakeKernelThread, field,
                               "kernel thread name \"" + name + "\" on a user process (ppid " +
                                   std::to_string(p.stat.ppid) +
                                   (p.exe_readable ? ", has an executable)" : ")"),
                               name, sc));
  }
  if (p.hugetlb_kb > 0) {
    out.push_back(make_finding(kRuleHugePages, "status.HugetlbPages",
                               "uses " + std::to_string(p.hugetlb_kb) + " kB of huge pages",
                               std::to_string(p.hugetlb_kb) + " kB", sc));
  }

  policy::ProcessInfo info;
  info.comm = p.comm;
  info.exe = p.exe;
  info.cmdline = p.cmdline;
  policy::ProcessFindings pf = policy::scan_process(info, pol);
  for (policy::Finding& f : pf.findings) out.push_back(std::move(f));
  return out;
}

}  // namespace orderguard::agent
