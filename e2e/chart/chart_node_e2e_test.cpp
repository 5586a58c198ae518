// The Helm chart on a real node: `helm install` with the chart's defaults
// (except the image pull policy, since nothing may be pulled, and a 10 s agent
// interval instead of 30 s to keep the suite short) runs the
// operator, webhook and agent as Pods from the images `make images` built.
// Everything below goes through what a cluster user has: kubectl, helm, the
// API server calling the webhook through its Service, and the agent Pod
// finding a real miner container by its host processes.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "e2e/environment.h"
#include "e2e/node_images.h"
#include "e2e/support/wait.h"

namespace orderguard::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

const std::string kSource = ORDERGUARD_SOURCE_DIR;
const std::string kNs = "orderguard-system";
const std::string kRelease = "og";
const std::string kApps = "apps";
constexpr int kPoolPort = 3333;

json kubectl_json(const std::vector<std::string>& args) {
  auto r = cluster().kubectl(args);
  if (!r.ok()) return json();
  return json::parse(r.out, nullptr, false);
}

CommandResult apply(const json& object) {
  return cluster().kubectl({"apply", "-f", "-"}, object.dump());
}

// Pods of the release by component label.
std::vector<json> component_pods(const std::string& component) {
  json list = kubectl_json(
      {"get", "pods", "-n", kNs, "-l",
       "app.kubernetes.io/instance=" + kRelease + ",app.kubernetes.io/component=" + component, "-o",
       "json"});
  std::vector<json> out;
  if (!list.is_object()) return out;
  for (const auto& p : list["items"]) {
    if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p);
  }
  return out;
}

bool ready(const json& pod) {
  for (const auto& c : pod["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

bool all_ready(const std::string& component, size_t want) {
  auto pods = component_pods(component);
  if (pods.size() != want) return false;
  for (const auto& p : pods) {
    if (!ready(p)) return false;
  }
  return true;
}

std::string describe_release() {
  return cluster().kubectl({"get", "pods,events", "-n", kNs, "-o", "wide"}).out;
}

// Host processes whose command line contains `needle` (the node is this
// machine: a container's processes are host processes).
std::vector<pid_t> host_processes(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    const long pid = std::atol(e->d_name);
    if (pid <= 0) continue;
    // read(2), not an ifstream: a process that exits mid-read fails the read with ESRCH, and
    // libstdc++'s filebuf throws on that whatever the stream's exception mask.
    std::string cmd;
    const int fd = ::open(("/proc/" + std::string(e->d_name) + "/cmdline").c_str(), O_RDONLY);
    if (fd < 0) continue;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) cmd.append(buf, static_cast<size_t>(n));
    ::close(fd);
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

// A mining pool in the test network: listens on the bridge address, answers
// a stratum subscribe, and keeps every connection open until stopped.
class Pool {
 public:
  Pool(const std::string& address, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    thread_ = std::thread([this] {
      while (true) {
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        const char answer[] =
            "{\"id\":1,\"result\":[[\"mining.notify\",\"1\"],\"00\",4],\"error\":null}\n";
        (void)!::write(c, answer, sizeof answer - 1);
        std::lock_guard<std::mutex> lock(mu_);
        clients_.push_back(c);
      }
    });
  }
  ~Pool() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    for (int c : clients_) ::close(c);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> clients_;
};

// A Deployment whose image and spec look like a batch worker, but whose
// program burns a CPU and keeps a stratum session to the pool.
json miner_deployment(const std::string& name, const json& resources) {
  const std::string pool = cluster().node_options().host_ip;
  json container = {{"name", "worker"},
                    {"image", kMinerImage},
                    {"imagePullPolicy", "Never"},
                    {"args", {"--burn", "--connect", pool, std::to_string(kPoolPort), name}}};
  if (!resources.is_null()) container["resources"] = resources;
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"namespace", kApps}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"terminationGracePeriodSeconds", 2}, {"containers", json::array({container})}}}}}}}};
}

