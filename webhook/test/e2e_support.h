// Shared setup of the e2e tests that run the webhook against the real API
// server (webhook, audit and agent tests): the MinerPolicy and Quarantine CRDs and the
// ValidatingWebhookConfiguration that points the API server at a webhook
// served on 127.0.0.1.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::webhook::testing {

// kubectl apply of crds/minerpolicies.yaml and crds/quarantines.yaml, then waits until both
// are Established.
Status install_security_crds();

// kubectl apply of crds/wgpolicyk8s.io/*.yaml (PolicyReport, ClusterPolicyReport), then
// waits until both are Established.
Status install_policy_report_crds();

// A ValidatingWebhookConfiguration `name` calling https://127.0.0.1:<port>/validate,
// trusting `ca_pem`, for pods (and ephemeral containers, and pods/exec CONNECT), every
// workload kind, the tier resources, MinerPolicies and Quarantines, excluding kube-system.
// With `config_objects`, ConfigMaps and Secrets too (off by default: tests that write
// Secrets while their webhook is not serving yet, such as self-managed certificates, would
// block themselves).
nlohmann::json miner_webhook_config(const std::string& name, const std::string& failure_policy,
                                    uint16_t port, const std::string& ca_pem,
                                    bool config_objects = false);

// kubectl apply of miner_webhook_config(...).
Status register_miner_webhook(const std::string& name, const std::string& failure_policy,
                              uint16_t port, const std::string& ca_pem,
                              bool config_objects = false);

// Creates Pod `pod` in `ns` until the webhook refuses it with `rule` in the
// message (policies reach the webhook's informer asynchronously), deleting any
// copy that got in meanwhile. Returns the refusal message, or the last error
// seen when `timeout` passes without that refusal (then the caller's check fails).
std::string wait_for_pod_refusal(kube::Client& client, const std::string& ns,
                                 const nlohmann::json& pod, const std::string& rule,
                                 std::chrono::milliseconds timeout);

// events.k8s.io Events in `ns` ("" for cluster-scoped objects such as Nodes)
// whose `regarding` names `name`; empty when none or when the list fails.
std::vector<nlohmann::json> events_about(kube::Client& client, const std::string& ns,
                                         const std::string& name);

// Pod ns/name is gone or has a deletionTimestamp (without a kubelet an evicted Pod
// that was bound to a Node stays until its grace period is confirmed).
bool pod_evicted(kube::Client& client, const std::string& ns, const std::string& name);

}  // namespace orderguard::webhook::testing
