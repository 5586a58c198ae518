// The Helm chart against the real control plane: `helm install` succeeds, then
// each component runs in-process authenticated as its chart ServiceAccount
// (a TokenRequest token), so the scenarios below pass with the chart's RBAC
// and nothing else; the negative tests prove what each one cannot do.
//
// The API server runs with the OwnerReferencesPermissionEnforcement admission
// plugin, as hardened clusters do: a child whose ownerReference sets
// blockOwnerDeletion may then only be written by someone who can update the
// owner's finalizers, so the chart must grant that to the operator.
//
// The chart's ValidatingWebhookConfiguration og-miners calls the Service
// og-webhook, whose cluster IP does not exist here. The chart is installed
// with failurePolicy=Ignore so `helm install` can create the default
// MinerPolicy (which that configuration covers) while no webhook answers;
// the suite then points og-miners at the in-process webhook
// (https://127.0.0.1:<port>), keeping the caBundle that the webhook's own
// certificate manager wrote, so admission goes through what the chart made.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/responder.h"
#include "base/base64.h"
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
#include "kube/leader_election.h"
#include "kube/pki.h"
#include "operator/manager.h"
#include "operator/types.h"
#include "policy/finding.h"
#include "webhook/audit.h"
#include "webhook/certs.h"
#include "webhook/policy_report.h"
#include "webhook/server.h"

namespace orderguard {
namespace {

using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

const std::string kSource = ORDERGUARD_SOURCE_DIR;
const std::string kNs = "orderguard-system";
const std::string kRelease = "og";
const std::string kOperatorSa = "og-operator";
const std::string kWebhookSa = "og-webhook";
const std::string kAgentSa = "og-agent";
const std::string kWebhookConfig = "og-miners";
const std::string kWebhookSecret = "og-webhook-tls";
const std::string kDefaultPolicy = "orderguard-default";  // values.yaml defaultPolicy.name
const std::string kAgentNode = "node-agent";
const std::string kAgentPod = "og-agent-test";  // the DaemonSet's Pod on kAgentNode

json namespaced(const std::string& api_version, const std::string& kind, const std::string& ns,
                const std::string& name) {
  return {{"apiVersion", api_version},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns}}}};
}

json pod(const std::string& ns, const std::string& name, const std::string& image,
         const json& args = json::array()) {
  json p = namespaced("v1", "Pod", ns, name);
  json c = {{"name", "app"}, {"image", image}};
  if (!args.empty()) c["args"] = args;
  p["spec"] = {{"containers", json::array({c})}};
  return p;
}

json secret(const std::string& ns, const std::string& name) {
  json s = namespaced("v1", "Secret", ns, name);
  s["stringData"] = {{"password", "not-for-orderguard"}};
  return s;
}

std::string service_account_user(const std::string& sa) {
  return "system:serviceaccount:" + kNs + ":" + sa;
}

// A denial by RBAC: 403 Forbidden naming the ServiceAccount that asked.
template <typename R>
void expect_forbidden(const R& result, const std::string& sa, const std::string& what) {
  ASSERT_FALSE(result.ok()) << sa << " was allowed to " << what;
  EXPECT_EQ(result.error().code, ErrorCode::kForbidden)
      << what << ": " << result.error().describe();
  EXPECT_EQ(result.error().http_status, 403) << what << ": " << result.error().describe();
  EXPECT_NE(result.error().message.find("User \"" + service_account_user(sa) + "\""),
            std::string::npos)
      << what << ": " << result.error().message;
}

// A miner process in container `id`, plus a strong host finding so the Node is marked.
agent::ScanReport miner_report(const std::string& id) {
  agent::ScanReport report = e2e::stratum_miner_report(id);
  policy::Finding host;
  host.rule_id = "ld-preload";
  host.severity = policy::Severity::kStrong;
  host.evidence = "/etc/ld.so.preload: /usr/local/lib/libs.so";
  report.host_findings = {host};
  return report;
}

