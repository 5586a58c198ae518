#include "bench/operator_bench_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace orderguard::bench {

double seconds_since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

double metric_sum(const std::string& text, const std::string& metric,
                  const std::vector<std::string>& labels, bool exclude) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(metric + "{", 0) != 0) continue;
    bool match = true;
    for (const auto& l : labels) match = match && line.find(l) != std::string::npos;
    if (exclude) match = !match;
    if (!match) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

double proc_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> f;
  std::string x;
  while (fields >> x) f.push_back(x);
  if (f.size() < 13) return -1;
  // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state.
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

nlohmann::json order_service(const std::string& ns, const std::vector<std::string>& zones, int i) {
  return {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
          {"kind", "OrderService"},
          {"metadata", {{"name", "svc-" + std::to_string(i)}, {"namespace", ns}}},
          {"spec",
           {{"image", "registry.example.com/shop/order-service:1.4.2"},
            {"port", 8080},
            {"replicas", 6},
            {"resources", {{"requests", {{"cpu", "500m"}, {"memory", "512Mi"}}}}},
            {"zones", nlohmann::json::array({{{"name", zones[0]}, {"weight", 34}},
                                             {{"name", zones[1]}, {"weight", 33}},
                                             {{"name", zones[2]}, {"weight", 33}}})},
            {"failover", {{"unhealthyAfterSeconds", 86400}}}}}};
}

bool converged(const nlohmann::json& o) {
  const nlohmann::json status = o.value("status", nlohmann::json::object());
  if (status.value("observedGeneration", int64_t{-1}) !=
      o["metadata"].value("generation", int64_t{0})) {
    return false;
  }
  bool ready = false, progressing = false;
  for (const auto& c : status.value("conditions", nlohmann::json::array())) {
    ready = ready || c.value("type", "") == "Ready";
    progressing = progressing || c.value("type", "") == "Progressing";
  }
  return ready && progressing;
}

std::unique_ptr<e2e::ControlPlane> start_control_plane(const e2e::ControlPlaneOptions& options) {
  auto cp = e2e::ControlPlane::start(options);
  if (!cp.ok()) {
    std::fprintf(stderr, "control plane: %s\n", cp.error().describe().c_str());
    return nullptr;
  }
  e2e::ControlPlane& cluster = **cp;
  auto crds = cluster.kubectl({"apply", "-f", std::string(ORDERGUARD_SOURCE_DIR) + "/crds/"});
  auto established = cluster.kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                      "crd/orderservices.tiers.orderguard.io"});
  if (!crds.ok() || !established.ok()) {
    std::fprintf(stderr, "CRDs: %s %s\n", crds.err.c_str(), established.err.c_str());
    return nullptr;
  }
  return std::move(*cp);
}

bool create_ready_zone_nodes(kube::Client& client, const std::vector<std::string>& zones) {
  for (const auto& zone : zones) {
    auto node = client.create(
        kube::resources::kNodes, "",
        {{"apiVersion", "v1"},
         {"kind", "Node"},
         {"metadata",
          {{"name", "node-" + zone}, {"labels", {{"topology.kubernetes.io/zone", zone}}}}}});
    auto ready = client.patch(
        kube::resources::kNodes, "", "node-" + zone, kube::PatchType::kMerge,
        {{"status",
          {{"conditions", nlohmann::json::array({{{"type", "Ready"}, {"status", "True"}}})}}}},
        "status");
    if (!node.ok() || !ready.ok()) return false;
  }
  return true;
}

}  // namespace orderguard::bench