std::string qos_of(const std::string& ns, const std::string& label) {
  json list = kubectl_json({"get", "pods", "-n", ns, "-l", "app=" + label, "-o", "json"});
  if (!list.is_object() || list["items"].empty()) return "";
  return list["items"][0]["status"].value("qosClass", "");
}

// The agent Pod created Quarantine deployment.<apps>.<name> for it, naming this node and itself.
bool deployment_quarantined(const std::string& name) {
  json q = kubectl_json({"get", "quarantine", "deployment." + kApps + "." + name, "-o", "json"});
  if (!q.is_object() || !q.contains("spec")) return false;
  const json& spec = q["spec"];
  return spec.value("scope", "") == "Workload" && spec.value("namespace", "") == kApps &&
         spec.value("workload", json::object()).value("name", "") == name &&
         !spec.value("nodeName", "").empty() &&
         spec.value("createdBy", "").starts_with(kRelease + "-agent-");
}

// orderguard_agent_scans_total of the agent Pod, -1 when unreadable.
double agent_scans() {
  auto pods = component_pods("agent");
  if (pods.empty()) return -1;
  const std::string ip = pods[0]["status"].value("podIP", "");
  CommandResult r =
      run_command({"curl", "-sf", "--max-time", "5", "http://" + ip + ":9090/metrics"});
  if (!r.ok()) return -1;
  std::istringstream lines(r.out);
  std::string line;
  double total = 0;
  bool found = false;
  while (std::getline(lines, line)) {
    if (line.rfind("orderguard_agent_scans_total", 0) != 0) continue;
    total += std::atof(line.substr(line.rfind(' ') + 1).c_str());
    found = true;
  }
  return found ? total : -1;
}

std::string events_for(const std::string& ns, const std::string& name) {
  return cluster()
      .kubectl(
          {"get", "events", "-n", ns, "--field-selector", "involvedObject.name=" + name, "-o",
           "custom-columns=REASON:.reason,ACTION:.action,NOTE:.message,FROM:.reportingComponent"})
      .out;
}

class ChartOnNode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = new Pool(cluster().node_options().host_ip, kPoolPort);
    ASSERT_TRUE(pool_->ok());
    const auto t0 = std::chrono::steady_clock::now();
    auto installed =
        cluster().helm({"install", kRelease, kSource + "/charts/orderguard", "-n", kNs,
                        "--create-namespace", "--set", "image.pullPolicy=Never", "--set",
                        "agent.intervalSeconds=10", "--wait", "--timeout", "4m"});
    ASSERT_TRUE(installed.ok()) << installed.describe() << describe_release();
    install_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(cluster().kubectl({"create", "namespace", kApps}).ok());
  }
  static void TearDownTestSuite() {
    delete pool_;
    pool_ = nullptr;
  }

  static Pool* pool_;
  static double install_seconds_;
};

Pool* ChartOnNode::pool_ = nullptr;
double ChartOnNode::install_seconds_ = 0;

TEST_F(ChartOnNode, EveryChartPodRunsReadyAsItsOwnServiceAccount) {
  std::printf("helm install --wait took %.1f s\n", install_seconds_);
  const std::vector<std::pair<std::string, size_t>> want = {
      {"operator", 2}, {"webhook", 3}, {"agent", 1}};
  for (const auto& [component, count] : want) {
    ASSERT_TRUE(poll_until([&] { return all_ready(component, count); }, seconds(120)))
        << component << "\n"
        << describe_release();
    for (const auto& p : component_pods(component)) {
      EXPECT_EQ(p["spec"].value("serviceAccountName", ""), kRelease + "-" + component);
      EXPECT_EQ(p["spec"].value("nodeName", ""), cluster().node_options().name);
    }
  }
  // Each component reached the API server in-cluster with its own token: the
  // operator and the webhook hold their Leases, and the webhook wrote the
  // CA bundle of its configuration.
  auto lease_holder = [](const std::string& lease) {
    json l = kubectl_json({"get", "lease", lease, "-n", kNs, "-o", "json"});
    return l.is_object() ? l["spec"].value("holderIdentity", "") : std::string();
  };
  EXPECT_TRUE(poll_until([&] { return !lease_holder("orderguard-operator").empty(); }, seconds(60)))
      << cluster().kubectl({"get", "leases", "-n", kNs}).out;
  json config =
      kubectl_json({"get", "validatingwebhookconfiguration", kRelease + "-miners", "-o", "json"});
  ASSERT_TRUE(config.is_object());
  EXPECT_FALSE(config["webhooks"][0]["clientConfig"].value("caBundle", "").empty());
}

