// `orderguard-agent run` as a separate process on this machine, against the real kube-apiserver
// of e2e/: real processes (og_fake_miner, fake_miner_main.cpp) in real cgroups named like the
// containerd containers of Pod objects, whose status (written through the status subresource,
// as a kubelet would) carries those container ids.
//
// There are no kubelets: a Pod the agent evicts gets a deletionTimestamp and lingers, so
// "evicted" means terminating or gone. The closed loop with the webhook (a new pod of the
// quarantined workload refused) is covered by agent_e2e_test; here the point is the process.
//
// Scope on a shared machine: the miner, evict, benign, dry-run and PDB tests let the agent scan
// the real /proc. It only writes to this test's API server and never kills (no --kill-unowned),
// so other processes on the host can at most mark this test's Node. The kill test hands the
// agent a proc root holding only this test's processes (symlinks to /proc/<pid>), so
// --kill-unowned can never reach anything else.
//
// Cleanup: processes (agents, miners) and cgroups are owned by the fixture; TearDown stops the
// processes first (reaped, so they leave their cgroups), then removes the cgroup directories
// this test created, deepest first; their destructors do the same on every other path. Should
// the binary be killed, its children die with it (parent-death signal) and the next run
// removes the cgroups it left (container ids carry a marker).
// Cgroup tests skip when no cgroup hierarchy is writable (not root).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/responder.h"
#include "e2e/environment.h"
#include "e2e/process.h"
#include "e2e/support/observe.h"
#include "e2e/support/pods.h"
#include "e2e/support/setup.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "policy/indicators.h"

namespace orderguard::agent {
namespace {

namespace fs = std::filesystem;
namespace res = kube::resources;
using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;

constexpr char kNode[] = "node-run-e2e";
constexpr char kHostNode[] = "node-run-e2e-host";
// Scoring only: with miner-port at 60, CPU hog (40) plus a connection to a miner port reaches
// the default threshold of 100, while either alone stays below it.
constexpr char kScoringPolicy[] = "agent-run-e2e-scoring";
// Names this machine's address as a pool host; deleted after each test, as it would turn the
// miner-port finding of another test into a pool-connection one.
constexpr char kPoolHostsPolicy[] = "agent-run-e2e-pool-hosts";
constexpr char kImage[] = "docker.io/library/busybox:1.36";
// Generous: the machine is shared; these only bound a failure.
constexpr auto kDeadline = 120s;

std::string random_hex(size_t digits) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < digits; ++i) out += kHex[rng() % 16];
  return out;
}

// The container ids of this test start with a marker, so cgroups left behind by a run that
// was killed can be told apart from anyone else's and removed by the next run.
constexpr char kIdMarker[] = "0e2e0e2e0e2e0e2e";

std::string container_id() { return kIdMarker + random_hex(64 - std::strlen(kIdMarker)); }

// --- Cgroups -------------------------------------------------------------------------------------

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr long kCgroupMagic = 0x27e0eb;     // CGROUP_SUPER_MAGIC

bool is_fs(const std::string& path, long magic) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == magic &&
         ::access(path.c_str(), W_OK) == 0;
}

// The cgroup directory of container `id` of pod `uid`, named as the kubelet and containerd
// name it: the systemd driver on the cgroup v2 unified hierarchy, the cgroupfs driver under the
// v1 pids controller otherwise. Only the directories this object created are removed.
class ContainerCgroup {
 public:
  // nullopt with `why` set when no hierarchy is writable here.
  static std::optional<std::vector<std::string>> layout(const std::string& uid,
                                                        const std::string& id, std::string* why) {
    if (is_fs("/sys/fs/cgroup", kCgroup2Magic)) {
      std::string slice_uid = uid;  // systemd slice names use underscores
      std::replace(slice_uid.begin(), slice_uid.end(), '-', '_');
      return std::vector<std::string>{"/sys/fs/cgroup/orderguard-e2e.slice",
                                      "kubepods-burstable-pod" + slice_uid + ".slice",
                                      "cri-containerd-" + id + ".scope"};
    }
    if (is_fs("/sys/fs/cgroup/pids", kCgroupMagic)) {
      return std::vector<std::string>{"/sys/fs/cgroup/pids", "kubepods", "burstable", "pod" + uid,
                                      id};
    }
    *why =
        "needs root and a writable cgroup hierarchy (cgroup2 at /sys/fs/cgroup or the v1 "
        "pids controller at /sys/fs/cgroup/pids)";
    return std::nullopt;
  }

  // Why no container cgroup can be made on this host, or nullopt.
  static std::optional<std::string> unavailable() {
    std::string why;
    if (layout("", "", &why)) return std::nullopt;
    return why;
  }

  // `parts`: an existing base, then the directories to create below it.
  static Result<std::unique_ptr<ContainerCgroup>> create(const std::vector<std::string>& parts) {
    auto cg = std::unique_ptr<ContainerCgroup>(new ContainerCgroup());
    std::string path = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) {
      path += "/" + parts[i];
      if (::mkdir(path.c_str(), 0755) == 0) {
        cg->created_.push_back(path);
      } else if (errno != EEXIST) {
        return make_error(ErrorCode::kForbidden, "mkdir " + path + ": " + std::strerror(errno));
      }
    }
    cg->path_ = path;
    return cg;
  }

  ~ContainerCgroup() {
    // Deepest first. A process just killed may take a moment to leave the cgroup; a parent
    // that someone else also uses (EBUSY past the deadline) is left to them.
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      bool removed = poll_until(
          [&] { return ::rmdir(it->c_str()) == 0 || errno == ENOENT || errno == ENOTEMPTY; }, 10s,
          50ms);
      if (!removed) std::fprintf(stderr, "cgroup left behind: %s\n", it->c_str());
    }
  }

  const std::string& path() const { return path_; }

  // Removes container cgroups of earlier runs (their names carry kIdMarker) and their pod
  // cgroups. A cgroup that still holds a process cannot be removed, so this never disturbs a
  // live one.
  static void remove_stale() {
    for (const char* base :
         {"/sys/fs/cgroup/pids/kubepods", "/sys/fs/cgroup/orderguard-e2e.slice"}) {
      std::error_code ec;
      std::vector<fs::path> stale;
      for (auto it = fs::recursive_directory_iterator(base, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (it->is_directory(ec) &&
            (name.starts_with(kIdMarker) ||
             name.starts_with(std::string("cri-containerd-") + kIdMarker))) {
          stale.push_back(it->path());
          it.disable_recursion_pending();
        }
      }
      for (const fs::path& dir : stale) {
        // The container, its pod, then the parents up to `base` when nothing else is left.
        for (fs::path d = dir; d != fs::path(base).parent_path(); d = d.parent_path()) {
          if (::rmdir(d.c_str()) != 0) break;
        }
      }
    }
  }

  Status add(pid_t pid) const {
    std::ofstream procs(path_ + "/cgroup.procs");
    procs << pid << std::flush;
    if (!procs) return make_error(ErrorCode::kInternal, "cannot move pid into " + path_);
    return {};
  }

 private:
  ContainerCgroup() = default;
  std::string path_;
  std::vector<std::string> created_;
};

