#include "webhook/cleanup.h"

#include "base/log.h"

namespace orderguard::webhook {
namespace {

namespace res = kube::resources;

// Deletes one object; true when this call deleted it, false when it was gone already.
Result<bool> delete_if_present(kube::Client& client, const kube::Resource& r, const std::string& ns,
                               const std::string& name, const kube::DeleteOptions& options = {}) {
  Status st = client.remove(r, ns, name, options);
  if (st.ok()) return true;
  if (st.error().code == ErrorCode::kNotFound) return false;
  Error e = st.error();
  e.message = "deleting " + r.plural + " " + (ns.empty() ? "" : ns + "/") + name + ": " + e.message;
  return e;
}

}  // namespace

Result<CleanupReport> cleanup(kube::Client& client, const CleanupOptions& options,
                              const Clock& clock, const kube::Canceller& cancel) {
  if (options.webhook_config_name.empty()) {
    return make_error(ErrorCode::kInvalid, "cleanup needs the webhook configuration's name");
  }
  if ((!options.deployment_name.empty() || !options.pod_selector.empty() ||
       !options.secret_name.empty()) &&
      options.ns.empty()) {
    return make_error(ErrorCode::kInvalid,
                      "cleanup needs the namespace of the Deployment, Pods and Secret");
  }
  CleanupReport report;

  auto config = delete_if_present(client, res::kValidatingWebhookConfigurations, "",
                                  options.webhook_config_name);
  if (!config.ok()) return config.error();
  report.config_deleted = *config;
  log::info("webhook configuration removed",
            {{"name", options.webhook_config_name}, {"deleted", report.config_deleted}});

  if (!options.deployment_name.empty()) {
    // Background: the ReplicaSet and Pods follow through the garbage collector,
    // and the wait below watches for exactly that.
    auto deployment =
        delete_if_present(client, res::kDeployments, options.ns, options.deployment_name,
                          {.propagation_policy = "Background"});
    if (!deployment.ok()) return deployment.error();
    report.deployment_deleted = *deployment;
    log::info("webhook deployment removed", {{"name", options.ns + "/" + options.deployment_name},
                                             {"deleted", report.deployment_deleted}});
  }

  if (!options.pod_selector.empty()) {
    const auto deadline = clock.now() + options.pod_wait;
    while (true) {
      auto pods = client.list(res::kPods, options.ns, {.label_selector = options.pod_selector});
      if (!pods.ok()) return pods.error();
      report.pods_left = static_cast<int>((*pods)["items"].size());
      if (report.pods_left == 0 || clock.now() >= deadline) break;
      if (cancel.wait_for(options.poll_interval)) break;
    }
    if (report.pods_left > 0) {
      log::error("webhook pods still present; the secret may be made again",
                 {{"selector", options.pod_selector}, {"pods", report.pods_left}});
    }
  }

  if (!options.secret_name.empty()) {
    auto secret = delete_if_present(client, res::kSecrets, options.ns, options.secret_name);
    if (!secret.ok()) return secret.error();
    report.secret_deleted = *secret;
    log::info("webhook secret removed", {{"name", options.ns + "/" + options.secret_name},
                                         {"deleted", report.secret_deleted}});
  }
  return report;
}

}  // namespace orderguard::webhook