TEST_F(ChartOnNode, WebhookBehindItsServiceRefusesAMinerAndAdmitsABenignPod) {
  json miner = testbox_pod(kApps, "xmrig", "exec sleep 3600");
  miner["spec"]["containers"][0]["image"] = "docker.io/xmrig/xmrig:6.21.0";
  miner["spec"]["containers"][0]["command"] = {"xmrig", "-o", "stratum+tcp://pool.example:3333"};
  auto refused = apply(miner);
  ASSERT_FALSE(refused.ok()) << "a miner Pod was admitted";
  EXPECT_NE(refused.err.find("denied the request"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("stratum"), std::string::npos) << refused.err;

  auto admitted = apply(testbox_pod(kApps, "benign", "exec sleep 3600"));
  ASSERT_TRUE(admitted.ok()) << admitted.describe();
  EXPECT_TRUE(poll_until(
      [] {
        return ready(kubectl_json({"get", "pod", "benign", "-n", kApps, "-o", "json"}));
      },
      seconds(60)));
}

// One miner at a time: on this 2-core machine, miners side by side would
// share the CPUs by their cgroup weights, and a BestEffort one would get
// almost none. Each runs alone here, as one would on an idle node.
void expect_miner_evicted_and_quarantined(const std::string& name, const json& resources,
                                          const std::string& qos) {
  auto r = apply(miner_deployment(name, resources));
  ASSERT_TRUE(r.ok()) << name << ": " << r.describe();
  const std::string needle = "--connect " + cluster().node_options().host_ip + " " +
                             std::to_string(kPoolPort) + " " + name;
  ASSERT_TRUE(poll_until([&] { return !host_processes(needle).empty(); }, seconds(60)))
      << name << "\n"
      << cluster().kubectl({"get", "pods", "-n", kApps, "-o", "wide"}).out;
  EXPECT_EQ(qos_of(kApps, name), qos);
  // The agent scans every 10 s here (30 s by default): quarantine, eviction, Event.
  EXPECT_TRUE(poll_until([&] { return deployment_quarantined(name); }, seconds(120)))
      << name << "\n"
      << cluster()
             .kubectl({"logs", "-n", kNs, "-l", "app.kubernetes.io/component=agent", "--tail=20"})
             .out;
  // The miner's processes are gone from the host, and the replacement Pods
  // are refused by the webhook (the ReplicaSet records FailedCreate).
  EXPECT_TRUE(poll_until([&] { return host_processes(needle).empty(); }, seconds(60)))
      << cluster().kubectl({"get", "pods", "-n", kApps, "-o", "wide"}).out;
  EXPECT_TRUE(poll_until(
      [&] {
        auto ev = cluster().kubectl({"get", "events", "-n", kApps, "--field-selector",
                                     "reason=FailedCreate", "-o",
                                     "custom-columns=OBJECT:.involvedObject.name,NOTE:.message"});
        return ev.out.find(name) != std::string::npos &&
               ev.out.find("quarantined-workload") != std::string::npos;
      },
      seconds(60)))
      << cluster().kubectl({"get", "events", "-n", kApps}).out;
  json d = kubectl_json({"get", "deployment", name, "-n", kApps, "-o", "json"});
  EXPECT_EQ(d["status"].value("readyReplicas", 0), 0) << name;
  // The agent's Warning Event on the evicted Pod.
  json events = kubectl_json({"get", "events.events.k8s.io", "-n", kApps, "-o", "json"});
  bool evict_event = false;
  for (const auto& e : events.value("items", json::array())) {
    const std::string regarding = e.value("regarding", json::object()).value("name", "");
    if (regarding.rfind(name + "-", 0) == 0 && e.value("reason", "") == "MinerDetected" &&
        e.value("action", "") == "Evict") {
      evict_event = true;
    }
  }
  EXPECT_TRUE(evict_event) << events.dump(1).substr(0, 4000);
  ASSERT_TRUE(cluster().kubectl({"delete", "deployment", name, "-n", kApps}).ok());
}

TEST_F(ChartOnNode, AgentPodEvictsABestEffortMinerContainer) {
  expect_miner_evicted_and_quarantined("batch-besteffort", json(), "BestEffort");
}

TEST_F(ChartOnNode, AgentPodEvictsABurstableMinerContainer) {
  expect_miner_evicted_and_quarantined(
      "batch-burstable", {{"requests", {{"cpu", "100m"}, {"memory", "16Mi"}}}}, "Burstable");
}

TEST_F(ChartOnNode, AgentPodEvictsAGuaranteedMinerContainer) {
  expect_miner_evicted_and_quarantined("batch-guaranteed",
                                       {{"requests", {{"cpu", "1"}, {"memory", "32Mi"}}},
                                        {"limits", {{"cpu", "1"}, {"memory", "32Mi"}}}},
                                       "Guaranteed");
}

TEST_F(ChartOnNode, ABenignCpuHogIsNeverEvicted) {
  ASSERT_TRUE(apply(testbox_pod(kApps, "busy-benign", "while :; do :; done")).ok());
  ASSERT_TRUE(poll_until(
      [] {
        return ready(kubectl_json({"get", "pod", "busy-benign", "-n", kApps, "-o", "json"}));
      },
      seconds(60)));
  // Three agent scans after the hog started, counted by the agent's own
  // metric (read from the agent Pod's metrics port over the bridge).
  const double start = agent_scans();
  ASSERT_GE(start, 0) << "agent metrics unreadable";
  EXPECT_TRUE(poll_until([&] { return agent_scans() >= start + 3; }, seconds(150)));
  json busy = kubectl_json({"get", "pod", "busy-benign", "-n", kApps, "-o", "json"});
  ASSERT_TRUE(busy.is_object());
  EXPECT_FALSE(busy["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(busy["status"].value("phase", ""), "Running");
  EXPECT_EQ(events_for(kApps, "busy-benign").find("MinerDetected"), std::string::npos);
  ASSERT_TRUE(cluster().kubectl({"delete", "pod", "busy-benign", "-n", kApps}).ok());
}

TEST_F(ChartOnNode, AMinerWhoseEvictionAPdbRefusesIsQuarantinedAndReportedNotDeleted) {
  ASSERT_TRUE(apply(miner_deployment("batch-guarded", json())).ok());
  const json pdb = {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", {{"name", "batch-guarded"}, {"namespace", kApps}}},
      {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "batch-guarded"}}}}}}}};
  ASSERT_TRUE(apply(pdb).ok());
  EXPECT_TRUE(poll_until([] { return deployment_quarantined("batch-guarded"); }, seconds(240)));
  // Documented: the eviction is refused (429), the Pod keeps running, the
  // Event says Detect instead of Evict, and no replacement is admitted.
  json list = kubectl_json({"get", "pods", "-n", kApps, "-l", "app=batch-guarded", "-o", "json"});
  ASSERT_TRUE(list.is_object());
  ASSERT_EQ(list["items"].size(), 1u);
  const std::string pod = list["items"][0]["metadata"].value("name", "");
  EXPECT_FALSE(list["items"][0]["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(poll_until([&] { return events_for(kApps, pod).find("Detect") != std::string::npos; },
                         seconds(60)))
      << events_for(kApps, pod);
  ASSERT_TRUE(
      cluster().kubectl({"delete", "deployment,pdb", "batch-guarded", "-n", kApps, "--wait"}).ok());
}

