// The background audit, MinerPolicy status and self-managed certificates against
// the real kube-apiserver: a miner Pod that got in while no webhook was registered is
// found by one audit pass and listed in its namespace's PolicyReport until it is gone;
// status writers of several replicas add their denials without losing any; the
// certificate manager creates, adopts and publishes its CA.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>

#include "base/base64.h"
#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/poll.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/pki.h"
#include "webhook/audit.h"
#include "webhook/certs.h"
#include "webhook/policy_report.h"
#include "webhook/policy_status.h"
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
    crd = testing::install_policy_report_crds();
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
  EXPECT_EQ(result.violations_by_policy["default"], 1);

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
  EXPECT_EQ(status["auditViolations"], 1) << status.dump();
  EXPECT_FALSE(status.contains("admissionDenials")) << "the audit refuses nothing";
  std::map<std::string, json> conditions;
  for (const auto& c : status["conditions"]) conditions[c["type"]] = c;
  EXPECT_EQ(conditions["Audited"]["status"], "True");
  EXPECT_EQ(conditions["Audited"]["observedGeneration"], (*stored)["metadata"]["generation"]);
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
  Auditor auditor(*client_, store, events, clock, {.audit_secrets = true});
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

json policy_report(kube::Client& client, const std::string& ns) {
  auto got = client.get(kPolicyReports, ns, "orderguard");
  return got.ok() ? *got : json();
}

// Whether `report` lists `kind`/`name` with `rule` at `field_path`.
bool lists(const json& report, const std::string& kind, const std::string& name,
           const std::string& rule, const std::string& field_path) {
  if (!report.is_object()) return false;
  for (const auto& r : report.value("results", json::array())) {
    const json& ref = r["resources"][0];
    if (ref.value("kind", "") == kind && ref.value("name", "") == name &&
        r.value("rule", "") == rule &&
        r.value("properties", json::object()).value("fieldPath", "") == field_path) {
      return true;
    }
  }
  return false;
}

// Violations appear in their namespace's PolicyReport, one result per finding with its
// rule and field path; a pass that finds the same writes nothing; a violation that is gone
// is gone from the report after the next pass, and a report with nothing left is deleted.
// A report of the same name that orderguard did not write is left alone, and a MinerPolicy
// that does not compile is listed in the ClusterPolicyReport.
TEST_F(AuditE2E, ViolationsAreKeptCurrentInPolicyReports) {
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", "reports"}).ok());
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", "reports-other"}).ok());
  json miner = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "miner"}, {"namespace", "reports"}}},
                {"spec",
                 {{"containers",
                   {{{"name", "main"},
                     {"image", "ubuntu:24.04"},
                     {"args", {"-o", "stratum+tcp://pool.minexmr.com:4444"}}}}}}}};
  json worker = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", {{"name", "worker"}, {"namespace", "reports"}}},
                 {"spec",
                  {{"replicas", 0},
                   {"selector", {{"matchLabels", {{"app", "worker"}}}}},
                   {"template",
                    {{"metadata", {{"labels", {{"app", "worker"}}}}},
                     {"spec", {{"containers", {{{"name", "w"}, {"image", "xmrig/xmrig"}}}}}}}}}}};
  json web = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "web"}, {"namespace", "reports"}}},
              {"spec", {{"containers", {{{"name", "main"}, {"image", "nginx:1.27"}}}}}}};
  ASSERT_TRUE(client_->create(res::kPods, "reports", miner).ok());
  ASSERT_TRUE(client_->create(res::kDeployments, "reports", worker).ok());
  ASSERT_TRUE(client_->create(res::kPods, "reports", web).ok());
  // Someone else's report of the same name, in a namespace without violations.
  json foreign = {{"apiVersion", "wgpolicyk8s.io/v1alpha2"},
                  {"kind", "PolicyReport"},
                  {"metadata", {{"name", "orderguard"}, {"namespace", "reports-other"}}},
                  {"summary", {{"pass", 1}}},
                  {"results", json::array()}};
  ASSERT_TRUE(client_->create(kPolicyReports, "reports-other", foreign).ok());
  // A policy the API server admits (no webhook here) that does not compile.
  json broken = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "broken"}}},
                 {"spec", {{"signatures", {{{"name", "bad"}, {"regex", "(unclosed"}}}}}}};
  ASSERT_TRUE(client_->create(kMinerPolicies, "", broken).ok());

  PolicyStore store;  // the built-in default
  RealClock clock;
  kube::EventRecorder events(*client_, "orderguard.io/webhook", "audit-e2e", clock);
  Auditor auditor(*client_, store, events, clock, {.report_name = "orderguard"});
  AuditResult first = auditor.run_once();
  EXPECT_TRUE(first.errors.empty()) << first.errors[0];

  json report = policy_report(*client_, "reports");
  ASSERT_TRUE(report.is_object()) << "no PolicyReport in namespace reports";
  EXPECT_EQ(report["metadata"]["labels"]["app.kubernetes.io/managed-by"], "orderguard");
  EXPECT_TRUE(lists(report, "Pod", "miner", "stratum-url", "spec.containers[0].args[1]"))
      << report.dump(1);
  EXPECT_TRUE(lists(report, "Deployment", "worker", "blocked-image",
                    "spec.template.spec.containers[0].image"))
      << report.dump(1);
  for (const auto& r : report["results"]) {
    EXPECT_NE(r["resources"][0]["name"], "web") << "a benign Pod has no result";
    EXPECT_EQ(r["result"], "fail");
    EXPECT_EQ(r["source"], "orderguard");
  }
  EXPECT_EQ(report["summary"]["fail"], report["results"].size());
  // kubectl prints the counts under the CRD's printer columns.
  auto table = cluster().kubectl({"get", "policyreports", "-n", "reports"});
  ASSERT_TRUE(table.ok()) << table.describe();
  EXPECT_NE(table.out.find("FAIL"), std::string::npos) << table.out;

  auto cluster_report = client_->get(kClusterPolicyReports, "", "orderguard");
  ASSERT_TRUE(cluster_report.ok()) << cluster_report.error().describe();
  ASSERT_EQ((*cluster_report)["results"].size(), 1u) << cluster_report->dump(1);
  EXPECT_EQ((*cluster_report)["results"][0]["policy"], "MinerPolicy broken");
  EXPECT_EQ((*cluster_report)["results"][0]["result"], "error");

  // The same findings again: nothing is written.
  const std::string version = report["metadata"]["resourceVersion"];
  AuditResult again = auditor.run_once();
  EXPECT_EQ(again.reports_created + again.reports_updated + again.reports_deleted, 0);
  EXPECT_EQ(policy_report(*client_, "reports")["metadata"]["resourceVersion"], version);

  // The miner Pod is gone: so is its result; the Deployment's stays.
  ASSERT_TRUE(client_->remove(res::kPods, "reports", "miner", {.grace_period_seconds = 0}).ok());
  ASSERT_TRUE(poll_until([&] { return !client_->get(res::kPods, "reports", "miner").ok(); }, 30s));
  auditor.run_once();
  report = policy_report(*client_, "reports");
  EXPECT_FALSE(lists(report, "Pod", "miner", "stratum-url", "spec.containers[0].args[1]"))
      << report.dump(1);
  EXPECT_TRUE(lists(report, "Deployment", "worker", "blocked-image",
                    "spec.template.spec.containers[0].image"));

  // Nothing left in the namespace, nor broken policies: both reports are deleted; the
  // foreign report stays.
  ASSERT_TRUE(client_->remove(res::kDeployments, "reports", "worker").ok());
  ASSERT_TRUE(client_->remove(kMinerPolicies, "", "broken").ok());
  ASSERT_TRUE(
      poll_until([&] { return !client_->get(res::kDeployments, "reports", "worker").ok(); }, 30s));
  AuditResult last = auditor.run_once();
  EXPECT_EQ(last.reports_deleted, 2);
  auto gone = client_->get(kPolicyReports, "reports", "orderguard");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(client_->get(kClusterPolicyReports, "", "orderguard").ok());
  EXPECT_TRUE(client_->get(kPolicyReports, "reports-other", "orderguard").ok());
}

