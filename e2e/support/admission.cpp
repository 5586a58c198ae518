#include "e2e/support/admission.h"

#include <filesystem>
#include <fstream>

#include "base/base64.h"
#include "e2e/environment.h"
#include "e2e/support/wait.h"
#include "kube/pki.h"

namespace orderguard::e2e {

using nlohmann::json;

Status write_local_serving_certificate(const kube::KeyPair& ca, const std::string& dir) {
  auto leaf = kube::generate_signed(
      {.common_name = "orderguard-webhook", .ip_addresses = {"127.0.0.1"}, .server_auth = true},
      ca);
  if (!leaf.ok()) return leaf.error();
  const std::pair<std::string, const std::string*> files[] = {{"tls.key", &leaf->key_pem},
                                                              {"tls.crt", &leaf->cert_pem}};
  for (const auto& [name, pem] : files) {
    std::ofstream out(dir + "/" + name + ".tmp", std::ios::binary | std::ios::trunc);
    out << *pem;
    if (!out.flush()) return make_error(ErrorCode::kInternal, "write " + dir + "/" + name);
  }
  for (const auto& [name, pem] : files) {
    std::error_code ec;
    std::filesystem::rename(dir + "/" + name + ".tmp", dir + "/" + name, ec);
    if (ec) {
      return make_error(ErrorCode::kInternal, "rename " + dir + "/" + name + ": " + ec.message());
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
  auto applied = cluster().kubectl(
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
  poll_until(
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

}  // namespace orderguard::e2e
