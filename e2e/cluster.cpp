#include "e2e/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "base/base64.h"
#include "base/log.h"
#include "kube/client.h"

namespace orderguard::e2e {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kEtcd[] = "etcd";
constexpr char kApiserver[] = "kube-apiserver";
constexpr char kControllerManager[] = "kube-controller-manager";
constexpr char kTempPrefix[] = "orderguard-e2e-";
// What the control plane writes into its work directory; all of it is
// removed when the state is reset, and nothing else is.
constexpr const char* kStateEntries[] = {"kubeconfig",
                                         "controller-manager.kubeconfig",
                                         "pki",
                                         "etcd-data",
                                         "apiserver-certs",
                                         "logs",
                                         "pids",
                                         "home",
                                         "node",
                                         "owner"};
constexpr milliseconds kPollInterval{200};

Status write_file(const std::string& path, const std::string& content, mode_t mode = 0644) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return make_error(ErrorCode::kInternal, "write " + path + ": " + std::strerror(errno));
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return make_error(ErrorCode::kInternal, "write " + path + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);  // O_CREAT's mode does not apply to an existing file
  ::close(fd);
  return {};
}

bool is_executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// One HTTP exchange with etcd's JSON gateway (plain HTTP on loopback), through
// the project's own REST client: raw() takes any path, and its errors name the
// request.
Result<nlohmann::json> http_json(const std::string& base, const std::string& method,
                                 const std::string& path, const std::string& body) {
  kube::Config config;
  config.server = base;
  config.request_timeout = seconds(10);
  config.qps = 0;
  config.source = "etcd gateway";
  auto client = kube::make_client(config);
  if (!client.ok()) return client.error();
  nlohmann::json doc;
  if (!body.empty()) {
    doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded())
      return make_error(ErrorCode::kInvalid, method + " " + path + ": body is not JSON");
  }
  auto answer = (*client)->raw(method, path, body.empty() ? nullptr : &doc);
  if (!answer.ok()) return answer.error();
  if (answer->is_string()) {
    return make_error(ErrorCode::kInternal,
                      method + " " + path + ": not JSON: " + answer->template get<std::string>());
  }
  return answer;
}

// grpc-gateway renders int64 as a JSON string.
std::optional<int64_t> json_int64(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_string()) {
    try {
      return std::stoll(j.get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, pid_t>> read_pids(const std::string& dir) {
  std::vector<std::pair<std::string, pid_t>> out;
  std::ifstream in(dir + "/pids");
  std::string name;
  long pid = 0;
  while (in >> name >> pid) out.emplace_back(name, static_cast<pid_t>(pid));
  return out;
}

void remove_state(const std::string& dir) {
  // A node's directory may hold Pods' mounts (hostPath included): unmount
  // before deleting, and keep it if that fails.
  bool keep_node = false;
  std::error_code exists_ec;
  if (fs::exists(fs::path(dir) / "node", exists_ec)) {
    if (auto s = unmount_below(dir + "/node"); !s) {
      log::error("node directory kept", {{"error", s.error().message}});
      keep_node = true;
    }
  }
  for (const char* entry : kStateEntries) {
    if (keep_node && std::string(entry) == "node") continue;
    std::error_code ec;
    fs::remove_all(fs::path(dir) / entry, ec);
  }
}

// Stops the recorded processes of a control plane that is not ours, in the
// reverse of start order.
void stop_recorded_processes(const std::string& dir) {
  auto pids = read_pids(dir);
  for (auto it = pids.rbegin(); it != pids.rend(); ++it) {
    stop_detached_process(it->second, it->first, dir + "/", seconds(10));
  }
  // With a node: its containers outlive the kubelet and containerd, and its
  // host changes outlive everything.
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "node", ec)) {
    if (auto s = clean_node_leftovers(dir + "/node"); !s) {
      log::error("node cleanup incomplete", {{"dir", dir}, {"error", s.error().message}});
    }
  }
  if (auto s = HostNetwork::restore(dir); !s) {
    log::error("host restore incomplete", {{"dir", dir}, {"error", s.error().message}});
  }
}

bool pid_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// Work directories of test runs that died without tearing down (SIGKILL,
// a crash, a CTest timeout): their owner process is gone. Their servers
// died with it through the parent-death signal; the directories remain.
void sweep_stale_temp_dirs() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(ec), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) != 0 || !entry.is_directory(ec)) continue;
    std::ifstream owner(entry.path() / "owner");
    long pid = 0;
    if (!(owner >> pid) || pid_alive(static_cast<pid_t>(pid))) continue;
    stop_recorded_processes(entry.path().string());
    if (auto s = unmount_below(entry.path().string()); !s)
      continue;  // never delete through a mount
    std::error_code rm_ec;
    fs::remove_all(entry.path(), rm_ec);
    log::info("removed stale e2e work dir", {{"dir", entry.path().string()}, {"owner_pid", pid}});
  }
}

}  // namespace

