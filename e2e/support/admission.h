// Admission through the webhook as the API server sees it: the serving
// certificate and ValidatingWebhookConfiguration of a webhook served on
// 127.0.0.1, and a Pod refused by it. No webhook code: the tests
// that serve the webhook (in-process or as a process) link it themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "kube/client.h"
#include "kube/pki.h"

namespace orderguard::e2e {

// A serving certificate for 127.0.0.1 signed by `ca`, written as <dir>/tls.key and
// <dir>/tls.crt. Each file is written aside and renamed into place, so a webhook that
// watches them for rotation never reads half of one.
Status write_local_serving_certificate(const kube::KeyPair& ca, const std::string& dir);

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

}  // namespace orderguard::e2e
