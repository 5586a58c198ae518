// orderguard-webhook: the validating admission webhook. See webhook/server.h.
#include <prometheus/registry.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <thread>

#include "base/duration.h"
#include "base/log.h"
#include "kube/cli.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/events.h"
#include "kube/http_server.h"
#include "kube/leader_election.h"
#include "kube/signals.h"
#include "webhook/audit.h"
#include "webhook/certs.h"
#include "webhook/cleanup.h"
#include "webhook/server.h"

namespace {

// `orderguard-webhook cleanup`; exit 0 when done, 1 on an API error, 2 on bad flags.
int run_cleanup(const std::string& kubeconfig, const std::string& level,
                const orderguard::webhook::CleanupOptions& options) {
  using namespace orderguard;
  log::Level lvl;
  if (!log::parse_level(level, &lvl)) {
    log::error("bad --log-level", {{"value", level}});
    return 2;
  }
  log::set_level(lvl);
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
  using namespace std::chrono_literals;
  kube::init_openssl_for_process();
  kube::block_shutdown_signals();

  CLI::App app{"orderguard-webhook: refuses cryptominer images and miner-like pod specs"};
  kube::configure_cli(app, "orderguard-webhook");
  std::string kubeconfig, listen = ":8443", metrics_addr = ":8080", level = "info";
  webhook::WebhookOptions options;
  bool standalone = false;
  double kube_api_qps = kube::Config{}.qps;
  int kube_api_burst = kube::Config{}.burst;
  kube::add_kubeconfig_flag(app, kubeconfig);
  app.add_option("--listen", listen, "HTTPS admission address");
  app.add_option("--metrics-addr", metrics_addr, "address of /metrics, /healthz, /readyz");
  kube::add_api_rate_flags(app, kube_api_qps, kube_api_burst);
  std::string cert_mode = "files";
  webhook::CertManagerOptions cert_options{.service_name = "orderguard-webhook",
                                           .ns = "orderguard",
                                           .webhook_config_name = "orderguard-webhook",
                                           .secret_name = "orderguard-webhook-tls"};
  std::chrono::milliseconds audit_interval = std::chrono::minutes(10);
  bool audit_secrets = false;
  bool leader_elect = false;
  app.add_option("--cert-mode", cert_mode,
                 "files: --tls-cert-file/--tls-key-file, reloaded on change; self-managed: "
                 "generate, store in --secret-name, publish caBundle, rotate")
      ->check(CLI::IsMember({"files", "self-managed"}));
  app.add_option("--tls-cert-file", options.tls_cert_file,
                 "serving certificate chain (PEM); files mode");
  app.add_option("--tls-key-file", options.tls_key_file, "serving key (PEM); files mode");
  app.add_option("--service-name", cert_options.service_name, "Service in front of the webhook");
  app.add_option("--namespace", cert_options.ns, "namespace of the Service, Secret and Lease");
  app.add_option("--webhook-config-name", cert_options.webhook_config_name,
                 "ValidatingWebhookConfiguration whose caBundle is managed");
  app.add_option("--secret-name", cert_options.secret_name, "Secret holding CA and certificate");
  app.add_option("--extra-san", cert_options.extra_sans,
                 "extra DNS name or IP in the serving certificate (repeatable)");
  // Rotation timing; defaults from RotationPolicy. A certificate must outlive its renewal
  // window (checked after parsing).
  webhook::RotationPolicy& rotation = cert_options.rotation;
  kube::add_duration_option(app, "--cert-validity", rotation.serving_validity,
                            "self-managed: serving certificate lifetime", {.min = 1s});
  kube::add_duration_option(app, "--cert-renew-before", rotation.renew_before,
                            "self-managed: renew the serving certificate this long before it "
                            "expires");
  kube::add_duration_option(app, "--ca-validity", rotation.ca_validity, "self-managed: CA lifetime",
                            {.min = 1s});
  kube::add_duration_option(app, "--ca-renew-before", rotation.ca_renew_before,
                            "self-managed: rotate the CA this long before it expires (both CAs "
                            "are trusted until the old one expires)");
  kube::add_duration_option(app, "--cert-check-interval", cert_options.check_interval,
                            "self-managed: how often the certificates are checked", {.min = 1ms});
  kube::add_duration_option(app, "--audit-interval", audit_interval,
                            "how often existing objects are audited again (0: never)",
                            {.min = 1s, .zero_ok = true});
  app.add_flag("--audit-secrets", audit_secrets,
               "the background audit lists Secrets too (needs list on secrets cluster-wide; "
               "admission checks Secrets either way)");
  app.add_flag("--leader-elect", leader_elect,
               "only the holder of Lease orderguard-webhook-audit runs the audit and writes "
               "MinerPolicy status other than admission denials");
  std::string report_name = "orderguard";
  app.add_option("--policy-report-name", report_name,
                 "name of the PolicyReports (one per namespace with violations) and the "
                 "ClusterPolicyReport the audit writes; empty: none");
  app.add_flag("--tier-checks,!--no-tier-checks", options.tier_checks,
               "warn about tier resources referencing missing CacheTiers/ShardSets or zones "
               "without Nodes (off: no watches of Nodes and tier resources; default: on)");
  app.add_option("--threads", options.threads, "I/O threads");
  app.add_option("--max-connections", options.max_connections,
                 "open HTTPS connections at most; at the cap a new one closes the one waiting "
                 "longest without a request (about 16 KiB each when idle)")
      ->check(CLI::PositiveNumber);
  app.add_option("--log-level", level, "debug, info or error")
      ->check(CLI::IsMember({"debug", "info", "error"}));
  app.add_flag("--standalone", standalone,
               "no API server: enforce the built-in default policy only");
  webhook::CleanupOptions cleanup_options;
  auto* cleanup_cmd = app.add_subcommand(
      "cleanup",
      "uninstall: delete the webhook configuration, stop the webhook's Deployment, wait for its "
      "Pods, delete its TLS Secret; then exit (the chart's pre-delete hook)");
  kube::add_version_flag(*cleanup_cmd, "orderguard-webhook");
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
  kube::add_duration_option(*cleanup_cmd, "--pod-wait", cleanup_options.pod_wait,
                            "how long to wait for the Pods to go");
  kube::add_kubeconfig_flag(*cleanup_cmd, kubeconfig);
  cleanup_cmd->add_option("--log-level", level, "debug, info or error")
      ->check(CLI::IsMember({"debug", "info", "error"}));
  CLI11_PARSE(app, argc, argv);
  if (cleanup_cmd->parsed()) return run_cleanup(kubeconfig, level, cleanup_options);

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

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<kube::Client> client;
  if (!standalone) {
    auto config = kube::load_default(kubeconfig);
    if (!config.ok()) {
      log::error("no API server configuration", {{"error", config.error().describe()}});
      return 2;
    }
    config->qps = kube_api_qps;
    config->burst = kube_api_burst;
    auto made = kube::make_client(*config, {.metrics = registry.get()});
    if (!made.ok()) {
      log::error("cannot build API client", {{"error", made.error().describe()}});
      return 2;
    }
    client = std::move(made).value();
  }

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
  if (client && audit_interval.count() > 0) {
    events =
        std::make_unique<kube::EventRecorder>(*client, "orderguard.io/webhook", instance, clock);
    auditor = std::make_unique<webhook::Auditor>(
        *client, hook.store(), *events, clock,
        webhook::AuditOptions{.audit_secrets = audit_secrets, .report_name = report_name});
    audit_loop = std::make_unique<webhook::AuditLoop>(
        audit_interval, [&] { return hook.ready() && (!elector || elector->is_leader()); },
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