TEST_F(ChartOnNode, OperatorLeaderDeletedTheOtherReplicaTakesOverAndTiersStayConverged) {
  const json order_service = {
      {"apiVersion", "tiers.orderguard.io/v1alpha1"},
      {"kind", "OrderService"},
      {"metadata", {{"name", "orders"}, {"namespace", kApps}}},
      {"spec",
       {{"image", kTestboxImage},
        {"port", 8080},
        {"replicas", 2},
        {"zones", {{{"name", "zone-a"}, {"weight", 50}}, {{"name", "zone-b"}, {"weight", 50}}}}}}};
  auto applied = apply(order_service);
  ASSERT_TRUE(applied.ok()) << applied.describe();
  // Converged: the status follows the spec's generation and the zones'
  // Deployments exist.
  const auto converged = [] {
    json o = kubectl_json({"get", "orderservice", "orders", "-n", kApps, "-o", "json"});
    if (!o.is_object()) return false;
    const json status = o.value("status", json::object());
    if (!status.is_object() ||
        status.value("observedGeneration", 0) != o["metadata"].value("generation", -1)) {
      return false;
    }
    return cluster()
        .kubectl({"get", "deployment", "-n", kApps, "orders-zone-a", "orders-zone-b"})
        .ok();
  };
  ASSERT_TRUE(poll_until(converged, seconds(120)))
      << cluster().kubectl({"get", "orderservices", "-n", kApps, "-o", "yaml"}).out;

  auto holder = [] {
    json l = kubectl_json({"get", "lease", "orderguard-operator", "-n", kNs, "-o", "json"});
    return l.is_object() ? l["spec"].value("holderIdentity", "") : std::string();
  };
  const std::string leader = holder();
  ASSERT_FALSE(leader.empty());
  std::string leader_pod;
  for (const auto& p : component_pods("operator")) {
    const std::string name = p["metadata"].value("name", "");
    if (leader.find(name) != std::string::npos) leader_pod = name;
  }
  ASSERT_FALSE(leader_pod.empty()) << leader;
  ASSERT_TRUE(cluster().kubectl({"delete", "pod", leader_pod, "-n", kNs, "--wait=false"}).ok());
  ASSERT_TRUE(poll_until(
      [&] { return !holder().empty() && holder().find(leader_pod) == std::string::npos; },
      seconds(90)))
      << holder();
  // The new leader reconciles a spec change through to the children.
  auto scaled = cluster().kubectl({"patch", "orderservice", "orders", "-n", kApps, "--type=merge",
                                   "-p", R"({"spec":{"replicas":4}})"});
  ASSERT_TRUE(scaled.ok()) << scaled.describe();
  EXPECT_TRUE(poll_until(
      [&] {
        json d = kubectl_json({"get", "deployment", "orders-zone-a", "-n", kApps, "-o", "json"});
        return converged() && d.is_object() && d["spec"].value("replicas", 0) == 2;
      },
      seconds(120)))
      << cluster().kubectl({"get", "orderservices", "-n", kApps, "-o", "yaml"}).out;
  EXPECT_TRUE(all_ready("operator", 2) ||
              poll_until([] { return all_ready("operator", 2); }, seconds(120)));
}

