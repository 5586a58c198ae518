#include "e2e/support/observe.h"

namespace orderguard::e2e {

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

}  // namespace orderguard::e2e
