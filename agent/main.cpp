// orderguard-agent: `scan` runs every check once on this host and prints a report (exit codes:
// 0 clean, 1 findings of miner severity, 2 error, including a scan that skipped a process or a
// check because it threw, when it found nothing else); `run` is the DaemonSet mode (run.h).
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "agent/exclusions.h"
#include "agent/report.h"
#include "agent/run.h"
#include "agent/scanner.h"
#include "base/clock.h"
#include "base/duration.h"
#include "base/log.h"
#include "base/text.h"
#include "kube/cli.h"
#include "kube/signals.h"
#include "policy/miner_policy.h"

namespace {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitError = 2;

}  // namespace

int main(int argc, char** argv) {
  using namespace orderguard;
  using namespace std::chrono_literals;
  CLI::App app{"orderguard node agent"};
  kube::configure_cli(app, "orderguard-agent");
  app.require_subcommand(1);
  agent::HostPaths paths;
  std::string output = "table";
  std::chrono::milliseconds interval = 1s;
  bool resolve_pools = false;
  agent::ScanOptions options;
  CLI::App* scan = app.add_subcommand("scan", "run every check once on this host and report");
  kube::add_version_flag(*scan, "orderguard-agent");
  scan->add_option("--host-proc", paths.proc_root, "the host's /proc");
  scan->add_option("--host-root", paths.host_root, "the host's root filesystem");
  scan->add_option("--output,-o", output,
                   "table or json (json: values of secret-looking flags in command lines "
                   "shown as <redacted>)")
      ->check(CLI::IsMember({"table", "json"}));
  kube::add_duration_option(*scan, "--interval", interval, "time between the two CPU samples",
                            {.min = 50ms, .max = 10min});
  scan->add_option("--cpu-hog-percent", options.cpu_hog_percent, "CPU hog threshold (% of a CPU)");
  scan->add_flag("--resolve-pools,!--no-resolve-pools", resolve_pools,
                 "resolve the built-in pool host names (DNS queries for pool domains); off: the "
                 "pool-connection rule is off (default: off)");
  scan->add_flag("--hidden,!--no-hidden", options.check_hidden,
                 "the hidden-process sweep (default: on)");
  scan->add_flag("--baseline", options.baseline,
                 "also report hardening gaps (sshd, firewall, fail2ban, auditd, writable dirs)");
  scan->add_option("--hidden-chunk", options.hidden_sweep_chunk,
                   "pids probed per scan by the hidden-process sweep (0: up to pid_max)")
      ->check(CLI::NonNegativeNumber);
  bool verbose = false;
  scan->add_flag("-v,--verbose", verbose,
                 "also list the processes with findings below the miner threshold");
  // Exclusions (agent/exclusions.h), for scan and run alike.
  agent::ExclusionFlags exclude;
  auto exclusion_flags = [&](CLI::App* cmd) {
    cmd->add_option("--trusted-binaries", exclude.trusted_binaries,
                    "sha256sum file of the orderguard binaries never reported (the agent's own "
                    "binary always is; a missing file: only it)");
    cmd->add_option("--exclude-exe", exclude.executables,
                    "never report host processes whose executable path matches this glob "
                    "(repeatable; * and ? within a component, ** across)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false);
  };
  exclusion_flags(scan);
  std::chrono::milliseconds watch = 0s;
  kube::add_duration_option(*scan, "--watch", watch,
                            "rescan after this long, again and again until interrupted (0: scan "
                            "once)",
                            {.min = 50ms, .zero_ok = true});

  agent::RunOptions run_options;
  agent::ResponderOptions& ro = run_options.respond;
  if (const char* node = std::getenv("NODE_NAME")) ro.node_name = node;
  if (const char* pod = std::getenv("POD_NAME")) ro.pod_name = pod;
  std::chrono::seconds quarantine_expiry = 0s;
  std::vector<std::string> protected_namespaces(ro.protected_namespaces.begin(),
                                                ro.protected_namespaces.end());
  std::string level = "info";
  CLI::App* run = app.add_subcommand("run", "DaemonSet mode: scan every interval and respond");
  kube::add_version_flag(*run, "orderguard-agent");
  run->add_option("--node-name", ro.node_name, "this node (default: $NODE_NAME)");
  kube::add_kubeconfig_flag(*run, run_options.kubeconfig);
  kube::add_api_rate_flags(*run, run_options.kube_api_qps, run_options.kube_api_burst);
  kube::add_duration_option(*run, "--interval", run_options.interval, "time between scans",
                            {.min = 100ms, .max = 1h});
  run->add_flag("--dry-run", ro.dry_run, "decide and report, act on nothing");
  run->add_flag("--delete-on-pdb-block", ro.delete_on_pdb_block,
                "delete a miner pod when a PodDisruptionBudget refuses its eviction");
  run->add_option("--pod-name", ro.pod_name,
                  "this agent's Pod, recorded in the Quarantines it creates (default: $POD_NAME)");
  kube::add_duration_option(*run, "--quarantine-expiry", quarantine_expiry,
                            "Quarantines it creates expire after this long (0: never, they last "
                            "until deleted)",
                            {.min = 1s, .zero_ok = true});
  run->add_option("--protected-namespaces", protected_namespaces,
                  "namespaces whose pods are never acted on")
      ->delimiter(',');
  run->add_option("--evictions-per-minute", ro.evictions_per_minute,
                  "at most this many pods acted on per minute on this node")
      ->check(CLI::NonNegativeNumber);
  run->add_flag("--taint-node", ro.taint_node,
                "taint a compromised node orderguard.io/miner-compromised:NoSchedule");
  run->add_flag("--kill-unowned", ro.kill_unowned, "SIGKILL miner processes that belong to no pod");
  run->add_option("--metrics-addr", run_options.metrics_addr,
                  "address of /metrics, /healthz, /readyz");
  run->add_option("--host-proc", run_options.paths.proc_root, "the host's /proc");
  run->add_option("--host-root", run_options.paths.host_root, "the host's root filesystem");
  run->add_option("--cpu-hog-percent", run_options.scan.cpu_hog_percent,
                  "CPU hog threshold (% of a CPU)");
  run->add_flag("--hidden,!--no-hidden", run_options.scan.check_hidden,
                "the hidden-process sweep (default: on)");
  run->add_option("--hidden-chunk", run_options.scan.hidden_sweep_chunk,
                  "pids probed per scan by the hidden-process sweep (0: up to pid_max)")
      ->check(CLI::NonNegativeNumber);
  run->add_flag("--resolve-pools,!--no-resolve-pools", run_options.resolve_pools,
                "resolve the pool host names of the MinerPolicies (DNS queries for pool "
                "domains); off: the pool-connection rule is off (default: on)");
  kube::add_duration_option(*run, "--pool-refresh", run_options.pool_refresh,
                            "how often pool host names are resolved again", {.min = 1s});
  run->add_option("--log-level", level, "debug, info or error")
      ->check(CLI::IsMember({"debug", "info", "error"}));
  exclusion_flags(run);
  run->add_option("--exclude-namespace", exclude.namespaces,
                  "never report or act on processes of Pods in this namespace (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  run->add_option("--exclude-pod-label", exclude.pod_labels,
                  "never report or act on processes of Pods with this label, key=value "
                  "(repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  CLI11_PARSE(app, argc, argv);

  Result<agent::ExclusionConfig> exclusions = agent::exclusions_from_flags(exclude);
  if (!exclusions) {
    log::error("invalid exclusion", {{"error", exclusions.error().message}});
    return kExitError;
  }
  for (const std::string& note : exclusions->trusted->notes) {
    log::info("trusted binaries", {{"note", note}});
  }
  options.exclusions = run_options.scan.exclusions = *exclusions;

  if (*run) {
    log::Level parsed;
    if (!log::parse_level(level, &parsed)) {
      log::error("invalid --log-level", {{"value", level}});
      return kExitError;
    }
    log::set_level(parsed);
    if (quarantine_expiry.count() > 0) ro.quarantine_expiry = quarantine_expiry;
    // A DaemonSet on every node: keep its footprint small. Two malloc arenas
    // instead of one per allocating thread.
    mallopt(M_ARENA_MAX, 2);
    kube::init_openssl_for_process();
    kube::block_shutdown_signals();
    ro.protected_namespaces = {protected_namespaces.begin(), protected_namespaces.end()};
    return agent::run_agent(std::move(run_options));
  }

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
  // One-shot: the first scan waits for the resolution; with --watch the book refreshes on its
  // own thread so rescans do not.
  agent::PoolAddressBook pools(&resolver, &clock, std::chrono::minutes(10));
  if (resolve_pools) {
    pools.set_hosts(agent::pool_hosts_to_resolve({}));
    pools.refresh();
    if (watch.count() > 0) pools.start();
  }
  agent::Scanner scanner(std::move(view), &clock, &probe, resolve_pools ? &pools : nullptr,
                         policy::built_in_default(), options);
  try {
    if (Status s = scanner.prime(); !s) {
      log::error("scan failed", {{"error", s.error().describe()}});
      return kExitError;
    }
  } catch (const std::exception& e) {
    log::error("scan failed", {{"error", e.what()}});
    return kExitError;
  }
  std::this_thread::sleep_for(interval);
  while (true) {
    // The scanner records what threw inside it and carries on; this is the last line for
    // anything else, so a host's bytes end in exit code 2 (or the next --watch scan), never
    // in an abort.
    int code = kExitError;
    try {
      Result<agent::ScanReport> report = scanner.scan();
      if (!report) {
        // The proc root or /proc/stat is unreadable: rescanning will not help.
        log::error("scan failed", {{"error", report.error().describe()}});
        return kExitError;
      }
      if (output == "json") {
        // One document per scan; in watch mode one per line so the stream can be piped.
        std::cout << orderguard::dump_for_wire(agent::to_json(*report), watch.count() > 0 ? -1 : 2)
                  << std::endl;
      } else {
        std::cout << agent::format_table(*report, verbose) << std::flush;
      }
      code = report->has_miner_severity() ? kExitFindings
             : report->error_count > 0    ? kExitError
                                          : kExitClean;
    } catch (const std::exception& e) {
      log::error("scan failed", {{"error", e.what()}});
    }
    if (watch.count() == 0) return code;
    std::this_thread::sleep_for(watch);
  }
}