// --- A stratum-like pool -------------------------------------------------------------------------

// The first non-loopback IPv4 address of this host. The agent counts a connection to a miner
// port only when the remote end is not loopback (loopback ports are everywhere), so the pool
// listens there: the traffic still never leaves the machine.
std::optional<std::string> non_loopback_ipv4() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> out;
  for (ifaddrs* a = list; a != nullptr && !out; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_UP) == 0 || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char buf[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf, sizeof(buf));
    out = buf;
  }
  ::freeifaddrs(list);
  return out;
}

// Accepts connections, records the lines it receives, answers mining.subscribe, and keeps the
// connections open until destroyed.
class StratumServer {
 public:
  // Listens on `address` at the first free port of `ports`.
  static Result<std::unique_ptr<StratumServer>> start(const std::string& address,
                                                      std::span<const int> ports) {
    auto server = std::unique_ptr<StratumServer>(new StratumServer());
    for (int port : ports) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(port));
      ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 && ::listen(fd, 8) == 0) {
        server->listen_fd_ = fd;
        server->port_ = port;
        break;
      }
      ::close(fd);
    }
    if (server->listen_fd_ < 0) {
      return make_error(ErrorCode::kUnavailable,
                        "every built-in miner port is in use on " + address);
    }
    server->thread_ = std::thread([s = server.get()] { s->serve(); });
    return server;
  }

  ~StratumServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : clients_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  int port() const { return port_; }

  bool received(const std::string& text) const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_.find(text) != std::string::npos;
  }

 private:
  StratumServer() = default;

  void serve() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (int fd : clients_) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) clients_.push_back(c);
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        char buf[4096];
        ssize_t n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
        if (n <= 0) {  // the peer is gone
          ::close(fds[i].fd);
          std::erase(clients_, fds[i].fd);
          continue;
        }
        std::string text(buf, static_cast<size_t>(n));
        {
          std::lock_guard<std::mutex> lock(mu_);
          received_ += text;
        }
        if (text.find("mining.subscribe") != std::string::npos) {
          const std::string reply =
              R"({"id":1,"result":[[["mining.notify","1"]],"08000002",4],"error":null})"
              "\n";
          (void)::send(fds[i].fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        }
      }
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> clients_;  // serve() only, then the destructor
  mutable std::mutex mu_;
  std::string received_;
};

// --- The agent process ---------------------------------------------------------------------------

// A pseudo-flag of Agent::start: let the agent resolve pool hosts (it runs with
// --no-resolve-pools otherwise).
constexpr char kResolvePools[] = "(resolve pools)";

// GET http://127.0.0.1:<port><path>; the body, or "" when it fails.
std::string http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    // HTTP/1.0: the server closes the connection after the answer.
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

// The value of one series in a Prometheus text exposition (`name{label="v"}`), 0 when absent.
double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

// `orderguard-agent run` against the test's API server, logging JSON lines to a file.
class Agent {
 public:
  static Result<std::unique_ptr<Agent>> start(const std::string& name,
                                              const std::vector<std::string>& flags) {
    auto agent = std::unique_ptr<Agent>(new Agent());
    agent->log_path_ = cluster().work_dir() + "/" + name + ".log";
    std::vector<std::string> argv = {ORDERGUARD_AGENT_BINARY, "run",
                                     "--kubeconfig",          cluster().kubeconfig_path(),
                                     "--metrics-addr",        "127.0.0.1:0"};
    if (std::find(flags.begin(), flags.end(), "--interval") == flags.end()) {
      argv.insert(argv.end(), {"--interval", "1s"});
    }
    // A bounded hidden-process sweep per scan.
    argv.insert(argv.end(), {"--hidden-chunk", "2048"});
    // The machine is shared: a burning thread may get far less than 80% of a CPU.
    argv.insert(argv.end(), {"--cpu-hog-percent", "10"});
    // "process findings" lines: what each scan saw, acted on or not.
    argv.insert(argv.end(), {"--log-level", "debug"});
    // No DNS queries for the built-in pool domains from a test, except where pools are the
    // point.
    if (std::find(flags.begin(), flags.end(), kResolvePools) == flags.end()) {
      argv.push_back("--no-resolve-pools");
    }
    for (const std::string& flag : flags) {
      if (flag != kResolvePools) argv.push_back(flag);
    }
    Result<e2e::Process> p = e2e::Process::spawn(
        {.name = "orderguard-agent " + name, .argv = argv, .log_path = agent->log_path_});
    if (!p) return p.error();
    agent->process_.emplace(std::move(p).value());
    bool started = poll_until(
        [&] {
          for (const json& line : agent->log()) {
            if (line.value("msg", "") == "agent started") {
              agent->metrics_port_ = line.value("metrics_port", 0);
              return true;
            }
          }
          return !agent->process_->running() || agent->process_->poll().has_value();
        },
        kDeadline);
    if (!started || agent->metrics_port_ == 0) {
      return make_error(ErrorCode::kUnavailable,
                        "agent did not start: " + e2e::tail_file(agent->log_path_, 20));
    }
    // Ready: the pod and policy informers have synced.
    if (!poll_until([&] { return agent->get("/readyz").find("ok") != std::string::npos; },
                    kDeadline)) {
      return make_error(ErrorCode::kUnavailable,
                        "agent not ready: " + e2e::tail_file(agent->log_path_, 20));
    }
    return agent;
  }

  ~Agent() { stop(); }

  void stop() {
    if (process_) process_->terminate(10s);
  }

