// A real Kubernetes control plane on loopback for end-to-end tests and for
// `make cluster-up`: etcd, kube-apiserver and (optionally)
// kube-controller-manager, built from their Go modules by e2e/tools/build.sh
// and run as local processes with freshly generated certificates.
//
// Contracts:
// - start() returns only once the API server answers /readyz with 200 and,
//   with the controller manager, the `default` ServiceAccount exists in the
//   `default` namespace (so Pods can be admitted). A process that exits early
//   or a deadline fails start() with the component's name and the tail of its
//   log; nothing is left running then.
// - Everything listens on 127.0.0.1 only, on ports picked at start. Clients
//   authenticate with client certificates (admin: CN=orderguard-admin,
//   O=system:masters) or ServiceAccount tokens; authorization is RBAC.
// - Teardown (stop() or the destructor) stops the controller manager, the API
//   server and etcd (SIGTERM, a few seconds' grace, SIGKILL), reaps them and
//   removes the work directory when the control plane created it. With
//   keep_running the destructor leaves the processes running, detached from
//   this process; stop them with stop_detached().
// - The API server can call admission webhooks served on 127.0.0.1 over TLS:
//   register them with clientConfig.url "https://127.0.0.1:<port>/...". Never
//   use clientConfig.service: the API server would dial the Service's cluster
//   IP (10.0.0.x), which does not exist here.
// - Without a node, Pods are admitted and scheduled nowhere (no kubelet, no
//   scheduler): they stay Pending. Controllers (Deployment -> ReplicaSet ->
//   Pods, garbage collection, namespaces, ServiceAccount tokens) do run.
// - With options.node.enabled, a real node runs beside it (e2e/node.h): the
//   API server then listens on the node's bridge address instead of
//   127.0.0.1 (server() says which), uses the Node authorizer and
//   NodeRestriction, and start() returns once the node is Ready. Webhooks
//   can then be registered through a Service. One such cluster per machine.
// - Thread-safety: kubectl(), helm() and the accessors may be called from any
//   thread. start/stop hooks must not run concurrently with each other.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "e2e/node.h"
#include "e2e/process.h"
#include "kube/config.h"
#include "kube/pki.h"

namespace orderguard::e2e {

struct ControlPlaneOptions {
  std::string tools_bin;  // holds etcd, kube-apiserver, kube-controller-manager, kubectl, helm
  // Empty: a fresh /tmp/orderguard-e2e-XXXXXX, removed on teardown. Otherwise
  // the directory is created if missing, its previous control-plane state
  // (see the layout below) is replaced, and teardown leaves the directory.
  std::string work_dir;
  bool controller_manager = true;
  // Appended after the defaults, so they override them ("--v=4").
  std::vector<std::string> extra_apiserver_flags;
  // Detach the processes (own session, no parent-death signal) and leave them
  // running when this object is destroyed.
  bool keep_running = false;
  // Overall budget for start(); the first run on a cold disk is the slowest.
  std::chrono::seconds start_timeout{180};
  NodeOptions node;  // a real node (containerd, kubelet, ...) when node.enabled
};

// `count` distinct free loopback ports, found by binding port 0 (all sockets stay
// open until every port is known). Another process may still take one before
// the caller binds it; servers started on them should fail loudly if so.
Result<std::vector<int>> free_ports(int count);

// Layout of the work directory:
//   kubeconfig                       admin kubeconfig (certificates embedded)
//   controller-manager.kubeconfig
//   pki/                             ca.crt ca.key apiserver.{crt,key} sa.{key,pub} ...
//   etcd-data/  apiserver-certs/
//   logs/etcd.log logs/kube-apiserver.log logs/kube-controller-manager.log
//   pids                             "<component> <pid>" per line
//   home/                            kubectl and helm cache/config (kept out of ~)
//   node/                            with a node: configs, containerd and kubelet state
class ControlPlane {
 public:
  static Result<std::unique_ptr<ControlPlane>> start(ControlPlaneOptions options);

  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;
  ~ControlPlane();

  // Stops every process and removes the work directory if it was created
  // here. Idempotent; also called by the destructor (unless keep_running).
  void stop();

  // Test hooks. The restarted API server keeps its ports, certificates and
  // etcd data, so clients reconnect to the same address.
  Status stop_apiserver();
  Status start_apiserver();
  bool apiserver_running() const;
  // Compacts etcd at its current revision (physical), through etcd's v3 JSON
  // gateway; returns that revision. Watches from older resourceVersions then
  // get 410 Gone from the API server.
  Result<int64_t> compact_etcd();
  // POSTs `body` to etcd's v3 JSON gateway at `path` ("/v3/kv/range") and
  // returns its answer; keys and values in etcd's JSON are base64.
  Result<nlohmann::json> etcd_call(const std::string& path, const nlohmann::json& body) const;

