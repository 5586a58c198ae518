// The responder against the real kube-apiserver, with the webhook running in-process so the
// closed loop shows: a miner pod is evicted, its workload quarantined, and a new pod of that
// workload refused at admission.
//
// There are no kubelets: the Deployment and ReplicaSet controllers create the pods, the test
// binds one to a Node it created (pods/binding, what the scheduler does) and writes its
// containerStatuses through the status subresource as a kubelet would.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>

#include "agent/responder.h"
#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/support/admission.h"
#include "e2e/support/fake_reports.h"
#include "e2e/support/observe.h"
#include "e2e/support/pods.h"
#include "e2e/support/setup.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/pki.h"
#include "policy/finding.h"
#include "webhook/server.h"

namespace orderguard::agent {
namespace {

using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

const char* kWebhookConfig = "orderguard-agent-e2e";
const char* kNode = "node-e2e";
const char* kAgentPod = "orderguard-agent-e2e";

std::string container_id(char c) { return std::string(64, c); }

// A miner process of the container `id`: a run-time download (Workload scope).
ScanReport miner_report(const std::string& id) { return e2e::stratum_miner_report(id); }

class AgentE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto crd = e2e::install_security_crds();
    ASSERT_TRUE(crd.ok()) << crd.error().describe();
    client_ = std::move(e2e::admin_client()).value();
    start_webhook();
    for (const char* ns : {"shop", "blog"}) {
      auto made = e2e::create_namespace(*client_, ns);
      ASSERT_TRUE(made.ok()) << made.error().describe();
    }
    ASSERT_TRUE(poll_until(
        [&] { return client_->get(res::kServiceAccounts, "kube-system", "default").ok(); }, 60s));
    Status created = e2e::create_node(*client_, kNode);
    ASSERT_TRUE(created.ok()) << created.error().describe();
    // A condition the kubelet would own: marking the node must keep it.
    Status ready = e2e::set_node_ready(*client_, kNode, true, "KubeletReady",
                                       "kubelet is posting ready status");
    ASSERT_TRUE(ready.ok()) << ready.error().describe();
    recorder_ =
        std::make_unique<kube::EventRecorder>(*client_, "orderguard.io/agent", kNode, clock_);
  }

  static void TearDownTestSuite() {
    if (recorder_) recorder_->stop();
    recorder_.reset();
    if (client_) (void)client_->remove(res::kValidatingWebhookConfigurations, "", kWebhookConfig);
    if (hook_) hook_->stop();
    hook_.reset();
    client_.reset();
  }

  static void start_webhook() {
    std::string dir = cluster().work_dir() + "/agent-webhook";
    std::filesystem::create_directories(dir);
    ca_.emplace(std::move(kube::generate_ca({.common_name = "orderguard-agent-e2e-ca"})).value());
    Status written = e2e::write_local_serving_certificate(*ca_, dir);
    ASSERT_TRUE(written.ok()) << written.error().describe();
    registry_ = std::make_shared<prometheus::Registry>();
    hook_ = std::make_unique<webhook::Webhook>(
        webhook::WebhookOptions{.address = "127.0.0.1",
                                .port = 0,
                                .metrics_address = "127.0.0.1",
                                .metrics_port = 0,
                                .tls_cert_file = dir + "/tls.crt",
                                .tls_key_file = dir + "/tls.key"},
        client_.get(), registry_);
    auto st = hook_->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
    ASSERT_TRUE(poll_until([] { return hook_->ready(); }, 60s));
    auto registered =
        e2e::register_miner_webhook(kWebhookConfig, "Fail", hook_->port(), ca_->cert_pem);
    ASSERT_TRUE(registered.ok()) << registered.error().describe();
  }

  // Binds `name` to kNode and reports container `id` running, as scheduler and kubelet would.
  static void run_on_node(const std::string& ns, const std::string& name, const std::string& id) {
    Status bound = e2e::bind_pod(*client_, ns, name, kNode);
    ASSERT_TRUE(bound.ok()) << bound.error().describe();
    set_running(ns, name, id);
  }

  static void set_running(const std::string& ns, const std::string& name, const std::string& id) {
    Status reported =
        e2e::report_running(*client_, ns, name,
                            {.image = "docker.io/library/nginx:1.27",
                             .image_id = "docker.io/library/nginx@sha256:" + std::string(64, 'a'),
                             .container_id = id});
    ASSERT_TRUE(reported.ok()) << reported.error().describe();
  }