  // Every JSON line logged so far.
  std::vector<json> log() const {
    std::vector<json> out;
    std::ifstream in(log_path_);
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (j.is_object()) out.push_back(std::move(j));
    }
    return out;
  }

  // How many lines with `msg` and every field of `fields` were logged.
  size_t count(const std::string& msg, const json& fields,
               const std::function<bool(const json&)>& also = nullptr) const {
    size_t n = 0;
    for (const json& line : log()) {
      if (line.value("msg", "") != msg) continue;
      bool all = true;
      for (auto it = fields.begin(); it != fields.end() && all; ++it) {
        all = line.contains(it.key()) && line[it.key()] == it.value();
      }
      if (all && (!also || also(line))) ++n;
    }
    return n;
  }

  // Whether a line with `msg` and every field of `fields` was logged.
  bool logged(const std::string& msg, const json& fields,
              const std::function<bool(const json&)>& also = nullptr) const {
    return count(msg, fields, also) > 0;
  }

  std::string get(const std::string& path) const { return http_get(metrics_port_, path); }
  double metric(const std::string& series) const {
    return orderguard::agent::metric(get("/metrics"), series);
  }

  // Waits for `n` more successful scans than now: the agent has had its chance to act.
  bool wait_scans(int n) const {
    double start = metric(R"(orderguard_agent_scans_total{result="ok"})");
    return poll_until(
        [&] { return metric(R"(orderguard_agent_scans_total{result="ok"})") >= start + n; },
        kDeadline);
  }

  std::string tail() const { return e2e::tail_file(log_path_, 30); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

 private:
  Agent() = default;
  std::string log_path_;
  std::optional<e2e::Process> process_;
  int metrics_port_ = 0;
};

// --- The fixture ---------------------------------------------------------------------------------

class AgentRunE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto crd = e2e::install_security_crds();
    ASSERT_TRUE(crd.ok()) << crd.error().describe();
    client_ = std::move(e2e::admin_client()).value();
    ContainerCgroup::remove_stale();
    for (const char* ns : {"run-miner", "run-benign", "run-dry", "run-pdb", "run-pool",
                           "run-latency", "run-excluded"}) {
      auto created = e2e::create_namespace(*client_, ns);
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }
    for (const char* node : {kNode, kHostNode}) {
      Status created = e2e::create_node(*client_, node);
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }
    json scoring = {
        {"apiVersion", "security.orderguard.io/v1alpha1"},
        {"kind", "MinerPolicy"},
        {"metadata", {{"name", kScoringPolicy}}},
        {"spec", {{"mode", "Audit"}, {"scoring", {{"weights", {{"miner-port", 60}}}}}}}};
    auto created = client_->create(kMinerPoliciesResource, "", scoring);
    ASSERT_TRUE(created.ok()) << created.error().describe();
  }

  static void TearDownTestSuite() { client_.reset(); }

  // Processes first (reaped, so they leave their cgroups), then the cgroups.
  void TearDown() override {
    agents_.clear();
    processes_.clear();
    cgroups_.clear();
    pools_.clear();
    (void)client_->remove(kMinerPoliciesResource, "", kPoolHostsPolicy);
  }

  // og_fake_miner, run from a copy outside any temp directory: a CPU hog whose executable
  // lives in /tmp is a miner by the scoring (identity + CPU), and the build tree may be there.
  static std::string fake_miner_binary() {
    static const std::string path = [] {
      const char* home = std::getenv("HOME");
      const char* cache = std::getenv("ORDERGUARD_CACHE");
      const fs::path dir =
          (cache != nullptr && *cache != '\0')
              ? fs::path(cache) / "test-bin"
              : fs::path(home != nullptr ? home : "/root") / ".cache/orderguard/test-bin";
      std::error_code ec;
      fs::create_directories(dir, ec);
      const fs::path copy = dir / "og_fake_miner";
      // A fresh copy per run; rename keeps a concurrent reader from seeing half a file.
      const fs::path tmp = dir / ("og_fake_miner." + std::to_string(::getpid()));
      fs::copy_file(ORDERGUARD_FAKE_MINER_BINARY, tmp, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::rename(tmp, copy, ec);
      return ec ? std::string(ORDERGUARD_FAKE_MINER_BINARY) : copy.string();
    }();
    return path;
  }

  // og_fake_miner with `args`, owned by the test; nullptr after a failed assertion.
  e2e::Process* start_program(const std::string& name, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {fake_miner_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log = cluster().work_dir() + "/" + name + ".log";
    Result<e2e::Process> p = e2e::Process::spawn({.name = name, .argv = argv, .log_path = log});
    EXPECT_TRUE(p.ok()) << p.error().describe();
    if (!p) return nullptr;
    processes_.push_back(std::make_unique<e2e::Process>(std::move(p).value()));
    e2e::Process* process = processes_.back().get();
    bool ready = poll_until(
        [&] {
          std::ifstream in(log);
          std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          return text.find("ready") != std::string::npos || process->poll().has_value();
        },
        kDeadline);
    EXPECT_TRUE(ready && process->running()) << name << ": " << e2e::tail_file(log, 10);
    return ready && process->running() ? process : nullptr;
  }

  Agent* start_agent(const std::string& name, std::vector<std::string> flags) {
    Result<std::unique_ptr<Agent>> agent = Agent::start(name, flags);
    EXPECT_TRUE(agent.ok()) << agent.error().describe();
    if (!agent) return nullptr;
    agents_.push_back(std::move(agent).value());
    return agents_.back().get();
  }

  // Creates the cgroup of container `id` of pod `uid`; nullptr with the reason in `skip` when
  // this host cannot.
  ContainerCgroup* make_cgroup(const std::string& uid, const std::string& id, std::string* skip) {
    std::optional<std::vector<std::string>> parts = ContainerCgroup::layout(uid, id, skip);
    if (!parts) return nullptr;
    Result<std::unique_ptr<ContainerCgroup>> cg = ContainerCgroup::create(*parts);
    if (!cg) {
      *skip = cg.error().describe();
      return nullptr;
    }
    cgroups_.push_back(std::move(cg).value());
    return cgroups_.back().get();
  }

  // What the kubelet would report: container `id` running from kImage.
  static void set_running(const std::string& ns, const std::string& name, const std::string& id) {
    Status reported =
        e2e::report_running(*client_, ns, name,
                            {.image = kImage,
                             .image_id = "docker.io/library/busybox@sha256:" + std::string(64, 'b'),
                             .container_id = id});
    ASSERT_TRUE(reported.ok()) << reported.error().describe();
  }

  // A pod bound to kNode running container `id`; returns its UID.
  static std::string create_pod(const std::string& ns, const std::string& name,
                                const std::string& id, const json& labels = json::object()) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
                {"spec",
                 {{"nodeName", kNode},
                  {"containers", json::array({{{"name", "app"}, {"image", kImage}}})}}}};
    auto created = client_->create(res::kPods, ns, pod);
    EXPECT_TRUE(created.ok()) << created.error().describe();
    if (!created) return "";
    set_running(ns, name, id);
    return (*created)["metadata"]["uid"];
  }

  // The miner (or benign) program `args` in a new cgroup of container `id` of pod `uid`.
  // Returns nullptr and sets `skip` when cgroups cannot be made here.
  e2e::Process* start_in_container(const std::string& name, const std::string& uid,
                                   const std::string& id, const std::vector<std::string>& args,
                                   std::string* skip) {
    ContainerCgroup* cg = make_cgroup(uid, id, skip);
    if (!cg) return nullptr;
    e2e::Process* p = start_program(name, args);
    if (!p) return nullptr;
    Status moved = cg->add(p->pid());
    EXPECT_TRUE(moved.ok()) << moved.error().describe();
    return moved ? p : nullptr;
  }

  // Absent or terminating.
  static bool evicted(const std::string& ns, const std::string& name) {
    return e2e::pod_evicted(*client_, ns, name);
  }

  static std::vector<json> events_about(const std::string& ns, const std::string& name) {
    return e2e::events_about(*client_, ns, name);
  }

  // The Quarantine objects about namespace `ns`.
  static json quarantines(const std::string& ns) {
    json out = json::array();
    auto list = client_->list_all(kQuarantinesResource, "", {});
    if (!list.ok()) return out;
    for (const json& q : (*list)["items"]) {
      if (q["spec"].value("namespace", "") == ns) out.push_back(q);
    }
    return out;
  }

  static inline std::unique_ptr<kube::Client> client_;
  std::vector<std::unique_ptr<StratumServer>> pools_;
  std::vector<std::unique_ptr<ContainerCgroup>> cgroups_;
  std::vector<std::unique_ptr<e2e::Process>> processes_;
  std::vector<std::unique_ptr<Agent>> agents_;
};

