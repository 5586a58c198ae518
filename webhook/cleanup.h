// `orderguard-webhook cleanup`: what the chart's pre-delete hook Job runs on
// `helm uninstall`, so that a removed webhook cannot block the cluster and
// leaves no key material behind.
//
// Order matters, and each step tolerates NotFound (a retried or partly done
// uninstall):
//  1. delete the ValidatingWebhookConfiguration first, so the API server stops
//     calling the webhook before anything that answers it goes away (with
//     failurePolicy Fail a configuration outliving its webhook refuses every
//     covered request);
//  2. delete the webhook's Deployment and wait, bounded, until its Pods are
//     gone: a running webhook manages its own certificate and would make the
//     Secret again;
//  3. delete the self-managed TLS Secret (only when named: in cert-manager or
//     provided mode the Secret is not the webhook's to delete).
// An API error other than NotFound stops the cleanup and is returned: Helm
// then fails the uninstall before removing anything else, and the webhook
// keeps running. Pods still terminating at the deadline (a dead node's, say)
// do not fail it: they are reported, and the Secret is deleted anyway.
#pragma once

#include <chrono>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "kube/client.h"

namespace orderguard::webhook {

struct CleanupOptions {
  std::string ns;                   // the release namespace (Deployment, Pods, Secret)
  std::string webhook_config_name;  // required
  std::string deployment_name;      // empty: no Deployment to stop
  std::string pod_selector;         // label selector of the webhook Pods to wait for
  std::string secret_name;          // empty: keep the Secret
  std::chrono::milliseconds pod_wait{std::chrono::seconds(60)};
  std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
};

struct CleanupReport {
  bool config_deleted = false;      // false: it was already gone
  bool deployment_deleted = false;  // false: none named, or already gone
  bool secret_deleted = false;      // false: none named, or already gone
  int pods_left = 0;                // webhook Pods still present at the deadline
};

// Runs the three steps against `client`. `clock` measures the wait for Pods;
// `cancel` cuts it short (SIGTERM).
Result<CleanupReport> cleanup(kube::Client& client, const CleanupOptions& options,
                              const Clock& clock, const kube::Canceller& cancel);

}  // namespace orderguard::webhook