  // A bare pod already bound to kNode (nodeName in the spec), running container `id`.
  static void create_bare_pod(const std::string& ns, const std::string& name,
                              const std::string& id) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"spec",
                 {{"nodeName", kNode},
                  {"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"}}})}}}};
    auto created = client_->create(res::kPods, ns, pod);
    ASSERT_TRUE(created.ok()) << created.error().describe();
    set_running(ns, name, id);
  }

  static json node_pods() {
    auto pods = client_->list_all(res::kPods, "",
                                  {.field_selector = std::string("spec.nodeName=") + kNode});
    EXPECT_TRUE(pods.ok());
    return pods.ok() ? (*pods)["items"] : json::array();
  }

  // Absent or terminating.
  static bool evicted(const std::string& ns, const std::string& name) {
    return e2e::pod_evicted(*client_, ns, name);
  }

  // The Quarantine objects about namespace `ns`.
  static json quarantines(const std::string& ns) {
    auto list = client_->list_all(kQuarantinesResource, "", {});
    EXPECT_TRUE(list.ok()) << list.error().describe();
    json out = json::array();
    if (!list.ok()) return out;
    for (const json& q : (*list)["items"]) {
      if (q["spec"].value("namespace", "") == ns) out.push_back(q);
    }
    return out;
  }

  static std::vector<json> events_about(const std::string& ns, const std::string& name) {
    return e2e::events_about(*client_, ns, name);
  }

  ResponderOptions options() const {
    ResponderOptions o;
    o.node_name = kNode;
    o.pod_name = kAgentPod;
    return o;
  }

  static inline std::unique_ptr<kube::Client> client_;
  static inline std::unique_ptr<webhook::Webhook> hook_;
  static inline std::shared_ptr<prometheus::Registry> registry_;
  static inline std::optional<kube::KeyPair> ca_;
  static inline std::unique_ptr<kube::EventRecorder> recorder_;
  static inline RealClock clock_;
};

TEST_F(AgentE2E, MinerPodIsEvictedQuarantinedAndItsWorkloadRefused) {
  json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec",
           {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"}}})}}}}}}}};
  auto created = client_->create(res::kDeployments, "shop", deployment);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  // Deployment -> ReplicaSet -> Pod, made by the controllers.
  const json pod = e2e::wait_for_first_pod(*client_, "shop", "app=web", 60s);
  ASSERT_FALSE(pod.is_null()) << "the Deployment made no Pod";
  std::string name = pod["metadata"]["name"];
  std::string rs = pod["metadata"]["ownerReferences"][0]["name"];
  std::string hash = pod["metadata"]["labels"]["pod-template-hash"];
  std::string id = container_id('1');
  run_on_node("shop", name, id);

  Responder responder(*client_, *recorder_, clock_, nullptr, options());
  policy::PolicySet policies = policy::combine({});
  ResponseSummary summary = responder.respond(miner_report(id), node_pods(), policies);
  ASSERT_EQ(summary.pods.size(), 1u);
  EXPECT_EQ(summary.pods[0].name, name);
  EXPECT_EQ(summary.pods[0].outcome, "evicted") << summary.pods[0].error;
  EXPECT_TRUE(summary.pods[0].quarantine_added);
  EXPECT_TRUE(summary.errors.empty()) << summary.errors[0];

  EXPECT_TRUE(poll_until([&] { return evicted("shop", name); }, 30s));
  recorder_->flush();
  std::vector<json> events = events_about("shop", name);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["reason"], "MinerDetected");
  std::string note = events[0].value("note", "");
  EXPECT_NE(note.find("stratum-url"), std::string::npos) << note;
  EXPECT_NE(note.find("pid 4321"), std::string::npos) << note;

  // One Quarantine object, named after the workload, saying who found the miner where.
  json objects = quarantines("shop");
  ASSERT_EQ(objects.size(), 1u) << objects.dump();
  EXPECT_EQ(objects[0]["metadata"]["name"], "deployment.shop.web");
  EXPECT_EQ(summary.pods[0].quarantine_name, "deployment.shop.web");
  const json& spec = objects[0]["spec"];
  EXPECT_EQ(spec["scope"], "Workload");
  EXPECT_EQ(spec["namespace"], "shop");
  EXPECT_EQ(spec["workload"]["kind"], "Deployment");  // owner resolved through the ReplicaSet
  EXPECT_EQ(spec["workload"]["name"], "web");
  EXPECT_EQ(spec["nodeName"], kNode);
  EXPECT_EQ(spec["createdBy"], kAgentPod);
  EXPECT_EQ(spec["image"], "docker.io/library/nginx@sha256:" + std::string(64, 'a'));
  EXPECT_NE(spec.value("reason", "").find("stratum-url"), std::string::npos) << spec.dump();
  EXPECT_FALSE(spec.contains("expiresAt"));
  // No MinerPolicy is written any more (GitOps tools own them).
  auto written = client_->list_all(kMinerPoliciesResource, "", {});
  ASSERT_TRUE(written.ok()) << written.error().describe();
  EXPECT_TRUE((*written)["items"].empty()) << (*written)["items"].dump();

  // A new pod of that ReplicaSet is refused once the webhook's informer has the entry.
  json again = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", "web-comeback"},
        {"namespace", "shop"},
        {"labels", {{"app", "web"}, {"pod-template-hash", hash}}},
        {"ownerReferences",
         json::array({{{"apiVersion", "apps/v1"},
                       {"kind", "ReplicaSet"},
                       {"name", rs},
                       {"uid", pod["metadata"]["ownerReferences"][0]["uid"]}}})}}},
      {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"}}})}}}};
  const std::string refusal =
      e2e::wait_for_pod_refusal(*client_, "shop", again, "quarantined-workload", 30s);
  ASSERT_TRUE(refusal.find("quarantined-workload") != std::string::npos) << refusal;
  // An unrelated pod using the same image is still admitted: the base image is not quarantined.
  json unrelated = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "other-nginx"}, {"namespace", "shop"}}},
      {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"}}})}}}};
  auto other = client_->create(res::kPods, "shop", unrelated);
  EXPECT_TRUE(other.ok()) << other.error().describe();

  // A second run over the same report creates nothing new: the name is taken.
  ResponseSummary second = responder.respond(miner_report(id), node_pods(), policies);
  ASSERT_EQ(second.pods.size(), 1u);
  EXPECT_FALSE(second.pods[0].quarantine_added);
  EXPECT_TRUE(second.pods[0].error.empty()) << second.pods[0].error;
  EXPECT_EQ(quarantines("shop").size(), 1u) << quarantines("shop").dump();

  // Deleting the object lifts the quarantine: the workload's pod is admitted again.
  ASSERT_TRUE(client_->remove(kQuarantinesResource, "", "deployment.shop.web").ok());
  EXPECT_TRUE(poll_until(
      [&] {
        auto admitted = client_->create(res::kPods, "shop", again);
        return admitted.ok();
      },
      30s))
      << "still refused after the Quarantine was deleted";
}

