// orderguard-webhook: the validating admission webhook. See webhook/server.h.
#include <prometheus/registry.h>

#include <CLI/CLI.hpp>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/log.h"
#include "kube/signals.h"
#include "webhook/server.h"

namespace {

// "host:port" or ":port" into address and port.
bool split_address(const std::string& text, std::string* host, uint16_t* port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  *host = colon == 0 ? "0.0.0.0" : text.substr(0, colon);
  try {
    int p = std::stoi(text.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
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
  app.add_option("--tls-cert-file", options.tls_cert_file, "serving certificate chain (PEM)")
      ->required();
  app.add_option("--tls-key-file", options.tls_key_file, "serving key (PEM)")->required();
  app.add_option("--threads", options.threads, "I/O threads")->capture_default_str();
  app.add_option("--log-level", level, "debug, info or error")->capture_default_str();
  app.add_flag("--standalone", standalone,
               "no API server: enforce the built-in default policy only");
  CLI11_PARSE(app, argc, argv);

  log::Level lvl;
  if (!log::parse_level(level, &lvl)) {
    log::error("bad --log-level", {{"value", level}});
    return 2;
  }
  log::set_level(lvl);
  if (!split_address(listen, &options.address, &options.port) ||
      !split_address(metrics_addr, &options.metrics_address, &options.metrics_port)) {
    log::error("bad address; use host:port or :port",
               {{"listen", listen}, {"metrics", metrics_addr}});
    return 2;
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
  webhook::Webhook hook(options, client.get(), registry);
  if (auto st = hook.start(); !st.ok()) {
    log::error("webhook failed to start", {{"error", st.error().describe()}});
    return 1;
  }
  int sig = kube::wait_for_shutdown_signal();
  log::info("shutting down", {{"signal", sig}});
  hook.stop();
  std::_Exit(0);
}
