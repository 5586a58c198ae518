// orderguard-local-provisioner: the test node's local-volume provisioner
// (see e2e/local_provisioner.h). Started and stopped by the node with the
// other node processes.
//   orderguard-local-provisioner --kubeconfig K --node NAME --root DIR
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <thread>

#include "base/log.h"
#include "e2e/local_provisioner.h"
#include "kube/config.h"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  using namespace orderguard;
  CLI::App app{"local-volume provisioner of the orderguard test node"};
  std::string kubeconfig;
  e2e::LocalProvisionerOptions options;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig of the provisioner")->required();
  app.add_option("--node", options.node, "the node the volumes live on")->required();
  app.add_option("--root", options.root, "directory the volumes are made in")->required();
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  auto config = kube::load_kubeconfig(kubeconfig);
  if (!config.ok()) {
    log::error("cannot load kubeconfig", {{"error", config.error().message}});
    return 1;
  }
  auto client = kube::make_client(*config);
  if (!client.ok()) {
    log::error("cannot make a client", {{"error", client.error().message}});
    return 1;
  }
  log::info("provisioner started", {{"node", options.node}, {"root", options.root}});
  std::string last_error;
  while (!g_stop) {
    auto pass = e2e::provision_once(**client, options);
    // An outage logs once, not every second.
    if (!pass.ok() && pass.error().message != last_error) {
      log::error("provisioning pass failed", {{"error", pass.error().message}});
    }
    last_error = pass.ok() ? "" : pass.error().message;
    for (int i = 0; i < 10 && !g_stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  log::info("provisioner stopped");
  return 0;
}