TEST_F(AgentE2E, DryRunChangesNothing) {
  std::string id = container_id('2');
  create_bare_pod("blog", "dry", id);
  size_t before = quarantines("blog").size();
  ResponderOptions o = options();
  o.dry_run = true;
  o.taint_node = true;
  Responder responder(*client_, *recorder_, clock_, nullptr, o);
  ScanReport report = miner_report(id);
  policy::Finding host;
  host.rule_id = "ld-preload";
  host.severity = policy::Severity::kStrong;
  report.host_findings = {host};
  ResponseSummary summary = responder.respond(report, node_pods(), policy::combine({}));
  ASSERT_EQ(summary.pods.size(), 1u);
  EXPECT_EQ(summary.pods[0].outcome, "dry-run");
  EXPECT_TRUE(summary.node_compromised);
  EXPECT_FALSE(summary.node_marked);
  recorder_->flush();

  auto pod = client_->get(res::kPods, "blog", "dry");
  ASSERT_TRUE(pod.ok());
  EXPECT_FALSE((*pod)["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(quarantines("blog").size(), before);
  EXPECT_TRUE(events_about("blog", "dry").empty());
}

TEST_F(AgentE2E, PodInKubeSystemIsNeverEvicted) {
  std::string id = container_id('3');
  create_bare_pod("kube-system", "system-miner", id);
  Responder responder(*client_, *recorder_, clock_, nullptr, options());
  ResponseSummary summary = responder.respond(miner_report(id), node_pods(), policy::combine({}));
  EXPECT_TRUE(summary.pods.empty());
  ASSERT_EQ(summary.skipped.size(), 1u);
  EXPECT_EQ(summary.skipped[0].reason, "protected-namespace");
  auto pod = client_->get(res::kPods, "kube-system", "system-miner");
  ASSERT_TRUE(pod.ok());
  EXPECT_FALSE((*pod)["metadata"].contains("deletionTimestamp"));
}

TEST_F(AgentE2E, EvictionsBeyondTheRateLimitAreNotActedOn) {
  ResponderOptions o = options();
  o.evictions_per_minute = 1;
  Responder responder(*client_, *recorder_, clock_, nullptr, o);
  ScanReport report;
  for (char c : {'4', '5'}) {
    std::string id = container_id(c);
    create_bare_pod("blog", std::string("limited-") + c, id);
    ScanReport one = miner_report(id);
    report.processes.push_back(one.processes[0]);
  }
  ResponseSummary summary = responder.respond(report, node_pods(), policy::combine({}));
  ASSERT_EQ(summary.pods.size(), 2u);
  EXPECT_EQ(summary.pods[0].outcome, "evicted");
  EXPECT_EQ(summary.pods[1].outcome, "rate-limited");
  EXPECT_TRUE(poll_until([&] { return evicted("blog", summary.pods[0].name); }, 30s));
  EXPECT_FALSE(evicted("blog", summary.pods[1].name));
}

TEST_F(AgentE2E, HostFindingsMarkTheNodeKeepingOtherConditions) {
  ResponderOptions o = options();
  o.taint_node = true;
  Responder responder(*client_, *recorder_, clock_, nullptr, o);
  ScanReport report;
  policy::Finding host;
  host.rule_id = "ld-preload";
  host.severity = policy::Severity::kStrong;
  host.evidence = "/etc/ld.so.preload: /usr/local/lib/libs.so";
  report.host_findings = {host};
  ResponseSummary summary = responder.respond(report, node_pods(), policy::combine({}));
  EXPECT_TRUE(summary.node_marked);
  EXPECT_TRUE(summary.errors.empty()) << summary.errors[0];

  auto node = client_->get(res::kNodes, "", kNode);
  ASSERT_TRUE(node.ok());
  bool ready = false, compromised = false;
  for (const json& c : (*node)["status"]["conditions"]) {
    if (c["type"] == "Ready") ready = c["status"] == "True";
    if (c["type"] == kConditionMinerCompromised) {
      compromised = c["status"] == "True";
      EXPECT_NE(c.value("message", "").find("ld-preload"), std::string::npos) << c.dump();
    }
  }
  EXPECT_TRUE(ready) << (*node)["status"].dump();
  EXPECT_TRUE(compromised) << (*node)["status"].dump();
  bool tainted = false;
  for (const json& t : (*node)["spec"].value("taints", json::array())) {
    tainted = tainted || (t["key"] == kTaintMinerCompromised && t["effect"] == "NoSchedule");
  }
  EXPECT_TRUE(tainted) << (*node)["spec"].dump();
  recorder_->flush();
  EXPECT_FALSE(events_about("", kNode).empty());

  // Marked already: a rescan writes nothing.
  EXPECT_FALSE(responder.respond(report, node_pods(), policy::combine({})).node_marked);
}

// Records kills instead of sending signals.
class RecordingKiller final : public ProcessKiller {
 public:
  Status kill(int pid) override {
    killed.push_back(pid);
    return {};
  }
  std::vector<int> killed;
};

TEST_F(AgentE2E, UnownedMinersAreKilledOnlyWithKillUnownedAndNeverInDryRun) {
  // A miner outside any container, a busy process outside any container, and PID 1 scored as
  // a miner.
  ScanReport report = miner_report("");
  report.processes[0].container = {};
  ProcessReport busy;
  busy.pid = 5000;
  busy.comm = "make";
  busy.exe = "/usr/bin/make";
  busy.cmdline = {"make", "-j2"};
  policy::Finding hog;
  hog.rule_id = "cpu-hog";
  hog.weight = 40;
  busy.findings = {hog};
  busy.score = 40;
  report.processes.push_back(busy);
  ProcessReport init = report.processes[0];
  init.pid = 1;
  report.processes.push_back(init);

  for (bool kill_unowned : {false, true}) {
    for (bool dry_run : {false, true}) {
      ResponderOptions o = options();
      o.kill_unowned = kill_unowned;
      o.dry_run = dry_run;
      RecordingKiller killer;
      Responder responder(*client_, *recorder_, clock_, &killer, o);
      ResponseSummary summary = responder.respond(report, node_pods(), policy::combine({}));
      std::vector<int> expected;
      if (kill_unowned && !dry_run) expected = {4321};
      EXPECT_EQ(killer.killed, expected)
          << "kill_unowned " << kill_unowned << " dry_run " << dry_run;
      EXPECT_EQ(summary.killed, expected);
      EXPECT_TRUE(summary.node_compromised);
      EXPECT_TRUE(summary.pods.empty());
    }
  }
}

}  // namespace
}  // namespace orderguard::agent

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