// Free loopback ports, found by binding port 0. All sockets stay open until
// every port is known, so the same port is never handed out twice; another
// process can still take one before the server binds it, which start()
// handles by retrying with new ports.
Result<std::vector<int>> free_ports(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      status = make_error(ErrorCode::kInternal, std::string("pick port: ") + std::strerror(errno));
    } else {
      ports.push_back(ntohs(addr.sin_port));
    }
    if (fd >= 0) fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  if (!status) return status.error();
  return ports;
}

// ---- lifecycle ----

ControlPlane::ControlPlane(ControlPlaneOptions options) : options_(std::move(options)) {}

ControlPlane::~ControlPlane() {
  if (options_.keep_running) {
    release_processes();
  } else {
    stop();
  }
}

Result<std::unique_ptr<ControlPlane>> ControlPlane::start(ControlPlaneOptions options) {
  const auto started = SteadyClock::now();
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(options)));
  std::vector<std::string> needed = {kEtcd, kApiserver, "kubectl"};
  if (cp->options_.controller_manager) needed.push_back(kControllerManager);
  if (cp->options_.node.enabled) {
    if (!cp->options_.controller_manager) {
      return make_error(ErrorCode::kInvalid, "a node needs the controller manager");
    }
    for (const char* t : {"kubelet", "kube-proxy", "kube-scheduler", "coredns"}) {
      needed.push_back(t);
    }
  }
  for (const auto& name : needed) {
    if (!is_executable(cp->tool(name))) {
      return make_error(ErrorCode::kInvalid, cp->tool(name) +
                                                 " is missing or not executable; build the tools "
                                                 "with e2e/tools/build.sh (it prints the bin dir)");
    }
  }
  if (auto s = cp->prepare_work_dir(); !s) {
    cp->stop();
    return s.error();
  }
  if (cp->options_.node.enabled) {
    auto claimed = HostNetwork::claim(cp->work_dir_, cp->options_.node);
    cp->host_claimed_ = claimed.ok();
    if (!claimed) {
      cp->stop();
      return claimed.error();
    }
  }
  if (auto s = cp->generate_pki(); !s) {
    cp->stop();
    return s.error();
  }
  // A port picked free can be taken by someone else before our server binds
  // it: retry with fresh ports when that is why a server died.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    Status s = cp->pick_ports();
    if (s) s = cp->write_kubeconfigs();
    if (s) {
      std::lock_guard<std::mutex> lock(cp->mu_);
      s = cp->start_all();
      if (!s) cp->stop_processes();
    }
    if (s) break;
    const bool port_clash = s.error().message.find("address already in use") != std::string::npos;
    if (!port_clash || attempt == kAttempts) {
      cp->stop();
      return s.error();
    }
    log::info("port taken before use; retrying control plane start", {{"attempt", attempt}});
    std::error_code ec;
    fs::remove_all(fs::path(cp->work_dir_) / "etcd-data", ec);
  }
  cp->write_pids();
  log::info("control plane ready",
            {{"server", cp->server()},
             {"kubeconfig", cp->kubeconfig_path_},
             {"work_dir", cp->work_dir_},
             {"startup_ms",
              std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started).count()}});
  return cp;
}

void ControlPlane::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  stop_processes();
  if (host_claimed_) {
    if (auto s = HostNetwork::restore(work_dir_); !s) {
      log::error("host restore incomplete", {{"error", s.error().message}});
    }
    host_claimed_ = false;
  }
  if (work_dir_.empty()) return;
  std::error_code ec;
  if (owns_work_dir_) {
    if (auto s = unmount_below(work_dir_); !s) {
      log::error("work dir kept: a mount is left", {{"error", s.error().message}});
      return;
    }
    fs::remove_all(work_dir_, ec);
  } else {
    fs::remove(fs::path(work_dir_) / "pids", ec);
  }
}

