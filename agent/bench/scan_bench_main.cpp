// The cost of one host scan, split by phase, for scripts/bench_agent.sh: prime() (the first CPU
// sample) and scan() (second CPU sample, connections, every process's identity, the hidden-pid
// sweep when asked, host persistence files), each timed by the CPU time of this process
// (getrusage: user + system) and by wall time, `--runs` times over the same /proc, each run
// with a new scanner. Within a run, scan 1 is the first after prime() (every process read in
// full, as `orderguard-agent scan` does); scans 2.. are what `run` pays each interval once it
// knows the host (unchanged clean processes reuse their verdict, scanner.h), `--interval` apart.
// Prints one line per scan and the process's peak RSS; asserts nothing.
//
// Usage: agent_scan_bench [--host-proc /proc] [--host-root /] [--runs 5] [--scans 3]
//                         [--interval 0.5] [--hidden] [--no-persistence]
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "agent/scanner.h"
#include "base/clock.h"
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
  int scans = 3;
  double interval = 0.5;
  bool hidden = false;
  bool persistence = true;
  app.add_option("--host-proc", paths.proc_root)->capture_default_str();
  app.add_option("--host-root", paths.host_root)->capture_default_str();
  app.add_option("--runs", runs)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--scans", scans, "scans per run after prime()")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--interval", interval, "seconds between prime() and the scans")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("!--no-persistence", persistence, "leave out the host persistence files");
  app.add_flag("--hidden", hidden, "include the hidden-process sweep (up to pid_max)");
  CLI11_PARSE(app, argc, argv);

  RealClock clock;
  agent::RealProcessProbe probe;
  agent::ScanOptions options;
  options.self_pid = static_cast<int>(::getpid());
  options.check_hidden = hidden;
  options.check_persistence = persistence;
  std::printf("%-4s %-5s %12s %12s %12s %12s %10s %8s %8s\n", "run", "scan", "prime_cpu_ms",
              "prime_wall_ms", "scan_cpu_ms", "scan_wall_ms", "processes", "reused", "hidden");
  const auto pause = std::chrono::duration<double>(interval);
  for (int i = 0; i < runs; ++i) {
    agent::Scanner scanner(agent::HostView(paths), &clock, hidden ? &probe : nullptr, nullptr,
                           policy::built_in_default(), options);
    Times prime = timed([&] { (void)scanner.prime(); });
    for (int s = 0; s < scans; ++s) {
      std::this_thread::sleep_for(pause);
      std::optional<Result<agent::ScanReport>> scanned;
      Times scan = timed([&] { scanned.emplace(scanner.scan()); });
      Result<agent::ScanReport>& report = *scanned;
      if (!report) {
        std::fprintf(stderr, "scan failed: %s\n", report.error().describe().c_str());
        return 2;
      }
      std::printf("%-4d %-5d %12.1f %12.1f %12.1f %12.1f %10zu %8zu %8s\n", i + 1, s + 1,
                  s == 0 ? prime.cpu_ms : 0.0, s == 0 ? prime.wall_ms : 0.0, scan.cpu_ms,
                  scan.wall_ms, report->processes_scanned, report->processes_reused,
                  hidden ? "yes" : "no");
    }
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("max_rss_kib %ld\n", ru.ru_maxrss);
  return 0;
}
