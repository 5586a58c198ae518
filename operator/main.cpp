// orderguard-operator: reconciles OrderServices, CacheTiers and ShardSets.
// Controllers run only while this process holds the Lease when
// --leader-elect is set; SIGTERM stops them and releases the Lease.
#include <malloc.h>
#include <prometheus/registry.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>

#include "base/log.h"
#include "base/text.h"
#include "kube/cli.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/http_server.h"
#include "kube/leader_election.h"
#include "kube/signals.h"
#include "kube/yaml.h"
#include "operator/manager.h"
#include "operator/render_shards.h"

using namespace orderguard;

namespace {

// `orderguard-operator route`: where a key (and a time) lands in a ShardSet,
// computed offline from the ShardSet manifest with the operator's own route().
int run_route(const std::string& file, const std::string& key, const std::string& date,
              bool as_json) {
  auto docs = kube::read_yaml_file(file);
  if (!docs.ok()) {
    std::fprintf(stderr, "route: %s\n", docs.error().message.c_str());
    return 2;
  }
  const nlohmann::json* found = nullptr;
  for (const auto& doc : *docs) {
    if (doc.is_object() && doc.value("kind", "") == "ShardSet") {
      found = &doc;
      break;
    }
  }
  if (found == nullptr) {
    std::fprintf(stderr, "route: %s holds no ShardSet\n", file.c_str());
    return 2;
  }
  auto set = op::parse_shard_set_object(*found);
  if (!set.ok()) {
    std::fprintf(stderr, "route: %s: %s\n", file.c_str(), set.error().message.c_str());
    return 2;
  }
  std::optional<std::chrono::sys_days> day;
  if (!date.empty()) {
    int y = 0;
    unsigned m = 0, d = 0;
    char extra = 0;
    std::chrono::year_month_day ymd{};
    if (std::sscanf(date.c_str(), "%d-%u-%u%c", &y, &m, &d, &extra) == 3) {
      ymd = std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d};
    }
    if (!ymd.ok()) {
      std::fprintf(stderr, "route: --time must be a date YYYY-MM-DD, got '%s'\n", date.c_str());
      return 2;
    }
    day = std::chrono::sys_days{ymd};
  }
  auto r = op::route(key, day, *set);
  if (!r.ok()) {
    std::fprintf(stderr, "route: %s\n", r.error().message.c_str());
    return 2;
  }
  if (as_json) {
    nlohmann::json out = {{"key", key},
                          {"slot", r->slot},
                          {"database", r->database},
                          {"table", r->table},
                          {"databaseName", r->database_name},
                          {"tableName", r->table_name},
                          {"rwService", r->rw_service},
                          {"roService", r->ro_service}};
    std::printf("%s\n", orderguard::dump_for_wire(out, 2).c_str());
  } else {
    std::printf("key %s -> slot %d: database %s (index %d), table %s\n", key.c_str(), r->slot,
                r->database_name.c_str(), r->database, r->table_name.c_str());
    std::printf("read-write service %s, read-only service %s\n", r->rw_service.c_str(),
                r->ro_service.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives every thread that allocates an arena of its own (up to 8 per
  // core) and never moves free memory between them; with informer, worker
  // threads each touching the caches, that is mostly idle memory.
  mallopt(M_ARENA_MAX, 2);
  kube::init_openssl_for_process();
  kube::block_shutdown_signals();

  CLI::App app{"orderguard-operator: runs the order platform's tiers"};
  kube::configure_cli(app, "orderguard-operator");
  std::string kubeconfig, metrics_addr = ":8080", lease_ns, log_level = "info";
  bool leader_elect = false;
  int workers = 2;
  std::chrono::seconds resync_period = std::chrono::hours(10);
  double kube_api_qps = kube::Config{}.qps;
  int kube_api_burst = kube::Config{}.burst;
  kube::add_kubeconfig_flag(app, kubeconfig);
  app.add_option("--metrics-addr", metrics_addr, "address of /metrics, /healthz, /readyz");
  app.add_flag("--leader-elect", leader_elect, "run controllers only while holding the Lease");
  app.add_option("--leader-election-namespace", lease_ns,
                 "namespace of the Lease (default: the pod's namespace or orderguard-system)");
  app.add_option("--workers", workers, "concurrent reconciles")->check(CLI::Range(1, 64));
  kube::add_duration_option(app, "--resync-period", resync_period,
                            "how often every cached object is reconciled again (0: never)");
  kube::add_api_rate_flags(app, kube_api_qps, kube_api_burst);
  app.add_option("--log-level", log_level, "debug, info or error")
      ->check(CLI::IsMember({"debug", "info", "error"}));
  std::string route_file, route_key, route_time;
  bool route_json = false;
  auto* route_cmd =
      app.add_subcommand("route", "print the database and table a key maps to, then exit");
  route_cmd->add_option("--shardset", route_file, "a manifest holding the ShardSet")->required();
  route_cmd->add_option("--key", route_key, "the shard key value (e.g. a user id)")->required();
  route_cmd->add_option("--time", route_time, "YYYY-MM-DD, for time-split tables");
  route_cmd->add_flag("--json", route_json, "print JSON");
  kube::add_version_flag(*route_cmd, "orderguard-operator");
  CLI11_PARSE(app, argc, argv);
  if (route_cmd->parsed()) return run_route(route_file, route_key, route_time, route_json);

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
  config->qps = kube_api_qps;
  config->burst = kube_api_burst;
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
  mopts.resync_period = resync_period;
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
  // Set once this replica leads (or at start without leader election).
  std::atomic<bool> leading{!leader_elect};
  health->add_readiness("caches", [&]() -> std::string {
    // Standbys are ready (they serve health, and a Deployment with a standby
    // must count as available); a leader once its caches synced.
    return !leading.load() || manager.synced() ? "" : "caches not synced";
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
      // The initial lists are cached; hand their transient pages back to the OS.
      malloc_trim(0);
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
      leading.store(true);
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