std::vector<std::optional<Process>*> ControlPlane::process_slots() {
  // Start order; stopped in reverse.
  return {&etcd_,      &apiserver_, &controller_manager_, &containerd_, &kubelet_, &kube_proxy_,
          &scheduler_, &coredns_,   &provisioner_};
}

void ControlPlane::stop_processes() {
  // The node first: its clients, then its containers, which outlive the
  // kubelet and containerd.
  const bool had_node = containerd_ || kubelet_;
  for (auto* p : {&provisioner_, &coredns_, &scheduler_, &kube_proxy_, &kubelet_, &containerd_}) {
    if (*p) (*p)->terminate(seconds(5));
    p->reset();
  }
  if (had_node) {
    if (auto s = clean_node_leftovers(node_dir()); !s) {
      log::error("node cleanup incomplete", {{"error", s.error().message}});
    }
  }
  // Clients first, so the API server has no watches left to drain.
  if (controller_manager_) controller_manager_->terminate(seconds(5));
  if (apiserver_) apiserver_->terminate(seconds(10));
  if (etcd_) etcd_->terminate(seconds(5));
  controller_manager_.reset();
  apiserver_.reset();
  etcd_.reset();
}

void ControlPlane::release_processes() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto* p : process_slots()) {
    if (*p) (*p)->release();
    p->reset();
  }
}

