#include "e2e/support/pods.h"

#include "e2e/support/wait.h"

namespace orderguard::e2e {

using nlohmann::json;

json wait_for_first_pod(kube::Client& client, const std::string& ns,
                        const std::string& label_selector, std::chrono::milliseconds timeout) {
  json pod;
  poll_until(
      [&] {
        auto pods = client.list(kube::resources::kPods, ns, {.label_selector = label_selector});
        if (!pods.ok() || !pods->contains("items") || (*pods)["items"].empty()) return false;
        pod = (*pods)["items"][0];
        return true;
      },
      timeout);
  return pod;
}

Status bind_pod(kube::Client& client, const std::string& ns, const std::string& name,
                const std::string& node) {
  const json binding = {{"apiVersion", "v1"},
                        {"kind", "Binding"},
                        {"metadata", {{"name", name}}},
                        {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  auto bound =
      client.raw("POST", "/api/v1/namespaces/" + ns + "/pods/" + name + "/binding", &binding);
  if (!bound.ok()) return bound.error();
  return {};
}

Status report_running(kube::Client& client, const std::string& ns, const std::string& name,
                      const RunningContainer& container) {
  const json status = {
      {"status",
       {{"phase", "Running"},
        {"containerStatuses",
         json::array({{{"name", container.name},
                       {"image", container.image},
                       {"imageID", container.image_id},
                       {"containerID", "containerd://" + container.container_id},
                       {"ready", true},
                       {"restartCount", 0},
                       {"state", {{"running", {{"startedAt", "2026-01-01T00:00:00Z"}}}}}}})}}}};
  auto patched =
      client.patch(kube::resources::kPods, ns, name, kube::PatchType::kMerge, status, "status");
  if (!patched.ok()) return patched.error();
  return {};
}

}  // namespace orderguard::e2e
