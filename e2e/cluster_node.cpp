// The node half of ControlPlane: containerd, kubelet, kube-proxy and
// kube-scheduler (see e2e/node.h for the contracts).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/log.h"
#include "e2e/cluster.h"
#include "e2e/local_provisioner.h"
#include "e2e/node.h"

namespace orderguard::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kContainerd[] = "containerd";
constexpr char kKubelet[] = "kubelet";
constexpr char kKubeProxy[] = "kube-proxy";
constexpr char kScheduler[] = "kube-scheduler";
constexpr char kCoreDns[] = "coredns";
constexpr char kProvisioner[] = "orderguard-local-provisioner";
constexpr char kClusterDomain[] = "cluster.local";

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error(ErrorCode::kInternal, "write " + path);
  return {};
}

// The executable `name` in $PATH (Process::spawn takes paths, not names).
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

std::string toml_string(const std::string& s) { return json(s).dump(); }

// containerd 1.6 (config version 2). Everything it owns lives under the node
// dir; the CRI plugin runs Pods with runc and the CNI bridge.
std::string containerd_config(const std::string& dir, const NodeOptions& o) {
  std::string c;
  c += "version = 2\n";
  c += "root = " + toml_string(dir + "/containerd/root") + "\n";
  c += "state = " + toml_string(dir + "/containerd/state") + "\n";
  c += "[grpc]\n  address = " + toml_string(dir + "/containerd.sock") + "\n";
  c += "[ttrpc]\n  address = " + toml_string(dir + "/containerd.ttrpc.sock") + "\n";
  c += "[debug]\n  level = \"warn\"\n";
  c += "[metrics]\n  address = \"\"\n";
  c += "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = " +
       toml_string(dir + "/containerd/opt") + "\n";
  c += "[plugins.\"io.containerd.grpc.v1.cri\"]\n";
  c += "  sandbox_image = " + toml_string(o.pause_image) + "\n";
  // The machine may lack CAP_SYS_RESOURCE, so the pause container's
  // oom_score_adj of -998 cannot be set and every sandbox would fail.
  c += "  restrict_oom_score_adj = true\n";
  c += "  disable_apparmor = true\n";
  c += "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n";
  c += "    snapshotter = \"overlayfs\"\n";
  c += "    default_runtime_name = \"runc\"\n";
  c += "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n";
  c += "      runtime_type = \"io.containerd.runc.v2\"\n";
  c += "      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n";
  c += "        SystemdCgroup = false\n";
  c += "        Root = " + toml_string(dir + "/runc") + "\n";
  c += "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n";
  c += "    bin_dir = \"/usr/lib/cni\"\n";
  c += "    conf_dir = " + toml_string(dir + "/cni/net.d") + "\n";
  c += "  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n";
  c += "    config_path = " + toml_string(dir + "/containerd/certs.d") + "\n";
  return c;
}

// One bridge network; no masquerade (nothing leaves the machine) and IPAM
// state kept under the node dir.
json cni_config(const std::string& dir, const NodeOptions& o) {
  return {{"cniVersion", "0.4.0"},
          {"name", "orderguard"},
          {"plugins",
           {{{"type", "bridge"},
             {"bridge", o.bridge},
             {"isGateway", true},
             {"ipMasq", false},
             {"hairpinMode", true},
             {"ipam",
              {{"type", "host-local"},
               {"dataDir", dir + "/cni/ipam"},
               {"ranges", {{{{"subnet", o.pod_subnet}, {"gateway", o.host_ip}}}}},
               {"routes", {{{"dst", "0.0.0.0/0"}}}}}}},
            {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}}}}};
}

