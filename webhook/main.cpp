// orderguard-webhook: the validating admission webhook. See webhook/server.h.
#include <prometheus/registry.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <thread>
#include <tuple>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/duration.h"
#include "kube/events.h"
#include "kube/http_server.h"
#include "kube/leader_election.h"
#include "kube/log.h"
#include "kube/signals.h"
#include "webhook/audit.h"
#include "webhook/certs.h"
#include "webhook/cleanup.h"
#include "webhook/server.h"

namespace {

// `orderguard-webhook cleanup`; exit 0 when done, 1 on an API error, 2 on bad flags.
int run_cleanup(const std::string& kubeconfig, const std::string& level,
                orderguard::webhook::CleanupOptions options, const std::string& pod_wait) {
  using namespace orderguard;
  log::Level lvl;
  if (!log::parse_level(level, &lvl)) {
    log::error("bad --log-level", {{"value", level}});
    return 2;
  }
  log::set_level(lvl);
  auto wait = kube::parse_duration(pod_wait);
  if (!wait.ok()) {
    log::error("bad --pod-wait", {{"error", wait.error().describe()}});
    return 2;
  }
  options.pod_wait = std::chrono::duration_cast<std::chrono::milliseconds>(*wait);
  auto config = kube::load_default(kubeconfig);
  if (!config.ok()) {
    log::error("no API server configuration", {{"error", config.error().describe()}});
    return 2;
  }
  auto client = kube::make_client(*config);
  if (!client.ok()) {
    log::error("cannot build API client", {{"error", client.error().describe()}});
    return 2;
  }
  RealClock clock;
  kube::Canceller never;
  auto done = webhook::cleanup(**client, options, clock, never);
  if (!done.ok()) {
    log::error("cleanup failed", {{"error", done.error().describe()}});
    return 1;
  }
  log::info("cleanup done", {{"configDeleted", done->config_deleted},
                             {"deploymentDeleted", done->deployment_deleted},
                             {"secretDeleted", done->secret_deleted},
                             {"podsLeft", done->pods_left}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace orderguard;
  kube::init_openssl_for_process();
  kube::block_shutdown_signals();

  CLI::App app{"orderguard-webhook: refuses cryptominer images and miner-like pod specs"};
  std::string kubeconfig, listen = ":8443", metrics_addr = ":8080", level = "info";
  webhook::WebhookOptions options;
  bool standalone = false;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: in-cluster)");
  app.add_option("--listen", listen, "HTTPS admission address")->capture_default_str();
  app.add_option("--metrics-addr", metrics_addr, "/metrics, /healthz, /readyz address")
      ->capture_default_str();
  std::string cert_mode = "files";
  webhook::CertManagerOptions cert_options{.service_name = "orderguard-webhook",
                                           .ns = "orderguard",
                                           .webhook_config_name = "orderguard-webhook",
                                           .secret_name = "orderguard-webhook-tls"};
  // Rotation timing, as Go-style durations; defaults from RotationPolicy.
  const webhook::RotationPolicy defaults;
  std::string cert_validity = kube::format_duration(defaults.serving_validity);
  std::string cert_renew_before = kube::format_duration(defaults.renew_before);
  std::string ca_validity = kube::format_duration(defaults.ca_validity);
  std::string ca_renew_before = kube::format_duration(defaults.ca_renew_before);
  std::string cert_check_interval = kube::format_duration(cert_options.check_interval);
  int audit_minutes = 10;
  bool audit_secrets = false;
  bool leader_elect = false;
  app.add_option("--cert-mode", cert_mode,
                 "files: --tls-cert-file/--tls-key-file, reloaded on change; self-managed: "
                 "generate, store in --secret-name, publish caBundle, rotate")
      ->check(CLI::IsMember({"files", "self-managed"}))
      ->capture_default_str();
  app.add_option("--tls-cert-file", options.tls_cert_file,
                 "serving certificate chain (PEM); files mode");
  app.add_option("--tls-key-file", options.tls_key_file, "serving key (PEM); files mode");
  app.add_option("--service-name", cert_options.service_name, "Service in front of the webhook")
      ->capture_default_str();
  app.add_option("--namespace", cert_options.ns, "namespace of the Service, Secret and Lease")
      ->capture_default_str();
  app.add_option("--webhook-config-name", cert_options.webhook_config_name,
                 "ValidatingWebhookConfiguration whose caBundle is managed")
      ->capture_default_str();
  app.add_option("--secret-name", cert_options.secret_name, "Secret holding CA and certificate")
      ->capture_default_str();
  app.add_option("--extra-san", cert_options.extra_sans,
                 "extra DNS name or IP in the serving certificate (repeatable)");
  app.add_option("--cert-validity", cert_validity, "self-managed: serving certificate lifetime")
      ->capture_default_str();
  app.add_option("--cert-renew-before", cert_renew_before,
                 "self-managed: renew the serving certificate this long before it expires")
      ->capture_default_str();
  app.add_option("--ca-validity", ca_validity, "self-managed: CA lifetime")->capture_default_str();
  app.add_option("--ca-renew-before", ca_renew_before,
                 "self-managed: rotate the CA this long before it expires (both CAs are "
                 "trusted until the old one expires)")
      ->capture_default_str();
  app.add_option("--cert-check-interval", cert_check_interval,
                 "self-managed: how often the certificates are checked")
      ->capture_default_str();
  app.add_option("--audit-interval", audit_minutes,
                 "minutes between background audits of existing objects; 0 disables")
      ->capture_default_str();
  app.add_flag("--audit-secrets", audit_secrets,
               "the background audit lists Secrets too (needs list on secrets cluster-wide; "
               "admission checks Secrets either way)");
  app.add_flag("--leader-elect", leader_elect,
               "only the holder of Lease orderguard-webhook-audit runs the audit and writes "
               "MinerPolicy status other than admission denials");
  std::string report_name = "orderguard";
  app.add_option("--policy-report-name", report_name,
                 "name of the PolicyReports (one per namespace with violations) and the "
                 "ClusterPolicyReport the audit writes; empty: none")
      ->capture_default_str();
  app.add_flag("!--no-tier-checks", options.tier_checks,
               "do not warn about tier resources referencing missing CacheTiers/ShardSets or "
               "zones without Nodes (saves watching Nodes and tier resources)");
  app.add_option("--threads", options.threads, "I/O threads")->capture_default_str();
  app.add_option("--max-connections", options.max_connections,
                 "open HTTPS connections at most; at the cap a new one closes the one waiting "
                 "longest without a request (about 16 KiB each when idle)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--log-level", level, "debug, info or error")->capture_default_str();
  app.add_flag("--standalone", standalone,
               "no API server: enforce the built-in default policy only");
  webhook::CleanupOptions cleanup_options;
  std::string cleanup_wait = "60s";
  auto* cleanup_cmd = app.add_subcommand(
      "cleanup",
      "uninstall: delete the webhook configuration, stop the webhook's Deployment, wait for its "
      "Pods, delete its TLS Secret; then exit (the chart's pre-delete hook)");
  cleanup_cmd->add_option("--namespace", cleanup_options.ns,
                          "namespace of the Deployment and Secret");
  cleanup_cmd
      ->add_option("--webhook-config-name", cleanup_options.webhook_config_name,
                   "ValidatingWebhookConfiguration to delete")
      ->required();
  cleanup_cmd->add_option("--deployment-name", cleanup_options.deployment_name,
                          "the webhook's Deployment, deleted before the Secret");
  cleanup_cmd->add_option("--pod-selector", cleanup_options.pod_selector,
                          "label selector of the webhook Pods to wait for");
  cleanup_cmd->add_option("--secret-name", cleanup_options.secret_name,
                          "self-managed TLS Secret to delete (omit to keep it)");
  cleanup_cmd->add_option("--pod-wait", cleanup_wait, "how long to wait for the Pods to go")
      ->capture_default_str();
  cleanup_cmd->add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: in-cluster)");
  cleanup_cmd->add_option("--log-level", level, "debug, info or error");
  CLI11_PARSE(app, argc, argv);
  if (cleanup_cmd->parsed()) return run_cleanup(kubeconfig, level, cleanup_options, cleanup_wait);

  log::Level lvl;
  if (!log::parse_level(level, &lvl)) {
    log::error("bad --log-level", {{"value", level}});
    return 2;
  }
  log::set_level(lvl);
  if (!kube::parse_listen_address(listen, &options.address, &options.port) ||
      !kube::parse_listen_address(metrics_addr, &options.metrics_address, &options.metrics_port)) {
    log::error("bad address; use host:port or :port",
               {{"listen", listen}, {"metrics", metrics_addr}});
    return 2;
  }

  // Durations: each must parse, and a certificate must outlive its renewal window.
  for (auto [flag, text, out] : {
           std::tuple{"--cert-validity", &cert_validity, &cert_options.rotation.serving_validity},
           std::tuple{"--cert-renew-before", &cert_renew_before,
                      &cert_options.rotation.renew_before},
           std::tuple{"--ca-validity", &ca_validity, &cert_options.rotation.ca_validity},
           std::tuple{"--ca-renew-before", &ca_renew_before,
                      &cert_options.rotation.ca_renew_before},
       }) {
    auto d = kube::parse_duration(*text);
    if (!d.ok()) {
      log::error("bad " + std::string(flag), {{"error", d.error().describe()}});
      return 2;
    }
    *out = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  if (auto d = kube::parse_duration(cert_check_interval); !d.ok() || d->count() == 0) {
    log::error("bad --cert-check-interval",
               {{"error", d.ok() ? "must be more than 0" : d.error().describe()}});
    return 2;
  } else {
    cert_options.check_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  const auto& rotation = cert_options.rotation;
  if (rotation.renew_before >= rotation.serving_validity ||
      rotation.ca_renew_before >= rotation.ca_validity) {
    log::error(
        "a certificate would be renewed as soon as it is issued: --cert-renew-before must "
        "be less than --cert-validity, and --ca-renew-before less than --ca-validity");
    return 2;
  }

  const bool self_managed = cert_mode == "self-managed";
  if (!self_managed && (options.tls_cert_file.empty() || options.tls_key_file.empty())) {
    log::error("--cert-mode=files needs --tls-cert-file and --tls-key-file");
    return 2;
  }
  if (self_managed && standalone) {
    log::error("--cert-mode=self-managed needs the API server; drop --standalone");
    return 2;
  }
  if (self_managed) {
    options.tls_cert_file.clear();
    options.tls_key_file.clear();
  }

  std::unique_ptr<kube::Client> client;
  if (!standalone) {
    auto config = kube::load_default(kubeconfig);
    if (!config.ok()) {
      log::error("no API server configuration", {{"error", config.error().describe()}});
      return 2;
    }
    auto made = kube::make_client(*config);
    if (!made.ok()) {
      log::error("cannot build API client", {{"error", made.error().describe()}});
      return 2;
    }
    client = std::move(made).value();
  }

  auto registry = std::make_shared<prometheus::Registry>();
  RealClock clock;

  // The Lease holder audits and writes the MinerPolicy status every replica would write
  // alike; admission denials are written by every replica (webhook/policy_status.h).
  const std::string instance = kube::process_identity();
  std::unique_ptr<kube::LeaderElector> elector;
  std::thread election;
  std::atomic<webhook::AuditLoop*> audit_loop_ptr{nullptr};
  if (client && leader_elect) {
    kube::LeaderElectionConfig lcfg{.lease_namespace = cert_options.ns,
                                    .lease_name = "orderguard-webhook-audit",
                                    .identity = instance};
    elector = std::make_unique<kube::LeaderElector>(
        *client, lcfg,
        kube::LeaderCallbacks{.on_started_leading =
                                  [&] {
                                    log::info("leading the audit", {{"id", instance}});
                                  }},
        clock, registry.get());
  }
  options.leads_policy_status = [&elector] { return !elector || elector->is_leader(); };
  options.on_policy_generation = [&audit_loop_ptr] {
    if (webhook::AuditLoop* loop = audit_loop_ptr.load()) loop->request_pass();
  };
  webhook::Webhook hook(options, client.get(), registry);

  // Self-managed: the certificate must be installed before the TLS port opens
  // (without one the server would speak plain HTTP). Other replicas or a
  // missing webhook configuration can delay the first pass; retry until then.
  std::unique_ptr<webhook::CertManager> certs;
  if (self_managed) {
    certs = std::make_unique<webhook::CertManager>(
        *client, cert_options,
        [&hook](const std::string& cert, const std::string& key) {
          return hook.set_certificate(cert, key);
        },
        clock);
    kube::Canceller never;
    while (true) {
      auto st = certs->sync();
      if (st.ok()) break;
      log::error("initial certificate sync failed; retrying", {{"error", st.error().describe()}});
      if (never.wait_for(std::chrono::seconds(5))) break;
    }
  }
  if (auto st = hook.start(); !st.ok()) {
    log::error("webhook failed to start", {{"error", st.error().describe()}});
    return 1;
  }
  if (certs) certs->start();

  if (elector) election = std::thread([&] { elector->run(); });

  // Background audit: every replica can, only the Lease holder does.
  std::unique_ptr<kube::EventRecorder> events;
  std::unique_ptr<webhook::Auditor> auditor;
  std::unique_ptr<webhook::AuditLoop> audit_loop;
  if (client && audit_minutes > 0) {
    events =
        std::make_unique<kube::EventRecorder>(*client, "orderguard.io/webhook", instance, clock);
    auditor = std::make_unique<webhook::Auditor>(
        *client, hook.store(), *events, clock,
        webhook::AuditOptions{.audit_secrets = audit_secrets, .report_name = report_name});
    audit_loop = std::make_unique<webhook::AuditLoop>(
        std::chrono::minutes(audit_minutes),
        [&] { return hook.ready() && (!elector || elector->is_leader()); },
        [&] { auditor->run_once(); });
    audit_loop->start();
    audit_loop_ptr = audit_loop.get();
  }

  int sig = kube::wait_for_shutdown_signal();
  log::info("shutting down", {{"signal", sig}});
  audit_loop_ptr = nullptr;
  if (audit_loop) audit_loop->stop();
  if (elector) elector->stop();
  if (election.joinable()) election.join();
  if (certs) certs->stop();
  hook.stop();
  if (events) events->stop();
  std::_Exit(0);
}