class ChartE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    admin_ = std::move(e2e::admin_client()).value();
    for (const std::string ns : {"legacy", "apps"}) {
      auto created = e2e::create_namespace(*admin_, ns);
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }
    // Admitted before any webhook exists: what the audit pass has to find.
    auto old_miner = admin_->create(
        res::kPods, "legacy",
        pod("legacy", "old-miner", "ubuntu:24.04", {"-o", "stratum+tcp://pool.minexmr.com:4444"}));
    ASSERT_TRUE(old_miner.ok()) << old_miner.error().describe();

    // No --wait: without kubelets the Deployments and the DaemonSet never become ready.
    auto installed =
        cluster().helm({"install", kRelease, kSource + "/charts/orderguard", "-n", kNs,
                        "--create-namespace", "--set", "webhook.failurePolicy=Ignore"});
    ASSERT_TRUE(installed.ok()) << installed.describe();
    auto established = cluster().kubectl(
        {"wait", "--for=condition=Established", "--timeout=60s",
         "crd/orderservices.tiers.orderguard.io", "crd/cachetiers.tiers.orderguard.io",
         "crd/shardsets.tiers.orderguard.io", "crd/minerpolicies.security.orderguard.io",
         "crd/quarantines.security.orderguard.io", "crd/policyreports.wgpolicyk8s.io",
         "crd/clusterpolicyreports.wgpolicyk8s.io"});
    ASSERT_TRUE(established.ok()) << established.describe();

    // Secrets the components must not see: another in the release namespace, and others'.
    for (const auto& [ns, name] : std::vector<std::pair<std::string, std::string>>{
             {kNs, "other"}, {"default", "probe"}, {"kube-system", "probe"}}) {
      auto created = admin_->create(res::kSecrets, ns, secret(ns, name));
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }

    operator_ = service_account_client(kOperatorSa);
    webhook_ = service_account_client(kWebhookSa);
    ASSERT_TRUE(operator_);
    // The CRDs are objects of the release, created in the same pass as the
    // Deployments, whose ReplicaSets can fill the API server's admission
    // RESTMapper before the new kinds are served; it is refreshed every 30 s.
    // Until then OwnerReferencesPermissionEnforcement refuses children owned
    // (blockOwnerDeletion) by a tier resource, so wait for it to map them. The
    // plugin lets a user who may finalize anything (a cluster admin) through without
    // a mapping, so the probe is og-operator's own request: an admin's would wait for nothing.
    std::string refusal;
    ASSERT_TRUE(poll_until([&] { return admission_maps_tier_kinds(&refusal); }, 60s))
        << "the API server's admission does not map the tier kinds: " << refusal;
    // The agent's token is bound to an agent Pod on its node, as the kubelet mounts it:
    // the chart's admission policy lets the agent write only for the node the token names.
    create_node(kAgentNode, "");
    json agent_pod = pod(kNs, kAgentPod, "registry.example.com/orderguard-agent:test");
    agent_pod["spec"]["nodeName"] = kAgentNode;
    agent_pod["spec"]["serviceAccountName"] = kAgentSa;
    auto placed = admin_->create(res::kPods, kNs, agent_pod);
    ASSERT_TRUE(placed.ok()) << placed.error().describe();
    agent_ = service_account_client(kAgentSa, kAgentPod);
    ASSERT_TRUE(operator_ && webhook_ && agent_);
    start_webhook();
    // The API server loads the chart's admission policies, and the Pod cache behind the
    // eviction policy, asynchronously: wait until the agent's eviction of a Pod on
    // another node is refused by it (a dry run).
    json elsewhere = pod("apps", "elsewhere", "nginx:1.27");
    elsewhere["spec"]["nodeName"] = "node-elsewhere";
    auto made = admin_->create(res::kPods, "apps", elsewhere);
    ASSERT_TRUE(made.ok()) << made.error().describe();
    ASSERT_TRUE(poll_until(
        [] {
          Status s = agent_->evict("apps", "elsewhere", {.dry_run = true});
          return !s.ok() &&
                 s.error().message.find("'og-agent-own-node-evictions'") != std::string::npos;
        },
        60s))
        << "the chart's eviction policy never refused";
  }

  // A dry-run ConfigMap, created as og-operator, owned (blockOwnerDeletion) by one object of
  // each tier kind.
  static bool admission_maps_tier_kinds(std::string* refusal) {
    json owners = json::array();
    for (const char* kind : {"OrderService", "CacheTier", "ShardSet"}) {
      owners.push_back({{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                        {"kind", kind},
                        {"name", "probe"},
                        {"uid", "00000000-0000-0000-0000-000000000001"},
                        {"blockOwnerDeletion", true}});
    }
    owners[0]["controller"] = true;  // the chart's policy: og-operator creates only children
    json probe = namespaced("v1", "ConfigMap", "apps", "mapping-probe");
    probe["metadata"]["ownerReferences"] = owners;
    auto made = operator_->raw("POST", "/api/v1/namespaces/apps/configmaps?dryRun=All", &probe);
    *refusal = made.ok() ? "" : made.error().describe();
    return made.ok();
  }

  static void TearDownTestSuite() {
    if (hook_) hook_->stop();
    hook_.reset();
    certs_.reset();
    operator_.reset();
    webhook_.reset();
    agent_.reset();
    admin_.reset();
  }

  // A client authenticated as the chart's ServiceAccount `sa`, with a token bound to
  // Pod `bound_pod` when given. The chart must have created the ServiceAccount:
  // service_account_config would otherwise create it.
  static std::unique_ptr<kube::Client> service_account_client(const std::string& sa,
                                                              const std::string& bound_pod = "") {
    auto existing = admin_->get(res::kServiceAccounts, kNs, sa);
    EXPECT_TRUE(existing.ok()) << "the chart did not create " << sa;
    if (!existing.ok()) return nullptr;
    auto config = bound_pod.empty()
                      ? cluster().service_account_config(kNs, sa)
                      : cluster().pod_bound_service_account_config(kNs, sa, bound_pod);
    EXPECT_TRUE(config.ok()) << config.error().describe();
    if (!config.ok()) return nullptr;
    auto client = kube::make_client(*config);
    EXPECT_TRUE(client.ok()) << client.error().describe();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  // What the chart's webhook args say (self-managed mode), plus 127.0.0.1 so the
  // API server can verify the certificate at the URL this suite registers.
  static webhook::CertManagerOptions cert_options() {
    return {.service_name = kWebhookSa,
            .ns = kNs,
            .webhook_config_name = kWebhookConfig,
            .secret_name = kWebhookSecret,
            .extra_sans = {"127.0.0.1"}};
  }

  static webhook::InstallCertificate install_into_hook() {
    return [](const std::string& cert, const std::string& key) {
      return hook_->set_certificate(cert, key);
    };
  }

  // As webhook/main.cpp does it: certificate first (the TLS port needs one), then serve.
  static void start_webhook() {
    registry_ = std::make_shared<prometheus::Registry>();
    hook_ = std::make_unique<webhook::Webhook>(
        webhook::WebhookOptions{
            .address = "127.0.0.1", .port = 0, .metrics_address = "127.0.0.1", .metrics_port = 0},
        webhook_.get(), registry_);
    certs_ = std::make_unique<webhook::CertManager>(*webhook_, cert_options(), install_into_hook(),
                                                    clock_);
    auto synced = certs_->sync();
    ASSERT_TRUE(synced.ok()) << synced.error().describe();
    auto started = hook_->start();
    ASSERT_TRUE(started.ok()) << started.error().describe();
    // ready(): certificate installed and the MinerPolicy and Namespace informers synced.
    ASSERT_TRUE(poll_until([] { return hook_->ready(); }, 60s)) << "webhook informers not synced";
    // Every webhook of the configuration: miners (failurePolicy from values),
    // configs (configFailurePolicy), MinerPolicies and the tier checks (both
    // always Ignore).
    const json config = get(*admin_, res::kValidatingWebhookConfigurations, "", kWebhookConfig);
    ASSERT_EQ(config["webhooks"].size(), 4u) << config.dump();
    json repoint = json::array();
    for (size_t n = 0; n < config["webhooks"].size(); ++n) {
      const std::string i = std::to_string(n);
      repoint.push_back(
          {{"op", "remove"}, {"path", std::string("/webhooks/") + i + "/clientConfig/service"}});
      repoint.push_back(
          {{"op", "add"},
           {"path", std::string("/webhooks/") + i + "/clientConfig/url"},
           {"value", "https://127.0.0.1:" + std::to_string(hook_->port()) + "/validate"}});
    }
    auto patched = admin_->patch(res::kValidatingWebhookConfigurations, "", kWebhookConfig,
                                 kube::PatchType::kJson, repoint);
    ASSERT_TRUE(patched.ok()) << patched.error().describe();
  }

  static json get(kube::Client& c, const kube::Resource& r, const std::string& ns,
                  const std::string& name) {
    auto obj = c.get(r, ns, name);
    return obj.ok() ? *obj : json();
  }
  static bool exists(const kube::Resource& r, const std::string& ns, const std::string& name) {
    return poll_until([&] { return !get(*admin_, r, ns, name).is_null(); }, 60s);
  }
  static bool status_observed(const kube::Resource& r, const std::string& ns,
                              const std::string& name) {
    return poll_until(
        [&] {
          json o = get(*admin_, r, ns, name);
          return !o.is_null() && o.contains("status") &&
                 o["status"].value("observedGeneration", int64_t{-1}) ==
                     o["metadata"]["generation"].get<int64_t>();
        },
        60s);
  }
  static std::vector<json> events_about(const std::string& ns, const std::string& name) {
    return e2e::events_about(*admin_, ns, name);
  }
  static bool has_event(const std::string& ns, const std::string& name, const std::string& reason) {
    return poll_until(
        [&] {
          for (const json& e : events_about(ns, name))
            if (e.value("reason", "") == reason) return true;
          return false;
        },
        30s);
  }

  // A Node with a zone and a Ready condition (there are no kubelets to post one).
  static void create_node(const std::string& name, const std::string& zone) {
    json labels = json::object();
    if (!zone.empty()) labels = {{"topology.kubernetes.io/zone", zone}};
    Status created = e2e::create_node(*admin_, name, labels);
    ASSERT_TRUE(created.ok()) << created.error().describe();
    Status ready = e2e::set_node_ready(*admin_, name, true, "KubeletReady", "set by the test");
    ASSERT_TRUE(ready.ok()) << ready.error().describe();
  }

  static inline std::unique_ptr<kube::Client> admin_;
  static inline std::unique_ptr<kube::Client> operator_;
  static inline std::unique_ptr<kube::Client> webhook_;
  static inline std::unique_ptr<kube::Client> agent_;
  static inline std::shared_ptr<prometheus::Registry> registry_;
  static inline std::unique_ptr<webhook::Webhook> hook_;
  static inline std::unique_ptr<webhook::CertManager> certs_;
  static inline RealClock clock_;
};

TEST_F(ChartE2E, HelmInstallCreatesTheReleaseObjects) {
  auto status = cluster().helm({"status", kRelease, "-n", kNs, "-o", "json"});
  ASSERT_TRUE(status.ok()) << status.describe();
  EXPECT_EQ(json::parse(status.out)["info"]["status"], "deployed") << status.out;
  EXPECT_FALSE(get(*admin_, res::kDeployments, kNs, "og-operator").is_null());
  EXPECT_FALSE(get(*admin_, res::kDeployments, kNs, "og-webhook").is_null());
  EXPECT_FALSE(get(*admin_, res::kDaemonSets, kNs, "og-agent").is_null());
  EXPECT_FALSE(get(*admin_, res::kPodDisruptionBudgets, kNs, "og-webhook").is_null());
  json policy = get(*admin_, webhook::kMinerPolicies, "", kDefaultPolicy);
  ASSERT_FALSE(policy.is_null());
  EXPECT_EQ(policy["spec"]["mode"], "Enforce");
}

TEST_F(ChartE2E, OperatorReconcilesTheExamplesAsItsServiceAccount) {
  for (const std::string zone : {"zone-a", "zone-b", "zone-c"}) create_node("node-" + zone, zone);
  op::OrderServiceManager manager(*operator_, clock_, {.instance = "chart-e2e"});
  auto started = manager.start();  // list + watch of every informer, as og-operator
  ASSERT_TRUE(started.ok()) << started.error().describe();
  auto applied = cluster().kubectl({"apply", "-f", kSource + "/examples/"});
  ASSERT_TRUE(applied.ok()) << applied.describe();
  const std::string ns = "shop";

  // OrderService orders: per zone a Deployment, an HPA and a PDB; a Service and a ConfigMap.
  for (const std::string zone : {"zone-a", "zone-b", "zone-c"}) {
    const std::string name = "orders-" + zone;
    ASSERT_TRUE(exists(res::kDeployments, ns, name)) << name;
    ASSERT_TRUE(exists(res::kHorizontalPodAutoscalers, ns, name)) << name;
    ASSERT_TRUE(exists(res::kPodDisruptionBudgets, ns, name)) << name;
    EXPECT_EQ(get(*admin_, res::kDeployments, ns,
                  name)["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
              true);
  }
  ASSERT_TRUE(exists(res::kServices, ns, "orders"));
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "orders-tier-config"));
  // CacheTier orders-cache: the Redis StatefulSet, its bootstrap Job and ConfigMaps.
  ASSERT_TRUE(poll_until(
      [&] {
        json s = get(*admin_, res::kStatefulSets, ns, "orders-cache-redis");
        return !s.is_null() && s["spec"].value("replicas", 0) == 12;
      },
      60s));
  ASSERT_TRUE(exists(res::kJobs, ns, "orders-cache-redis-bootstrap"));
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "orders-cache-client-config"));
  // ShardSet orders-db: per database the primary's and the replicas'
  // StatefulSets, the routing ConfigMap, and the credentials Secret, which
  // og-operator creates but cannot read back.
  for (int db = 0; db < 8; ++db) {
    ASSERT_TRUE(exists(res::kStatefulSets, ns, "orders-db-" + std::to_string(db))) << db;
    ASSERT_TRUE(exists(res::kStatefulSets, ns, "orders-db-" + std::to_string(db) + "-replica"))
        << db;
  }
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "orders-db-routing"));
  ASSERT_TRUE(exists(res::kSecrets, ns, "orders-db-mysql"));
  expect_forbidden(operator_->get(res::kSecrets, ns, "orders-db-mysql"), kOperatorSa,
                   "get the credentials Secret it created");

  // Status through the status subresources.
  ASSERT_TRUE(status_observed(op::order_services_resource(), ns, "orders"));
  ASSERT_TRUE(status_observed(op::cache_tiers_resource(), ns, "orders-cache"));
  ASSERT_TRUE(status_observed(op::shard_sets_resource(), ns, "orders-db"));
  ASSERT_TRUE(poll_until(
      [&] {
        json cm = get(*admin_, res::kConfigMaps, ns, "orders-tier-config");
        return !cm.is_null() && cm["data"].value("ORDERGUARD_CACHE_STATUS", "") == "Found";
      },
      60s));
  // Every reconcile pass of the three kinds succeeds (no Forbidden retried in the background).
  auto service = manager.reconciler().reconcile({ns, "orders"});
  ASSERT_TRUE(service.ok()) << service.error().describe();
  auto cache = manager.cache_tier_reconciler().reconcile({ns, "orders-cache"});
  ASSERT_TRUE(cache.ok()) << cache.error().describe();
  auto shards = manager.shard_set_reconciler().reconcile({ns, "orders-db"});
  ASSERT_TRUE(shards.ok()) << shards.error().describe();

  // Events, as og-operator.
  json regarding = get(*admin_, op::order_services_resource(), ns, "orders");
  manager.events().record(regarding, kube::EventType::kNormal, "ChartE2E", "Reconcile",
                          "written as og-operator");
  manager.events().flush();
  EXPECT_TRUE(has_event(ns, "orders", "ChartE2E"));
  manager.stop();
}