// Replicas add their denials to the same policy at once: every write carries the
// resourceVersion it read, so none is lost or counted twice however they interleave.
TEST_F(AuditE2E, StatusWritersOfSeveralReplicasLoseNoDenial) {
  json policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "counted"}}},
                 {"spec", {{"mode", "Enforce"}}}};
  ASSERT_TRUE(client_->create(kMinerPolicies, "", policy).ok());
  RealClock clock;
  constexpr int kReplicas = 3, kRounds = 5, kPerRound = 7;
  std::vector<std::unique_ptr<PolicyStatusWriter>> writers;
  for (int i = 0; i < kReplicas; ++i) {
    // Not leading, not started: each round is driven by hand.
    writers.push_back(std::make_unique<PolicyStatusWriter>(
        *client_, clock, PolicyStatusOptions{.leads = [] { return false; }}));
  }
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (auto& w : writers) {
      for (int i = 0; i < kPerRound; ++i) w->add_denial("counted");
      threads.emplace_back([&w] { w->sync_once(); });
    }
    for (auto& t : threads) t.join();
  }
  // A round that met a Conflict five times in a row keeps its denials for the next one.
  ASSERT_TRUE(poll_until(
      [&] {
        int64_t pending = 0;
        for (auto& w : writers) {
          w->sync_once();
          pending += w->pending_denials("counted");
        }
        return pending == 0;
      },
      30s));
  auto stored = client_->get(kMinerPolicies, "", "counted");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)["status"]["admissionDenials"], kReplicas * kRounds * kPerRound)
      << (*stored)["status"].dump();

  // The Lease holder's writes keep the count; a deleted policy's pending denials are dropped.
  PolicyStatusWriter leader(*client_, clock, {.policies = [&] {
    auto p = client_->get(kMinerPolicies, "", "counted");
    return std::vector<kube::ObjectPtr>{std::make_shared<const json>(p.ok() ? *p : json())};
  }});
  leader.sync_once();
  stored = client_->get(kMinerPolicies, "", "counted");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)["status"]["observedGeneration"], (*stored)["metadata"]["generation"]);
  EXPECT_EQ((*stored)["status"]["admissionDenials"], kReplicas * kRounds * kPerRound);
  ASSERT_TRUE(client_->remove(kMinerPolicies, "", "counted").ok());
  writers[0]->add_denial("counted");
  writers[0]->sync_once();
  EXPECT_EQ(writers[0]->pending_denials("counted"), 0);
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
    auto bundle = base64_decode(hook["clientConfig"].value("caBundle", ""));
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