TEST_F(ChartOnNode, FailurePolicyDecidesWhileNoWebhookPodRuns) {
  // Fail (the chart's default): with every webhook Pod gone, Pods in covered
  // namespaces are refused.
  const auto no_webhook_pods = [] {
    auto r = cluster().kubectl(
        {"scale", "deployment", kRelease + "-webhook", "-n", kNs, "--replicas=0"});
    return r.ok() && poll_until([] { return component_pods("webhook").empty(); }, seconds(60));
  };
  ASSERT_TRUE(no_webhook_pods());
  auto refused = apply(testbox_pod(kApps, "while-down-fail", "exec sleep 3600"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.err.find("failed calling webhook"), std::string::npos) << refused.err;

  // Ignore: the same Pod is admitted.
  auto ignore = cluster().helm({"upgrade", kRelease, kSource + "/charts/orderguard", "-n", kNs,
                                "--reuse-values", "--set", "webhook.failurePolicy=Ignore"});
  ASSERT_TRUE(ignore.ok()) << ignore.describe();
  ASSERT_TRUE(no_webhook_pods());
  auto admitted = apply(testbox_pod(kApps, "while-down-ignore", "exec sleep 3600"));
  EXPECT_TRUE(admitted.ok()) << admitted.describe();
}

TEST_F(ChartOnNode, HelmUpgradeWithChangedValuesRollsThePods) {
  std::set<std::string> before;
  for (const auto& p : component_pods("operator")) before.insert(p["metadata"].value("name", ""));
  auto upgraded = cluster().helm({"upgrade", kRelease, kSource + "/charts/orderguard", "-n", kNs,
                                  "--reuse-values", "--set", "webhook.replicas=3", "--set",
                                  "webhook.failurePolicy=Fail", "--set", "operator.logLevel=debug",
                                  "--wait", "--timeout", "4m"});
  ASSERT_TRUE(upgraded.ok()) << upgraded.describe() << describe_release();
  ASSERT_TRUE(
      poll_until([] { return all_ready("operator", 2) && all_ready("webhook", 3); }, seconds(120)))
      << describe_release();
  for (const auto& p : component_pods("operator")) {
    EXPECT_EQ(before.count(p["metadata"].value("name", "")), 0u) << "operator Pod was not replaced";
    EXPECT_NE(p["spec"]["containers"][0]["args"].dump().find("--log-level=debug"),
              std::string::npos);
  }
  // Admission works again through the new Pods.
  json miner = testbox_pod(kApps, "xmrig-again", "exec sleep 3600");
  miner["spec"]["containers"][0]["command"] = {"xmrig", "-o", "stratum+tcp://pool.example:3333"};
  EXPECT_TRUE(poll_until(
      [&] {
        auto r = apply(miner);
        return !r.ok() && r.err.find("denied the request") != std::string::npos;
      },
      seconds(60)));
}

TEST_F(ChartOnNode, UninstallLeavesOnlyWhatTheReadmeSaysItKeeps) {
  auto removed = cluster().helm({"uninstall", kRelease, "-n", kNs, "--wait", "--timeout", "2m"});
  ASSERT_TRUE(removed.ok()) << removed.describe();
  EXPECT_TRUE(poll_until(
      [] {
        return component_pods("operator").empty() && component_pods("webhook").empty() &&
               component_pods("agent").empty();
      },
      seconds(120)))
      << describe_release();
  auto configs = cluster().kubectl({"get", "validatingwebhookconfigurations", "-o", "name"});
  EXPECT_EQ(configs.out.find(kRelease + "-miners"), std::string::npos) << configs.out;
  auto roles = cluster().kubectl({"get", "clusterroles,clusterrolebindings", "-o", "name"});
  EXPECT_EQ(roles.out.find("/" + kRelease + "-"), std::string::npos) << roles.out;
  // The pre-delete hook Job (orderguard-webhook cleanup, from the webhook image)
  // removed the TLS Secret the webhook made at run time.
  auto secrets = cluster().kubectl({"get", "secrets", "-n", kNs, "-o", "name"});
  EXPECT_TRUE(secrets.ok()) << secrets.describe();
  EXPECT_EQ(secrets.out.find(kRelease + "-webhook-tls"), std::string::npos) << secrets.out;
  // Documented leftovers (README, "Upgrade and uninstall"): the CRDs, the default
  // MinerPolicy, the Quarantines, and the Leases.
  auto kept = cluster().kubectl({"get", "minerpolicy", "orderguard-default", "-o", "name"});
  EXPECT_TRUE(kept.ok()) << kept.describe();
  for (const char* name :
       {"minerpolicies.security.orderguard.io", "quarantines.security.orderguard.io"}) {
    auto crd = cluster().kubectl({"get", "crd", name, "-o", "name"});
    EXPECT_TRUE(crd.ok()) << crd.describe();
  }
}

}  // namespace
}  // namespace orderguard::e2e

int main(int argc, char** argv) { return orderguard::e2e::run_node_e2e_tests(argc, argv); }
