#include "webhook/test/e2e_support.h"

#include "base/base64.h"
#include "e2e/environment.h"
#include "e2e/poll.h"
#include "kube/pki.h"

namespace orderguard::webhook::testing {

using nlohmann::json;

Status install_security_crds() {
  for (const char* file : {"minerpolicies", "quarantines"}) {
    auto crd = e2e::cluster().kubectl(
        {"apply", "-f", std::string(ORDERGUARD_SOURCE_DIR) + "/crds/" + file + ".yaml"});
    if (!crd.ok()) {
      return make_error(ErrorCode::kInternal,
                        std::string("apply CRD ") + file + ": " + crd.describe());
    }
    auto established =
        e2e::cluster().kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                std::string("crd/") + file + ".security.orderguard.io"});
    if (!established.ok()) {
      return make_error(ErrorCode::kTimeout, std::string(file) + " CRD: " + established.describe());
    }
  }
  return {};
}

Status install_policy_report_crds() {
  for (const char* plural : {"policyreports", "clusterpolicyreports"}) {
    const std::string file =
        std::string(ORDERGUARD_SOURCE_DIR) + "/crds/wgpolicyk8s.io/" + plural + ".yaml";
    auto crd = e2e::cluster().kubectl({"apply", "-f", file});
    if (!crd.ok()) return make_error(ErrorCode::kInternal, "apply " + file + ": " + crd.describe());
    auto established =
        e2e::cluster().kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                std::string("crd/") + plural + ".wgpolicyk8s.io"});
    if (!established.ok()) {
      return make_error(ErrorCode::kTimeout,
                        std::string(plural) + " CRD: " + established.describe());
    }
    // Established is not listable yet: until its watch cache has started, the API server
    // answers lists of a new kind 429 ("storage is (re)initializing").
    e2e::CommandResult listed;
    const bool listable = e2e::poll_until(
        [&] {
          listed = e2e::cluster().kubectl({"get", plural, "-A"});
          return listed.ok();
        },
        std::chrono::seconds(60));
    if (!listable) {
      return make_error(ErrorCode::kTimeout,
                        std::string(plural) + " not listable: " + listed.describe());
    }
  }
  return {};
}

json miner_webhook_config(const std::string& name, const std::string& failure_policy, uint16_t port,
                          const std::string& ca_pem, bool config_objects) {
  auto rule = [](json groups, json resources) {
    return json{{"apiGroups", std::move(groups)},
                {"apiVersions", {"*"}},
                {"resources", std::move(resources)},
                {"operations", {"CREATE", "UPDATE"}}};
  };
  json config = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                 {"kind", "ValidatingWebhookConfiguration"},
                 {"metadata", {{"name", name}}},
                 {"webhooks",
                  {{{"name", "miners.orderguard.io"},
                    {"admissionReviewVersions", {"v1"}},
                    {"sideEffects", "None"},
                    {"failurePolicy", failure_policy},
                    {"timeoutSeconds", 5},
                    {"namespaceSelector",
                     {{"matchExpressions",
                       {{{"key", "kubernetes.io/metadata.name"},
                         {"operator", "NotIn"},
                         {"values", {"kube-system"}}}}}}},
                    {"clientConfig",
                     {{"url", "https://127.0.0.1:" + std::to_string(port) + "/validate"},
                      {"caBundle", base64_encode(ca_pem)}}},
                    {"rules",
                     {rule({""}, {"pods", "pods/ephemeralcontainers", "replicationcontrollers"}),
                      {{"apiGroups", {""}},
                       {"apiVersions", {"v1"}},
                       {"resources", {"pods/exec"}},
                       {"operations", {"CONNECT"}}},
                      rule({"tiers.orderguard.io"}, {"orderservices", "cachetiers", "shardsets"}),
                      rule({"apps"}, {"deployments", "statefulsets", "daemonsets", "replicasets"}),
                      rule({"batch"}, {"jobs", "cronjobs"}),
                      rule({"security.orderguard.io"}, {"minerpolicies", "quarantines"})}}}}}};
  if (config_objects) {
    config["webhooks"][0]["rules"].push_back(rule({""}, {"configmaps", "secrets"}));
  }
  return config;
}

Status register_miner_webhook(const std::string& name, const std::string& failure_policy,
                              uint16_t port, const std::string& ca_pem, bool config_objects) {
  auto applied = e2e::cluster().kubectl(
      {"apply", "-f", "-"},
      miner_webhook_config(name, failure_policy, port, ca_pem, config_objects).dump());
  if (!applied.ok()) {
    return make_error(ErrorCode::kInternal, "register webhook: " + applied.describe());
  }
  return {};
}

std::string wait_for_pod_refusal(kube::Client& client, const std::string& ns, const json& pod,
                                 const std::string& rule, std::chrono::milliseconds timeout) {
  const std::string name = pod["metadata"].value("name", "");
  std::string refusal;
  e2e::poll_until(
      [&] {
        auto r = client.create(kube::resources::kPods, ns, pod);
        if (r.ok()) {
          (void)client.remove(kube::resources::kPods, ns, name);
          return false;
        }
        refusal = r.error().message;
        return refusal.find(rule) != std::string::npos;
      },
      timeout);
  return refusal;
}

std::vector<nlohmann::json> events_about(kube::Client& client, const std::string& ns,
                                         const std::string& name) {
  std::vector<nlohmann::json> out;
  auto events = client.list_all(kube::resources::kEvents, ns, {});
  if (!events.ok()) return out;
  for (const nlohmann::json& e : (*events)["items"]) {
    if (e.value("regarding", nlohmann::json::object()).value("name", "") == name) out.push_back(e);
  }
  return out;
}

bool pod_evicted(kube::Client& client, const std::string& ns, const std::string& name) {
  auto pod = client.get(kube::resources::kPods, ns, name);
  if (!pod.ok()) return pod.error().code == ErrorCode::kNotFound;
  return pod->contains("metadata") && (*pod)["metadata"].contains("deletionTimestamp");
}

}  // namespace orderguard::webhook::testing
