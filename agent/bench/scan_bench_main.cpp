// The cost of one host scan, split by phase, for scripts/bench_agent.sh: prime() (the first CPU
// sample) and scan() (second CPU sample, connections, every process's identity, the hidden-pid
// sweep when asked, host persistence files), each timed by the CPU time of this process
// (getrusage: user + system) and by wall time, `--runs` times over the same /proc. Prints one
// line per run and the process's peak RSS; asserts nothing.
//
// Usage: agent_scan_bench [--host-proc /proc] [--host-root /] [--runs 5] [--hidden]
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

#include "agent/scanner.h"
#include "kube/clock.h"
#include "policy/miner_policy.h"

namespace {

struct Times {
  double cpu_ms = 0;
  double wall_ms = 0;
};

double cpu_ms_now() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

template <typename F>
Times timed(F&& f) {
  double cpu = cpu_ms_now();
  auto wall = std::chrono::steady_clock::now();
  f();
  return {
      cpu_ms_now() - cpu,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall).count()};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace orderguard;
  CLI::App app{"time the phases of one orderguard-agent scan"};
  agent::HostPaths paths;
  int runs = 5;
  bool hidden = false;
  app.add_option("--host-proc", paths.proc_root)->capture_default_str();
  app.add_option("--host-root", paths.host_root)->capture_default_str();
  app.add_option("--runs", runs)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--hidden", hidden, "include the hidden-process sweep (up to pid_max)");
  CLI11_PARSE(app, argc, argv);

  RealClock clock;
  agent::RealProcessProbe probe;
  agent::ScanOptions options;
  options.self_pid = static_cast<int>(::getpid());
  options.check_hidden = hidden;
  std::printf("%-4s %12s %12s %12s %12s %10s %8s\n", "run", "prime_cpu_ms", "prime_wall_ms",
              "scan_cpu_ms", "scan_wall_ms", "processes", "hidden");
  for (int i = 0; i < runs; ++i) {
    agent::Scanner scanner(agent::HostView(paths), &clock, hidden ? &probe : nullptr, nullptr,
                           policy::built_in_default(), options);
    Times prime = timed([&] { (void)scanner.prime(); });
    std::optional<Result<agent::ScanReport>> scanned;
    Times scan = timed([&] { scanned.emplace(scanner.scan()); });
    Result<agent::ScanReport>& report = *scanned;
    if (!report) {
      std::fprintf(stderr, "scan failed: %s\n", report.error().describe().c_str());
      return 2;
    }
    std::printf("%-4d %12.1f %12.1f %12.1f %12.1f %10zu %8s\n", i + 1, prime.cpu_ms, prime.wall_ms,
                scan.cpu_ms, scan.wall_ms, report->processes_scanned, hidden ? "yes" : "no");
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("max_rss_kib %ld\n", ru.ru_maxrss);
  return 0;
}
