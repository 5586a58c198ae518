// The real node: Pods run from locally built images on containerd + runc,
// reach the API server through the `kubernetes` Service, reach nothing
// outside the cluster's own addresses, and the API server talks to the
// kubelet over verified TLS. One control plane with a node for the binary.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/environment.h"
#include "e2e/node_images.h"
#include "e2e/support/wait.h"

namespace orderguard::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

constexpr char kNs[] = "node-e2e";

json kubectl_json(const std::vector<std::string>& args) {
  auto r = cluster().kubectl(args);
  if (!r.ok()) return json();
  return json::parse(r.out, nullptr, false);
}

void apply(const json& object) {
  auto r = cluster().kubectl({"apply", "-f", "-"}, object.dump());
  ASSERT_TRUE(r.ok()) << r.describe();
}

bool pod_ready(const std::string& name) {
  json pod = kubectl_json({"get", "pod", name, "-n", kNs, "-o", "json"});
  if (!pod.is_object()) return false;
  for (const auto& c : pod["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "Ready" && c.value("status", "") == "True") return true;
  }
  return false;
}

void run_ready_pod(const std::string& name, const std::string& command) {
  apply(testbox_pod(kNs, name, command));
  ASSERT_TRUE(poll_until([&] { return pod_ready(name); }, seconds(90)))
      << cluster().kubectl({"describe", "pod", name, "-n", kNs}).out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

CommandResult exec(const std::string& pod, const std::string& script) {
  return cluster().kubectl({"exec", pod, "-n", kNs, "--", "/bin/sh", "-c", script});
}

// A TCP listener on `address` that accepts and answers "hello" until stopped;
// counts the connections it accepted.
class Listener {
 public:
  explicit Listener(const std::string& address) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    socklen_t len = sizeof addr;
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        ++accepted_;
        (void)!::write(c, "hello\n", 6);
        ::close(c);
      }
    });
  }
  ~Listener() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

class NodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster().kubectl({"create", "namespace", kNs}); }
};

TEST_F(NodeTest, NodeIsReadyWithItsBridgeAddress) {
  json node = kubectl_json({"get", "node", cluster().node_options().name, "-o", "json"});
  ASSERT_TRUE(node.is_object());
  bool ready = false;
  for (const auto& c : node["status"]["conditions"]) {
    if (c["type"] == "Ready") ready = c["status"] == "True";
  }
  EXPECT_TRUE(ready) << node["status"].dump();
  std::string internal_ip;
  for (const auto& a : node["status"]["addresses"]) {
    if (a["type"] == "InternalIP") internal_ip = a["address"];
  }
  EXPECT_EQ(internal_ip, cluster().node_options().host_ip);
  EXPECT_EQ(cluster().server().rfind("https://" + cluster().node_options().host_ip + ":", 0), 0u)
      << cluster().server();
}

TEST_F(NodeTest, PodRunsFromALocalImageAndExecGoesThroughTheKubelet) {
  run_ready_pod("sleeper", "echo started; exec sleep 3600");
  // exec and logs are the API server calling the kubelet: with its client
  // certificate, checking the kubelet's serving certificate against the CA.
  auto r = exec("sleeper", "echo from-inside");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "from-inside\n");
  auto logs = cluster().kubectl({"logs", "sleeper", "-n", kNs});
  ASSERT_TRUE(logs.ok()) << logs.describe();
  EXPECT_EQ(logs.out, "started\n");
  json pod = kubectl_json({"get", "pod", "sleeper", "-n", kNs, "-o", "json"});
  const std::string ip = pod["status"].value("podIP", "");
  EXPECT_EQ(ip.rfind("10.244.0.", 0), 0u) << ip;
  // Nothing was pulled: the image is the one imported from the archive.
  const std::string image_id = pod["status"]["containerStatuses"][0].value("imageID", "");
  EXPECT_NE(image_id.find("sha256:"), std::string::npos) << image_id;
}