// A Deployment's pod runs a process that burns a CPU and holds a stratum session with a pool
// on a miner port: the agent evicts the pod, records the evidence in an Event, and quarantines
// the Deployment.
TEST_F(AgentRunE2E, MinerTalkingToAPoolIsEvictedAndItsDeploymentQuarantined) {
  std::optional<std::string> address = non_loopback_ipv4();
  if (!address) GTEST_SKIP() << "no non-loopback IPv4 address to run the pool on";
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  std::string skip;
  Result<std::unique_ptr<StratumServer>> pool =
      StratumServer::start(*address, policy::builtin_miner_ports());
  ASSERT_TRUE(pool.ok()) << pool.error().describe();
  pools_.push_back(std::move(pool).value());
  StratumServer& server = *pools_.back();

  const std::string ns = "run-miner";
  json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "cruncher"}, {"namespace", ns}}},
      {"spec",
       {{"replicas", 1},
        {"selector", {{"matchLabels", {{"app", "cruncher"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "cruncher"}}}}},
          {"spec", {{"containers", json::array({{{"name", "app"}, {"image", kImage}}})}}}}}}}};
  auto created = client_->create(res::kDeployments, ns, deployment);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  // Deployment -> ReplicaSet -> Pod, made by the controllers; bound to kNode as the scheduler
  // would.
  const json pod = e2e::wait_for_first_pod(*client_, ns, "app=cruncher", kDeadline);
  ASSERT_FALSE(pod.is_null()) << "the Deployment made no Pod";
  const std::string name = pod["metadata"]["name"];
  Status bound = e2e::bind_pod(*client_, ns, name, kNode);
  ASSERT_TRUE(bound.ok()) << bound.error().describe();
  const std::string id = container_id();
  set_running(ns, name, id);

  e2e::Process* miner =
      start_in_container("miner-pool", pod["metadata"]["uid"], id,
                         {"--burn", "--connect", *address, std::to_string(server.port())}, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(miner, nullptr);
  ASSERT_TRUE(poll_until([&] { return server.received("\"mining.subscribe\""); }, kDeadline));

  Agent* agent = start_agent("agent-miner", {"--node-name", kNode, "--pod-name", "agent-miner-pod",
                                             "--quarantine-expiry", "72h"});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(poll_until([&] { return evicted(ns, name); }, kDeadline)) << agent->tail();
  EXPECT_TRUE(
      agent->logged("responded to miner pod",
                    {{"pod", ns + "/" + name}, {"pid", miner->pid()}, {"outcome", "evicted"}}))
      << agent->tail();
  EXPECT_GE(agent->metric(R"(orderguard_agent_evictions_total{result="evicted"})"), 1);
  EXPECT_GE(agent->metric(R"(orderguard_agent_findings_total{rule="miner-port"})"), 1);

  // The Event carries the evidence: pid, both rules, the pool endpoint.
  std::vector<json> events;
  ASSERT_TRUE(poll_until([&] { return !(events = events_about(ns, name)).empty(); }, kDeadline));
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["reason"], "MinerDetected");
  const std::string note = events[0].value("note", "");
  EXPECT_NE(note.find("pid " + std::to_string(miner->pid())), std::string::npos) << note;
  EXPECT_NE(note.find("miner-port"), std::string::npos) << note;
  EXPECT_NE(note.find("cpu-hog"), std::string::npos) << note;
  EXPECT_NE(note.find(*address + ":" + std::to_string(server.port())), std::string::npos) << note;

  // The workload is quarantined, not the busybox base image.
  // One Quarantine object, with the node, the agent Pod and the expiry its flags gave.
  json objects = quarantines(ns);
  ASSERT_EQ(objects.size(), 1u) << objects.dump();
  EXPECT_EQ(objects[0]["metadata"]["name"], "deployment." + ns + ".cruncher");
  const json& spec = objects[0]["spec"];
  EXPECT_EQ(spec["scope"], "Workload");
  EXPECT_EQ(spec["workload"]["kind"], "Deployment");
  EXPECT_EQ(spec["workload"]["name"], "cruncher");
  EXPECT_NE(spec.value("image", "").find("busybox@sha256:"), std::string::npos) << spec.dump();
  EXPECT_EQ(spec["nodeName"], kNode);
  EXPECT_EQ(spec["createdBy"], "agent-miner-pod");
  const auto expires = parse_rfc3339(spec.value("expiresAt", ""));
  ASSERT_TRUE(expires.has_value()) << spec.dump();
  const auto from_now = *expires - std::chrono::system_clock::now();
  EXPECT_GT(from_now, std::chrono::hours(71)) << spec.dump();
  EXPECT_LE(from_now, std::chrono::hours(72)) << spec.dump();

  // The evicted pod lingers with its deletionTimestamp (no kubelet) and the miner keeps
  // running: later scans still see it, and leave it to its grace period.
  ASSERT_TRUE(agent->wait_scans(4)) << agent->tail();
  ASSERT_TRUE(miner->running());
  EXPECT_EQ(agent->count("responded to miner pod", {{"pod", ns + "/" + name}}), 1u)
      << agent->tail();
  EXPECT_EQ(
      agent->count("responded to miner pod", {{"pod", ns + "/" + name}, {"outcome", "evicted"}}),
      1u);
  EXPECT_TRUE(agent->logged("miner pod already terminating, not acted on again",
                            {{"pod", ns + "/" + name}, {"outcome", "terminating"}}))
      << agent->tail();
  EXPECT_EQ(agent->metric(R"(orderguard_agent_evictions_total{result="evicted"})"), 1);
  EXPECT_GE(agent->metric(R"(orderguard_agent_evictions_total{result="terminating"})"), 1);
  EXPECT_EQ(quarantines(ns).size(), 1u);
}

