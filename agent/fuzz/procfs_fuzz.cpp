// Fuzz target over the /proc parsers (agent/procfs.h): /proc/<pid>/stat and task stat,
// /proc/stat, /proc/<pid>/status, the NUL-separated cmdline and environ, and the cgroup CPU
// quota files (agent/cpu_limit.h: cpu.max, cpu.cfs_quota_us). Their output then goes where a
// scan sends it: the identity checks, the loader-variable check of environ
// (agent/environment.h), policy::scan_process (argv and environ), the JSON report and the
// table.
//
// Oracle: nothing throws; stat's comm is exactly what lies between the first '(' and the last
// ')'; tick and CPU sums do not wrap; stat's address-space layout only comes with all its
// fields; status's Name is one line; split_cmdline neither loses
// nor adds a byte (joined with NULs, the arguments are the input) and yields at most one
// argument per NUL plus one; a quota is positive and finite; the environment check gives at
// most one finding per variable, each naming an LD_ variable; findings are bounded by the
// fields they come from; the outputs are sanitized (fuzz_oracle.h).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cpu_limit.h"
#include "agent/environment.h"
#include "agent/fuzz/fuzz_oracle.h"
#include "agent/identity.h"
#include "agent/procfs.h"
#include "policy/process.h"

namespace {

using namespace orderguard;
using namespace orderguard::agent;
using agent::fuzz::fail;

// Rules that can fire on one field, with room to spare: findings are deduplicated per rule
// and field.
constexpr size_t kRulesPerField = 32;

void check(std::string_view input) {
  ScanReport report;
  ProcessSnapshot snap;
  snap.stat.pid = 1000;
  snap.stat.ppid = 1;

  if (Result<ProcStat> st = parse_proc_stat(input); st) {
    const size_t open = input.find('(');
    const size_t close = input.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
      fail("stat parsed without a (comm)", input);
    }
    if (st->comm != input.substr(open + 1, close - open - 1)) {
      fail("comm is not the text between the first '(' and the last ')'", input);
    }
    if (st->cpu_ticks() < st->utime) fail("utime + stime wrapped", input);
    // The layout (fields 26-28, 45-51) comes from a line that has them all, or not at all.
    if (st->layout != ExecLayout{}) {
      size_t fields = 0;
      bool in_field = false;
      for (char c : input.substr(close + 1)) {
        const bool blank = c == ' ' || c == '\t' || c == '\n';
        if (!blank && !in_field) ++fields;
        in_field = !blank;
      }
      if (fields < 49) fail("an address-space layout from a line without fields 45-51", input);
    }
    snap.stat = *st;
    report.top_cpu.push_back(CpuUsage{st->pid, 0, st->comm, 1.0});
    report.top_threads.push_back(CpuUsage{st->pid, st->pid, st->comm, 1.0});
  }
  if (Result<SystemCpu> sys = parse_system_stat(input); sys) {
    if (sys->cpus < 1) fail("/proc/stat with no CPU", input);
    if (sys->busy > sys->total) fail("/proc/stat busy above total (a sum wrapped)", input);
  }
  if (Result<ProcStatus> status = parse_proc_status(input); status) {
    if (status->name.find('\n') != std::string::npos) fail("status Name spans lines", input);
    if (status->name.size() > input.size()) fail("status Name longer than the file", input);
  }

  for (std::optional<double> quota :
       {parse_cpu_max(input), parse_cfs_quota(input, "100000"), parse_cfs_quota("50000", input)}) {
    if (quota && !(*quota > 0 && *quota < 1e30)) fail("a quota that is not positive", input);
  }

  const std::vector<std::string> args = split_cmdline(input);
  std::string joined;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) joined += '\0';
    if (args[i].find('\0') != std::string::npos) fail("an argument holds a NUL", input);
    joined += args[i];
  }
  std::string_view expected = input;
  if (!expected.empty() && expected.back() == '\0') expected.remove_suffix(1);
  if (joined != expected) fail("split_cmdline loses or adds bytes", input);
  if (args.size() > agent::fuzz::count(input, '\0') + 1) fail("more arguments than NULs", input);

  // What a scan does with them: the same bytes as comm, exe, argv and environ.
  snap.comm = snap.stat.comm.empty() ? std::string(input.substr(0, 15)) : snap.stat.comm;
  snap.cmdline = args;
  snap.exe = std::string(input.substr(0, 4096));
  snap.exe_readable = true;
  ProcessReport p;
  p.pid = snap.stat.pid;
  p.comm = snap.comm;
  p.exe = snap.exe;
  p.cmdline = args;
  p.findings = check_identity(snap, agent::fuzz::built_in_policy());
  policy::ProcessInfo info;
  info.comm = snap.comm;
  info.cmdline = args;
  info.environ = args;
  for (policy::Finding& f : policy::scan_process(info, agent::fuzz::built_in_policy()).findings) {
    p.findings.push_back(std::move(f));
  }
  const std::vector<policy::Finding> env =
      check_environment(args, agent::fuzz::built_in_policy().scoring);
  if (env.size() > args.size()) fail("more loader findings than variables", input);
  for (const policy::Finding& f : env) {
    if (f.evidence.rfind("LD_", 0) != 0) fail("a loader finding without its variable", input);
    p.findings.push_back(f);
  }
  const size_t fields = 2 + 2 * args.size();  // identity: comm, exe; argv and environ
  if (p.findings.size() > kRulesPerField * (fields + 1))
    fail("findings beyond their fields", input);
  report.processes.push_back(std::move(p));
  agent::fuzz::check_outputs(report, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return agent::fuzz::run_input(data, size, check);
}