TEST_F(ChartE2E, WebhookManagesItsCertificatesAndRefusesAMinerPod) {
  // Its Secret, created by the certificate manager as og-webhook.
  json stored = get(*admin_, res::kSecrets, kNs, kWebhookSecret);
  ASSERT_FALSE(stored.is_null());
  auto material = webhook::material_from_secret(stored);
  ASSERT_TRUE(material.has_value());
  auto leaf = kube::Certificate::from_pem(material->cert);
  ASSERT_TRUE(leaf.ok());
  // The chart renders og-miners without a caBundle in self-managed mode: this one was patched.
  json config = get(*admin_, res::kValidatingWebhookConfigurations, "", kWebhookConfig);
  ASSERT_FALSE(config.is_null());
  auto bundle = base64_decode(config["webhooks"][0]["clientConfig"].value("caBundle", ""));
  ASSERT_TRUE(bundle.ok());
  auto roots = kube::Certificate::all_from_pem(*bundle);
  ASSERT_TRUE(roots.ok());
  EXPECT_TRUE(kube::verify_certificate(*leaf, *roots, true).ok());

  // The API server calls the webhook through og-miners and a miner Pod is refused.
  auto refused = [](const std::string& name) {
    std::string message;
    bool ok = poll_until(
        [&] {
          auto r = admin_->create(res::kPods, "apps", pod("apps", name, "xmrig/xmrig:6.21"));
          if (r.ok()) {
            (void)admin_->remove(res::kPods, "apps", name);
            return false;
          }
          message = r.error().message;
          return r.error().http_status == 403 &&
                 message.find("rule blocked-image") != std::string::npos;
        },
        30s);
    EXPECT_TRUE(ok) << message;
    return ok;
  };
  ASSERT_TRUE(refused("miner"));
  auto benign = admin_->create(res::kPods, "apps", pod("apps", "web", "nginx:1.27"));
  EXPECT_TRUE(benign.ok()) << benign.error().describe();
  EXPECT_NE(hook_->store().namespace_labels("apps"), std::nullopt) << "namespaces not synced";
  // ConfigMaps go through the chart's configs.orderguard.io entry: a miner's
  // configuration is refused with the key and the rule, a benign one admitted.
  const json miner_config = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "pool-config"}, {"namespace", "apps"}}},
      {"data", {{"config.json", R"({"pools":[{"url":"stratum+tcp://pool.minexmr.com:4444"}]})"}}}};
  auto config_refused = admin_->create(res::kConfigMaps, "apps", miner_config);
  ASSERT_FALSE(config_refused.ok());
  EXPECT_EQ(config_refused.error().http_status, 403);
  EXPECT_NE(config_refused.error().message.find("rule stratum-url: data[\"config.json\"]"),
            std::string::npos)
      << config_refused.error().message;
  const json app_config = {{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", {{"name", "redis-config"}, {"namespace", "apps"}}},
                           {"data", {{"redis.conf", "port 3333\nmaxmemory 64mb\n"}}}};
  auto config_admitted = admin_->create(res::kConfigMaps, "apps", app_config);
  EXPECT_TRUE(config_admitted.ok()) << config_admitted.error().describe();

  // A wanted name the certificate lacks: the manager renews it and updates the Secret.
  webhook::CertManagerOptions more = cert_options();
  more.extra_sans.push_back("localhost");
  webhook::CertManager renewing(*webhook_, more, install_into_hook(), clock_);
  auto renewed = renewing.sync();
  ASSERT_TRUE(renewed.ok()) << renewed.error().describe();
  json updated = get(*admin_, res::kSecrets, kNs, kWebhookSecret);
  EXPECT_NE(updated["metadata"]["resourceVersion"], stored["metadata"]["resourceVersion"]);
  auto new_leaf = kube::Certificate::from_pem(webhook::material_from_secret(updated)->cert);
  ASSERT_TRUE(new_leaf.ok());
  EXPECT_TRUE(kube::verify_certificate(*new_leaf, *roots, true).ok());
  // The renewed certificate is served and trusted.
  EXPECT_TRUE(refused("miner-after-renewal"));
}

// The tier checks watch Nodes, CacheTiers and ShardSets as og-webhook: the chart
// grants that, and the second webhook of og-miners carries the warnings.
TEST_F(ChartE2E, WebhookWarnsAboutTierReferencesAsItsServiceAccount) {
  const json svc = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                    {"kind", "OrderService"},
                    {"metadata", {{"name", "dangling"}, {"namespace", "apps"}}},
                    {"spec",
                     {{"image", "shop/orders:1.0"},
                      {"zones", {{{"name", "zone-nowhere"}, {"weight", 100}}}},
                      {"shardSetRef", {{"name", "no-such-shards"}}}}}};
  e2e::CommandResult r;
  EXPECT_TRUE(poll_until(
      [&] {
        r = cluster().kubectl({"apply", "-f", "-"}, svc.dump());
        return r.ok() &&
               r.err.find("ShardSet apps/no-such-shards does not exist") != std::string::npos &&
               r.err.find("no Node is in zone zone-nowhere") != std::string::npos;
      },
      60s))
      << r.describe();
  (void)cluster().kubectl({"-n", "apps", "delete", "orderservice", "dangling", "--wait=false"});
}

TEST_F(ChartE2E, AuditPassWritesPolicyStatusAndEvents) {
  ASSERT_TRUE(poll_until(
      [] {
        for (const auto& p : hook_->store().policies()->policies)
          if (p.name == kDefaultPolicy) return true;
        return false;
      },
      30s));
  kube::EventRecorder events(*webhook_, "orderguard.io/webhook", "chart-e2e", clock_);
  // The report name the chart passes (the fullname).
  webhook::Auditor auditor(*webhook_, hook_->store(), events, clock_, {.report_name = kRelease});
  webhook::AuditResult result = auditor.run_once();  // lists every audited kind as og-webhook
  events.flush();
  EXPECT_TRUE(result.errors.empty()) << result.errors[0];
  bool found = false;
  for (const auto& v : result.violations) {
    found = found || (v.regarding["metadata"]["namespace"] == "legacy" &&
                      v.regarding["metadata"]["name"] == "old-miner");
  }
  EXPECT_TRUE(found) << result.violations.size() << " violations";
  EXPECT_TRUE(has_event("legacy", "old-miner", webhook::kViolationReason));

  json policy = get(*admin_, webhook::kMinerPolicies, "", kDefaultPolicy);
  ASSERT_TRUE(policy.contains("status")) << policy.dump();
  EXPECT_GE(policy["status"].value("auditViolations", 0), 1) << policy["status"].dump();
  // Valid and observedGeneration come from the webhook's status writer, as og-webhook.
  std::map<std::string, std::string> conditions;
  ASSERT_TRUE(poll_until(
      [&] {
        policy = get(*admin_, webhook::kMinerPolicies, "", kDefaultPolicy);
        conditions.clear();
        if (!policy.is_object() || !policy["status"].is_object()) return false;
        for (const auto& c : policy["status"].value("conditions", json::array())) {
          conditions[c["type"]] = c["status"];
        }
        return conditions.count("Valid") == 1;
      },
      30s))
      << policy["status"].dump();
  EXPECT_EQ(conditions["Valid"], "True");
  EXPECT_EQ(conditions["Audited"], "True");
  EXPECT_EQ(policy["status"]["observedGeneration"], policy["metadata"]["generation"]);

  // The violation is in its namespace's PolicyReport, which the chart's CRD serves and
  // og-webhook may write; a report of another name it may not touch.
  json report = get(*admin_, webhook::kPolicyReports, "legacy", kRelease);
  ASSERT_FALSE(report.is_null()) << "no PolicyReport legacy/" << kRelease;
  bool listed = false;
  for (const auto& r : report["results"]) {
    listed = listed || r["resources"][0].value("name", "") == "old-miner";
  }
  EXPECT_TRUE(listed) << report.dump();
  json other = {{"apiVersion", "wgpolicyk8s.io/v1alpha2"},
                {"kind", "PolicyReport"},
                {"metadata", {{"name", "kyverno-report"}, {"namespace", "legacy"}}},
                {"results", json::array()}};
  ASSERT_TRUE(admin_->create(webhook::kPolicyReports, "legacy", other).ok());
  expect_forbidden(webhook_->remove(webhook::kPolicyReports, "legacy", "kyverno-report"),
                   kWebhookSa, "delete another product's PolicyReport");
}

TEST_F(ChartE2E, AgentEvictsQuarantinesRecordsAndMarksTheNode) {
  json deployment = namespaced("apps/v1", "Deployment", "apps", "shell");
  deployment["spec"] = {
      {"replicas", 1},
      {"selector", {{"matchLabels", {{"app", "shell"}}}}},
      {"template",
       {{"metadata", {{"labels", {{"app", "shell"}}}}},
        {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"}}})}}}}}};
  auto created = admin_->create(res::kDeployments, "apps", deployment);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  const json victim = e2e::wait_for_first_pod(*admin_, "apps", "app=shell", 60s);
  ASSERT_FALSE(victim.is_null()) << "the Deployment made no Pod";
  const std::string name = victim["metadata"]["name"];
  const std::string id(64, '7');
  // What the scheduler and the kubelet would do: bind it and report it running.
  Status bound = e2e::bind_pod(*admin_, "apps", name, kAgentNode);
  ASSERT_TRUE(bound.ok()) << bound.error().describe();
  Status running =
      e2e::report_running(*admin_, "apps", name,
                          {.image = "docker.io/library/nginx:1.27",
                           .image_id = "docker.io/library/nginx@sha256:" + std::string(64, 'a'),
                           .container_id = id});
  ASSERT_TRUE(running.ok()) << running.error().describe();

  // The agent, as og-agent: its node's pods, then the response.
  auto pods = agent_->list_all(res::kPods, "", {.field_selector = "spec.nodeName=" + kAgentNode});
  ASSERT_TRUE(pods.ok()) << pods.error().describe();
  kube::EventRecorder recorder(*agent_, "orderguard.io/agent", kAgentNode, clock_);
  agent::ResponderOptions options;
  options.node_name = kAgentNode;
  options.pod_name = kAgentPod;  // the DaemonSet's POD_NAME
  options.taint_node = true;     // values.yaml agent.taintNode
  agent::Responder responder(*agent_, recorder, clock_, nullptr, options);
  agent::ResponseSummary summary =
      responder.respond(miner_report(id), (*pods)["items"], policy::combine({}));
  recorder.flush();
  EXPECT_TRUE(summary.errors.empty()) << summary.errors[0];
  ASSERT_EQ(summary.pods.size(), 1u);
  EXPECT_EQ(summary.pods[0].outcome, "evicted") << summary.pods[0].error;
  EXPECT_TRUE(summary.pods[0].quarantine_added);
  EXPECT_TRUE(summary.node_marked);

  ASSERT_TRUE(poll_until(
      [&] {
        auto p = admin_->get(res::kPods, "apps", name);
        return !p.ok() || (*p)["metadata"].contains("deletionTimestamp");
      },
      30s));
  EXPECT_TRUE(has_event("apps", name, "MinerDetected"));
  // A Quarantine object, created as og-agent (create is all it may do with them); the
  // chart's MinerPolicy is left as Helm wrote it.
  json quarantine = get(*admin_, webhook::kQuarantines, "", "deployment.apps.shell");
  ASSERT_FALSE(quarantine.is_null());
  EXPECT_EQ(quarantine["spec"]["namespace"], "apps");
  EXPECT_EQ(quarantine["spec"]["workload"]["kind"], "Deployment");  // owner resolved through RS
  EXPECT_EQ(quarantine["spec"]["workload"]["name"], "shell");
  EXPECT_EQ(quarantine["spec"]["nodeName"], kAgentNode);
  EXPECT_EQ(quarantine["spec"]["createdBy"], "og-agent-test");
  EXPECT_FALSE(
      get(*admin_, webhook::kMinerPolicies, "", kDefaultPolicy)["spec"].contains("quarantine"));

  json node = get(*admin_, res::kNodes, "", kAgentNode);
  bool ready = false, compromised = false, tainted = false;
  for (const json& c : node["status"]["conditions"]) {
    if (c["type"] == "Ready") ready = c["status"] == "True";
    if (c["type"] == agent::kConditionMinerCompromised) compromised = c["status"] == "True";
  }
  for (const json& t : node["spec"].value("taints", json::array()))
    tainted = tainted || t["key"] == agent::kTaintMinerCompromised;
  EXPECT_TRUE(ready) << node["status"].dump();
  EXPECT_TRUE(compromised) << node["status"].dump();
  EXPECT_TRUE(tainted) << node["spec"].dump();
  EXPECT_FALSE(events_about("", kAgentNode).empty());

  // The webhook (og-webhook's informer) refuses the workload's next pod.
  json again = pod("apps", "shell-again", "nginx:1.27");
  again["metadata"]["labels"] = victim["metadata"]["labels"];
  again["metadata"]["ownerReferences"] = victim["metadata"]["ownerReferences"];
  const std::string refusal =
      e2e::wait_for_pod_refusal(*admin_, "apps", again, "quarantined-workload", 30s);
  EXPECT_TRUE(refusal.find("quarantined-workload") != std::string::npos) << refusal;
}

TEST_F(ChartE2E, LeasesOnlyInTheReleaseNamespace) {
  auto campaign = [](kube::Client& c, const std::string& ns, const std::string& lease) {
    kube::LeaderElectionConfig config{
        .lease_namespace = ns, .lease_name = lease, .identity = "chart-e2e-" + lease};
    kube::LeaderElector elector(c, config, {}, clock_);
    return elector.try_acquire_or_renew();
  };
  EXPECT_TRUE(campaign(*operator_, kNs, "orderguard-operator"));
  EXPECT_TRUE(campaign(*webhook_, kNs, "orderguard-webhook-audit"));
  EXPECT_FALSE(campaign(*operator_, "default", "orderguard-operator"));
  EXPECT_FALSE(campaign(*webhook_, "default", "orderguard-webhook-audit"));
  expect_forbidden(operator_->get(res::kLeases, "default", "any"), kOperatorSa,
                   "get a Lease outside its namespace");
}

TEST_F(ChartE2E, WebhookCannotReadSecretsOtherThanItsOwn) {
  // Its own Secret, also as the certificate manager's informer lists it.
  EXPECT_TRUE(webhook_->get(res::kSecrets, kNs, kWebhookSecret).ok());
  auto own =
      webhook_->list(res::kSecrets, kNs, {.field_selector = "metadata.name=" + kWebhookSecret});
  EXPECT_TRUE(own.ok()) << own.error().describe();

  expect_forbidden(webhook_->get(res::kSecrets, "default", "probe"), kWebhookSa,
                   "get a Secret in default");
  expect_forbidden(webhook_->get(res::kSecrets, "kube-system", "probe"), kWebhookSa,
                   "get a Secret in kube-system");
  expect_forbidden(webhook_->list_all(res::kSecrets, "", {}), kWebhookSa,
                   "list Secrets cluster-wide");
  expect_forbidden(webhook_->get(res::kSecrets, kNs, "other"), kWebhookSa,
                   "get another Secret in its namespace");
  expect_forbidden(webhook_->list(res::kSecrets, kNs, {}), kWebhookSa,
                   "list the Secrets of its namespace");
  expect_forbidden(webhook_->create(res::kSecrets, "default", secret("default", "planted")),
                   kWebhookSa, "create a Secret in default");
  expect_forbidden(webhook_->get(res::kValidatingWebhookConfigurations, "", "someone-else"),
                   kWebhookSa, "read another ValidatingWebhookConfiguration");
  expect_forbidden(webhook_->patch(webhook::kMinerPolicies, "", kDefaultPolicy,
                                   kube::PatchType::kMerge, {{"spec", {{"mode", "Audit"}}}}),
                   kWebhookSa, "change a MinerPolicy's spec");
}

TEST_F(ChartE2E, AgentCannotDeleteDeploymentsOrReadSecrets) {
  expect_forbidden(agent_->remove(res::kDeployments, kNs, "og-operator"), kAgentSa,
                   "delete a Deployment");
  expect_forbidden(agent_->get(res::kSecrets, kNs, kWebhookSecret), kAgentSa, "get a Secret");
  expect_forbidden(agent_->list_all(res::kSecrets, "", {}), kAgentSa, "list Secrets");
  EXPECT_FALSE(get(*admin_, res::kDeployments, kNs, "og-operator").is_null());
}

// The agent only reads MinerPolicies and only creates Quarantines: one node's agent can neither
// change what the webhook enforces nor lift or rewrite a quarantine.
TEST_F(ChartE2E, AgentCannotWriteMinerPoliciesNorChangeQuarantines) {
  expect_forbidden(agent_->patch(webhook::kMinerPolicies, "", kDefaultPolicy,
                                 kube::PatchType::kMerge, {{"spec", {{"mode", "Audit"}}}}),
                   kAgentSa, "patch a MinerPolicy");
  json policy = get(*agent_, webhook::kMinerPolicies, "", kDefaultPolicy);
  ASSERT_FALSE(policy.is_null()) << "og-agent cannot read the MinerPolicy";
  policy["spec"]["mode"] = "Audit";
  expect_forbidden(agent_->update(webhook::kMinerPolicies, "", policy), kAgentSa,
                   "update a MinerPolicy");
  json planted = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                  {"kind", "MinerPolicy"},
                  {"metadata", {{"name", "planted-by-agent"}}},
                  {"spec", {{"mode", "Audit"}}}};
  expect_forbidden(agent_->create(webhook::kMinerPolicies, "", planted), kAgentSa,
                   "create a MinerPolicy");

  // A quarantine made by an admin: the agent may not read, change or delete it.
  json q = {{"apiVersion", "security.orderguard.io/v1alpha1"},
            {"kind", "Quarantine"},
            {"metadata", {{"name", "pod.apps.rbac-probe"}}},
            {"spec",
             {{"scope", "Workload"},
              {"namespace", "apps"},
              {"workload", {{"kind", "Pod"}, {"name", "rbac-probe"}}}}}};
  ASSERT_TRUE(admin_->create(webhook::kQuarantines, "", q).ok());
  expect_forbidden(agent_->get(webhook::kQuarantines, "", "pod.apps.rbac-probe"), kAgentSa,
                   "get a Quarantine");
  expect_forbidden(agent_->list_all(webhook::kQuarantines, "", {}), kAgentSa, "list Quarantines");
  expect_forbidden(
      agent_->patch(webhook::kQuarantines, "", "pod.apps.rbac-probe", kube::PatchType::kMerge,
                    {{"spec", {{"expiresAt", "2000-01-01T00:00:00Z"}}}}),
      kAgentSa, "patch a Quarantine");
  expect_forbidden(agent_->remove(webhook::kQuarantines, "", "pod.apps.rbac-probe"), kAgentSa,
                   "delete a Quarantine");
  // The webhook reads and deletes them (expiry), but does not make them.
  EXPECT_TRUE(webhook_->get(webhook::kQuarantines, "", "pod.apps.rbac-probe").ok());
  json other = q;
  other["metadata"]["name"] = "pod.apps.rbac-probe-2";
  other["spec"]["workload"]["name"] = "rbac-probe-2";
  expect_forbidden(webhook_->create(webhook::kQuarantines, "", other), kWebhookSa,
                   "create a Quarantine");
  EXPECT_TRUE(webhook_->remove(webhook::kQuarantines, "", "pod.apps.rbac-probe").ok());
}

TEST_F(ChartE2E, OperatorCannotReadSecretsOrModifyMinerPolicies) {
  expect_forbidden(operator_->get(res::kSecrets, kNs, kWebhookSecret), kOperatorSa, "get a Secret");
  expect_forbidden(operator_->list_all(res::kSecrets, "", {}), kOperatorSa, "list Secrets");
  expect_forbidden(operator_->patch(webhook::kMinerPolicies, "", kDefaultPolicy,
                                    kube::PatchType::kMerge, {{"spec", {{"mode", "Audit"}}}}),
                   kOperatorSa, "patch a MinerPolicy");
  json policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "planted"}}},
                 {"spec", {{"mode", "Audit"}}}};
  expect_forbidden(operator_->create(webhook::kMinerPolicies, "", policy), kOperatorSa,
                   "create a MinerPolicy");
  expect_forbidden(operator_->remove(webhook::kMinerPolicies, "", kDefaultPolicy), kOperatorSa,
                   "delete a MinerPolicy");
  EXPECT_EQ(get(*admin_, webhook::kMinerPolicies, "", kDefaultPolicy)["spec"]["mode"], "Enforce");
}

}  // namespace
}  // namespace orderguard

int main(int argc, char** argv) {
  orderguard::e2e::ControlPlaneOptions options;
  options.extra_apiserver_flags = {
      "--enable-admission-plugins=OwnerReferencesPermissionEnforcement"};
  return orderguard::e2e::run_e2e_tests(argc, argv, std::move(options));
}
