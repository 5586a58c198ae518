#include "agent/run.h"

#include <malloc.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/procfs.h"
#include "base/json_doc.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/events.h"
#include "kube/http_server.h"
#include "kube/informer.h"
#include "kube/signals.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 2;

struct Metrics {
  explicit Metrics(prometheus::Registry& r)
      : scans(prometheus::BuildCounter()
                  .Name("orderguard_agent_scans_total")
                  .Help("Host scans, by result")
                  .Register(r)),
        findings(prometheus::BuildCounter()
                     .Name("orderguard_agent_findings_total")
                     .Help("Findings reported by scans, by rule: each once per process "
                           "(pid and start time), or once while a host finding lasts")
                     .Register(r)),
        evictions(prometheus::BuildCounter()
                      .Name("orderguard_agent_evictions_total")
                      .Help("Responses to miner pods, by result (evicted, deleted, gone, "
                            "pdb-blocked, dry-run, rate-limited, failed)")
                      .Register(r)),
        duration(prometheus::BuildHistogram()
                     .Name("orderguard_agent_scan_duration_seconds")
                     .Help("Wall time of one scan")
                     .Register(r)
                     .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                                      0.25, 0.5, 1, 2.5, 5, 10})),
        processes(prometheus::BuildGauge()
                      .Name("orderguard_agent_processes_scanned")
                      .Help("Processes read by the last scan")
                      .Register(r)
                      .Add({})),
        errors(prometheus::BuildCounter()
                   .Name("orderguard_agent_errors_total")
                   .Help("Parts of the scan/respond cycle skipped on an error, by stage: scan "
                         "(a process or check threw), respond (a pod or Node response failed), "
                         "cycle (the whole cycle threw and was skipped)")
                   .Register(r)),
        pool_addresses(prometheus::BuildGauge()
                           .Name("orderguard_agent_pool_addresses")
                           .Help("Resolved pool host addresses the last scan checked "
                                 "connections against")
                           .Register(r)
                           .Add({})) {}

  prometheus::Family<prometheus::Counter>& scans;
  prometheus::Family<prometheus::Counter>& findings;
  prometheus::Family<prometheus::Counter>& evictions;
  prometheus::Histogram& duration;
  prometheus::Gauge& processes;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Gauge& pool_addresses;
};

// The policies in force, compiled from the informer's cache; invalid ones are skipped (the
// webhook refuses them at admission, so this only happens for objects written around it).
struct Policies {
  std::string fingerprint;  // name@resourceVersion of every policy
  std::vector<kube::ObjectPtr> objects;
};

Policies snapshot(const kube::Informer& informer) {
  Policies p;
  p.objects = informer.list();
  for (const kube::ObjectPtr& o : p.objects) {
    const nlohmann::json& meta = o->value("metadata", nlohmann::json::object());
    p.fingerprint += meta.value("name", "") + "@" + meta.value("resourceVersion", "") + ";";
  }
  return p;
}

// `valid`, when set, receives the objects that compiled.
policy::PolicySet compile_all(const std::vector<kube::ObjectPtr>& objects,
                              std::vector<nlohmann::json>* valid = nullptr) {
  std::vector<policy::CompiledPolicy> compiled;
  for (const kube::ObjectPtr& o : objects) {
    // The informer caches DOMs and compile() reads a JsonRef: one serialization per policy,
    // only when the policies change.
    Result<policy::CompiledPolicy> c = policy::compile(JsonDoc::from_json(*o).root());
    if (!c) {
      log::error("MinerPolicy skipped", {{"error", c.error().describe()}});
      continue;
    }
    compiled.push_back(std::move(c).value());
    if (valid) valid->push_back(*o);
  }
  return policy::combine(std::move(compiled));
}

// The scanner's policy: the first policy in force with the combined (most sensitive) scoring.
policy::CompiledPolicy scanner_policy(const std::vector<kube::ObjectPtr>& objects) {
  policy::PolicySet set = compile_all(objects);
  policy::Scoring scoring = set.scoring();
  policy::CompiledPolicy first = std::move(set.policies.front());
  first.scoring = std::move(scoring);
  return first;
}

}  // namespace

std::vector<std::string> FindingCounter::fresh(const ScanReport& report, const Alive& alive) {
  std::vector<std::string> out;
  std::set<std::pair<int, uint64_t>> seen;
  for (const ProcessReport& p : report.processes) {
    std::pair<int, uint64_t> key{p.pid, p.start_time};
    seen.insert(key);
    std::set<std::string>& counted = processes_[key];
    for (const policy::Finding& f : p.findings) {
      if (counted.insert(f.rule_id).second) out.push_back(f.rule_id);
    }
  }
  std::erase_if(processes_, [&](const auto& entry) {
    return !seen.contains(entry.first) && !alive(entry.first.first, entry.first.second);
  });
  std::set<std::pair<std::string, std::string>> host;
  for (const policy::Finding& f : report.host_findings) {
    std::pair<std::string, std::string> key{f.rule_id, f.field_path};
    if (!host_.contains(key) && !host.contains(key)) out.push_back(f.rule_id);
    host.insert(std::move(key));
  }
  host_ = std::move(host);
  return out;
}