// A process burning CPU holds a connection to an address of a pool host that a MinerPolicy
// names (spec.poolHosts; an IP literal, so getaddrinfo answers without DNS) on a port that is
// no miner port: only the resolved pool addresses tell, and CPU hog + pool connection is
// enough to evict.
TEST_F(AgentRunE2E, CpuHogConnectedToAPolicyPoolHostIsEvicted) {
  std::optional<std::string> address = non_loopback_ipv4();
  if (!address) GTEST_SKIP() << "no non-loopback IPv4 address to run the pool on";
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  std::vector<int> ports;
  for (int port : {18181, 18182, 28181, 28182, 38181}) {
    const std::span<const int> miner_ports = policy::builtin_miner_ports();
    if (std::find(miner_ports.begin(), miner_ports.end(), port) == miner_ports.end()) {
      ports.push_back(port);
    }
  }
  Result<std::unique_ptr<StratumServer>> pool = StratumServer::start(*address, ports);
  ASSERT_TRUE(pool.ok()) << pool.error().describe();
  pools_.push_back(std::move(pool).value());
  StratumServer& server = *pools_.back();

  // The address spelt as one 32-bit number, which getaddrinfo resolves (inet_aton forms)
  // without DNS: the miner's argv holds the dotted form, so the policy's host does not match
  // its command line by name, and only the resolved address ties the connection to the pool.
  in_addr parsed{};
  ASSERT_EQ(::inet_pton(AF_INET, address->c_str(), &parsed), 1);
  const std::string pool_host = std::to_string(ntohl(parsed.s_addr));
  json pools_policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                       {"kind", "MinerPolicy"},
                       {"metadata", {{"name", kPoolHostsPolicy}}},
                       {"spec", {{"mode", "Audit"}, {"poolHosts", json::array({pool_host})}}}};
  auto created = client_->create(kMinerPoliciesResource, "", pools_policy);
  ASSERT_TRUE(created.ok()) << created.error().describe();

  const std::string ns = "run-pool";
  const std::string id = container_id();
  std::string skip;
  std::string uid = create_pod(ns, "hashing", id);
  ASSERT_FALSE(uid.empty());
  e2e::Process* miner =
      start_in_container("miner-pool-host", uid, id,
                         {"--burn", "--connect", *address, std::to_string(server.port())}, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(miner, nullptr);
  ASSERT_TRUE(poll_until([&] { return server.received("\"mining.subscribe\""); }, kDeadline));

  Agent* agent =
      start_agent("agent-pool-host", {"--node-name", kNode, "--pool-refresh", "1h", kResolvePools});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(poll_until([&] { return evicted(ns, "hashing"); }, kDeadline)) << agent->tail();
  // Found through the pool address alone: no miner-port finding (exe-tmp may join when the
  // build tree is under /tmp).
  EXPECT_TRUE(
      agent->logged("responded to miner pod",
                    {{"pod", ns + "/hashing"}, {"pid", miner->pid()}, {"outcome", "evicted"}},
                    [](const json& line) {
                      const std::string rules = line.value("rules", "");
                      return rules.find("pool-connection") != std::string::npos &&
                             rules.find("cpu-hog") != std::string::npos &&
                             rules.find("miner-port") == std::string::npos;
                    }))
      << agent->tail();
  EXPECT_GE(agent->metric(R"(orderguard_agent_findings_total{rule="pool-connection"})"), 1);
  EXPECT_GE(agent->metric("orderguard_agent_pool_addresses"), 1);
  std::vector<json> events;
  ASSERT_TRUE(
      poll_until([&] { return !(events = events_about(ns, "hashing")).empty(); }, kDeadline));
  const std::string note = events[0].value("note", "");
  EXPECT_NE(note.find("pool-connection"), std::string::npos) << note;
  EXPECT_NE(note.find(*address + ":" + std::to_string(server.port())), std::string::npos) << note;
}

