// What the e2e tests look for in the API server after a component acted:
// the Events about an object, a Pod evicted.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/client.h"

namespace orderguard::e2e {

// events.k8s.io Events in `ns` ("" for cluster-scoped objects such as Nodes)
// whose `regarding` names `name`; empty when none or when the list fails.
std::vector<nlohmann::json> events_about(kube::Client& client, const std::string& ns,
                                         const std::string& name);

// Pod ns/name is gone or has a deletionTimestamp (without a kubelet an evicted Pod
// that was bound to a Node stays until its grace period is confirmed).
bool pod_evicted(kube::Client& client, const std::string& ns, const std::string& name);

}  // namespace orderguard::e2e
