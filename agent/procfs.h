// Parsers for the /proc formats the scanners read (proc(5): stat, status, cmdline, environ,
// net/tcp) and a reader that gathers one process's identity. Parsers are pure functions of the
// file text; malformed or truncated input gives ErrorCode::kInvalid, never a crash or a guessed
// value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/host_view.h"
#include "base/result.h"

namespace orderguard::agent {

inline constexpr uint32_t kPfKthread = 0x00200000;  // include/linux/sched.h

// Where the kernel laid out a process's address space (stat fields 26-28 and 45-51: code,
// stack, data, brk, argv and environ). exec() replaces the address space, so these change
// with it (at random under ASLR; argv's and environ's bounds with their lengths as well),
// while pid, start time and CPU ticks stay. The kernel shows zeros when the reader may not
// ptrace the process or it has no address space, and kernels before 3.5 lack fields 45-51:
// then known() is false and nothing may be inferred from the layout.
struct ExecLayout {
  uint64_t start_code = 0;
  uint64_t end_code = 0;
  uint64_t start_stack = 0;
  uint64_t start_data = 0;
  uint64_t end_data = 0;
  uint64_t start_brk = 0;
  uint64_t arg_start = 0;
  uint64_t arg_end = 0;
  uint64_t env_start = 0;
  uint64_t env_end = 0;

  bool known() const { return start_stack != 0 && arg_start != 0 && arg_end >= arg_start; }
  bool operator==(const ExecLayout&) const = default;
};

// /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat.
struct ProcStat {
  int pid = 0;
  std::string comm;  // between the first '(' and the last ')'
  char state = '?';
  int ppid = 0;
  uint32_t flags = 0;
  uint64_t utime = 0;  // clock ticks
  uint64_t stime = 0;
  int64_t nice = 0;
  int64_t num_threads = 0;
  uint64_t starttime = 0;
  ExecLayout layout;  // unknown (zeros) when the fields are absent or not numbers

  uint64_t cpu_ticks() const { return utime + stime; }
  bool kernel_thread() const { return (flags & kPfKthread) != 0; }
};
Result<ProcStat> parse_proc_stat(std::string_view text);

// The aggregate "cpu" line of /proc/stat: total jiffies over all CPUs (guest time is already
// inside user/nice, so it is not added again) and the number of "cpuN" lines.
struct SystemCpu {
  uint64_t total = 0;
  uint64_t busy = 0;
  int cpus = 0;
};
Result<SystemCpu> parse_system_stat(std::string_view text);

// The fields of /proc/<pid>/status the agent uses.
struct ProcStatus {
  std::string name;
  int tgid = 0;
  int ppid = 0;
  int64_t hugetlb_kb = 0;  // HugetlbPages
};
Result<ProcStatus> parse_proc_status(std::string_view text);

// NUL-separated argv; a trailing NUL does not make an empty last argument.
std::vector<std::string> split_cmdline(std::string_view text);

// Everything the identity checks need about one process. Missing pieces (exe unreadable
// without ptrace rights, a kernel thread's empty cmdline) are empty, not errors.
struct ProcessSnapshot {
  ProcStat stat;
  std::string comm;  // /proc/<pid>/comm without the newline
  std::vector<std::string> cmdline;
  std::string exe;  // readlink of /proc/<pid>/exe; empty when unreadable or absent
  bool exe_readable = false;
  int64_t hugetlb_kb = 0;
  std::string cgroup;  // raw /proc/<pid>/cgroup
};

// What read_process reads; the scanner skips what it already has or may not need.
struct ReadProcessOptions {
  const ProcStat* stat = nullptr;  // already read (the CPU sample): stat is not read again
  bool status = true;              // HugetlbPages; the most expensive file of the set
  bool cgroup = true;
};

// kNotFound when the process vanished (stat unreadable); other files are best effort. comm is
// stat's comm field (what /proc/<pid>/comm holds too, without its newline).
Result<ProcessSnapshot> read_process(const HostView& view, int pid,
                                     const ReadProcessOptions& options = {});

}  // namespace orderguard::agent
