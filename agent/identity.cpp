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

// Well-known programs whose names a miner borrows, each with the executables that may carry
// the name (the program itself first). Every name a process may claim is listed once here.
struct KnownProgram {
  std::string_view name;
  std::array<std::string_view, 8> exes;
};
constexpr std::array<KnownProgram, 24> kWellKnownPrograms = {{
    {"nginx", {"nginx", "openresty", "angie"}},
    {"sshd", {"sshd", "sshd-session", "sshd-auth"}},
    {"httpd", {"httpd", "apache2"}},
    {"apache2", {"apache2", "httpd"}},
    {"php-fpm", {"php-fpm"}},
    {"postgres", {"postgres", "postmaster"}},
    {"postmaster", {"postgres", "postmaster"}},
    {"mysqld", {"mysqld", "mariadbd"}},
    {"mariadbd", {"mariadbd", "mysqld"}},
    {"redis-server", {"redis-server", "redis-check-rdb", "valkey-server"}},
    {"java", {"java"}},
    {"node", {"node", "nodejs"}},
    {"python", {"python", "pypy"}},
    {"python3", {"python3", "pypy3"}},
    {"bash", {"bash"}},
    {"sh", {"sh", "dash", "bash", "ash", "mksh", "ksh", "zsh", "yash"}},
    {"systemd", {"systemd"}},
    {"containerd", {"containerd"}},
    {"dockerd", {"dockerd"}},
    {"kubelet", {"kubelet"}},
    {"kube-proxy", {"kube-proxy"}},
    {"crond", {"crond", "cron"}},
    {"cron", {"cron", "crond"}},
    {"rsyslogd", {"rsyslogd"}},
}};

// Executables that run under any name.
constexpr std::array<std::string_view, 2> kMultiCallBinaries = {"busybox", "toybox"};

std::string_view base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "python3.11" is python3 with a version: the rest after the name is digits, '.' or '-' only,
// starting with a digit or a separator followed by one.
bool is_version_suffix(std::string_view rest) {
  if (rest.empty()) return true;
  if (rest.front() == '.' || rest.front() == '-') rest.remove_prefix(1);
  if (rest.empty() || rest.front() < '0' || rest.front() > '9') return false;
  for (char c : rest) {
    if ((c < '0' || c > '9') && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string_view claimed_program(std::string_view argv0) {
  std::string_view word = argv0.substr(0, argv0.find(' '));
  word = base_name(word);
  if (!word.empty() && word.front() == '-') word.remove_prefix(1);
  while (!word.empty() && word.back() == ':') word.remove_suffix(1);
  for (const KnownProgram& p : kWellKnownPrograms) {
    if (word == p.name) return p.name;
  }
  return {};
}

bool exe_matches_program(std::string_view exe, std::string_view program) {
  if (ends_with(exe, kDeleted)) exe.remove_suffix(kDeleted.size());  // an upgraded package
  std::string_view base = base_name(exe);
  for (std::string_view m : kMultiCallBinaries) {
    if (base == m) return true;
  }
  if (starts_with(base, "ld-linux") || starts_with(base, "ld-musl") || base == "ld.so") {
    return true;
  }
  for (const KnownProgram& p : kWellKnownPrograms) {
    if (p.name != program) continue;
    for (std::string_view e : p.exes) {
      if (!e.empty() && starts_with(base, e) && is_version_suffix(base.substr(e.size()))) {
        return true;
      }
    }
    return false;
  }
  return true;  // not a program this rule knows
}

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
  if (std::string_view program = claimed_program(argv0); !program.empty() && p.exe_readable &&
                                                         !p.exe.empty() && !memfd &&
                                                         !exe_matches_program(exe_path, program)) {
    out.push_back(make_finding(kRuleArgv0Mismatch, "cmdline[0]",
                               "argv[0] names " + std::string(program) + " but the executable is " +
                                   std::string(base_name(exe_path)),
                               std::string(argv0) + " -> " + std::string(exe), sc));
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
