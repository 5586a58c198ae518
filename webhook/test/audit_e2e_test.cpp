// The background audit and self-managed certificates against the real
// kube-apiserver: a miner Pod that got in while no webhook was registered is
// found by one audit pass; the certificate manager creates, adopts and
// publishes its CA.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/poll.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/pki.h"
#include "webhook/audit.h"
#include "webhook/certs.h"
#include "webhook/server.h"
#include "webhook/test/e2e_support.h"

namespace orderguard::webhook {
namespace {

using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

class AuditE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto crd = testing::install_security_crds();
    ASSERT_TRUE(crd.ok()) << crd.error().describe();
    client_ = std::move(kube::make_client(cluster().admin_config())).value();
    ASSERT_TRUE(cluster().kubectl({"create", "namespace", "shop"}).ok());
    ASSERT_TRUE(cluster().kubectl({"create", "namespace", "orderguard"}).ok());
    ASSERT_TRUE(poll_until(
        [] { return client_->get(res::kServiceAccounts, "shop", "default").ok(); }, 60s));
  }

  static void TearDownTestSuite() { client_.reset(); }

  static inline std::unique_ptr<kube::Client> client_;
};

TEST_F(AuditE2E, MinerPodAdmittedWithoutTheWebhookIsFoundByOnePass) {
  // No ValidatingWebhookConfiguration exists: the API server admits anything.
  json policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "default"}}},
                 {"spec", {{"mode", "Enforce"}}}};
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, policy.dump()).ok());
  json miner = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "old-miner"}, {"namespace", "shop"}}},
                {"spec",
                 {{"containers",
                   {{{"name", "main"},
                     {"image", "ubuntu:24.04"},
                     {"args", {"-o", "stratum+tcp://pool.minexmr.com:4444"}}}}}}}};
  json benign = {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
                 {"spec", {{"containers", {{{"name", "main"}, {"image", "nginx:1.27"}}}}}}};
  ASSERT_TRUE(client_->create(res::kPods, "shop", miner).ok());
  ASSERT_TRUE(client_->create(res::kPods, "shop", benign).ok());

  // What the webhook's MinerPolicy informer would hold.
  PolicyStore store;
  auto policies = client_->list_all(kMinerPolicies, "", {});
  ASSERT_TRUE(policies.ok());
  std::vector<json> items((*policies)["items"].begin(), (*policies)["items"].end());
  ASSERT_TRUE(store.update(items).empty());

  RealClock clock;
  kube::EventRecorder events(*client_, "orderguard.io/webhook", "audit-e2e", clock);
  Auditor auditor(*client_, store, events, clock);
  AuditResult result = auditor.run_once();
  events.flush();
  EXPECT_TRUE(result.errors.empty()) << result.errors[0];
  ASSERT_EQ(result.violations.size(), 1u);
  EXPECT_EQ(result.violations[0].regarding["metadata"]["name"], "old-miner");
  EXPECT_EQ(result.denials_by_policy["default"], 1);

  json event;
  ASSERT_TRUE(poll_until(
      [&] {
        auto list = client_->list(res::kEvents, "shop", {});
        if (!list.ok()) return false;
        for (const auto& e : (*list)["items"]) {
          if (e.value("reason", "") == kViolationReason &&
              e["regarding"].value("name", "") == "old-miner") {
            event = e;
            return true;
          }
        }
        return false;
      },
      30s));
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["regarding"]["kind"], "Pod");
  EXPECT_NE(event["note"].get<std::string>().find("rule stratum-url"), std::string::npos)
      << event.dump();

  auto stored = client_->get(kMinerPolicies, "", "default");
  ASSERT_TRUE(stored.ok());
  const json& status = (*stored)["status"];
  EXPECT_EQ(status["denials"], 1) << status.dump();
  EXPECT_EQ(status["observedGeneration"], (*stored)["metadata"]["generation"]);
  EXPECT_EQ(status["quarantineEntries"], 0);
  std::map<std::string, std::string> conditions;
  for (const auto& c : status["conditions"]) conditions[c["type"]] = c["status"];
  EXPECT_EQ(conditions["Valid"], "True");
  EXPECT_EQ(conditions["Audited"], "True");
}