Status ControlPlane::prepare_work_dir() {
  std::error_code ec;
  if (options_.work_dir.empty()) {
    sweep_stale_temp_dirs();
    std::string templ =
        (fs::temp_directory_path(ec) / (std::string(kTempPrefix) + "XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) {
      return make_error(ErrorCode::kInternal, "mkdtemp " + templ + ": " + std::strerror(errno));
    }
    work_dir_ = templ;
    owns_work_dir_ = true;
    if (auto s = write_file(work_dir_ + "/owner", std::to_string(::getpid()) + "\n"); !s) return s;
  } else {
    work_dir_ = fs::absolute(options_.work_dir, ec).lexically_normal().string();
    if (!work_dir_.empty() && work_dir_.back() == '/') work_dir_.pop_back();
    fs::create_directories(work_dir_, ec);
    if (ec) return make_error(ErrorCode::kInternal, "create " + work_dir_ + ": " + ec.message());
    remove_state(work_dir_);
  }
  for (const char* sub : {"logs", "pki", "home", "apiserver-certs"}) {
    fs::create_directories(fs::path(work_dir_) / sub, ec);
    if (ec) return make_error(ErrorCode::kInternal, "create " + work_dir_ + ": " + ec.message());
  }
  fs::permissions(fs::path(work_dir_) / "pki", fs::perms::owner_all, ec);
  kubeconfig_path_ = work_dir_ + "/kubeconfig";
  return {};
}

Status ControlPlane::generate_pki() {
  using kube::CertificateSpec;
  using kube::KeyType;
  const std::string pki = work_dir_ + "/pki/";

  CertificateSpec ca_spec;
  ca_spec.common_name = "orderguard-e2e-ca";
  ca_spec.validity = std::chrono::hours(24 * 365 * 10);
  auto ca = kube::generate_ca(ca_spec);
  if (!ca) return ca.error();

  CertificateSpec serving;
  serving.common_name = "kube-apiserver";
  serving.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"};
  serving.ip_addresses = {"127.0.0.1", "::1", "10.0.0.1"};
  if (options_.node.enabled) serving.ip_addresses.push_back(options_.node.host_ip);
  serving.server_auth = true;
  auto apiserver = kube::generate_signed(serving, *ca);
  if (!apiserver) return apiserver.error();

  CertificateSpec admin_spec;
  admin_spec.common_name = "orderguard-admin";
  admin_spec.organizations = {"system:masters"};
  admin_spec.client_auth = true;
  auto admin = kube::generate_signed(admin_spec, *ca);
  if (!admin) return admin.error();

  CertificateSpec kcm_spec;
  kcm_spec.common_name = "system:kube-controller-manager";
  kcm_spec.client_auth = true;
  auto kcm = kube::generate_signed(kcm_spec, *ca);
  if (!kcm) return kcm.error();

  // ServiceAccount tokens are RS256 JWTs, the algorithm every client expects.
  auto sa = kube::PrivateKey::generate(KeyType::kRsa2048);
  if (!sa) return sa.error();
  auto sa_key = sa->to_pem();
  if (!sa_key) return sa_key.error();
  auto sa_pub = sa->public_key_pem();
  if (!sa_pub) return sa_pub.error();

  const std::vector<std::tuple<std::string, std::string, mode_t>> files = {
      {"ca.crt", ca->cert_pem, 0644},
      {"ca.key", ca->key_pem, 0600},
      {"apiserver.crt", apiserver->cert_pem, 0644},
      {"apiserver.key", apiserver->key_pem, 0600},
      {"admin.crt", admin->cert_pem, 0644},
      {"admin.key", admin->key_pem, 0600},
      {"controller-manager.crt", kcm->cert_pem, 0644},
      {"controller-manager.key", kcm->key_pem, 0600},
      {"sa.key", *sa_key, 0600},
      {"sa.pub", *sa_pub, 0644},
  };
  for (const auto& [name, content, mode] : files) {
    if (auto s = write_file(pki + name, content, mode); !s) return s;
  }
  if (options_.node.enabled) {
    if (auto s = generate_node_pki(*ca); !s) return s;
  }
  ca_ = std::move(*ca);
  admin_ = std::move(*admin);
  return {};
}

Status ControlPlane::generate_node_pki(const kube::KeyPair& ca) {
  using kube::CertificateSpec;
  const NodeOptions& o = options_.node;
  const auto client = [](const std::string& cn, std::vector<std::string> orgs) {
    CertificateSpec spec;
    spec.common_name = cn;
    spec.organizations = std::move(orgs);
    spec.client_auth = true;
    return spec;
  };
  CertificateSpec kubelet_serving;
  kubelet_serving.common_name = o.name;
  kubelet_serving.dns_names = {o.name};
  kubelet_serving.ip_addresses = {o.host_ip};
  kubelet_serving.server_auth = true;
  const std::vector<std::pair<std::string, CertificateSpec>> specs = {
      // What the Node authorizer and NodeRestriction recognise as this node.
      {"kubelet-client", client("system:node:" + o.name, {"system:nodes"})},
      {"kubelet-serving", kubelet_serving},
      {"apiserver-kubelet-client", client("kube-apiserver-kubelet-client", {"system:masters"})},
      {"kube-scheduler", client("system:kube-scheduler", {})},
      {"kube-proxy", client("system:kube-proxy", {})},
      {"coredns", client("system:orderguard:coredns", {})},
      {"local-provisioner", client("system:orderguard:local-provisioner", {})},
  };
  const std::string pki = work_dir_ + "/pki/";
  for (const auto& [name, spec] : specs) {
    auto pair = kube::generate_signed(spec, ca);
    if (!pair) return pair.error();
    if (auto s = write_file(pki + name + ".crt", pair->cert_pem, 0644); !s) return s;
    if (auto s = write_file(pki + name + ".key", pair->key_pem, 0600); !s) return s;
  }
  return {};
}

Status ControlPlane::pick_ports() {
  auto ports = free_ports(3);
  if (!ports) return ports.error();
  etcd_client_port_ = (*ports)[0];
  etcd_peer_port_ = (*ports)[1];
  apiserver_port_ = (*ports)[2];
  return {};
}

Status ControlPlane::write_kubeconfigs() {
  // JSON is YAML, and kubectl, helm and kube/config.h all read it.
  const auto kubeconfig = [&](const std::string& user, const std::string& cert_pem,
                              const std::string& key_pem) {
    return nlohmann::json{
        {"apiVersion", "v1"},
        {"kind", "Config"},
        {"clusters",
         {{{"name", "orderguard-e2e"},
           {"cluster",
            {{"server", server()},
             {"certificate-authority-data", base64_encode(ca_->cert_pem)}}}}}},
        {"users",
         {{{"name", user},
           {"user",
            {{"client-certificate-data", base64_encode(cert_pem)},
             {"client-key-data", base64_encode(key_pem)}}}}}},
        {"contexts",
         {{{"name", "orderguard-e2e"},
           {"context", {{"cluster", "orderguard-e2e"}, {"user", user}}}}}},
        {"current-context", "orderguard-e2e"},
    }
        .dump(2);
  };
  if (auto s = write_file(kubeconfig_path_,
                          kubeconfig("orderguard-admin", admin_->cert_pem, admin_->key_pem), 0600);
      !s) {
    return s;
  }
  const std::string pki = work_dir_ + "/pki/";
  std::vector<std::tuple<std::string, std::string, std::string>> files = {
      {work_dir_ + "/controller-manager.kubeconfig", "system:kube-controller-manager",
       "controller-manager"}};
  if (options_.node.enabled) {
    std::error_code ec;
    fs::create_directories(node_dir(), ec);
    files.emplace_back(node_dir() + "/kubelet.kubeconfig", "system:node:" + options_.node.name,
                       "kubelet-client");
    files.emplace_back(node_dir() + "/kube-scheduler.kubeconfig", "system:kube-scheduler",
                       "kube-scheduler");
    files.emplace_back(node_dir() + "/kube-proxy.kubeconfig", "system:kube-proxy", "kube-proxy");
    files.emplace_back(node_dir() + "/coredns.kubeconfig", "system:orderguard:coredns", "coredns");
    files.emplace_back(node_dir() + "/local-provisioner.kubeconfig",
                       "system:orderguard:local-provisioner", "local-provisioner");
  }
  for (const auto& [path, user, pair] : files) {
    if (auto s = write_file(path,
                            kubeconfig(user, read_text_file(pki + pair + ".crt"),
                                       read_text_file(pki + pair + ".key")),
                            0600);
        !s) {
      return s;
    }
  }
  return {};
}

Status ControlPlane::start_all() {
  const auto t0 = SteadyClock::now();
  const auto deadline = t0 + options_.start_timeout;
  const auto ms_since = [](SteadyClock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t).count();
  };
  nlohmann::json phases;
  if (auto s = start_etcd(); !s) return s;
  phases["etcd_ms"] = ms_since(t0);
  // start_apiserver_locked waits with its own budget; the overall deadline
  // bounds the controller manager wait below.
  const auto t1 = SteadyClock::now();
  if (auto s = start_apiserver_locked(); !s) return s;
  phases["apiserver_ms"] = ms_since(t1);
  if (options_.controller_manager) {
    const auto t2 = SteadyClock::now();
    if (auto s = start_controller_manager(); !s) return s;
    if (auto s = wait_default_service_account(deadline); !s) return s;
    phases["controller_manager_ms"] = ms_since(t2);
  }
  if (options_.node.enabled) {
    const auto t3 = SteadyClock::now();
    if (auto s = start_node(deadline); !s) return s;
    phases["node_ms"] = ms_since(t3);
  }
  log::info("control plane phases", phases);
  return {};
}

