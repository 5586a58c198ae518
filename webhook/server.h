// orderguard-webhook as a library: the HTTPS admission server (POST /validate),
// a plain-HTTP observability server (/metrics, /healthz, /readyz), live
// MinerPolicy, Quarantine and Namespace informers feeding the PolicyStore (not ready
// until all three have synced: a webhook that has not read the Quarantines would
// admit what they refuse), the MinerPolicy status writer (each denial counted per
// policy in orderguard_webhook_policy_denials_total and added to the policy's
// status.admissionDenials; webhook/policy_status.h), and TLS
// certificates that can be swapped at run time (file reload or self-managed
// rotation) without dropping open connections.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/files.h"
#include "kube/client.h"
#include "kube/http_server.h"
#include "kube/informer.h"
#include "webhook/admission.h"
#include "webhook/policy_status.h"
#include "webhook/policy_store.h"

namespace prometheus {
class Registry;
}

namespace orderguard::webhook {

// security.orderguard.io/v1alpha1 MinerPolicy and Quarantine (both cluster-scoped).
extern const kube::Resource kMinerPolicies;
extern const kube::Resource kQuarantines;

struct WebhookOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8443;  // HTTPS admission; 0 picks a free port
  std::string metrics_address = "0.0.0.0";
  uint16_t metrics_port = 8080;  // 0 picks a free port
  int threads = 2;
  // Deadlines and the connection cap of the HTTPS server: kube/http_server.h says what
  // each bounds and what happens at the cap.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(3)};
  std::chrono::milliseconds first_byte_timeout{std::chrono::seconds(3)};
  size_t max_connections = 2048;
  // Certificate files, re-read when they change (cert-manager or a mounted
  // Secret rotating). Leave empty when certificates are set in code.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::chrono::milliseconds cert_check_interval{std::chrono::seconds(2)};
  // Warn about tier resources that reference missing CacheTiers/ShardSets or
  // zones no Node is in (webhook/tier_checks.h); watches Nodes, CacheTiers and
  // ShardSets (names and zone labels only are kept).
  bool tier_checks = true;
  // MinerPolicy status (webhook/policy_status.h): how often denials are written and stale
  // status checked; whether this replica writes the Lease holder's fields (empty: it does);
  // what to call when a policy's new generation was written (the audit's request_pass).
  std::chrono::milliseconds policy_status_interval{std::chrono::seconds(1)};
  std::function<bool()> leads_policy_status;
  std::function<void()> on_policy_generation;
};

class Webhook {
 public:
  // `client` may be null: then only the built-in default policy applies (used
  // by benchmarks and unit tests). `metrics` must outlive the webhook.
  Webhook(WebhookOptions options, kube::Client* client,
          std::shared_ptr<prometheus::Registry> metrics);
  ~Webhook();

  // Loads certificates (files mode), starts informers and both servers.
  Status start();
  void stop();

  // Installs a serving certificate chain and key (PEM). New connections use it;
  // open ones keep theirs.
  Status set_certificate(const std::string& cert_chain_pem, const std::string& key_pem);

  uint16_t port() const { return tls_server_->port(); }
  uint16_t metrics_port() const { return metrics_server_->port(); }
  PolicyStore& store() { return store_; }
  kube::HttpServer& tls_server() { return *tls_server_; }
  // True once the certificate is loaded and the MinerPolicy, Quarantine and Namespace
  // informers have synced.
  bool ready() const;

  // The admission handler (exposed for tests and benchmarks).
  kube::HttpResponse handle(const kube::HttpRequest& req);

 private:
  struct Metrics;
  Status reload_cert_files();
  void cert_watch_loop();
  void refresh_policies();
  void refresh_quarantines();
  void start_tier_informers();

  WebhookOptions options_;
  kube::Client* client_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Metrics> metrics_;
  PolicyStore store_;
  AdmissionContext context_;
  std::shared_ptr<kube::HealthChecks> health_;
  std::unique_ptr<kube::HttpServer> tls_server_;
  std::unique_ptr<kube::HttpServer> metrics_server_;
  RealClock clock_;
  std::unique_ptr<kube::Informer> policy_informer_;
  std::unique_ptr<kube::Informer> quarantine_informer_;
  std::unique_ptr<kube::Informer> namespace_informer_;
  std::unique_ptr<kube::Informer> node_informer_;
  std::unique_ptr<kube::Informer> cache_tier_informer_;
  std::unique_ptr<kube::Informer> shard_set_informer_;
  std::unique_ptr<PolicyStatusWriter> status_writer_;
  std::atomic<bool> have_cert_{false};
  std::atomic<bool> stopping_{false};
  // Identities of the certificate and key files last installed.
  std::optional<std::pair<FileIdentity, FileIdentity>> cert_stamp_;
  std::thread cert_watcher_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
};

}  // namespace orderguard::webhook
