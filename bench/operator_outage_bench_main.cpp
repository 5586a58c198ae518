// Operator during an API server outage, driven by
// scripts/bench_operator_outage.sh:
//  1. starts the real control plane of e2e/ (etcd, kube-apiserver and
//     kube-controller-manager), installs the CRDs and three Ready Nodes;
//  2. starts `orderguard-operator` as a process and waits until it is ready;
//  3. stops it (SIGSTOP), creates --count OrderServices, lets it run again
//     (SIGCONT), waits until its work queue has taken them all in (from
//     /metrics), and stops the API server at once: the reconciles its client's
//     QPS limit has not let through yet are pending (the figure is printed),
//     and every request they make from then on is refused;
//  4. measures for --outage seconds the CPU (utime + stime from /proc/<pid>/stat)
//     of the operator and, as the reference, of the cluster's
//     kube-controller-manager (client-go's reflectors and work queues facing
//     the same outage), and from the operator's /metrics the requests that
//     failed (one per connection attempt) and the reconciles that failed;
//  5. starts the API server again and times until every OrderService converged.
// It prints figures and never fails on them; the exit code reports only
// whether the run could be carried out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "bench/operator_bench_support.h"
#include "e2e/cluster.h"
#include "e2e/process.h"
#include "kube/client.h"
#include "kube/signals.h"

using namespace orderguard;
using kube::json;
namespace res = kube::resources;

using namespace orderguard::bench;