json kubelet_config(const std::string& dir, const std::string& pki, const NodeOptions& o) {
  return {
      {"apiVersion", "kubelet.config.k8s.io/v1beta1"},
      {"kind", "KubeletConfiguration"},
      {"address", o.host_ip},
      {"port", 10250},
      {"readOnlyPort", 0},
      {"healthzBindAddress", "127.0.0.1"},
      {"healthzPort", 10248},
      {"authentication",
       {{"anonymous", {{"enabled", false}}},
        {"webhook", {{"enabled", true}}},
        {"x509", {{"clientCAFile", pki + "ca.crt"}}}}},
      {"authorization", {{"mode", "Webhook"}}},
      {"tlsCertFile", pki + "kubelet-serving.crt"},
      {"tlsPrivateKeyFile", pki + "kubelet-serving.key"},
      {"containerRuntimeEndpoint", "unix://" + dir + "/containerd.sock"},
      {"cgroupDriver", "cgroupfs"},
      // cgroup v1 is in maintenance mode since 1.31 and refused unless allowed.
      {"failCgroupV1", false},
      {"failSwapOn", false},
      // Pods ask the node's CoreDNS only (cluster names); the host's resolvers
      // are never handed to them.
      {"resolvConf", ""},
      {"clusterDNS", json::array({o.host_ip})},
      {"clusterDomain", kClusterDomain},
      {"podLogsDir", dir + "/pod-logs"},
      {"serializeImagePulls", false},
      {"registerNode", true},
      {"rotateCertificates", false},
      {"serverTLSBootstrap", false},
      {"imageGCHighThresholdPercent", 100},
      {"imageGCLowThresholdPercent", 99},
      // Shared test machines have busy disks; only a nearly full one evicts.
      {"evictionHard",
       {{"memory.available", "100Mi"},
        {"nodefs.available", "1%"},
        {"imagefs.available", "1%"},
        {"nodefs.inodesFree", "1%"}}},
      {"maxPods", 60},
      {"nodeStatusUpdateFrequency", "4s"},
      {"syncFrequency", "10s"},
      {"fileCheckFrequency", "0s"},
      {"shutdownGracePeriod", "0s"},
  };
}

json kube_proxy_config(const std::string& dir, const NodeOptions& o) {
  return {
      {"apiVersion", "kubeproxy.config.k8s.io/v1alpha1"},
      {"kind", "KubeProxyConfiguration"},
      {"mode", "iptables"},
      {"clientConnection", {{"kubeconfig", dir + "/kube-proxy.kubeconfig"}}},
      {"hostnameOverride", o.name},
      {"bindAddress", o.host_ip},
      {"clusterCIDR", o.pod_subnet},
      {"healthzBindAddress", "127.0.0.1:10256"},
      {"metricsBindAddress", "127.0.0.1:10249"},
      // Zero: leave the host's conntrack sysctls alone.
      {"conntrack",
       {{"maxPerCore", 0},
        {"min", 0},
        {"tcpEstablishedTimeout", "0s"},
        {"tcpCloseWaitTimeout", "0s"}}},
      // Localhost NodePorts would set route_localnet on the host.
      {"iptables", {{"localhostNodePorts", false}, {"masqueradeAll", false}}},
      {"nodePortAddresses", {o.host_ip + "/32"}},
  };
}

// The cluster DNS: the kubernetes plugin answers the cluster's zones from the
// API server; there is no forward plugin, so any other name gets REFUSED and
// nothing outside the machine is ever asked.
std::string corefile(const std::string& dir, const NodeOptions& o, int ready_port) {
  return ".:53 {\n"
         "  bind " +
         o.host_ip +
         "\n"
         "  errors\n"
         "  ready 127.0.0.1:" +
         std::to_string(ready_port) +
         "\n"
         "  kubernetes " +
         kClusterDomain +
         " in-addr.arpa ip6.arpa {\n"
         "    kubeconfig " +
         dir +
         "/coredns.kubeconfig\n"
         "    pods insecure\n"
         "    fallthrough in-addr.arpa ip6.arpa\n"
         "    ttl 5\n"
         "  }\n"
         "  cache 5\n"
         "  loadbalance\n"
         "}\n";
}

