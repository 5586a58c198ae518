#include "e2e/node.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "e2e/process.h"

namespace orderguard::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kStateFile[] = "/run/orderguard-node/state.json";
constexpr char kLockFile[] = "/run/orderguard-node/lock";
// Our own chains, so removal never touches a rule someone else wrote.
constexpr char kEgressChain[] = "ORDERGUARD-POD-EGRESS";
constexpr char kForwardChain[] = "ORDERGUARD-FORWARD";

// Host sysctls a node changes: routing between the bridge's Pods through
// Service addresses needs forwarding and bridged traffic seen by iptables;
// the kubelet rewrites the other three at start whatever its config says.
constexpr const char* kSysctls[] = {
    "net/ipv4/ip_forward",  "net/bridge/bridge-nf-call-iptables",
    "vm/overcommit_memory", "kernel/panic",
    "kernel/panic_on_oops",
};

// Paths the kubelet, containerd and libcni write to whatever their flags say.
// Removed on restore only when they did not exist before the node started.
constexpr const char* kFixedPaths[] = {
    "/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/var/lib/cni",
    "/run/containerd",  "/run/netns",          "/etc/cni",
};

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error(ErrorCode::kInternal, "write " + path + ": " + std::strerror(errno));
  return {};
}

// Runs a host command that must succeed.
Status host(const std::vector<std::string>& argv) {
  CommandOptions opts;
  opts.timeout = std::chrono::seconds(30);
  CommandResult r = run_command(argv, opts);
  if (r.ok()) return {};
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return make_error(ErrorCode::kInternal, cmd + ": " + r.describe());
}

// Runs a host command whose failure is expected when there is nothing to undo.
void host_quiet(const std::vector<std::string>& argv) {
  CommandOptions opts;
  opts.timeout = std::chrono::seconds(30);
  run_command(argv, opts);
}