namespace {

constexpr const char* kNs = "outage";
const std::vector<std::string> kZones = {"outage-zone-a", "outage-zone-b", "outage-zone-c"};

// Polls every `interval` until `done` or `timeout`; false on timeout.
template <typename F>
bool wait_for(F&& done, std::chrono::seconds timeout,
              std::chrono::milliseconds interval = std::chrono::milliseconds(1000)) {
  const auto deadline = Steady::now() + timeout;
  while (!done()) {
    if (Steady::now() > deadline) return false;
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// The pid recorded for `component` in the control plane's pids file.
pid_t component_pid(const std::string& work_dir, const std::string& component) {
  std::ifstream in(work_dir + "/pids");
  std::string name;
  pid_t pid = -1;
  while (in >> name >> pid) {
    if (name == component) return pid;
  }
  return -1;
}

struct Sample {
  double operator_cpu = 0;
  double reference_cpu = 0;
  double failed_requests = 0;
  double reconcile_errors = 0;
};

Sample sample(pid_t op, pid_t reference, int metrics_port) {
  const std::string text = http_get(metrics_port, "/metrics");
  return {proc_cpu_seconds(op), proc_cpu_seconds(reference),
          metric_sum(text, "rest_client_requests_total", {"code=\"<error>\""}),
          metric_sum(text, "controller_runtime_reconcile_errors_total", {})};
}

}  // namespace

int main(int argc, char** argv) {
  kube::init_openssl_for_process();
  CLI::App app{"orderguard operator CPU while the API server is down, vs kube-controller-manager"};
  std::string tools, operator_bin, work_dir;
  int n = 50, outage = 20;
  app.add_option("--tools", tools, "etcd/kube-apiserver/kubectl directory (e2e/tools/build.sh)")
      ->required();
  app.add_option("--operator", operator_bin, "the orderguard-operator binary")->required();
  app.add_option("--count", n, "OrderServices pending when the API server stops");
  app.add_option("--outage", outage, "seconds the API server stays down");
  app.add_option("--work-dir", work_dir, "control plane directory (default: a fresh temp dir)");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  e2e::ControlPlaneOptions cpo;
  cpo.tools_bin = tools;
  cpo.work_dir = work_dir;
  cpo.controller_manager = true;
  auto cp = start_control_plane(cpo);
  if (!cp) return 1;
  e2e::ControlPlane& cluster = *cp;
  kube::Config config = cluster.admin_config();
  config.qps = 0;
  auto made = kube::make_client(config);
  if (!made.ok()) return 1;
  kube::Client& client = **made;
  if (!create_ready_zone_nodes(client, kZones)) return 1;
  (void)client.create(res::kNamespaces, "",
                      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNs}}}});

  // 2. The operator, ready (caches synced).
  const int metrics_port = free_port();
  const std::string log = cluster.work_dir() + "/logs/orderguard-operator.log";
  auto spawned =
      e2e::Process::spawn({"orderguard-operator",
                           {operator_bin, "--kubeconfig", cluster.kubeconfig_path(),
                            "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port)},
                           log});
  if (!spawned.ok()) return 1;
  e2e::Process op = std::move(*spawned);
  const auto ready = [&] {
    const std::string body = http_get(metrics_port, "/readyz");
    return body.find("\nok\n") != std::string::npos && body.find("not ok") == std::string::npos;
  };
  if (!wait_for(ready, std::chrono::seconds(60), std::chrono::milliseconds(200))) {
    std::fprintf(stderr, "operator not ready:\n%s\n", e2e::tail_file(log, 30).c_str());
    return 1;
  }
  const pid_t kcm = component_pid(cluster.work_dir(), "kube-controller-manager");
  if (kcm <= 0) return 1;

  // 3. Pending reconciles, then the outage. The OrderServices are created while
  // the operator is stopped so that they reach its queue together; the outage
  // starts once the queue has them all, not at a guessed moment (the API server
  // may not have sent every watch event to a stopped reader).
  const auto queue_metric = [&](const std::string& metric, const std::string& label) {
    return metric_sum(http_get(metrics_port, "/metrics"), metric, {label});
  };
  const double adds_before = queue_metric("workqueue_adds_total", "name=\"orderservice\"");
  const std::string successes = "controller_runtime_reconcile_total";
  const std::string success_label = "controller=\"orderservice\",result=\"success\"";
  const double done_before = queue_metric(successes, success_label);
  ::kill(op.pid(), SIGSTOP);
  for (int i = 0; i < n; ++i) {
    if (!client.create(kOrderServices, kNs, order_service(kNs, kZones, i)).ok()) {
      ::kill(op.pid(), SIGCONT);
      return 1;
    }
  }
  ::kill(op.pid(), SIGCONT);
  const bool queued = wait_for(
      [&] {
        return queue_metric("workqueue_adds_total", "name=\"orderservice\"") >= adds_before + n;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(20));
  if (!queued) {
    std::fprintf(stderr, "the operator's queue did not take in %d OrderServices\n", n);
    return 1;
  }
  if (auto s = cluster.stop_apiserver(); !s.ok()) return 1;
  const int pending = n - static_cast<int>(queue_metric(successes, success_label) - done_before);

  // 4. The outage.
  const Sample before = sample(op.pid(), kcm, metrics_port);
  const auto t0 = Steady::now();
  std::this_thread::sleep_for(std::chrono::seconds(outage));
  const Sample after = sample(op.pid(), kcm, metrics_port);
  const double wall = seconds_since(t0);
  const double op_pct = (after.operator_cpu - before.operator_cpu) / wall * 100;
  const double ref_pct = (after.reference_cpu - before.reference_cpu) / wall * 100;

  // 5. Recovery.
  if (auto s = cluster.start_apiserver(); !s.ok()) return 1;
  const auto t1 = Steady::now();
  size_t done = 0;
  const bool converged_all = wait_for(
      [&] {
        auto list = client.list_all(kOrderServices, kNs, {});
        if (!list.ok()) return false;
        done = 0;
        for (const auto& o : (*list)["items"]) done += converged(o) ? 1 : 0;
        return done == static_cast<size_t>(n);
      },
      std::chrono::seconds(600), std::chrono::milliseconds(500));
  const double recover_s = seconds_since(t1);

  std::printf(
      "== API server down for %.1f s with %d of %d new OrderServices pending (%d cores, load %s)\n",
      wall, pending, n, static_cast<int>(std::thread::hardware_concurrency()),
      [] {
        std::ifstream in("/proc/loadavg");
        std::string a;
        in >> a;
        return a;
      }()
          .c_str());
  std::printf(
      "| process | CPU during the outage (%% of a core) | failed requests | failed "
      "reconciles |\n|---|---|---|---|\n");
  std::printf("| orderguard-operator | %.1f %% | %.0f | %.0f |\n", op_pct,
              after.failed_requests - before.failed_requests,
              after.reconcile_errors - before.reconcile_errors);
  std::printf("| kube-controller-manager (reference, client-go) | %.1f %% | | |\n", ref_pct);
  std::printf("after the API server came back: %zu/%d OrderServices converged in %.1f s%s\n", done,
              n, recover_s, converged_all ? "" : " (NOT ALL)");
  op.terminate(std::chrono::seconds(10));
  return 0;
}
