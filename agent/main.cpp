// orderguard-agent: `scan` runs every check once on this host and prints a report.
// Exit codes: 0 clean, 1 findings of miner severity, 2 error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "agent/report.h"
#include "agent/scanner.h"
#include "kube/clock.h"
#include "kube/log.h"
#include "policy/miner_policy.h"

namespace {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitError = 2;

}  // namespace

int main(int argc, char** argv) {
  using namespace orderguard;
  CLI::App app{"orderguard node agent"};
  app.require_subcommand(1);
  agent::HostPaths paths;
  std::string output = "table";
  double interval = 1.0;
  bool resolve_pools = false;
  agent::ScanOptions options;
  CLI::App* scan = app.add_subcommand("scan", "run every check once on this host and report");
  scan->add_option("--host-proc", paths.proc_root, "the host's /proc")->capture_default_str();
  scan->add_option("--host-root", paths.host_root, "the host's root filesystem")
      ->capture_default_str();
  scan->add_option("--output,-o", output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  scan->add_option("--interval", interval, "seconds between the two CPU samples")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  scan->add_option("--cpu-hog-percent", options.cpu_hog_percent, "CPU hog threshold (% of a CPU)")
      ->capture_default_str();
  scan->add_flag("--resolve-pools", resolve_pools,
                 "resolve the built-in pool host names (DNS queries for pool domains)");
  scan->add_flag("!--no-hidden", options.check_hidden, "skip the hidden-process sweep");
  scan->add_option("--hidden-chunk", options.hidden_sweep_chunk,
                   "pids probed per scan by the hidden-process sweep (0: up to pid_max)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  double watch = 0;
  scan->add_option("--watch", watch,
                   "rescan every this many seconds until interrupted (0: scan once)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  options.self_pid = static_cast<int>(::getpid());
  RealClock clock;
  agent::RealProcessProbe probe;
  agent::SystemResolver resolver;
  // kill(pid, 0) probes the agent's own pid namespace, so the hidden-process sweep only means
  // something against a /proc of that namespace; /proc/self resolves to our pid only there
  // (fixture trees and a foreign namespace's /proc have none).
  agent::HostView view(paths);
  bool same_pid_namespace =
      agent::HostView::read_link(view.proc_path("self")).value_or("") == std::to_string(::getpid());
  if (options.check_hidden && !same_pid_namespace) {
    log::info("hidden-process sweep off: proc root is not this pid namespace",
              {{"proc", paths.proc_root}});
    options.check_hidden = false;
  }
  agent::Scanner scanner(std::move(view), &clock, &probe, resolve_pools ? &resolver : nullptr,
                         policy::built_in_default(), options);
  if (Status s = scanner.prime(); !s) {
    log::error("scan failed", {{"error", s.error().describe()}});
    return kExitError;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  while (true) {
    Result<agent::ScanReport> report = scanner.scan();
    if (!report) {
      log::error("scan failed", {{"error", report.error().describe()}});
      return kExitError;
    }
    if (output == "json") {
      // One document per scan; in watch mode one per line so the stream can be piped.
      std::cout << agent::to_json(*report).dump(watch > 0 ? -1 : 2) << std::endl;
    } else {
      std::cout << agent::format_table(*report) << std::flush;
    }
    if (watch <= 0) return report->has_miner_severity() ? kExitFindings : kExitClean;
    std::this_thread::sleep_for(std::chrono::duration<double>(watch));
  }
}