TEST_F(NodeTest, AnImageThatWasNotImportedIsNeverPulled) {
  // Every registry is a closed loopback port for this node's containerd: the
  // pull fails there, with no DNS query and no connection off the machine.
  // (The name is a loopback registry, so even a broken guard sends nothing out.)
  json pod = testbox_pod(kNs, "not-imported", "exec sleep 3600");
  pod["spec"]["containers"][0]["image"] = "localhost:5999/orderguard/absent:1";
  pod["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent";
  apply(pod);
  std::string events;
  EXPECT_TRUE(poll_until(
      [&] {
        events = cluster()
                     .kubectl({"get", "events", "-n", kNs, "--field-selector",
                               "involvedObject.name=not-imported", "-o",
                               "custom-columns=REASON:.reason,MESSAGE:.message"})
                     .out;
        return events.find("Failed to pull image") != std::string::npos;
      },
      seconds(60)))
      << events;
  EXPECT_NE(events.find("dial tcp 127.0.0.1:1"), std::string::npos) << events;
  EXPECT_EQ(events.find("127.0.0.1:5999"), std::string::npos) << events;
}

TEST_F(NodeTest, KubeletRefusesAnonymousCallers) {
  // An in-cluster attacker without credentials gets nothing from the kubelet.
  run_ready_pod("anon", "exec sleep 3600");
  const std::string url = "https://" + cluster().node_options().host_ip + ":10250/pods";
  auto r = exec("anon", "wget -q -O - --no-check-certificate " + url + " 2>&1; echo rc=$?");
  EXPECT_EQ(r.out.find("\"items\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.out;
}

TEST_F(NodeTest, PodReachesTheApiServerThroughTheKubernetesService) {
  run_ready_pod("client", "exec sleep 3600");
  auto env = exec("client", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(env.ok()) << env.describe();
  EXPECT_EQ(env.out, "10.0.0.1:443\n");
  // A TCP connection to the Service address lands on the API server (kube-proxy
  // DNAT to the advertised bridge address).
  auto r = exec("client", "nc -w 5 $KUBERNETES_SERVICE_HOST 443 </dev/null && echo open");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "open\n");
  // The token the kubelet mounted is a real ServiceAccount token.
  auto token = exec("client", "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
  ASSERT_TRUE(token.ok()) << token.describe();
  EXPECT_EQ(token.out.rfind("eyJ", 0), 0u);
}

TEST_F(NodeTest, PodTrafficReachesOnlyTheClusterAddresses) {
  // Two listeners on this host: one on the bridge's address (a cluster
  // address) and one on an address of a veth pair this test creates (not a
  // cluster address, but still local: were the rule broken, nothing would
  // leave the machine). Only the first may answer a Pod.
  const std::string outside = "10.254.254.1";
  CommandResult link =
      run_command({"ip", "link", "add", "ogtest0", "type", "veth", "peer", "name", "ogtest1"});
  ASSERT_TRUE(link.ok()) << link.describe();
  struct Cleanup {
    ~Cleanup() { run_command({"ip", "link", "del", "ogtest0"}); }
  } cleanup;
  ASSERT_TRUE(run_command({"ip", "addr", "add", outside + "/32", "dev", "ogtest0"}).ok());
  ASSERT_TRUE(run_command({"ip", "link", "set", "ogtest0", "up"}).ok());
  Listener inside(cluster().node_options().host_ip);
  Listener other(outside);
  ASSERT_TRUE(inside.ok() && other.ok());

  run_ready_pod("prober", "exec sleep 3600");
  auto in = exec("prober", "nc -w 3 " + cluster().node_options().host_ip + " " +
                               std::to_string(inside.port()) + " </dev/null");
  EXPECT_EQ(in.out, "hello\n") << in.describe();
  auto out = exec("prober", "nc -w 3 " + outside + " " + std::to_string(other.port()) +
                                " </dev/null; echo rc=$?");
  EXPECT_EQ(out.out.find("hello"), std::string::npos) << out.out;
  EXPECT_EQ(other.accepted(), 0);
  // The only DNS server a Pod is given is the node's CoreDNS, which answers
  // the cluster's names and nothing else: no server outside is asked.
  auto resolv = exec("prober", "grep nameserver /etc/resolv.conf");
  EXPECT_EQ(resolv.out, "nameserver " + cluster().node_options().host_ip + "\n") << resolv.out;
  auto inside_name = exec("prober", "nslookup kubernetes.default.svc.cluster.local");
  EXPECT_NE(inside_name.out.find("10.0.0.1"), std::string::npos) << inside_name.out;
  auto outside_name = exec("prober", "nslookup example.com; echo rc=$?");
  EXPECT_EQ(outside_name.out.find("Address: 93."), std::string::npos) << outside_name.out;
  EXPECT_NE(outside_name.out.find("rc=1"), std::string::npos) << outside_name.out;
}

TEST_F(NodeTest, ClaimsBindToLocalVolumesThatDeleteRemoves) {
  // The default StorageClass is the node's local-volume provisioner's.
  apply({{"apiVersion", "v1"},
         {"kind", "PersistentVolumeClaim"},
         {"metadata", {{"name", "scratch"}, {"namespace", kNs}}},
         {"spec",
          {{"accessModes", {"ReadWriteOnce"}},
           {"resources", {{"requests", {{"storage", "10Mi"}}}}}}}});
  json pod = testbox_pod(kNs, "writer", "echo kept > /data/file; exec sleep 3600");
  pod["spec"]["containers"][0]["volumeMounts"] = {{{"name", "data"}, {"mountPath", "/data"}}};
  pod["spec"]["volumes"] = {
      {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "scratch"}}}}};
  apply(pod);
  ASSERT_TRUE(poll_until([&] { return pod_ready("writer"); }, seconds(90)))
      << cluster().kubectl({"describe", "pod", "writer", "-n", kNs}).out;
  json claim = kubectl_json({"get", "pvc", "scratch", "-n", kNs, "-o", "json"});
  const std::string volume = claim["spec"].value("volumeName", "");
  ASSERT_FALSE(volume.empty());
  const std::string dir = cluster().node_dir() + "/volumes/" + volume;
  // The Pod's write is in the volume's directory on the node.
  EXPECT_TRUE(poll_until([&] { return read_file(dir + "/file") == "kept\n"; }, seconds(10)));

  ASSERT_TRUE(cluster().kubectl({"delete", "pod", "writer", "-n", kNs, "--grace-period=1"}).ok());
  ASSERT_TRUE(cluster().kubectl({"delete", "pvc", "scratch", "-n", kNs}).ok());
  // Reclaim policy Delete: the volume object and its directory go.
  EXPECT_TRUE(poll_until(
      [&] {
        return !kubectl_json({"get", "pv", volume, "-o", "json"}).is_object();
      },
      seconds(60)));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(NodeTest, ContainerProcessesLiveInTheKubeletsPodCgroups) {
  // What the agent's pod mapping reads: /kubepods/<qos>/pod<uid>/<id>.
  run_ready_pod("cgroup-probe", "exec sleep 3600");
  json pod = kubectl_json({"get", "pod", "cgroup-probe", "-n", kNs, "-o", "json"});
  const std::string uid = pod["metadata"].value("uid", "");
  auto r = exec("cgroup-probe", "cat /proc/self/cgroup");
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("/kubepods/besteffort/pod" + uid + "/"), std::string::npos) << r.out;
}

TEST_F(NodeTest, ASecondClusterWithANodeFailsAtOnce) {
  ControlPlaneOptions options;
  options.tools_bin = cluster().tools_bin();
  options.node.enabled = true;
  options.node.image_archives = cluster().node_options().image_archives;
  auto second = ControlPlane::start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("already running"), std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find(cluster().work_dir()), std::string::npos)
      << second.error().message;
  // The running node is untouched.
  EXPECT_TRUE(poll_until(
      [] {
        auto r = cluster().kubectl({"get", "--raw", "/readyz"});
        return r.ok();
      },
      seconds(10)));
}

}  // namespace
}  // namespace orderguard::e2e

int main(int argc, char** argv) { return orderguard::e2e::run_node_e2e_tests(argc, argv); }
