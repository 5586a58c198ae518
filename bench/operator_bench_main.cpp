// Operator benchmark (1,000 OrderServices by default), driven by scripts/bench.sh:
//  1. starts the real control plane of e2e/ (etcd + kube-apiserver; the
//     controller manager only with --controller-manager), installs the CRDs
//     and three Ready Nodes, one per zone;
//  2. creates --count OrderServices with three zones each (before the
//     operator runs, so the figure is the operator's own throughput);
//  3. starts `orderguard-operator --kubeconfig ...` (plus each --operator-arg,
//     e.g. a higher --kube-api-qps) as a process and measures
//     the time until every OrderService has status.observedGeneration ==
//     metadata.generation with Ready and Progressing conditions and every
//     child exists (3 Deployments, 3 PDBs, 1 Service, 1 ConfigMap each);
//  4. waits until the operator is quiet, then reads its /metrics:
//     rest_client_requests_total by method (the requests it really sent) ->
//     writes per OrderService; /proc/<pid> -> peak RSS (VmHWM) and CPU seconds;
//  5. waits for the next forced resync (--resync-period) to reconcile every
//     OrderService again and counts the writes it caused;
//  6. restarts the operator (a full relist, as after a leader change) and
//     counts the writes of the new process once it reconciled everything;
//  7. reference: `kubectl apply --server-side` of the same children (copied
//     from the cluster into another namespace), wall time only.
// The operator under test can be any binary that takes the same flags
// (--kubeconfig, --metrics-addr, --resync-period, and whatever --operator-arg
// passes) and exports rest_client_requests_total{method=...} and
// controller_runtime_reconcile_total{controller="orderservice"} on /metrics:
// bench/peers/operator (controller-runtime, where client-go counts the requests
// it sends) runs as `--operator <bin>/peer-operator --operator-name peer-operator`.
// It prints figures and never fails on them; the exit code reports only
// whether the run could be carried out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
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

constexpr const char* kNs = "bench";
constexpr const char* kManaged = "app.kubernetes.io/managed-by=orderguard-operator";
const std::vector<std::string> kZones = {"bench-zone-a", "bench-zone-b", "bench-zone-c"};

struct OperatorStats {
  std::map<std::string, double> requests;  // verb -> count
  double writes = 0;
  double reconciles = 0;  // orderservice controller
};

OperatorStats scrape(int port) {
  OperatorStats s;
  const std::string text = http_get(port, "/metrics");
  for (const char* verb : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    s.requests[verb] =
        metric_sum(text, "rest_client_requests_total", {std::string("method=\"") + verb + "\""});
  }
  s.writes = s.requests["POST"] + s.requests["PUT"] + s.requests["PATCH"] + s.requests["DELETE"];
  s.reconciles =
      metric_sum(text, "controller_runtime_reconcile_total", {"controller=\"orderservice\""});
  return s;
}

std::string verbs(const OperatorStats& s, const OperatorStats& base = {}) {
  std::string out;
  for (const auto& [verb, n] : s.requests) {
    const double b = base.requests.contains(verb) ? base.requests.at(verb) : 0;
    if (n - b > 0) out += (out.empty() ? "" : ", ") + verb + " " + std::to_string(int64_t(n - b));
  }
  return out.empty() ? "none" : out;
}

// VmHWM / VmRSS in KiB from /proc/<pid>/status.
int64_t proc_status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

size_t count(kube::Client& c, const kube::Resource& r, const std::string& ns,
             const std::string& selector) {
  kube::ListOptions opts;
  opts.label_selector = selector;
  auto l = c.list_all(r, ns, opts);
  return l.ok() ? (*l)["items"].size() : 0;
}

class Operator {
 public:
  Operator(std::string name, std::string binary, std::string kubeconfig, std::string log,
           int resync_seconds, std::vector<std::string> extra_args)
      : name_(std::move(name)),
        binary_(std::move(binary)),
        kubeconfig_(std::move(kubeconfig)),
        log_(std::move(log)),
        resync_(resync_seconds),
        extra_args_(std::move(extra_args)) {}

  bool start() {
    port_ = free_port();
    std::vector<std::string> args = {binary_,
                                     "--kubeconfig",
                                     kubeconfig_,
                                     "--metrics-addr",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--resync-period",
                                     std::to_string(resync_) + "s"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    auto p = e2e::Process::spawn({name_, args, log_});
    if (!p.ok()) {
      log::error("cannot start the operator", {{"error", p.error().describe()}});
      return false;
    }
    process_.emplace(std::move(*p));
    started_ = Steady::now();
    return true;
  }
  void stop() {
    if (process_) process_->terminate(std::chrono::seconds(10));
    process_.reset();
  }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  bool running() { return process_ && !process_->poll(); }
  int port() const { return port_; }
  Steady::time_point started() const { return started_; }

 private:
  std::string name_, binary_, kubeconfig_, log_;
  int resync_;
  std::vector<std::string> extra_args_;
  int port_ = -1;
  std::optional<e2e::Process> process_;
  Steady::time_point started_;
};

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

// Waits until the operator sent no write for `quiet`; returns its stats then.
OperatorStats wait_quiet(Operator& op, std::chrono::seconds quiet) {
  OperatorStats last = scrape(op.port());
  while (true) {
    std::this_thread::sleep_for(quiet);
    OperatorStats now = scrape(op.port());
    if (now.writes == last.writes) return now;
    last = now;
  }
}

}  // namespace