// What the node's own services may do: CoreDNS reads Services, EndpointSlices
// and Namespaces; the provisioner manages PersistentVolumes for claims of its
// class. Plus that class, the cluster's default.
json node_services_manifest() {
  const auto role = [](const std::string& name, json rules) {
    return json{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                {"kind", "ClusterRole"},
                {"metadata", {{"name", name}}},
                {"rules", std::move(rules)}};
  };
  const auto binding = [](const std::string& name, const std::string& user) {
    return json{
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", name}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
        {"subjects",
         json::array(
             {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", user}}})}};
  };
  const json read = json::array({"get", "list", "watch"});
  json items = json::array();
  items.push_back(role("orderguard:coredns",
                       json::array({{{"apiGroups", {""}},
                                     {"resources", {"endpoints", "services", "pods", "namespaces"}},
                                     {"verbs", {"list", "watch"}}},
                                    {{"apiGroups", {"discovery.k8s.io"}},
                                     {"resources", {"endpointslices"}},
                                     {"verbs", {"list", "watch"}}}})));
  items.push_back(binding("orderguard:coredns", "system:orderguard:coredns"));
  items.push_back(role(
      "orderguard:local-provisioner",
      json::array(
          {{{"apiGroups", {"storage.k8s.io"}}, {"resources", {"storageclasses"}}, {"verbs", read}},
           {{"apiGroups", {""}}, {"resources", {"persistentvolumeclaims"}}, {"verbs", read}},
           {{"apiGroups", {""}},
            {"resources", {"persistentvolumes"}},
            {"verbs", {"get", "list", "watch", "create", "delete"}}}})));
  items.push_back(binding("orderguard:local-provisioner", "system:orderguard:local-provisioner"));
  items.push_back(local_storage_class());
  return {{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
}

// Whether an HTTP server on 127.0.0.1:`port` answers GET `path` with 200.
bool http_ok(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
    char buf[64] = {};
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()) &&
        ::recv(fd, buf, sizeof(buf) - 1, 0) > 12) {
      // "HTTP/1.0 200 OK" (Go answers in the request's version).
      const std::string status(buf);
      ok = status.rfind("HTTP/", 0) == 0 && status.find(" 200 ") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::string ControlPlane::node_dir() const { return work_dir_ + "/node"; }

Status ControlPlane::start_node(SteadyClock::time_point deadline) {
  const NodeOptions& o = options_.node;
  const std::string dir = node_dir();
  const std::string pki = work_dir_ + "/pki/";
  for (const char* sub : {"cni/net.d", "cni/ipam", "containerd", "kubelet", "pod-logs", "logs"}) {
    std::error_code ec;
    fs::create_directories(fs::path(dir) / sub, ec);
    if (ec) return make_error(ErrorCode::kInternal, "create " + dir + ": " + ec.message());
  }
  if (auto s = write_text(dir + "/containerd.toml", containerd_config(dir, o)); !s) return s;
  // Nothing is ever pulled: every registry, whatever its name, is this
  // closed loopback port, so an image that was not imported fails at once
  // (ErrImagePull) without a DNS query or a connection leaving the machine.
  {
    std::error_code ec;
    fs::create_directories(dir + "/containerd/certs.d/_default", ec);
    const std::string nowhere = "https://127.0.0.1:1";
    if (auto s = write_text(dir + "/containerd/certs.d/_default/hosts.toml",
                            "server = \"" + nowhere + "\"\n[host.\"" + nowhere +
                                "\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
        !s) {
      return s;
    }
  }
  if (auto s = write_text(dir + "/cni/net.d/10-orderguard.conflist", cni_config(dir, o).dump(2));
      !s) {
    return s;
  }
  if (auto s = write_text(dir + "/kubelet.yaml", kubelet_config(dir, pki, o).dump(2)); !s) return s;
  if (auto s = write_text(dir + "/kube-proxy.yaml", kube_proxy_config(dir, o).dump(2)); !s) {
    return s;
  }

  // containerd, then the images, then the kubelet: the sandbox image must be
  // there before the first Pod, or the kubelet would try to pull it.
  auto containerd =
      Process::spawn({kContainerd,
                      {find_in_path("containerd"), "--config", dir + "/containerd.toml"},
                      log_path(kContainerd),
                      options_.keep_running});
  if (!containerd) return containerd.error();
  containerd_.emplace(std::move(*containerd));
  CommandResult version;
  while (true) {
    if (auto e = exited_process_error()) return *e;
    version = ctr({"version"});
    if (version.ok()) break;
    if (SteadyClock::now() >= deadline) {
      return startup_error(kContainerd, "did not answer (" + version.describe() + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& archive : o.image_archives) {
    CommandResult r = ctr({"images", "import", "--all-platforms", archive});
    if (!r.ok()) {
      return make_error(ErrorCode::kInternal, "import " + archive + ": " + r.describe());
    }
  }

  std::vector<std::string> kubelet = {
      tool(kKubelet),
      "--config=" + dir + "/kubelet.yaml",
      "--kubeconfig=" + dir + "/kubelet.kubeconfig",
      "--root-dir=" + dir + "/kubelet",
      "--hostname-override=" + o.name,
      "--node-ip=" + o.host_ip,
      // cAdvisor asks containerd for container stats at this socket.
      "--containerd=" + dir + "/containerd.sock",
  };
  std::string labels;
  for (const auto& [k, v] : o.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
  if (!labels.empty()) kubelet.push_back("--node-labels=" + labels);
  auto kubelet_process =
      Process::spawn({kKubelet, kubelet, log_path(kKubelet), options_.keep_running});
  if (!kubelet_process) return kubelet_process.error();
  kubelet_.emplace(std::move(*kubelet_process));

  auto proxy = Process::spawn({kKubeProxy,
                               {tool(kKubeProxy), "--config=" + dir + "/kube-proxy.yaml"},
                               log_path(kKubeProxy),
                               options_.keep_running});
  if (!proxy) return proxy.error();
  kube_proxy_.emplace(std::move(*proxy));

  const std::string sched_kubeconfig = dir + "/kube-scheduler.kubeconfig";
  auto scheduler = Process::spawn({kScheduler,
                                   {tool(kScheduler), "--kubeconfig=" + sched_kubeconfig,
                                    "--authentication-kubeconfig=" + sched_kubeconfig,
                                    "--authorization-kubeconfig=" + sched_kubeconfig,
                                    "--leader-elect=false", "--secure-port=0"},
                                   log_path(kScheduler),
                                   options_.keep_running});
  if (!scheduler) return scheduler.error();
  scheduler_.emplace(std::move(*scheduler));
  if (auto s = wait_node_ready(deadline); !s) return s;
  return start_node_services(deadline);
}

Status ControlPlane::start_node_services(SteadyClock::time_point deadline) {
  const NodeOptions& o = options_.node;
  const std::string dir = node_dir();
  if (auto r = kubectl({"apply", "-f", "-"}, node_services_manifest().dump()); !r.ok()) {
    return make_error(ErrorCode::kInternal, "apply the node services' RBAC and StorageClass: " +
                                                r.describe() + " " + r.err);
  }
  auto ports = free_ports(1);
  if (!ports) return ports.error();
  const int ready_port = (*ports)[0];
  if (auto s = write_text(dir + "/Corefile", corefile(dir, o, ready_port)); !s) return s;
  auto coredns = Process::spawn({kCoreDns,
                                 {tool(kCoreDns), "-conf", dir + "/Corefile"},
                                 log_path(kCoreDns),
                                 options_.keep_running});
  if (!coredns) return coredns.error();
  coredns_.emplace(std::move(*coredns));

  std::error_code ec;
  fs::create_directories(dir + "/volumes", ec);
  if (ec) return make_error(ErrorCode::kInternal, "create " + dir + "/volumes: " + ec.message());
  auto provisioner = Process::spawn(
      {kProvisioner,
       {ORDERGUARD_LOCAL_PROVISIONER, "--kubeconfig=" + dir + "/local-provisioner.kubeconfig",
        "--node=" + o.name, "--root=" + dir + "/volumes"},
       log_path(kProvisioner),
       options_.keep_running});
  if (!provisioner) return provisioner.error();
  provisioner_.emplace(std::move(*provisioner));

  // CoreDNS is ready once its kubernetes plugin has synced with the API server.
  while (!http_ok(ready_port, "/ready")) {
    if (auto e = exited_process_error()) return *e;
    if (SteadyClock::now() >= deadline) {
      return startup_error(kCoreDns, "not ready on 127.0.0.1:" + std::to_string(ready_port));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return {};
}

Status ControlPlane::wait_node_ready(SteadyClock::time_point deadline) {
  // Ready, and the not-ready taint gone (the node-lifecycle controller lifts
  // it), so Pods schedule.
  const std::string query =
      "{range .status.conditions[?(@.type==\"Ready\")]}{.status}{end}"
      "/{range .spec.taints[*]}{.key},{end}";
  CommandResult last;
  while (true) {
    if (auto e = exited_process_error()) return *e;
    last = kubectl(
        {"--request-timeout=5s", "get", "node", options_.node.name, "-o", "jsonpath=" + query});
    if (last.ok() && last.out.rfind("True/", 0) == 0 &&
        last.out.find("node.kubernetes.io/not-ready") == std::string::npos) {
      return {};
    }
    if (SteadyClock::now() >= deadline) {
      return startup_error(kKubelet, "node " + options_.node.name +
                                         " not Ready and untainted in time (last: " +
                                         last.describe() + " " + last.out + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

CommandResult ControlPlane::ctr(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ctr", "--address", node_dir() + "/containerd.sock", "-n",
                                   "k8s.io"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.timeout = std::chrono::minutes(3);
  return run_command(argv, opts);
}

}  // namespace orderguard::e2e