// A pass finds the running pod of a quarantined workload, and deletes the Quarantines whose
// expiry has passed (they refuse nothing any more) while keeping the others.
TEST_F(AuditE2E, APassReportsQuarantinedPodsAndDeletesExpiredQuarantines) {
  auto make = [](const std::string& pod, const std::string& expires) {
    json spec = {{"scope", "Workload"},
                 {"namespace", "shop"},
                 {"workload", {{"kind", "Pod"}, {"name", pod}}},
                 {"reason", "found by the test"}};
    if (!expires.empty()) spec["expiresAt"] = expires;
    return json{{"apiVersion", "security.orderguard.io/v1alpha1"},
                {"kind", "Quarantine"},
                {"metadata", {{"name", "pod.shop." + pod}}},
                {"spec", spec}};
  };
  for (const json& q : {make("stale", "2000-01-01T00:00:00Z"), make("kept", ""),
                        make("later", "2999-01-01T00:00:00Z")}) {
    auto created = client_->create(kQuarantines, "", q);
    ASSERT_TRUE(created.ok()) << created.error().describe();
  }
  json kept_pod = {{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata", {{"name", "kept"}, {"namespace", "shop"}}},
                   {"spec", {{"containers", {{{"name", "main"}, {"image", "nginx:1.27"}}}}}}};
  ASSERT_TRUE(client_->create(res::kPods, "shop", kept_pod).ok());

  // What the webhook's informers would hold.
  PolicyStore store;
  auto quarantines = client_->list_all(kQuarantines, "", {});
  ASSERT_TRUE(quarantines.ok());
  std::vector<json> items((*quarantines)["items"].begin(), (*quarantines)["items"].end());
  ASSERT_TRUE(store.update_quarantines(items).empty());

  RealClock clock;
  kube::EventRecorder events(*client_, "orderguard.io/webhook", "audit-e2e", clock);
  Auditor auditor(*client_, store, events, clock);
  AuditResult result = auditor.run_once();
  events.flush();
  EXPECT_TRUE(result.errors.empty()) << result.errors[0];
  EXPECT_EQ(result.expired_quarantines, std::vector<std::string>{"pod.shop.stale"});
  EXPECT_FALSE(client_->get(kQuarantines, "", "pod.shop.stale").ok());
  EXPECT_TRUE(client_->get(kQuarantines, "", "pod.shop.kept").ok());
  EXPECT_TRUE(client_->get(kQuarantines, "", "pod.shop.later").ok());
  bool reported = false;
  for (const auto& v : result.violations) {
    if (v.regarding["metadata"]["name"] != "kept") continue;
    reported =
        !v.causes.empty() && v.causes[0].find("Quarantine pod.shop.kept") != std::string::npos;
  }
  EXPECT_TRUE(reported) << result.violations.size() << " violations";
}

TEST_F(AuditE2E, MinerConfigMapAndSecretAdmittedWithoutTheWebhookAreFound) {
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", "cfg-audit"}).ok());
  const std::string config =
      R"({"donate-level": 1, "pools": [{"url": "pool.supportxmr.com:443", "user": "w"}]})";
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "batch-settings"}, {"namespace", "cfg-audit"}}},
             {"data", {{"config.json", config}}}};
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "batch-credentials"}, {"namespace", "cfg-audit"}}},
                 {"stringData", {{"config.json", config}}}};
  json benign = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", "redis"}, {"namespace", "cfg-audit"}}},
                 {"data", {{"redis.conf", "port 3333\n"}}}};
  ASSERT_TRUE(client_->create(res::kConfigMaps, "cfg-audit", cm).ok());
  ASSERT_TRUE(client_->create(res::kSecrets, "cfg-audit", secret).ok());
  ASSERT_TRUE(client_->create(res::kConfigMaps, "cfg-audit", benign).ok());

  PolicyStore store;  // no MinerPolicy: the built-in default
  RealClock clock;
  kube::EventRecorder events(*client_, "orderguard.io/webhook", "audit-e2e", clock);
  Auditor auditor(*client_, store, events, clock, /*audit_secrets=*/true);
  AuditResult result = auditor.run_once();
  events.flush();
  std::set<std::string> found;
  for (const auto& v : result.violations) {
    if (v.regarding["metadata"].value("namespace", "") == "cfg-audit") {
      found.insert(v.regarding["kind"].get<std::string>() + "/" +
                   v.regarding["metadata"].value("name", ""));
    }
  }
  EXPECT_EQ(found, (std::set<std::string>{"ConfigMap/batch-settings", "Secret/batch-credentials"}));

  // The Secret's Event names the key and the rule, never the value.
  json event;
  ASSERT_TRUE(poll_until(
      [&] {
        auto list = client_->list(res::kEvents, "cfg-audit", {});
        if (!list.ok()) return false;
        for (const auto& e : (*list)["items"]) {
          if (e.value("reason", "") == kViolationReason &&
              e["regarding"].value("name", "") == "batch-credentials") {
            event = e;
            return true;
          }
        }
        return false;
      },
      30s));
  const std::string note = event.value("note", "");
  EXPECT_NE(note.find("data[\"config.json\"]"), std::string::npos) << note;
  EXPECT_NE(note.find("rule pool-host"), std::string::npos) << note;
  EXPECT_EQ(note.find("supportxmr"), std::string::npos) << note;
}