// Holds the machine-wide node lock for the lifetime of the object: claim and
// restore are short critical sections, so concurrent starts wait, not race.
class MachineLock {
 public:
  MachineLock() {
    std::error_code ec;
    fs::create_directories(kNodeStateDir, ec);
    fd_ = ::open(kLockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~MachineLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  MachineLock(const MachineLock&) = delete;
  MachineLock& operator=(const MachineLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::optional<json> read_state() {
  std::error_code ec;
  if (!fs::exists(kStateFile, ec)) return std::nullopt;
  json state = json::parse(read_text_file(kStateFile), nullptr, /*allow_exceptions=*/false);
  if (state.is_discarded() || !state.is_object()) return json::object();
  // A field of the wrong type is dropped, so every value() below reads its default instead of
  // throwing: a damaged record must not stop the restore of what it still describes.
  const auto drop_unless = [&](const char* key, bool ok) {
    if (state.contains(key) && !ok) state.erase(key);
  };
  drop_unless("owner", state.value("owner", json()).is_string());
  drop_unless("bridge", state.value("bridge", json()).is_string());
  drop_unless("root_was_private", state.value("root_was_private", json()).is_boolean());
  drop_unless("sysctls", state.value("sysctls", json()).is_object());
  drop_unless("paths", state.value("paths", json()).is_object());
  return state;
}

// Whether any process recorded in `dir`/pids is still that process.
bool cluster_alive(const std::string& dir) {
  std::ifstream in(dir + "/pids");
  std::string name;
  long pid = 0;
  while (in >> name >> pid) {
    if (process_matches(static_cast<pid_t>(pid), name, dir + "/")) return true;
  }
  return false;
}

// The words of one `iptables -S` line, with its double-quoted words (rule
// comments) unquoted, so the line can be given back to `iptables -D`.
std::vector<std::string> split_rule(const std::string& line) {
  std::vector<std::string> out;
  std::string word;
  bool quoted = false;
  bool any = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '\\' && i + 1 < line.size()) {
      word += line[++i];
    } else if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && c == ' ') {
      if (any) out.push_back(word);
      word.clear();
      any = false;
    } else {
      word += c;
      any = true;
    }
  }
  if (any) out.push_back(word);
  return out;
}

// Every rule in `table` that jumps to a chain matching `prefix`, plus those
// chains: removed so a restore leaves no trace of the node's netfilter state.
void remove_chains(const std::string& tool, const std::string& table, const std::string& prefix) {
  CommandResult listing = run_command({tool, "-w", "-t", table, "-S"});
  if (!listing.ok()) return;
  std::vector<std::string> chains;
  std::istringstream lines(listing.out);
  std::string line;
  while (std::getline(lines, line)) {
    const std::vector<std::string> w = split_rule(line);
    if (w.size() >= 2 && w[0] == "-N" && w[1].rfind(prefix, 0) == 0) chains.push_back(w[1]);
    if (w.size() >= 2 && w[0] == "-A") {
      // Delete a rule in a chain we do not own that refers to one we do.
      const bool ours = w[1].rfind(prefix, 0) == 0;
      const bool refers = line.find(" " + prefix) != std::string::npos;
      if (!ours && refers) {
        std::vector<std::string> del = {tool, "-w", "-t", table, "-D"};
        del.insert(del.end(), w.begin() + 1, w.end());
        host_quiet(del);
      }
    }
  }
  for (const auto& c : chains) host_quiet({tool, "-w", "-t", table, "-F", c});
  for (const auto& c : chains) host_quiet({tool, "-w", "-t", table, "-X", c});
}

void remove_netfilter_state() {
  for (const char* tool : {"iptables", "ip6tables"}) {
    for (const char* table : {"raw", "filter", "nat", "mangle"}) {
      remove_chains(tool, table, "ORDERGUARD-");
      // The kubelet's and kube-proxy's chains (one node per machine: they are
      // this node's).
      remove_chains(tool, table, "KUBE-");
    }
  }
}

Status install_netfilter_rules(const NodeOptions& o) {
  // raw PREROUTING sees a Pod's packet before any DNAT: the destination is
  // what the Pod asked for, a Service address included.
  const std::vector<std::vector<std::string>> rules = {
      {"iptables", "-w", "-t", "raw", "-N", kEgressChain},
      {"iptables", "-w", "-t", "raw", "-A", kEgressChain, "-d", o.pod_subnet, "-j", "RETURN"},
      {"iptables", "-w", "-t", "raw", "-A", kEgressChain, "-d", o.service_range, "-j", "RETURN"},
      {"iptables", "-w", "-t", "raw", "-A", kEgressChain, "-j", "DROP"},
      {"iptables", "-w", "-t", "raw", "-I", "PREROUTING", "1", "-i", o.bridge, "-j", kEgressChain},
      // Nothing is forwarded between the bridge and any other interface.
      {"iptables", "-w", "-N", kForwardChain},
      {"iptables", "-w", "-A", kForwardChain, "-i", o.bridge, "!", "-o", o.bridge, "-j", "DROP"},
      {"iptables", "-w", "-A", kForwardChain, "!", "-i", o.bridge, "-o", o.bridge, "-j", "DROP"},
      {"iptables", "-w", "-I", "FORWARD", "1", "-j", kForwardChain},
      // The bridge has no IPv6 address; Pods' IPv6 goes nowhere.
      {"ip6tables", "-w", "-t", "raw", "-N", kEgressChain},
      {"ip6tables", "-w", "-t", "raw", "-A", kEgressChain, "-j", "DROP"},
      {"ip6tables", "-w", "-t", "raw", "-I", "PREROUTING", "1", "-i", o.bridge, "-j", kEgressChain},
  };
  for (const auto& r : rules) {
    if (auto s = host(r); !s) return s;
  }
  return {};
}

Status make_bridge(const NodeOptions& o) {
  host_quiet({"ip", "link", "del", o.bridge});  // a leftover nobody recorded
  const std::string prefix = o.pod_subnet.substr(o.pod_subnet.find('/'));
  if (auto s = host({"ip", "link", "add", o.bridge, "type", "bridge"}); !s) return s;
  if (auto s = write_text("/proc/sys/net/ipv6/conf/" + o.bridge + "/disable_ipv6", "1"); !s) {
    return s;
  }
  if (auto s = host({"ip", "addr", "add", o.host_ip + prefix, "dev", o.bridge}); !s) return s;
  return host({"ip", "link", "set", o.bridge, "up"});
}

// Kills every process in the kubelet's cgroups (a Pod's containers), in any
// v1 hierarchy and in the unified one. Repeats while processes remain, since
// a dying container can still fork.
void kill_pod_processes() {
  for (int round = 0; round < 20; ++round) {
    int found = 0;
    std::error_code ec;
    for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      const fs::path root = hierarchy.path() / "kubepods";
      if (!fs::is_directory(root, ec)) continue;
      for (auto it = fs::recursive_directory_iterator(root, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().filename() != "cgroup.procs") continue;
        std::istringstream procs(read_text_file(it->path().string()));
        long pid = 0;
        while (procs >> pid) {
          if (pid > 1 && ::kill(static_cast<pid_t>(pid), SIGKILL) == 0) ++found;
        }
      }
    }
    if (found == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// containerd's shims outlive containerd; ours name our socket on their
// command line.
void kill_shims(const std::string& node_dir) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
    if (pid <= 1) continue;
    std::string cmdline = read_text_file("/proc/" + std::string(e->d_name) + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find("containerd-shim") != std::string::npos &&
        cmdline.find(node_dir + "/") != std::string::npos) {
      ::kill(pid, SIGKILL);
    }
  }
  ::closedir(proc);
}

void remove_pod_cgroups() {
  std::error_code ec;
  for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    const fs::path root = hierarchy.path() / "kubepods";
    if (!fs::is_directory(root, ec)) continue;
    std::vector<fs::path> dirs;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    dirs.push_back(root);
    // Children before parents; cgroup directories go with rmdir only.
    std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
      return a.string().size() > b.string().size();
    });
    for (const auto& d : dirs) ::rmdir(d.c_str());
  }
}

