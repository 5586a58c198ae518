// The preamble of the e2e tests, written once: the admin client of the test
// binary's control plane, the project's CRDs installed and served, namespaces
// ready for Pods, Nodes (there are no kubelets to register them). Each returns an error naming what
// failed rather than asserting, so a fixture's SetUpTestSuite reports it with ASSERT_TRUE(...).
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::e2e {

// A client of cluster() as cluster-admin (its admin kubeconfig), with `options`.
Result<std::unique_ptr<kube::Client>> admin_client(kube::ClientOptions options = {});

// kubectl apply of <source dir>/crds/<path> (a file or a directory), then waits until every
// CRD of `names` ("<plural>.<group>") is Established.
Status install_crds(const std::string& path, const std::vector<std::string>& names);

// crds/minerpolicies.yaml and crds/quarantines.yaml, Established.
Status install_security_crds();

// crds/wgpolicyk8s.io/*.yaml (PolicyReport, ClusterPolicyReport), Established and listable.
Status install_policy_report_crds();

// crds/orderservices.yaml, crds/cachetiers.yaml and crds/shardsets.yaml, Established.
Status install_tier_crds();

// Creates namespace `ns` and waits until its default ServiceAccount exists: the API server
// admits Pods into a namespace only from then on.
Status create_namespace(kube::Client& client, const std::string& ns,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Creates Node `name` with `labels` and no status.
Status create_node(kube::Client& client, const std::string& name,
                   const nlohmann::json& labels = nlohmann::json::object());

// Writes Node `name`'s status (the status subresource, a merge patch) to one Ready condition
// with `reason` and `message`, as its kubelet would post it.
Status set_node_ready(kube::Client& client, const std::string& name, bool ready,
                      const std::string& reason, const std::string& message);

}  // namespace orderguard::e2e
