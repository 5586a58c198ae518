// Informer benchmark helper, driven by scripts/bench.sh:
//   seed --count N   create N ConfigMaps (parallel, to set the stage quickly)
//   sync             start an informer over every ConfigMap, wait for the
//                    initial sync, print how many objects it holds and exit.
// Wall time and peak RSS are measured from outside (/usr/bin/time), the same
// way as for the `kubectl get configmaps -A -o json` reference.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/signals.h"

using namespace orderguard;

namespace {

int seed(kube::Client& client, const std::string& ns, int count, int threads) {
  auto created =
      client.create(kube::resources::kNamespaces, "",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (!created.ok() && created.error().code != ErrorCode::kAlreadyExists) {
    log::error("creating namespace failed", {{"error", created.error().describe()}});
    return 1;
  }
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        kube::json cm = {{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata",
                          {{"name", "bench-" + std::to_string(i)},
                           {"namespace", ns},
                           {"labels", {{"app", "orders"}, {"shard", std::to_string(i % 16)}}}}},
                         {"data",
                          {{"routing.yaml", "shard: " + std::to_string(i % 16) + "\ntables: 64\n"},
                           {"owner", "orders-team"},
                           {"comment", std::string(120, 'x')}}}};
        auto r = client.create(kube::resources::kConfigMaps, ns, cm);
        if (!r.ok() && r.error().code != ErrorCode::kAlreadyExists) failed++;
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf("seeded %d configmaps in %s (%d failed)\n", count, ns.c_str(), failed.load());
  return failed.load() == 0 ? 0 : 1;
}

int sync(kube::Client& client) {
  RealClock clock;
  kube::Informer informer(client, kube::resources::kConfigMaps, clock);
  informer.start();
  if (!informer.wait_for_sync(std::chrono::minutes(5))) {
    log::error("informer did not sync");
    return 1;
  }
  std::printf("synced %zu configmaps\n", informer.size());
  std::fflush(stdout);
  informer.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  kube::init_openssl_for_process();
  CLI::App app{"informer benchmark helper"};
  std::string kubeconfig, ns = "bench";
  int count = 10000, threads = 8;
  app.add_option("--kubeconfig", kubeconfig)->required();
  auto* seed_cmd = app.add_subcommand("seed", "create ConfigMaps");
  seed_cmd->add_option("--namespace", ns);
  seed_cmd->add_option("--count", count);
  seed_cmd->add_option("--threads", threads);
  app.add_subcommand("sync", "initial informer sync of all ConfigMaps");
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  auto config = kube::load_kubeconfig(kubeconfig);
  if (!config.ok()) {
    log::error("bad kubeconfig", {{"error", config.error().describe()}});
    return 2;
  }
  config->qps = 0;  // measure the client, not a client-side limiter
  auto client = kube::make_client(*config);
  if (!client.ok()) {
    log::error("no client", {{"error", client.error().describe()}});
    return 2;
  }
  int rc = seed_cmd->parsed() ? seed(**client, ns, count, threads) : sync(**client);
  std::fflush(stdout);
  std::_Exit(rc);
}