int run_agent(RunOptions options) {
  RealClock clock;
  ResponderOptions& ro = options.respond;
  if (ro.node_name.empty()) {
    log::error("no node name: set --node-name or NODE_NAME");
    return kExitError;
  }
  ro.self_pid = options.scan.self_pid = static_cast<int>(::getpid());
  std::string metrics_host;
  uint16_t metrics_port = 0;
  if (!kube::parse_listen_address(options.metrics_addr, &metrics_host, &metrics_port)) {
    log::error("invalid --metrics-addr", {{"value", options.metrics_addr}});
    return kExitError;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(*registry);
  Result<kube::Config> config = kube::load_default(options.kubeconfig);
  if (!config) {
    log::error("no Kubernetes configuration", {{"error", config.error().describe()}});
    return kExitError;
  }
  config->qps = options.kube_api_qps;
  config->burst = options.kube_api_burst;
  Result<std::unique_ptr<kube::Client>> made =
      kube::make_client(*config, {.metrics = registry.get()});
  if (!made) {
    log::error("Kubernetes client failed", {{"error", made.error().describe()}});
    return kExitError;
  }
  std::unique_ptr<kube::Client> client = std::move(made).value();

  kube::InformerOptions pod_options;
  pod_options.field_selector = "spec.nodeName=" + ro.node_name;
  pod_options.transform = kube::strip_managed_fields;
  kube::Informer pods(*client, kube::resources::kPods, clock, pod_options);
  kube::InformerOptions policy_options;
  policy_options.transform = kube::strip_managed_fields;
  kube::Informer policies(*client, kMinerPoliciesResource, clock, policy_options);

  std::atomic<int64_t> last_loop_ns{clock.now().time_since_epoch().count()};
  auto health = std::make_shared<kube::HealthChecks>();
  const auto stale_after = 3 * options.interval + std::chrono::minutes(1);
  health->add_liveness("scan-loop", [&]() -> std::string {
    auto last = Clock::time_point(Clock::duration(last_loop_ns.load()));
    return clock.now() - last > stale_after ? "scan loop stalled" : "";
  });
  health->add_readiness("informers", [&]() -> std::string {
    return pods.has_synced() && policies.has_synced() ? "" : "informers not synced";
  });
  kube::HttpServer server({.address = metrics_host, .port = metrics_port});
  kube::add_observability_routes(server, registry, health);
  if (Status s = server.start(); !s) {
    log::error("metrics server failed", {{"error", s.error().describe()}});
    return kExitError;
  }

  // kill(pid, 0) probes our own pid namespace: the hidden-process sweep is only meaningful
  // when the proc root is that namespace's /proc (hostPID: true in the DaemonSet).
  HostView probe_view(options.paths);
  if (options.scan.check_hidden && HostView::read_link(probe_view.proc_path("self")).value_or("") !=
                                       std::to_string(::getpid())) {
    log::info("hidden-process sweep off: proc root is not this pid namespace",
              {{"proc", options.paths.proc_root}});
    options.scan.check_hidden = false;
  }

  // Resolved off the scan path; hosts are set when the policies load.
  SystemResolver resolver;
  std::unique_ptr<PoolAddressBook> pool_book;
  if (options.resolve_pools) {
    pool_book = std::make_unique<PoolAddressBook>(&resolver, &clock, options.pool_refresh);
    pool_book->start();
  }

  kube::EventRecorder recorder(*client, "orderguard.io/agent", ro.node_name, clock);
  RealProcessKiller killer;
  Responder responder(*client, recorder, clock, &killer, ro);
  RealProcessProbe probe;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  auto wait_for = [&](std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu);
    return !cv.wait_for(lock, d, [&] { return stopping; });
  };

  pods.start();
  policies.start();
  log::info("agent started", {{"node", ro.node_name},
                              {"dry_run", ro.dry_run},
                              {"interval_ms", options.interval.count()},
                              {"resolve_pools", options.resolve_pools},
                              {"pool_refresh_ms", options.pool_refresh.count()},
                              {"metrics_port", server.port()}});

  std::thread loop([&] {
    // Acting on an empty pod cache would report every container as unknown.
    while (!(pods.has_synced() && policies.has_synced())) {
      if (!wait_for(std::chrono::milliseconds(200))) return;
    }
    std::unique_ptr<Scanner> scanner;
    policy::PolicySet policy_set;
    ExclusionConfig exclusions = options.scan.exclusions;
    FindingCounter counter;
    HostView alive_view(options.paths);
    // Whether the process that had findings still runs: same pid, same start time.
    auto alive = [&](int pid, uint64_t start_time) {
      Result<std::string> stat = alive_view.read_pid_whole(pid, "stat");
      if (!stat) return false;
      Result<ProcStat> parsed = parse_proc_stat(*stat);
      return parsed && parsed->starttime == start_time;
    };
    std::string fingerprint = "-";
    size_t pool_addresses = 0;
    // One pass: load changed policies (and prime a new scanner), or scan and respond.
    auto cycle = [&] {
      Policies current = snapshot(policies);
      if (!scanner || current.fingerprint != fingerprint) {
        // A new scanner loses the CPU baseline and sweep position; policies change rarely.
        std::vector<nlohmann::json> valid;
        policy::PolicySet set = compile_all(current.objects, &valid);
        if (pool_book) pool_book->set_hosts(pool_hosts_to_resolve(valid));
        ScanOptions scan_options = options.scan;
        scan_options.exclusions.add_policies(set);
        auto fresh =
            std::make_unique<Scanner>(HostView(options.paths), &clock, &probe, pool_book.get(),
                                      scanner_policy(current.objects), scan_options);
        if (Status s = fresh->prime(); !s) {
          log::error("scan failed", {{"error", s.error().describe()}});
        }
        scanner = std::move(fresh);
        policy_set = std::move(set);
        fingerprint = current.fingerprint;
        exclusions = std::move(scan_options.exclusions);
        std::vector<std::string> rules;
        for (const ExclusionRule& r : exclusions.rules()) rules.push_back(r.describe());
        log::info("policies loaded", {{"policies", policy_set.policies.size()},
                                      {"threshold", policy_set.scoring().threshold},
                                      {"exclusions", rules}});
        return;
      }
      auto start = clock.now();
      Result<ScanReport> report = scanner->scan();
      metrics.duration.Observe(std::chrono::duration<double>(clock.now() - start).count());
      if (!report) {
        metrics.scans.Add({{"result", "error"}}).Increment();
        log::error("scan failed", {{"error", report.error().describe()}});
        return;
      }
      metrics.scans.Add({{"result", "ok"}}).Increment();
      metrics.processes.Set(static_cast<double>(report->processes_scanned));
      metrics.pool_addresses.Set(static_cast<double>(report->pool_addresses));
      if (report->error_count > 0) {
        // The scanner skipped what threw (a hostile process, an odd file) and scanned the rest.
        metrics.errors.Add({{"stage", "scan"}}).Increment(static_cast<double>(report->error_count));
        log::error("scan skipped parts that failed",
                   {{"count", report->error_count}, {"errors", report->errors}});
      }
      if (report->pool_addresses != pool_addresses) {
        pool_addresses = report->pool_addresses;
        log::info("pool addresses updated", {{"addresses", pool_addresses}});
      }
      nlohmann::json pod_list = nlohmann::json::array();
      for (const kube::ObjectPtr& p : pods.list()) pod_list.push_back(*p);
      apply_pod_exclusions(exclusions, pod_list, &*report);
      for (const ProcessReport& p : report->excluded) {
        log::debug("process excluded", {{"pid", p.pid},
                                        {"comm", p.comm},
                                        {"container", p.container.container_id},
                                        {"rules", rule_ids(p)},
                                        {"score", p.score},
                                        {"excluded_by", p.excluded_by->describe()}});
      }
      // Label values are rule ids and outcomes, constants of this program: host bytes never
      // reach a metric label.
      for (const std::string& rule : counter.fresh(*report, alive)) {
        metrics.findings.Add({{"rule", rule}}).Increment();
      }
      for (const ProcessReport& p : report->processes) {
        // What was seen and why it was (not) acted on; the responder logs what it does.
        log::debug("process findings", {{"pid", p.pid},
                                        {"comm", p.comm},
                                        {"container", p.container.container_id},
                                        {"rules", rule_ids(p)},
                                        {"score", p.score},
                                        {"miner", p.miner}});
      }
      ResponseSummary summary = responder.respond(*report, pod_list, policy_set);
      for (const PodAction& a : summary.pods) {
        metrics.evictions.Add({{"result", a.outcome}}).Increment();
      }
      if (!summary.errors.empty()) {
        metrics.errors.Add({{"stage", "respond"}})
            .Increment(static_cast<double>(summary.errors.size()));
      }
    };
    while (true) {
      last_loop_ns = clock.now().time_since_epoch().count();
      // The last line: whatever threw is logged and counted, and the next cycle runs. Dying
      // here would crash-loop the pod on the same host bytes and leave the node unwatched.
      try {
        cycle();
      } catch (const std::exception& e) {
        metrics.errors.Add({{"stage", "cycle"}}).Increment();
        log::error("scan cycle failed; next one in an interval", {{"error", e.what()}});
      }
      // A scan's transient buffers (file texts, reports, the Pod list) are freed by now; hand
      // the free pages at the top of the heap back so that the node pays only for what the
      // agent keeps between scans (about 0.5 MiB at 2,000 processes).
      malloc_trim(0);
      if (!wait_for(options.interval)) return;
    }
  });

  int sig = kube::wait_for_shutdown_signal();
  log::info("shutting down", {{"signal", sig}});
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  cv.notify_all();
  loop.join();
  if (pool_book) pool_book->stop();
  pods.stop();
  policies.stop();
  recorder.flush();
  recorder.stop();
  server.stop();
  return kExitOk;
}

}  // namespace orderguard::agent