struct MountPoint {
  std::string path;
  std::string propagation;  // "shared", "slave" or "private"
};

// Mount points from /proc/self/mountinfo, with its octal escapes decoded.
std::vector<MountPoint> mounts() {
  std::vector<MountPoint> out;
  std::istringstream lines(read_text_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string id, parent, dev, root, point, options, field;
    if (!(words >> id >> parent >> dev >> root >> point >> options)) continue;
    // Optional fields up to "-": shared:N, master:N, propagate_from:N.
    std::string propagation = "private";
    while (words >> field && field != "-") {
      if (field.rfind("shared:", 0) == 0) propagation = "shared";
      if (field.rfind("master:", 0) == 0 && propagation != "shared") propagation = "slave";
    }
    std::string decoded;
    for (size_t i = 0; i < point.size(); ++i) {
      const auto octal = [&](size_t k) { return point[k] >= '0' && point[k] <= '7'; };
      if (point[i] == '\\' && i + 3 < point.size() && octal(i + 1) && octal(i + 2) &&
          octal(i + 3)) {
        decoded += static_cast<char>((point[i + 1] - '0') * 64 + (point[i + 2] - '0') * 8 +
                                     (point[i + 3] - '0'));
        i += 3;
      } else {
        decoded += point[i];
      }
    }
    out.push_back({decoded, propagation});
  }
  return out;
}

std::vector<std::string> mount_points() {
  std::vector<std::string> out;
  for (const auto& m : mounts()) out.push_back(m.path);
  return out;
}

}  // namespace

Status unmount_below(const std::string& dir) {
  if (dir.empty() || dir == "/") {
    return make_error(ErrorCode::kInvalid, "refusing to unmount below '" + dir + "'");
  }
  // Several passes: stacked mounts show up again once the top one is gone.
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::string> below;
    for (const auto& p : mount_points()) {
      if (p == dir || p.rfind(dir + "/", 0) == 0) below.push_back(p);
    }
    if (below.empty()) return {};
    std::sort(below.begin(), below.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& p : below) ::umount2(p.c_str(), MNT_DETACH);
  }
  for (const auto& p : mount_points()) {
    if (p == dir || p.rfind(dir + "/", 0) == 0) {
      return make_error(ErrorCode::kInternal, "cannot unmount " + p);
    }
  }
  return {};
}

Status clean_node_leftovers(const std::string& node_dir) {
  std::error_code ec;
  const bool had_node = fs::exists(node_dir, ec);
  kill_shims(node_dir);
  kill_pod_processes();
  // Pod network namespaces: containerd pins them under /run/netns/cni-*.
  for (const auto& entry : fs::directory_iterator("/run/netns", ec)) {
    if (entry.path().filename().string().rfind("cni-", 0) != 0) continue;
    ::umount2(entry.path().c_str(), MNT_DETACH);
    fs::remove(entry.path(), ec);
  }
  Status unmounted = had_node ? unmount_below(node_dir) : Status{};
  remove_pod_cgroups();
  return unmounted;
}