// A pod whose process only burns CPU: reported as a CPU hog, never acted on.
TEST_F(AgentRunE2E, BenignCpuHogIsReportedButNotActedOn) {
  const std::string ns = "run-benign";
  const std::string id = container_id();
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  std::string skip;
  std::string uid = create_pod(ns, "batch", id);
  ASSERT_FALSE(uid.empty());
  e2e::Process* hog = start_in_container("benign-hog", uid, id, {"--burn"}, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(hog, nullptr);

  Agent* agent = start_agent("agent-benign", {"--node-name", kNode});
  ASSERT_NE(agent, nullptr);
  // Seen as a CPU hog in its container (the scan's per-process debug line), not as
  // a miner.
  const auto hog_but_no_miner_signal = [](const json& line) {
    bool cpu_hog = false;
    for (const json& rule : line.value("rules", json::array())) {
      if (rule == "cpu-hog") cpu_hog = true;
      if (rule != "cpu-hog" && rule != "exe-tmp") return false;
    }
    return cpu_hog;
  };
  ASSERT_TRUE(poll_until(
      [&] {
        return agent->logged("process findings",
                             {{"pid", hog->pid()}, {"container", id}, {"miner", false}},
                             hog_but_no_miner_signal);
      },
      kDeadline))
      << agent->tail();
  EXPECT_GE(agent->metric(R"(orderguard_agent_findings_total{rule="cpu-hog"})"), 1);
  // ... and after more scans, still nothing done to its pod.
  ASSERT_TRUE(agent->wait_scans(3)) << agent->tail();
  EXPECT_FALSE(evicted(ns, "batch"));
  EXPECT_TRUE(events_about(ns, "batch").empty());
  EXPECT_TRUE(quarantines(ns).empty());
  EXPECT_FALSE(agent->logged("responded to miner pod", {{"pod", ns + "/batch"}}));
  EXPECT_TRUE(hog->running());
}

// --dry-run: the miner is reported, nothing is written.
TEST_F(AgentRunE2E, DryRunReportsTheMinerAndActsOnNothing) {
  const std::string ns = "run-dry";
  const std::string id = container_id();
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  std::string skip;
  std::string uid = create_pod(ns, "dry", id);
  ASSERT_FALSE(uid.empty());
  e2e::Process* miner = start_in_container("miner-dry", uid, id,
                                           {"-o", "stratum+tcp://pool.example.net:3333"}, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(miner, nullptr);

  Agent* agent = start_agent("agent-dry", {"--node-name", kNode, "--dry-run"});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(poll_until(
      [&] {
        return agent->logged("dry-run: would evict pod",
                             {{"pod", ns + "/dry"}, {"pid", miner->pid()}});
      },
      kDeadline))
      << agent->tail();
  EXPECT_GE(agent->metric(R"(orderguard_agent_evictions_total{result="dry-run"})"), 1);
  ASSERT_TRUE(agent->wait_scans(2)) << agent->tail();
  EXPECT_FALSE(evicted(ns, "dry"));
  EXPECT_TRUE(events_about(ns, "dry").empty());
  EXPECT_TRUE(quarantines(ns).empty());
  EXPECT_TRUE(miner->running());
}

// /metrics of the running agent carries client-go's REST client metrics (a nonzero count of
// answered requests to this API server, by code, method and host), the latency and
// rate-limiter histograms, and the process_* metrics of the process itself.
// (rest_client_request_retries_total has series only once a request was retried.)
TEST_F(AgentRunE2E, MetricsFollowClientGoConventions) {
  Agent* agent = start_agent("agent-metrics", {"--node-name", kNode, "--dry-run"});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->wait_scans(1)) << agent->tail();
  const std::string text = agent->get("/metrics");
  // The kubeconfig's server, https://127.0.0.1:<port>: the host label is host:port.
  const std::string server = cluster().server();
  const std::string host = server.substr(server.find("://") + 3);
  EXPECT_GT(
      metric(text, R"(rest_client_requests_total{code="200",host=")" + host + R"(",method="GET"})"),
      0)
      << text;
  EXPECT_GT(metric(text, R"(rest_client_request_duration_seconds_count{host=")" + host +
                             R"(",verb="GET"})"),
            0)
      << text;
  EXPECT_GT(metric(text, R"(rest_client_rate_limiter_duration_seconds_count{host=")" + host +
                             R"(",verb="GET"})"),
            0)
      << text;
  EXPECT_GT(metric(text, "process_cpu_seconds_total"), 0) << text;
  EXPECT_GT(metric(text, "process_resident_memory_bytes"), 1e6) << text;
  EXPECT_GT(metric(text, "process_virtual_memory_bytes"), 1e6) << text;
  EXPECT_GT(metric(text, "process_open_fds"), 3) << text;
  EXPECT_GT(metric(text, "process_max_fds"), 0) << text;
  EXPECT_GT(metric(text, "process_start_time_seconds"), 1.7e9) << text;
}

// A PodDisruptionBudget makes the Eviction API answer 429: the pod is left alone, unless the
// agent runs with --delete-on-pdb-block, which deletes it.
TEST_F(AgentRunE2E, PdbBlockedEvictionDeletesThePodOnlyWhenAllowed) {
  const std::string ns = "run-pdb";
  const std::string id = container_id();
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  std::string skip;
  json pdb = {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", {{"name", "guarded"}, {"namespace", ns}}},
      {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "guarded"}}}}}}}};
  auto created = client_->create(res::kPodDisruptionBudgets, ns, pdb);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  std::string uid = create_pod(ns, "guarded", id, {{"app", "guarded"}});
  ASSERT_FALSE(uid.empty());
  e2e::Process* miner = start_in_container("miner-pdb", uid, id,
                                           {"-o", "stratum+tcp://pool.example.net:3333"}, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_NE(miner, nullptr);

  {
    Agent* agent = start_agent("agent-pdb-keep", {"--node-name", kNode});
    ASSERT_NE(agent, nullptr);
    ASSERT_TRUE(poll_until(
        [&] {
          return agent->logged("responded to miner pod",
                               {{"pod", ns + "/guarded"}, {"outcome", "pdb-blocked"}});
        },
        kDeadline))
        << agent->tail();
    EXPECT_GE(agent->metric(R"(orderguard_agent_evictions_total{result="pdb-blocked"})"), 1);
    ASSERT_TRUE(agent->wait_scans(2)) << agent->tail();
    EXPECT_FALSE(evicted(ns, "guarded"));
    // Still quarantined and recorded: the refusal only concerns the eviction.
    EXPECT_EQ(quarantines(ns).size(), 1u);
    EXPECT_TRUE(poll_until([&] { return !events_about(ns, "guarded").empty(); }, kDeadline));
    agent->stop();
  }

  Agent* agent = start_agent("agent-pdb-delete", {"--node-name", kNode, "--delete-on-pdb-block"});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(poll_until([&] { return evicted(ns, "guarded"); }, kDeadline)) << agent->tail();
  EXPECT_TRUE(
      agent->logged("responded to miner pod", {{"pod", ns + "/guarded"}, {"outcome", "deleted"}}))
      << agent->tail();
  EXPECT_EQ(quarantines(ns).size(), 1u) << "no duplicate quarantine";
}