int main(int argc, char** argv) {
  kube::init_openssl_for_process();
  CLI::App app{"orderguard operator benchmark: 1,000 OrderServices against a real API server"};
  std::string tools, operator_bin, operator_name = "orderguard-operator", work_dir;
  std::vector<std::string> operator_args;
  int n = 1000, threads = 8, resync = 60;
  bool controller_manager = false, reference = true;
  app.add_option("--tools", tools, "etcd/kube-apiserver/kubectl directory (e2e/tools/build.sh)")
      ->required();
  app.add_option("--operator", operator_bin,
                 "the operator binary: orderguard-operator, or one that takes the same flags and "
                 "exports the same metrics (bench/peers/operator)")
      ->required();
  app.add_option(
      "--operator-name", operator_name,
      "what the output and the log file call the operator (default orderguard-operator)");
  app.add_option("--count", n, "OrderServices to create");
  app.add_option("--threads", threads, "parallel creators");
  app.add_option("--resync-period", resync, "the operator's --resync-period, seconds");
  app.add_option("--operator-arg", operator_args,
                 "one more operator argument, e.g. --operator-arg=--kube-api-qps=200 (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--work-dir", work_dir, "control plane directory (default: a fresh temp dir)");
  app.add_flag("--controller-manager,!--no-controller-manager", controller_manager,
               "also run kube-controller-manager (ReplicaSets, Pods, HPA, GC); default off");
  app.add_flag("--reference,!--no-reference", reference, "time the kubectl apply reference");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped to a file

  std::printf("== operator benchmark: %d OrderServices x 3 zones, controller manager %s\n", n,
              controller_manager ? "on" : "off");
  std::string extra;
  for (const auto& a : operator_args) extra += " " + a;
  std::printf("operator: %s (%s) --resync-period %d%s\n", operator_name.c_str(),
              operator_bin.c_str(), resync,
              extra.empty() ? " (client limits at their defaults)" : extra.c_str());
  e2e::ControlPlaneOptions cpo;
  cpo.tools_bin = tools;
  cpo.work_dir = work_dir;
  cpo.controller_manager = controller_manager;
  // One Service per OrderService: the e2e default range (/24) holds 254.
  cpo.extra_apiserver_flags = {"--service-cluster-ip-range=10.0.0.0/16"};
  auto cp = start_control_plane(cpo);
  if (!cp) return 1;
  e2e::ControlPlane& cluster = *cp;
  kube::Config config = cluster.admin_config();
  config.qps = 0;  // the bench's own client must not be the bottleneck
  auto made = kube::make_client(config);
  if (!made.ok()) return 1;
  kube::Client& client = **made;
  if (!create_ready_zone_nodes(client, kZones)) {
    std::fprintf(stderr, "nodes: cannot create\n");
    return 1;
  }
  for (const char* ns : {kNs, "bench-ref"}) {
    (void)client.create(
        res::kNamespaces, "",
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  }

  // 2. The OrderServices, in parallel.
  const auto create_start = Steady::now();
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> creators;
  for (int t = 0; t < threads; ++t) {
    creators.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        if (!client.create(kOrderServices, kNs, order_service(kNs, kZones, i)).ok()) failed++;
      }
    });
  }
  for (auto& c : creators) c.join();
  std::printf("created %d OrderServices in %.1f s (%d failed)\n", n, seconds_since(create_start),
              failed.load());
  if (failed.load() > 0) return 1;

  // 3. The operator, and the time until everything converged.
  const std::string log = cluster.work_dir() + "/logs/" + operator_name + ".log";
  Operator op(operator_name, operator_bin, cluster.kubeconfig_path(), log, resync, operator_args);
  if (!op.start()) return 1;
  const pid_t pid = op.pid();
  size_t done = 0;
  bool ok = wait_for(
      [&] {
        if (!op.running()) return true;
        auto list = client.list_all(kOrderServices, kNs, {});
        if (!list.ok()) return false;
        done = 0;
        for (const auto& o : (*list)["items"]) done += converged(o) ? 1 : 0;
        return done == static_cast<size_t>(n);
      },
      std::chrono::seconds(1800), std::chrono::milliseconds(2000));
  const double converge_s = seconds_since(op.started());
  const double cpu_at_converge = proc_cpu_seconds(pid);
  if (!ok || !op.running()) {
    std::fprintf(stderr, "not converged: %zu/%d; operator log:\n%s\n", done, n,
                 e2e::tail_file(log, 30).c_str());
    return 1;
  }
  const size_t deployments = count(client, res::kDeployments, kNs, kManaged);
  const size_t pdbs = count(client, res::kPodDisruptionBudgets, kNs, kManaged);
  const size_t services = count(client, res::kServices, kNs, kManaged);
  const size_t config_maps = count(client, res::kConfigMaps, kNs, kManaged);
  std::printf(
      "converged: %d/%d OrderServices, status observed + Ready/Progressing, in %.1f s "
      "after the operator started (%.0f OrderServices/s); operator CPU %.1f s\n",
      n, n, converge_s, n / converge_s, cpu_at_converge);
  std::printf("children: %zu Deployments, %zu PDBs, %zu Services, %zu ConfigMaps\n", deployments,
              pdbs, services, config_maps);

  // 4. Writes per OrderService, once quiet.
  OperatorStats first = wait_quiet(op, std::chrono::seconds(10));
  std::printf("writes: %.0f in total = %.2f per OrderService (%s); reconciles %.0f\n", first.writes,
              first.writes / n, verbs(first).c_str(), first.reconciles);
  std::printf("operator RSS: peak (VmHWM) %.1f MiB, now (VmRSS) %.1f MiB\n",
              proc_status_kib(pid, "VmHWM") / 1024.0, proc_status_kib(pid, "VmRSS") / 1024.0);

  // 5. The next forced resync reconciles every OrderService again.
  const auto resync_start = Steady::now();
  ok = wait_for([&] { return scrape(op.port()).reconciles >= first.reconciles + n; },
                std::chrono::seconds(resync * 3 + 600));
  OperatorStats after_resync = wait_quiet(op, std::chrono::seconds(10));
  std::printf(
      "forced resync (--resync-period %d s): %s; %.0f reconciles, %.0f writes (%s) "
      "(observed for %.0f s)\n",
      resync, ok ? "every OrderService reconciled again" : "NOT COMPLETED",
      after_resync.reconciles - first.reconciles, after_resync.writes - first.writes,
      verbs(after_resync, first).c_str(), seconds_since(resync_start));
  std::printf("operator RSS after the resync: peak (VmHWM) %.1f MiB; CPU %.1f s in total\n",
              proc_status_kib(pid, "VmHWM") / 1024.0, proc_cpu_seconds(pid));

  // 6. Restart: a new process lists everything and reconciles it all.
  op.stop();
  if (!op.start()) return 1;
  ok = wait_for([&] { return op.running() && scrape(op.port()).reconciles >= n; },
                std::chrono::seconds(1200));
  const double relist_s = seconds_since(op.started());
  OperatorStats restarted = wait_quiet(op, std::chrono::seconds(10));
  std::printf("restart (full relist): %s in %.1f s; %.0f writes (%s); peak RSS %.1f MiB\n",
              ok ? "every OrderService reconciled" : "NOT COMPLETED", relist_s, restarted.writes,
              verbs(restarted).c_str(), proc_status_kib(op.pid(), "VmHWM") / 1024.0);
  op.stop();

  // 7. Reference: the same children applied by kubectl in one go.
  if (reference) {
    json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
    for (const kube::Resource* r :
         {&res::kConfigMaps, &res::kServices, &res::kDeployments, &res::kPodDisruptionBudgets}) {
      kube::ListOptions opts;
      opts.label_selector = kManaged;
      auto l = client.list_all(*r, kNs, opts);
      if (!l.ok()) return 1;
      for (json item : (*l)["items"]) {
        json meta = {{"name", item["metadata"]["name"]},
                     {"namespace", "bench-ref"},
                     {"labels", item["metadata"].value("labels", json::object())}};
        json copy = {{"apiVersion", r->api_version()}, {"kind", r->kind}, {"metadata", meta}};
        if (item.contains("data")) copy["data"] = item["data"];
        if (item.contains("spec")) {
          copy["spec"] = item["spec"];
          copy["spec"].erase("clusterIP");
          copy["spec"].erase("clusterIPs");
        }
        list["items"].push_back(std::move(copy));
      }
    }
    const std::string file = cluster.work_dir() + "/children.json";
    std::ofstream(file) << list.dump();
    const auto t = Steady::now();
    e2e::CommandOptions copts;
    copts.timeout = std::chrono::minutes(30);
    auto applied = e2e::run_command(
        {cluster.tools_bin() + "/kubectl", "--kubeconfig", cluster.kubeconfig_path(), "apply",
         "--server-side", "--field-manager=bench", "-f", file},
        copts);
    const double apply_s = seconds_since(t);
    std::printf("reference: kubectl apply --server-side of the same %zu children: %.1f s%s\n",
                list["items"].size(), apply_s, applied.ok() ? "" : " (FAILED)");
    if (!applied.ok()) std::fprintf(stderr, "%s\n", applied.err.substr(0, 2000).c_str());
  }
  std::fflush(stdout);
  return 0;
}