json webhook_config(const std::string& name) {
  json hook = {{"admissionReviewVersions", {"v1"}},
               {"sideEffects", "None"},
               {"failurePolicy", "Ignore"},
               {"clientConfig", {{"url", "https://127.0.0.1:1/validate"}}},
               {"rules",
                {{{"apiGroups", {""}},
                  {"apiVersions", {"v1"}},
                  {"resources", {"configmaps"}},
                  {"operations", {"CREATE"}}}}}};
  json a = hook, b = hook;
  a["name"] = "a.orderguard.io";
  b["name"] = "b.orderguard.io";
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "ValidatingWebhookConfiguration"},
          {"metadata", {{"name", name}}},
          {"webhooks", {a, b}}};
}

TEST_F(AuditE2E, SelfManagedCertificatesAreSharedAndPublished) {
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, webhook_config("og-certs").dump()).ok());
  CertManagerOptions options{.service_name = "orderguard-webhook",
                             .ns = "orderguard",
                             .webhook_config_name = "og-certs",
                             .secret_name = "orderguard-webhook-tls",
                             .extra_sans = {"127.0.0.1"}};
  RealClock clock;
  std::string installed_a, installed_b;
  CertManager a(
      *client_, options,
      [&](const std::string& cert, const std::string&) -> Status {
        installed_a = cert;
        return {};
      },
      clock);
  CertManager b(
      *client_, options,
      [&](const std::string& cert, const std::string&) -> Status {
        installed_b = cert;
        return {};
      },
      clock);
  auto st = a.sync();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  st = b.sync();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_FALSE(installed_a.empty());
  EXPECT_EQ(installed_a, installed_b) << "the second replica adopts the first one's certificate";

  auto secret = client_->get(res::kSecrets, "orderguard", "orderguard-webhook-tls");
  ASSERT_TRUE(secret.ok());
  auto material = material_from_secret(*secret);
  ASSERT_TRUE(material.has_value());
  auto leaf = kube::Certificate::from_pem(material->cert);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->ip_addresses(), std::vector<std::string>{"127.0.0.1"});
  auto config = client_->get(res::kValidatingWebhookConfigurations, "", "og-certs");
  ASSERT_TRUE(config.ok());
  for (const auto& hook : (*config)["webhooks"]) {
    auto bundle = kube::base64_decode(hook["clientConfig"].value("caBundle", ""));
    ASSERT_TRUE(bundle.ok());
    auto roots = kube::Certificate::all_from_pem(*bundle);
    ASSERT_TRUE(roots.ok());
    EXPECT_TRUE(kube::verify_certificate(*leaf, *roots, true).ok());
  }

  // A pass with nothing to do writes nothing.
  const std::string rv = (*secret)["metadata"]["resourceVersion"];
  ASSERT_TRUE(a.sync().ok());
  EXPECT_EQ((*client_->get(res::kSecrets, "orderguard",
                           "orderguard-webhook-tls"))["metadata"]["resourceVersion"],
            rv);
}

}  // namespace
}  // namespace orderguard::webhook

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
