// A real Kubernetes node beside the e2e control plane: containerd + runc,
// the CNI bridge plugin with host-local IPAM, kubelet, kube-scheduler and
// kube-proxy, all run as local processes (Debian's containerd, runc and CNI
// plugins; the Kubernetes binaries built from the pinned Go modules).
//
// Contracts:
// - One node per machine. The host changes a node needs (a bridge, iptables
//   rules, sysctls, a few paths the kubelet and containerd hard-code, and /
//   made a shared mount as systemd makes it, for hostPath volumes with mount
//   propagation) are
//   recorded in /run/orderguard-node/state.json before they are made, so
//   `down`, or the next `up` after a crash, can undo exactly them. A second
//   cluster with a node fails at once, naming the directory of the first.
// - Network rule: Pods reach only the pod subnet, the host side of the
//   bridge and the Service range. Anything else a Pod sends is dropped in the
//   raw table before routing. Nothing is masqueraded.
// - DNS: Pods' only nameserver is CoreDNS on the bridge's host address,
//   answering the cluster's names (cluster.local) from the API server and
//   refusing the rest; it has no upstream, so no DNS server outside the
//   machine is ever asked.
// - Storage: the default StorageClass `orderguard-local` is served by the
//   node's local-volume provisioner (e2e/local_provisioner.h): claims bind to
//   directories under <node dir>/volumes, removed when a Delete volume is
//   released.
// - Secure wiring: the kubelet authenticates with a node certificate
//   (O=system:nodes, CN=system:node:<name>), which the API server authorizes
//   with the Node authorizer and NodeRestriction; the API server calls the
//   kubelet with a client certificate and verifies the kubelet's serving
//   certificate; the kubelet authenticates callers by x509 or token webhook
//   and authorizes by SubjectAccessReview (no anonymous access).
// - Pods reach the API server through the `kubernetes` Service (kube-proxy,
//   iptables mode), so in-cluster clients use their ServiceAccount tokens
//   unchanged.
// - Images: nothing is ever pulled. Every OCI archive named in the options is
//   imported into containerd before the kubelet starts; the sandbox (pause)
//   image must be among them.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"

namespace orderguard::e2e {

struct NodeOptions {
  bool enabled = false;
  std::string name = "orderguard-node";
  // The node's addresses. The bridge carries host_ip; the API server listens
  // and advertises there, and the kubelet serves there.
  std::string bridge = "orderguard0";
  std::string pod_subnet = "10.244.0.0/24";
  std::string host_ip = "10.244.0.1";
  std::string service_range = "10.0.0.0/24";
  std::vector<std::string> image_archives;  // OCI archives, imported before the kubelet starts
  std::string pause_image = "localhost/orderguard/pause:3.10";
  std::map<std::string, std::string> labels;  // extra Node labels
  std::chrono::seconds ready_timeout{120};
};

// Fixed paths the node uses whatever its flags say.
inline constexpr char kNodeStateDir[] = "/run/orderguard-node";

// Host changes of a node: made by claim(), undone by restore().
class HostNetwork {
 public:
  // Takes the machine's node slot for the cluster in `cluster_dir` and makes
  // the host changes. Fails when a live cluster holds the slot; a dead one's
  // changes are undone first (its processes stopped by `stop_owner`).
  static Status claim(const std::string& cluster_dir, const NodeOptions& options);
  // Undoes every recorded change if `cluster_dir` holds the slot (any dir
  // when empty), and frees the slot. Idempotent.
  static Status restore(const std::string& cluster_dir);
  // The cluster directory holding the slot, "" when free.
  static std::string owner();
};

// Cleans up what a node's containers leave behind once its processes are
// stopped: container processes and shims, mounts under `node_dir` and the
// Pods' network namespaces, and the kubelet's cgroups. Safe to call on a dir
// that never held a node.
Status clean_node_leftovers(const std::string& node_dir);

// Unmounts every mount point at or below `dir`, deepest first. Anything
// removing a node's directory calls this first: a recursive delete must never
// descend into a Pod's hostPath mount.
Status unmount_below(const std::string& dir);

}  // namespace orderguard::e2e