std::string HostNetwork::owner() {
  MachineLock lock;
  auto state = read_state();
  return state ? state->value("owner", "") : "";
}

namespace {

Status restore_locked(const json& state) {
  Status first;
  const auto keep = [&](Status s) {
    if (!s && first) first = s;
  };
  remove_netfilter_state();
  if (const std::string bridge = state.value("bridge", ""); !bridge.empty()) {
    host_quiet({"ip", "link", "del", bridge});
  }
  if (state.value("root_was_private", false)) host_quiet({"mount", "--make-private", "/"});
  const json sysctls = state.value("sysctls", json::object());
  for (const auto& [path, value] : sysctls.items()) {
    if (value.is_string()) keep(write_text("/proc/sys/" + path, value.get<std::string>()));
  }
  const json paths = state.value("paths", json::object());
  for (const auto& [path, existed] : paths.items()) {
    if (existed.is_boolean() && existed.get<bool>()) continue;
    if (auto s = unmount_below(path); !s) {
      keep(s);  // never delete through a mount
      continue;
    }
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::error_code ec;
  fs::remove(kStateFile, ec);
  return first;
}

}  // namespace

Status HostNetwork::claim(const std::string& cluster_dir, const NodeOptions& o) {
  MachineLock lock;
  if (!lock.ok()) {
    return make_error(ErrorCode::kInternal,
                      std::string("cannot open ") + kLockFile + ": " + std::strerror(errno));
  }
  if (auto state = read_state()) {
    const std::string owner = state->value("owner", "");
    if (!owner.empty() && owner != cluster_dir && cluster_alive(owner)) {
      return make_error(ErrorCode::kAlreadyExists,
                        "a cluster with a node is already running on this machine (" + owner +
                            "); one node per machine: stop it first with `orderguard-cluster "
                            "down --dir " +
                            owner + "`");
    }
    log::info("undoing the host changes of a node that is gone", {{"owner", owner}});
    if (!owner.empty()) {
      if (auto s = clean_node_leftovers(owner + "/node"); !s) return s;
    } else {
      kill_pod_processes();
    }
    if (auto s = restore_locked(*state); !s) return s;
  }
  // Record first, change second: a crash in between leaves a record that
  // covers every change made.
  json state = {{"owner", cluster_dir}, {"bridge", o.bridge}};
  for (const char* s : kSysctls) {
    std::string value = trim_space(read_text_file(std::string("/proc/sys/") + s));
    if (!value.empty()) state["sysctls"][s] = value;
  }
  for (const char* p : kFixedPaths) {
    std::error_code ec;
    state["paths"][p] = fs::exists(p, ec);
  }
  // A hostPath volume with mountPropagation (the agent's view of the host)
  // needs / to be a shared mount, as systemd makes it on every real node.
  const std::vector<MountPoint> before = mounts();
  const bool root_private = std::any_of(before.begin(), before.end(), [](const MountPoint& m) {
    return m.path == "/" && m.propagation == "private";
  });
  state["root_was_private"] = root_private;
  if (auto s = write_text(kStateFile, state.dump(2)); !s) return s;

  // Only / itself (not its submounts): that is what the kubelet checks.
  if (root_private) {
    if (auto s = host({"mount", "--make-shared", "/"}); !s) return s;
  }
  if (auto s = make_bridge(o); !s) return s;
  if (auto s = install_netfilter_rules(o); !s) return s;
  if (auto s = write_text("/proc/sys/net/bridge/bridge-nf-call-iptables", "1"); !s) return s;
  if (auto s = write_text("/proc/sys/net/ipv4/ip_forward", "1"); !s) return s;
  return {};
}

Status HostNetwork::restore(const std::string& cluster_dir) {
  MachineLock lock;
  auto state = read_state();
  if (!state) return {};
  const std::string owner = state->value("owner", "");
  if (!cluster_dir.empty() && owner != cluster_dir) return {};
  return restore_locked(*state);
}

}  // namespace orderguard::e2e
