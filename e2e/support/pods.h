// What the scheduler and the kubelet would do with a Pod, for e2e tests that run
// a real API server without a node: wait for the Pod a controller makes, bind it
// to a Node, report its container running.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::e2e {

// The first Pod in `ns` matching `label_selector`, polled until one exists or
// `timeout` passes (controllers make it asynchronously); null when none came.
nlohmann::json wait_for_first_pod(kube::Client& client, const std::string& ns,
                                  const std::string& label_selector,
                                  std::chrono::milliseconds timeout);

// Binds Pod ns/name to `node` through its binding subresource, as the scheduler does.
Status bind_pod(kube::Client& client, const std::string& ns, const std::string& name,
                const std::string& node);

// The one container the kubelet reports running in report_running().
struct RunningContainer {
  std::string name = "app";
  std::string image;
  std::string image_id;      // "<repository>@sha256:<hex>"
  std::string container_id;  // without the "containerd://" prefix
};

// Patches Pod ns/name's status as the kubelet would for `container` running:
// phase Running, the container ready since 2026-01-01T00:00:00Z.
Status report_running(kube::Client& client, const std::string& ns, const std::string& name,
                      const RunningContainer& container);

}  // namespace orderguard::e2e
