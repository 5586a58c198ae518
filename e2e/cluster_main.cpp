// orderguard-cluster: a local control plane for people (`make cluster-up`).
//   orderguard-cluster up --dir <dir> --tools <bin> [--no-controller-manager]
//                         [--node [--images <dir with OCI archives>]]
//   orderguard-cluster down --dir <dir>
// `up` is idempotent: a healthy control plane already recorded in <dir> is
// left alone; a dead or partial one is cleared and started afresh.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "e2e/cluster.h"

namespace {

using orderguard::e2e::ControlPlane;
using orderguard::e2e::ControlPlaneOptions;

void print_usage(const std::string& dir, const std::string& server) {
  std::cout << "\nUse it with:\n"
            << "  export KUBECONFIG=" << dir << "/kubeconfig\n"
            << "  kubectl get namespaces\n";
  if (!server.empty()) std::cout << "API server: " << server << "\n";
  std::cout << "Logs: " << dir << "/logs/\n"
            << "Stop: make cluster-down  (or orderguard-cluster down --dir " << dir << ")\n";
}

std::vector<std::string> archives_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".tar") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int up(const std::string& dir, std::string tools, bool controller_manager, bool node,
       const std::string& images) {
  if (tools.empty()) {
    if (const char* env = std::getenv("ORDERGUARD_TOOLS_BIN")) tools = env;
  }
  if (tools.empty()) {
    std::cerr << "orderguard-cluster: --tools (or ORDERGUARD_TOOLS_BIN) is required; "
                 "e2e/tools/build.sh prints it\n";
    return 2;
  }
  if (ControlPlane::is_running(dir, tools)) {
    std::cout << "A control plane is already running in " << dir << "; nothing to do.\n";
    print_usage(dir, "");
    return 0;
  }
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(dir) / "pids", ec)) {
    std::cout << "Clearing the stopped control plane recorded in " << dir << "\n";
    if (auto s = ControlPlane::stop_detached(dir); !s) {
      std::cerr << "orderguard-cluster: " << s.error().message << "\n";
      return 1;
    }
  }
  ControlPlaneOptions options;
  options.tools_bin = tools;
  options.work_dir = dir;
  options.controller_manager = controller_manager;
  options.keep_running = true;
  options.node.enabled = node;
  if (node) {
    options.node.image_archives = archives_in(images);
    if (options.node.image_archives.empty()) {
      std::cerr << "orderguard-cluster: no OCI archives (*.tar) in " << images
                << "; the node needs at least its pause image (make images)\n";
      return 2;
    }
  }
  auto cp = ControlPlane::start(options);
  if (!cp) {
    std::cerr << "orderguard-cluster: " << cp.error().message << "\n";
    return 1;
  }
  std::cout << "Control plane is up in " << (*cp)->work_dir() << "\n";
  if (node)
    std::cout << "Node " << options.node.name << " is Ready (" << options.node.host_ip << ")\n";
  print_usage((*cp)->work_dir(), (*cp)->server());
  return 0;  // keep_running: destroying `cp` leaves the servers running
}

int down(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "pids", ec)) {
    std::cout << "No control plane recorded in " << dir << "; nothing to stop.\n";
  }
  if (auto s = ControlPlane::stop_detached(dir); !s) {
    std::cerr << "orderguard-cluster: " << s.error().message << "\n";
    return 1;
  }
  std::cout << "Control plane in " << dir << " is stopped and its state removed.\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)"};
  app.require_subcommand(1);

  std::string dir;
  std::string tools;
  bool no_controller_manager = false;
  bool node = false;
  std::string images;
  CLI::App* up_cmd = app.add_subcommand("up", "start a control plane that keeps running");
  up_cmd->add_option("--dir", dir, "state directory (kubeconfig, logs, pids)")->required();
  up_cmd->add_option("--tools", tools,
                     "directory with etcd, kube-apiserver, ... (build.sh output)");
  up_cmd->add_flag("--no-controller-manager", no_controller_manager,
                   "run only etcd and kube-apiserver");
  up_cmd->add_flag("--node", node,
                   "also run a real node: containerd, kubelet, kube-proxy, kube-scheduler "
                   "(root; one per machine)");
  up_cmd->add_option("--images", images,
                     "directory of OCI image archives (*.tar) to load into the node's containerd");

  CLI::App* down_cmd = app.add_subcommand("down", "stop it and remove its state");
  down_cmd->add_option("--dir", dir, "state directory given to `up`")->required();

  CLI11_PARSE(app, argc, argv);

  std::error_code ec;
  const std::string abs_dir = std::filesystem::absolute(dir, ec).lexically_normal().string();
  if (*up_cmd) return up(abs_dir, tools, !no_controller_manager, node, images);
  return down(abs_dir);
}