// A miner outside any pod is SIGKILLed only with --kill-unowned, and a benign CPU hog next to
// it never. The agent sees a proc root holding only these two processes, so nothing else on
// this shared machine can be killed.
TEST_F(AgentRunE2E, UnownedMinerIsKilledOnlyWhenAllowed) {
  e2e::Process* miner =
      start_program("unowned-miner", {"-o", "stratum+tcp://pool.example.net:3333"});
  ASSERT_NE(miner, nullptr);
  e2e::Process* hog = start_program("unowned-hog", {"--burn"});
  ASSERT_NE(hog, nullptr);
  const std::string view = cluster().work_dir() + "/proc-view-" + random_hex(8);
  fs::create_directories(view);
  fs::create_symlink("/proc/stat", view + "/stat");
  for (pid_t pid : {miner->pid(), hog->pid()}) {
    fs::create_symlink("/proc/" + std::to_string(pid), view + "/" + std::to_string(pid));
  }
  const std::vector<std::string> common = {"--node-name", kHostNode, "--host-proc", view};

  {
    Agent* agent = start_agent("agent-nokill", common);
    ASSERT_NE(agent, nullptr);
    ASSERT_TRUE(poll_until(
        [&] {
          return agent->logged("process findings", {{"pid", miner->pid()}, {"miner", true}});
        },
        kDeadline))
        << agent->tail();
    ASSERT_TRUE(agent->wait_scans(3)) << agent->tail();
    EXPECT_TRUE(miner->running() && !miner->poll()) << "killed without --kill-unowned";
    agent->stop();
  }

  std::vector<std::string> flags = common;
  flags.push_back("--kill-unowned");
  Agent* agent = start_agent("agent-kill", flags);
  ASSERT_NE(agent, nullptr);
  std::optional<int> status;
  ASSERT_TRUE(poll_until([&] { return (status = miner->poll()).has_value(); }, kDeadline))
      << agent->tail();
  EXPECT_EQ(*status, 128 + SIGKILL);
  EXPECT_TRUE(agent->logged("killed miner process", {{"pid", miner->pid()}})) << agent->tail();
  ASSERT_TRUE(agent->wait_scans(2)) << agent->tail();
  EXPECT_TRUE(hog->running() && !hog->poll()) << "a benign CPU hog was killed";

  // A miner outside any pod marks the Node as compromised.
  auto node = client_->get(res::kNodes, "", kHostNode);
  ASSERT_TRUE(node.ok());
  bool compromised = false;
  for (const json& c : node->value("status", json::object()).value("conditions", json::array())) {
    compromised = compromised || (c["type"] == kConditionMinerCompromised && c["status"] == "True");
  }
  EXPECT_TRUE(compromised) << node->dump();
}

// A miner that stays: orderguard_agent_findings_total counts each of its findings once,
// however many scans see it.
TEST_F(AgentRunE2E, FindingsAreCountedOncePerProcess) {
  e2e::Process* miner =
      start_program("counted-miner", {"-o", "stratum+tcp://pool.example.net:3333"});
  ASSERT_NE(miner, nullptr);
  const std::string view = cluster().work_dir() + "/proc-view-" + random_hex(8);
  fs::create_directories(view);
  fs::create_symlink("/proc/stat", view + "/stat");
  fs::create_symlink("/proc/" + std::to_string(miner->pid()),
                     view + "/" + std::to_string(miner->pid()));
  Agent* agent = start_agent("agent-counted", {"--node-name", kHostNode, "--host-proc", view});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(poll_until(
      [&] {
        return agent->count("process findings", {{"pid", miner->pid()}, {"miner", true}}) >= 3;
      },
      kDeadline))
      << agent->tail();
  EXPECT_EQ(agent->metric(R"(orderguard_agent_findings_total{rule="stratum-url"})"), 1)
      << agent->get("/metrics");
}

// Exclusions of a MinerPolicy (spec.agent.exclusions) and of the command line: a miner in an
// excluded namespace, or in a Pod an excluded label selects, is logged as excluded, not
// counted, and its Pod is left alone; the same miner elsewhere is evicted.
TEST_F(AgentRunE2E, ExcludedPodsAreNeverActedOn) {
  const std::string ns = "run-excluded";
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  json policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "run-exclusions"}}},
                 {"spec",
                  {{"mode", "Audit"},
                   {"agent",
                    {{"exclusions",
                      {{"podSelector",
                        {{"matchExpressions",
                          {{{"key", "render"}, {"operator", "In"}, {"values", {"yes"}}}}}}}}}}}}}};
  auto created = client_->create(kMinerPoliciesResource, "", policy);
  ASSERT_TRUE(created.ok()) << created.error().describe();
  // The API server refuses an empty podSelector (the CRD's CEL rule).
  json empty = policy;
  empty["metadata"]["name"] = "run-exclusions-empty";
  empty["spec"]["agent"]["exclusions"]["podSelector"] = json::object();
  auto refused = client_->create(kMinerPoliciesResource, "", empty);
  EXPECT_FALSE(refused.ok());
  if (!refused.ok()) {
    EXPECT_NE(refused.error().message.find("would exclude every Pod"), std::string::npos)
        << refused.error().message;
  }

  std::string skip;
  const std::vector<std::string> args = {"-o", "stratum+tcp://pool.example.net:3333"};
  const std::string by_label_id = container_id();
  std::string by_label = create_pod("run-miner", "render", by_label_id, {{"render", "yes"}});
  const std::string by_ns_id = container_id();
  std::string by_ns = create_pod(ns, "batch", by_ns_id);
  const std::string plain_id = container_id();
  std::string plain = create_pod("run-miner", "plain", plain_id);
  ASSERT_FALSE(by_label.empty() || by_ns.empty() || plain.empty());
  e2e::Process* m1 = start_in_container("excl-label", by_label, by_label_id, args, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  e2e::Process* m2 = start_in_container("excl-ns", by_ns, by_ns_id, args, &skip);
  e2e::Process* m3 = start_in_container("excl-none", plain, plain_id, args, &skip);
  ASSERT_TRUE(m1 && m2 && m3);

  Agent* agent = start_agent("agent-excl", {"--node-name", kNode, "--exclude-namespace", ns});
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(poll_until([&] { return evicted("run-miner", "plain"); }, kDeadline))
      << agent->tail();
  ASSERT_TRUE(agent->wait_scans(2)) << agent->tail();
  EXPECT_TRUE(agent->logged(
      "process excluded",
      {{"pid", m1->pid()},
       {"excluded_by",
        "pod-selector render in (yes) (MinerPolicy run-exclusions spec.agent.exclusions."
        "podSelector)"}}))
      << agent->tail();
  EXPECT_TRUE(agent->logged(
      "process excluded",
      {{"pid", m2->pid()}, {"excluded_by", "namespace " + ns + " (--exclude-namespace)"}}))
      << agent->tail();
  for (e2e::Process* m : {m1, m2}) {
    EXPECT_FALSE(agent->logged("process findings", {{"pid", m->pid()}}));
    EXPECT_TRUE(m->running());
  }
  EXPECT_FALSE(evicted("run-miner", "render"));
  EXPECT_FALSE(evicted(ns, "batch"));
  EXPECT_TRUE(events_about(ns, "batch").empty());
  EXPECT_TRUE(quarantines(ns).empty());
  // Only the plain miner's stratum URL was counted.
  EXPECT_EQ(agent->metric(R"(orderguard_agent_findings_total{rule="stratum-url"})"), 1);
  (void)client_->remove(kMinerPoliciesResource, "", "run-exclusions");
}

