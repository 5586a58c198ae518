// Shared setup of the e2e tests that run the webhook against the real API
// server (webhook, audit and agent tests): the MinerPolicy CRD and the
// ValidatingWebhookConfiguration that points the API server at a webhook
// served on 127.0.0.1.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/result.h"

namespace orderguard::webhook::testing {

// kubectl apply of crds/minerpolicies.yaml, then waits until it is Established.
Status install_miner_policy_crd();

// A ValidatingWebhookConfiguration `name` calling https://127.0.0.1:<port>/validate,
// trusting `ca_pem`, for pods (and ephemeral containers), every workload kind and
// MinerPolicies, excluding kube-system.
nlohmann::json miner_webhook_config(const std::string& name, const std::string& failure_policy,
                                    uint16_t port, const std::string& ca_pem);

// kubectl apply of miner_webhook_config(...).
Status register_miner_webhook(const std::string& name, const std::string& failure_policy,
                              uint16_t port, const std::string& ca_pem);

}  // namespace orderguard::webhook::testing