Status ControlPlane::start_etcd() {
  const std::string client = etcd_url();
  const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port_);
  std::vector<std::string> argv = {
      tool(kEtcd),
      "--name=orderguard-e2e",
      "--data-dir=" + work_dir_ + "/etcd-data",
      "--listen-client-urls=" + client,
      "--advertise-client-urls=" + client,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=orderguard-e2e=" + peer,
      "--initial-cluster-state=new",
      "--log-level=warn",
  };
  // Test clusters are thrown away; skipping fsync makes every write cheap.
  // A cluster people keep running keeps etcd's durability.
  if (!options_.keep_running) argv.push_back("--unsafe-no-fsync");
  auto p = Process::spawn({kEtcd, argv, log_path(kEtcd), options_.keep_running});
  if (!p) return p.error();
  etcd_.emplace(std::move(*p));

  const auto deadline = SteadyClock::now() + seconds(60);
  std::string last;
  while (true) {
    if (auto e = exited_process_error()) return *e;
    auto health = http_json(client, "GET", "/health", "");
    if (health && health->value("health", "") == "true") return {};
    last = health ? health->dump() : health.error().message;
    if (SteadyClock::now() >= deadline) {
      return startup_error(kEtcd, "not healthy within 60s (last answer: " + last + ")");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status ControlPlane::start_apiserver_locked() {
  const std::string pki = work_dir_ + "/pki/";
  std::vector<std::string> argv = {
      tool(kApiserver),
      "--etcd-servers=" + etcd_url(),
      "--bind-address=" + listen_host(),
      "--advertise-address=" + listen_host(),
      "--secure-port=" + std::to_string(apiserver_port_),
      "--cert-dir=" + work_dir_ + "/apiserver-certs",
      "--tls-cert-file=" + pki + "apiserver.crt",
      "--tls-private-key-file=" + pki + "apiserver.key",
      "--client-ca-file=" + pki + "ca.crt",
      "--service-account-issuer=https://kubernetes.default.svc",
      "--service-account-key-file=" + pki + "sa.pub",
      "--service-account-signing-key-file=" + pki + "sa.key",
      "--service-cluster-ip-range=" + options_.node.service_range,
      "--allow-privileged=true",
      // Without it a SIGTERM waits 60s for clients' watches to drain.
      "--shutdown-watch-termination-grace-period=2s",
      "--profiling=false",
  };
  if (options_.node.enabled) {
    const std::vector<std::string> node_flags = {
        // Kubelets are confined to their own Node and its Pods.
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        // Logs, exec and port-forward: the API server proves itself to the
        // kubelet and checks the kubelet's serving certificate.
        "--kubelet-client-certificate=" + pki + "apiserver-kubelet-client.crt",
        "--kubelet-client-key=" + pki + "apiserver-kubelet-client.key",
        "--kubelet-certificate-authority=" + pki + "ca.crt",
        // The node's name is not in any DNS; its InternalIP is on the bridge.
        "--kubelet-preferred-address-types=InternalIP",
    };
    argv.insert(argv.end(), node_flags.begin(), node_flags.end());
  } else {
    const std::vector<std::string> no_node_flags = {
        // No kubelets, so no Node authorizer.
        "--authorization-mode=RBAC",
        // The `kubernetes` Endpoints would point at 127.0.0.1, which Endpoints
        // validation rejects (loopback); the reconciler would log that forever.
        "--endpoint-reconciler-type=none",
    };
    argv.insert(argv.end(), no_node_flags.begin(), no_node_flags.end());
  }
  argv.insert(argv.end(), options_.extra_apiserver_flags.begin(),
              options_.extra_apiserver_flags.end());
  auto p = Process::spawn({kApiserver, argv, log_path(kApiserver), options_.keep_running});
  if (!p) return p.error();
  apiserver_.emplace(std::move(*p));
  return wait_apiserver_ready(SteadyClock::now() + options_.start_timeout);
}

Status ControlPlane::wait_apiserver_ready(SteadyClock::time_point deadline) {
  CommandResult last;
  while (true) {
    if (auto e = exited_process_error()) return *e;
    CommandOptions opts;
    opts.env = tool_env();
    opts.timeout = seconds(10);
    last = run_command({tool("kubectl"), "--kubeconfig=" + kubeconfig_path_, "--request-timeout=5s",
                        "get", "--raw", "/readyz"},
                       opts);
    if (last.ok() && trim_space(last.out) == "ok") return {};
    if (SteadyClock::now() >= deadline) {
      return startup_error(kApiserver, "not ready in time (last /readyz: " + last.describe() + ")");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status ControlPlane::start_controller_manager() {
  const std::string pki = work_dir_ + "/pki/";
  const std::string kubeconfig = work_dir_ + "/controller-manager.kubeconfig";
  std::vector<std::string> argv = {
      tool(kControllerManager),
      "--kubeconfig=" + kubeconfig,
      "--authentication-kubeconfig=" + kubeconfig,
      "--authorization-kubeconfig=" + kubeconfig,
      "--service-account-private-key-file=" + pki + "sa.key",
      "--root-ca-file=" + pki + "ca.crt",
      "--cluster-signing-cert-file=" + pki + "ca.crt",
      "--cluster-signing-key-file=" + pki + "ca.key",
      "--use-service-account-credentials=true",
      "--leader-elect=false",
      // Nothing scrapes it; not serving means no port to pick or collide on.
      "--secure-port=0",
      // Controllers for nodes, clouds and volume attachment have nothing to
      // do without nodes; everything for workloads, namespaces, garbage
      // collection and ServiceAccounts stays on.
      std::string("--controllers=*,-node-ipam-controller,") +
          // With a node, its lifecycle controller lifts the not-ready taint
          // once the kubelet reports Ready.
          (options_.node.enabled ? "" : "-node-lifecycle-controller,") +
          "-cloud-node-lifecycle-controller,-node-route-controller,-service-lb-controller,"
          "-persistentvolume-attach-detach-controller",
  };
  auto p = Process::spawn(
      {kControllerManager, argv, log_path(kControllerManager), options_.keep_running});
  if (!p) return p.error();
  controller_manager_.emplace(std::move(*p));
  return {};
}

Status ControlPlane::wait_default_service_account(SteadyClock::time_point deadline) {
  CommandResult last;
  while (true) {
    if (auto e = exited_process_error()) return *e;
    last = kubectl({"--request-timeout=5s", "get", "serviceaccount", "default", "-n", "default",
                    "-o", "name"});
    if (last.ok()) return {};
    if (SteadyClock::now() >= deadline) {
      return startup_error(
          kControllerManager,
          "did not create the default ServiceAccount in time (" + last.describe() + ")");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::optional<Error> ControlPlane::exited_process_error() {
  for (auto* p : process_slots()) {
    if (!*p) continue;
    if (auto status = (*p)->poll()) {
      return startup_error((*p)->name(), "exited with status " + std::to_string(*status));
    }
  }
  return std::nullopt;
}

Error ControlPlane::startup_error(const std::string& component, const std::string& what) const {
  const std::string path = log_path(component);
  return make_error(ErrorCode::kUnavailable, component + " " + what + "; last lines of " + path +
                                                 ":\n" + tail_file(path, 30));
}

void ControlPlane::write_pids() const {
  std::ostringstream out;
  for (const auto* p : const_cast<ControlPlane*>(this)->process_slots()) {
    if (*p && (*p)->running()) out << (*p)->name() << ' ' << (*p)->pid() << '\n';
  }
  if (auto s = write_file(work_dir_ + "/pids", out.str()); !s) {
    log::error("cannot record pids", {{"error", s.error().message}});
  }
}

// ---- test hooks ----

Status ControlPlane::stop_apiserver() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!apiserver_) return make_error(ErrorCode::kInvalid, "kube-apiserver is not running");
  const int status = apiserver_->terminate(seconds(10));
  apiserver_.reset();
  write_pids();
  log::info("stopped kube-apiserver", {{"exit_status", status}});
  return {};
}

Status ControlPlane::start_apiserver() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return make_error(ErrorCode::kInvalid, "control plane was stopped");
  if (apiserver_ && apiserver_->running()) return {};
  apiserver_.reset();
  if (auto s = start_apiserver_locked(); !s) {
    if (apiserver_) apiserver_->terminate(seconds(5));
    apiserver_.reset();
    return s;
  }
  // The controller manager outlives API server outages by retrying; should it
  // have given up meanwhile, bring it back too.
  if (options_.controller_manager && controller_manager_ && controller_manager_->poll()) {
    log::info("restarting kube-controller-manager",
              {{"exit_status", *controller_manager_->poll()}});
    controller_manager_.reset();
    if (auto s = start_controller_manager(); !s) return s;
  }
  write_pids();
  log::info("started kube-apiserver", {{"server", server()}});
  return {};
}

bool ControlPlane::apiserver_running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return apiserver_ && apiserver_->running();
}

Result<nlohmann::json> ControlPlane::etcd_call(const std::string& path,
                                               const nlohmann::json& body) const {
  return http_json(etcd_url(), "POST", path, body.dump());
}

Result<int64_t> ControlPlane::compact_etcd() {
  // A range over one key returns the store's current revision in its header.
  auto range = etcd_call("/v3/kv/range", {{"key", base64_encode("/")}, {"count_only", true}});
  if (!range) return range.error();
  const auto revision = json_int64(
      range->value("header", nlohmann::json::object()).value("revision", nlohmann::json()));
  if (!revision) {
    return make_error(ErrorCode::kInternal, "etcd range answer has no revision: " + range->dump());
  }
  auto compacted =
      etcd_call("/v3/kv/compaction", {{"revision", std::to_string(*revision)}, {"physical", true}});
  // Compacting again at an already compacted revision (nothing was written
  // since) leaves the store as asked: not an error for callers.
  if (!compacted &&
      compacted.error().message.find("required revision has been compacted") == std::string::npos) {
    return compacted.error();
  }
  log::info("compacted etcd", {{"revision", *revision}});
  return *revision;
}

// ---- clients ----

std::vector<std::string> ControlPlane::tool_env() const {
  // kubectl and helm keep caches and config under $HOME; keep them in the
  // work dir so tests neither read nor litter the user's.
  return {"HOME=" + work_dir_ + "/home", "KUBECONFIG=" + kubeconfig_path_};
}

CommandResult ControlPlane::kubectl(const std::vector<std::string>& args,
                                    const std::string& input) const {
  std::vector<std::string> argv = {tool("kubectl"), "--kubeconfig=" + kubeconfig_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.env = tool_env();
  opts.input = input;
  return run_command(argv, opts);
}

CommandResult ControlPlane::helm(const std::vector<std::string>& args,
                                 const std::string& input) const {
  if (!is_executable(tool("helm"))) {
    CommandResult r;
    r.err = tool("helm") + " is missing; build the tools with e2e/tools/build.sh";
    return r;
  }
  std::vector<std::string> argv = {tool("helm"), "--kubeconfig", kubeconfig_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions opts;
  opts.env = tool_env();
  opts.input = input;
  opts.timeout = std::chrono::minutes(5);
  return run_command(argv, opts);
}

kube::Config ControlPlane::admin_config() const {
  kube::Config config;
  config.server = server();
  config.ca_pem = ca_->cert_pem;
  config.client_cert_pem = admin_->cert_pem;
  config.client_key_pem = admin_->key_pem;
  config.source = "e2e control plane " + work_dir_ + " (orderguard-admin)";
  return config;
}

Result<kube::Config> ControlPlane::service_account_config(const std::string& ns,
                                                          const std::string& name,
                                                          std::chrono::seconds ttl) {
  const auto ensure = [&](const std::vector<std::string>& args) -> Status {
    auto r = kubectl(args);
    if (r.ok() || r.err.find("AlreadyExists") != std::string::npos ||
        r.err.find("already exists") != std::string::npos) {
      return {};
    }
    return make_error(ErrorCode::kInternal,
                      "kubectl " + args[0] + " " + args[1] + " " + args[2] + ": " + r.describe());
  };
  if (auto s = ensure({"create", "namespace", ns}); !s) return s.error();
  if (auto s = ensure({"create", "serviceaccount", name, "-n", ns}); !s) return s.error();
  return token_config(ns, name, "", ttl);
}

Result<kube::Config> ControlPlane::pod_bound_service_account_config(const std::string& ns,
                                                                    const std::string& name,
                                                                    const std::string& pod,
                                                                    std::chrono::seconds ttl) {
  return token_config(ns, name, pod, ttl);
}

Result<kube::Config> ControlPlane::token_config(const std::string& ns, const std::string& name,
                                                const std::string& bound_pod,
                                                std::chrono::seconds ttl) {
  std::vector<std::string> args = {
      "create", "token", name, "-n", ns, "--duration=" + std::to_string(ttl.count()) + "s"};
  if (!bound_pod.empty()) {
    args.push_back("--bound-object-kind=Pod");
    args.push_back("--bound-object-name=" + bound_pod);
  }
  auto token = kubectl(args);
  if (!token.ok() || trim_space(token.out).empty()) {
    return make_error(ErrorCode::kInternal,
                      "kubectl create token " + ns + "/" + name + ": " + token.describe());
  }
  kube::Config config;
  config.server = server();
  config.ca_pem = ca_->cert_pem;
  config.token = trim_space(token.out);
  config.source = "e2e control plane " + work_dir_ + " (serviceaccount " + ns + "/" + name +
                  (bound_pod.empty() ? "" : ", bound to pod " + bound_pod) + ")";
  return config;
}

// ---- accessors ----

std::string ControlPlane::listen_host() const {
  return options_.node.enabled ? options_.node.host_ip : "127.0.0.1";
}

std::string ControlPlane::server() const {
  return "https://" + listen_host() + ":" + std::to_string(apiserver_port_);
}

std::string ControlPlane::etcd_url() const {
  return "http://127.0.0.1:" + std::to_string(etcd_client_port_);
}

std::string ControlPlane::log_path(const std::string& component) const {
  return work_dir_ + "/logs/" + component + ".log";
}

std::string ControlPlane::log_tail(const std::string& component, int lines) const {
  return tail_file(log_path(component), lines);
}

std::string ControlPlane::tool(const std::string& name) const {
  return options_.tools_bin + "/" + name;
}

// ---- detached control planes ----

bool ControlPlane::is_running(const std::string& dir, const std::string& tools_bin) {
  const auto pids = read_pids(dir);
  if (pids.empty()) return false;
  for (const auto& [name, pid] : pids) {
    if (!process_matches(pid, name, dir + "/")) return false;
  }
  CommandOptions opts;
  opts.env = {"HOME=" + dir + "/home"};
  opts.timeout = seconds(15);
  auto r = run_command({tools_bin + "/kubectl", "--kubeconfig=" + dir + "/kubeconfig",
                        "--request-timeout=5s", "get", "--raw", "/readyz"},
                       opts);
  return r.ok() && trim_space(r.out) == "ok";
}

Status ControlPlane::stop_detached(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  stop_recorded_processes(dir);
  remove_state(dir);
  if (fs::is_empty(dir, ec)) fs::remove(dir, ec);
  return {};
}

}  // namespace orderguard::e2e