  // The real kubectl/helm with the admin kubeconfig.
  CommandResult kubectl(const std::vector<std::string>& args, const std::string& input = "") const;
  CommandResult helm(const std::vector<std::string>& args, const std::string& input = "") const;

  kube::Config admin_config() const;
  const std::string& kubeconfig_path() const { return kubeconfig_path_; }
  // Creates namespace `ns` and ServiceAccount `name` if missing and returns a
  // config carrying a TokenRequest token valid for `ttl` (the API server's
  // minimum is 10 minutes).
  Result<kube::Config> service_account_config(const std::string& ns, const std::string& name,
                                              std::chrono::seconds ttl = std::chrono::hours(1));
  // The same with a token bound to Pod `pod` of namespace `ns` (which must exist and run
  // as `name`), as the kubelet mounts into a Pod: the API server then adds the Pod's name
  // and node to the token's user (extra authentication.kubernetes.io/pod-name and
  // node-name), and the token stops working when the Pod is deleted.
  Result<kube::Config> pod_bound_service_account_config(
      const std::string& ns, const std::string& name, const std::string& pod,
      std::chrono::seconds ttl = std::chrono::hours(1));

  const std::string& work_dir() const { return work_dir_; }
  std::string server() const;  // "https://127.0.0.1:<port>"
  int apiserver_port() const { return apiserver_port_; }
  std::string etcd_url() const;  // "http://127.0.0.1:<port>"
  const std::string& tools_bin() const { return options_.tools_bin; }
  bool has_node() const { return options_.node.enabled; }
  const NodeOptions& node_options() const { return options_.node; }
  std::string node_dir() const;  // <work_dir>/node
  // The real ctr against the node's containerd, namespace k8s.io.
  CommandResult ctr(const std::vector<std::string>& args) const;
  // The cluster CA (trusted by the API server for client certificates, and
  // the issuer of its serving certificate).
  const kube::KeyPair& ca() const { return *ca_; }
  // Component: "etcd", "kube-apiserver", "kube-controller-manager"; with a
  // node also "containerd", "kubelet", "kube-proxy", "kube-scheduler",
  // "coredns", "orderguard-local-provisioner".
  std::string log_path(const std::string& component) const;
  std::string log_tail(const std::string& component, int lines = 30) const;

  // For `orderguard-cluster`: whether the control plane recorded in `dir` is
  // running (every recorded pid alive and /readyz answering 200).
  static bool is_running(const std::string& dir, const std::string& tools_bin);
  // Stops the processes recorded in `dir`/pids (verifying each pid is still
  // that component) and removes the control-plane state from `dir`, and `dir`
  // itself when that leaves it empty.
  static Status stop_detached(const std::string& dir);

 private:
  explicit ControlPlane(ControlPlaneOptions options);

  Status prepare_work_dir();
  Status generate_pki();
  Status generate_node_pki(const kube::KeyPair& ca);
  Status write_kubeconfigs();
  Status pick_ports();
  Status start_all();
  Status start_etcd();
  Status start_apiserver_locked();
  Status start_controller_manager();
  Status wait_apiserver_ready(std::chrono::steady_clock::time_point deadline);
  Status wait_default_service_account(std::chrono::steady_clock::time_point deadline);
  Result<kube::Config> token_config(const std::string& ns, const std::string& name,
                                    const std::string& bound_pod, std::chrono::seconds ttl);
  Status start_node(std::chrono::steady_clock::time_point deadline);
  Status wait_node_ready(std::chrono::steady_clock::time_point deadline);
  Status start_node_services(std::chrono::steady_clock::time_point deadline);
  std::string listen_host() const;
  std::vector<std::optional<Process>*> process_slots();
  // An error naming the first process that exited, with its log tail.
  std::optional<Error> exited_process_error();
  Error startup_error(const std::string& component, const std::string& what) const;
  void write_pids() const;
  void stop_processes();
  void release_processes();
  std::vector<std::string> tool_env() const;
  std::string tool(const std::string& name) const;

  ControlPlaneOptions options_;
  std::string work_dir_;
  bool owns_work_dir_ = false;
  std::string kubeconfig_path_;
  int etcd_client_port_ = 0;
  int etcd_peer_port_ = 0;
  int apiserver_port_ = 0;
  std::optional<kube::KeyPair> ca_;  // set by generate_pki, always before start() returns
  std::optional<kube::KeyPair> admin_;

  mutable std::mutex mu_;  // guards the process slots below
  std::optional<Process> etcd_;
  std::optional<Process> apiserver_;
  std::optional<Process> controller_manager_;
  std::optional<Process> containerd_;
  std::optional<Process> kubelet_;
  std::optional<Process> kube_proxy_;
  std::optional<Process> scheduler_;
  std::optional<Process> coredns_;
  std::optional<Process> provisioner_;
  bool host_claimed_ = false;  // this object made the node's host changes
  bool stopped_ = false;
};

}  // namespace orderguard::e2e
