#include "e2e/support/setup.h"

#include "e2e/environment.h"
#include "e2e/support/wait.h"

namespace orderguard::e2e {

namespace {

const std::string kCrds = std::string(ORDERGUARD_SOURCE_DIR) + "/crds/";

}  // namespace

Result<std::unique_ptr<kube::Client>> admin_client(kube::ClientOptions options) {
  return kube::make_client(cluster().admin_config(), options);
}

Status install_crds(const std::string& path, const std::vector<std::string>& names) {
  auto applied = cluster().kubectl({"apply", "-f", kCrds + path});
  if (!applied.ok()) {
    return make_error(ErrorCode::kInternal, "apply crds/" + path + ": " + applied.describe());
  }
  std::vector<std::string> wait = {"wait", "--for=condition=Established", "--timeout=60s"};
  for (const std::string& name : names) wait.push_back("crd/" + name);
  auto established = cluster().kubectl(wait);
  if (!established.ok()) {
    return make_error(ErrorCode::kTimeout, "crds/" + path + ": " + established.describe());
  }
  return {};
}

Status install_security_crds() {
  for (const char* file : {"minerpolicies", "quarantines"}) {
    Status st =
        install_crds(std::string(file) + ".yaml", {std::string(file) + ".security.orderguard.io"});
    if (!st.ok()) return st;
  }
  return {};
}

Status install_policy_report_crds() {
  for (const char* plural : {"policyreports", "clusterpolicyreports"}) {
    Status st = install_crds(std::string("wgpolicyk8s.io/") + plural + ".yaml",
                             {std::string(plural) + ".wgpolicyk8s.io"});
    if (!st.ok()) return st;
    // Established is not listable yet: until its watch cache has started, the API server
    // answers lists of a new kind 429 ("storage is (re)initializing").
    CommandResult listed;
    const bool listable = poll_until(
        [&] {
          listed = cluster().kubectl({"get", plural, "-A"});
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

Status install_tier_crds() {
  for (const char* plural : {"orderservices", "cachetiers", "shardsets"}) {
    Status st =
        install_crds(std::string(plural) + ".yaml", {std::string(plural) + ".tiers.orderguard.io"});
    if (!st.ok()) return st;
  }
  return {};
}

Status create_namespace(kube::Client& client, const std::string& ns,
                        std::chrono::milliseconds timeout) {
  auto created = cluster().kubectl({"create", "namespace", ns});
  if (!created.ok()) {
    return make_error(ErrorCode::kInternal, "create namespace " + ns + ": " + created.describe());
  }
  if (!poll_until([&] { return client.get(kube::resources::kServiceAccounts, ns, "default").ok(); },
                  timeout)) {
    return make_error(ErrorCode::kTimeout, "namespace " + ns + ": no default ServiceAccount");
  }
  return {};
}

Status create_node(kube::Client& client, const std::string& name, const nlohmann::json& labels) {
  nlohmann::json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  if (!labels.empty()) node["metadata"]["labels"] = labels;
  auto created = client.create(kube::resources::kNodes, "", node);
  if (!created.ok()) return created.error();
  return {};
}

Status set_node_ready(kube::Client& client, const std::string& name, bool ready,
                      const std::string& reason, const std::string& message) {
  nlohmann::json status = {
      {"status",
       {{"conditions", nlohmann::json::array({{{"type", "Ready"},
                                               {"status", ready ? "True" : "False"},
                                               {"reason", reason},
                                               {"message", message}}})}}}};
  auto patched =
      client.patch(kube::resources::kNodes, "", name, kube::PatchType::kMerge, status, "status");
  if (!patched.ok()) return patched.error();
  return {};
}

}  // namespace orderguard::e2e
