// orderguard-operator: reconciles OrderServices, CacheTiers and ShardSets.
// Controllers run only while this process holds the Lease when
// --leader-elect is set; SIGTERM stops them and releases the Lease.
#include <prometheus/registry.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/http_server.h"
#include "kube/leader_election.h"
#include "kube/log.h"
#include "kube/signals.h"
#include "operator/manager.h"

using namespace orderguard;

int main(int argc, char** argv) {
  kube::init_openssl_for_process();
  kube::block_shutdown_signals();

  CLI::App app{"orderguard-operator: runs the order platform's tiers"};
  std::string kubeconfig, metrics_addr = ":8080", lease_ns, log_level = "info";
  bool leader_elect = false;
  int workers = 2;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: in-cluster or ~/.kube)");
  app.add_option("--metrics-addr", metrics_addr, "address of /metrics, /healthz, /readyz");
  app.add_flag("--leader-elect", leader_elect, "run controllers only while holding the Lease");
  app.add_option("--leader-election-namespace", lease_ns,
                 "namespace of the Lease (default: the pod's namespace or orderguard-system)");
  app.add_option("--workers", workers, "concurrent reconciles")->check(CLI::Range(1, 64));
  app.add_option("--log-level", log_level, "debug, info or error");
  CLI11_PARSE(app, argc, argv);

  log::Level level;
  if (!log::parse_level(log_level, &level)) {
    log::error("invalid --log-level", {{"value", log_level}});
    return 2;
  }
  log::set_level(level);

  auto config = kube::load_default(kubeconfig);
  if (!config.ok()) {
    log::error("cannot load Kubernetes config", {{"error", config.error().describe()}});
    return 1;
  }
  if (lease_ns.empty()) {
    const char* pod_ns = std::getenv("POD_NAMESPACE");
    if (pod_ns != nullptr && *pod_ns != '\0') {
      lease_ns = pod_ns;
    } else if (config->source == "in-cluster" && !config->default_namespace.empty()) {
      lease_ns = config->default_namespace;
    } else {
      lease_ns = "orderguard-system";
    }
  }

  auto registry = std::make_shared<prometheus::Registry>();
  auto client = kube::make_client(*config, {.metrics = registry.get()});
  if (!client.ok()) {
    log::error("cannot create Kubernetes client", {{"error", client.error().describe()}});
    return 1;
  }

  RealClock clock;
  op::ManagerOptions mopts;
  mopts.workers = workers;
  mopts.metrics = registry.get();
  mopts.instance = kube::process_identity();
  op::OrderServiceManager manager(**client, clock, mopts);

  kube::HttpServerOptions hopts;
  if (!kube::parse_listen_address(metrics_addr, &hopts.address, &hopts.port)) {
    log::error("invalid --metrics-addr", {{"value", metrics_addr}});
    return 2;
  }
  kube::HttpServer server(hopts);
  auto health = std::make_shared<kube::HealthChecks>();
  health->add_readiness("caches", [&]() -> std::string {
    // Standbys are ready (they serve health); a leader once its caches synced.
    return manager.synced() || !leader_elect ? "" : "caches not synced";
  });
  kube::add_observability_routes(server, registry, health);
  if (Status st = server.start(); !st.ok()) {
    log::error("cannot start metrics server", {{"error", st.error().describe()}});
    return 1;
  }

  std::atomic<bool> shutting_down{false};
  std::thread starter;
  auto start_controllers = [&] {
    starter = std::thread([&] {
      if (Status st = manager.start(); !st.ok()) {
        log::error("controllers failed to start", {{"error", st.error().describe()}});
        std::_Exit(1);  // the kubelet restarts us
      }
    });
  };

  std::unique_ptr<kube::LeaderElector> elector;
  std::thread election;
  if (leader_elect) {
    kube::LeaderElectionConfig lcfg;
    lcfg.lease_namespace = lease_ns;
    lcfg.lease_name = "orderguard-operator";
    lcfg.identity = mopts.instance;
    kube::LeaderCallbacks callbacks;
    callbacks.on_started_leading = [&] {
      log::info("became leader", {{"identity", lcfg.identity}});
      start_controllers();
    };
    callbacks.on_stopped_leading = [&] {
      if (shutting_down.load()) return;
      // Another replica may already be reconciling: stop at once.
      log::error("lost leadership, exiting", {{"identity", lcfg.identity}});
      std::_Exit(1);
    };
    elector =
        std::make_unique<kube::LeaderElector>(**client, lcfg, callbacks, clock, registry.get());
    election = std::thread([&] { elector->run(); });
  } else {
    start_controllers();
  }

  int sig = kube::wait_for_shutdown_signal();
  shutting_down.store(true);
  log::info("shutting down", {{"signal", sig}});
  if (starter.joinable()) starter.join();
  manager.stop();
  if (elector) {
    elector->stop();  // releases the Lease
    election.join();
  }
  server.stop();
  return 0;
}