// Not a test but a benchmark (scripts/bench_agent.sh), skipped unless
// ORDERGUARD_AGENT_LATENCY_RUNS=<n> is set: n times, a miner (stratum URL in its argv) starts in
// the container cgroup of a running Pod, and the time until that Pod has a deletionTimestamp is
// printed, with the agent scanning every ORDERGUARD_AGENT_LATENCY_INTERVAL seconds (default 2,
// the DaemonSet's design interval); then the median and the agent's memory. Nothing is asserted
// about time.
TEST_F(AgentRunE2E, DetectionToEvictionLatencyFigures) {
  const char* runs_env = std::getenv("ORDERGUARD_AGENT_LATENCY_RUNS");
  if (runs_env == nullptr) GTEST_SKIP() << "a benchmark: set ORDERGUARD_AGENT_LATENCY_RUNS";
  if (auto why = ContainerCgroup::unavailable()) GTEST_SKIP() << *why;
  const int runs = std::max(1, std::atoi(runs_env));
  const char* interval_env = std::getenv("ORDERGUARD_AGENT_LATENCY_INTERVAL");
  // A Go-style duration, like the flag.
  const std::string interval = interval_env != nullptr ? interval_env : "2s";
  const std::string ns = "run-latency";
  Agent* agent = start_agent("agent-latency", {"--node-name", kNode, "--interval", interval,
                                               "--evictions-per-minute", "1000"});
  ASSERT_NE(agent, nullptr);
  std::vector<double> latencies_ms;
  for (int i = 0; i < runs; ++i) {
    const std::string name = "latency-" + std::to_string(i);
    const std::string id = container_id();
    const std::string uid = create_pod(ns, name, id);
    ASSERT_FALSE(uid.empty());
    std::string skip;
    ContainerCgroup* cg = make_cgroup(uid, id, &skip);
    if (cg == nullptr) GTEST_SKIP() << skip;
    // The pod is in the agent's cache before the miner starts: what is measured is the scan
    // loop and the response, not the informer.
    ASSERT_TRUE(agent->wait_scans(1)) << agent->tail();
    e2e::Process* miner = start_program("latency-miner-" + std::to_string(i),
                                        {"-o", "stratum+tcp://pool.example.net:3333"});
    ASSERT_NE(miner, nullptr);
    Status moved = cg->add(miner->pid());
    ASSERT_TRUE(moved.ok()) << moved.error().describe();
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(poll_until([&] { return evicted(ns, name); }, kDeadline, 10ms)) << agent->tail();
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    std::printf("latency_run %d %.0f ms\n", i + 1, latencies_ms.back());
  }
  std::vector<double> sorted = latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 == 1
                            ? sorted[sorted.size() / 2]
                            : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  std::printf("latency_summary runs=%d interval=%s median_ms=%.0f min_ms=%.0f max_ms=%.0f\n", runs,
              interval.c_str(), median, sorted.front(), sorted.back());
  std::printf("agent_processes_scanned %.0f\n",
              agent->metric("orderguard_agent_processes_scanned"));
  std::printf("agent_scans %.0f\n", agent->metric(R"(orderguard_agent_scans_total{result="ok"})"));
  std::ifstream status("/proc/" + std::to_string(agent->pid()) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM") || line.starts_with("VmRSS") || line.starts_with("RssAnon") ||
        line.starts_with("RssFile") || line.starts_with("Threads")) {
      std::printf("agent_%s\n", line.c_str());
    }
  }
  // Where the resident pages are: Rss per mapped file (the executable, each shared library)
  // and anonymous memory, largest first.
  std::ifstream smaps("/proc/" + std::to_string(agent->pid()) + "/smaps");
  std::map<std::string, long> rss_kb;
  std::string mapping = "[anon]";
  while (std::getline(smaps, line)) {
    if (line.starts_with("Rss:")) {
      rss_kb[mapping] += std::strtol(line.c_str() + 4, nullptr, 10);
    } else if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
               line.find('-') < line.find(' ')) {
      // "start-end perms offset dev inode [path]": the path is the sixth field, if any.
      std::istringstream fields(line);
      std::string f[5];
      for (std::string& x : f) fields >> x;
      std::string path;
      std::getline(fields >> std::ws, path);
      mapping = path.empty() || path.starts_with("[") ? "[anon]" : path;
    }
  }
  std::vector<std::pair<long, std::string>> by_size;
  for (const auto& [path, kb] : rss_kb) by_size.emplace_back(kb, path);
  std::sort(by_size.rbegin(), by_size.rend());
  for (const auto& [kb, path] : by_size) {
    if (kb >= 64) std::printf("agent_rss_kb %ld %s\n", kb, path.c_str());
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace orderguard::agent

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
