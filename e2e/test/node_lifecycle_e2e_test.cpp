// A node's host changes are undone: after a clean stop, and by the next
// start after a crash (every process killed, containers left running).
// Starts its own clusters, one at a time (one node per machine).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/node_images.h"
#include "e2e/support/wait.h"

namespace orderguard::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// What a node changes on the host, as text to compare before and after.
struct HostSnapshot {
  std::string links;
  std::string iptables;
  std::string sysctls;
  std::string paths;
  std::string mounts;
  std::string cgroups;

  static HostSnapshot take() {
    HostSnapshot s;
    s.links = run_command({"ip", "-o", "link", "show"}).out;
    // Counters vary; rules do not.
    for (const char* tool : {"iptables", "ip6tables"}) {
      for (const char* table : {"raw", "filter", "nat", "mangle"}) {
        s.iptables += std::string(tool) + " " + table + "\n" +
                      run_command({tool, "-w", "-t", table, "-S"}).out;
      }
    }
    for (const char* k : {"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables",
                          "vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}) {
      s.sysctls += std::string(k) + "=" + read(std::string("/proc/sys/") + k);
    }
    for (const char* p : {"/var/lib/kubelet", "/var/log/containers", "/var/log/pods",
                          "/var/lib/cni", "/run/containerd", "/run/netns", "/etc/cni"}) {
      std::error_code ec;
      s.paths += std::string(p) + (fs::exists(p, ec) ? " exists\n" : " absent\n");
    }
    std::ifstream mounts("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mounts, line)) {
      // Mount ids change; the mount point (field 5) is what matters. Only
      // where a node mounts: other programs (image builds) mount meanwhile.
      std::istringstream w(line);
      std::string a, b, c, d, point;
      w >> a >> b >> c >> d >> point;
      for (const char* where : {"/tmp/", "/run/netns", "/run/containerd", "/var/lib/kubelet"}) {
        if (point.rfind(where, 0) == 0) s.mounts += point + "\n";
      }
      // Propagation of the machine's own mounts (a node makes / shared).
      if (point == "/" || point.rfind("/sys", 0) == 0 || point.rfind("/dev", 0) == 0) {
        std::string field, propagation = "private";
        while (w >> field && field != "-") {
          if (field.rfind("shared:", 0) == 0 || field.rfind("master:", 0) == 0) {
            propagation = field.substr(0, field.find(':'));
          }
        }
        s.mounts += point + " " + propagation + "\n";
      }
    }
    std::error_code ec;
    for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      if (fs::exists(h.path() / "kubepods", ec)) s.cgroups += h.path().string() + "/kubepods\n";
    }
    return s;
  }
};

void expect_same(const HostSnapshot& before, const HostSnapshot& after) {
  EXPECT_EQ(before.links, after.links);
  EXPECT_EQ(before.iptables, after.iptables);
  EXPECT_EQ(before.sysctls, after.sysctls);
  EXPECT_EQ(before.paths, after.paths);
  EXPECT_EQ(before.mounts, after.mounts);
  EXPECT_EQ(before.cgroups, after.cgroups);
}

ControlPlaneOptions node_options() {
  ControlPlaneOptions options;
  auto tools = resolve_tools_bin();
  if (tools) options.tools_bin = *tools;
  options.node.enabled = true;
  auto archives = node_image_archives();
  if (archives) options.node.image_archives = *archives;
  return options;
}

// A Pod that keeps running, so teardown has containers, mounts (its
// ServiceAccount token volume) and cgroups to clean.
void run_pod(ControlPlane& cp) {
  const nlohmann::json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "left-running"}, {"namespace", "default"}}},
      {"spec",
       {{"terminationGracePeriodSeconds", 30},
        {"containers",
         {{{"name", "box"},
           {"image", kTestboxImage},
           {"imagePullPolicy", "Never"},
           {"command", {"/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"}}}}}}}};
  auto r = cp.kubectl({"apply", "-f", "-"}, pod.dump());
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_TRUE(poll_until(
      [&] {
        auto p = cp.kubectl({"get", "pod", "left-running", "-o", "jsonpath={.status.phase}"});
        return p.out == "Running";
      },
      seconds(90)))
      << cp.kubectl({"describe", "pod", "left-running"}).out;
}

TEST(NodeLifecycle, StopUndoesEveryHostChange) {
  auto options = node_options();
  ASSERT_FALSE(options.tools_bin.empty());
  ASSERT_FALSE(options.node.image_archives.empty()) << node_image_archives().error().message;
  const HostSnapshot before = HostSnapshot::take();
  std::string work_dir;
  {
    auto cp = ControlPlane::start(options);
    ASSERT_TRUE(cp.ok()) << cp.error().message;
    work_dir = (*cp)->work_dir();
    run_pod(**cp);
    // The bridge and our rules exist while it runs.
    EXPECT_NE(run_command({"ip", "link", "show", options.node.bridge}).exit_code, 1);
    EXPECT_NE(run_command({"iptables", "-w", "-t", "raw", "-S"}).out.find("ORDERGUARD-POD-EGRESS"),
              std::string::npos);
    (*cp)->stop();
  }
  expect_same(before, HostSnapshot::take());
  std::error_code ec;
  EXPECT_FALSE(fs::exists(work_dir, ec)) << work_dir;
  EXPECT_EQ(HostNetwork::owner(), "");
}

TEST(NodeLifecycle, NextStartAfterACrashUndoesTheDeadNodesChanges) {
  auto options = node_options();
  ASSERT_FALSE(options.node.image_archives.empty());
  const HostSnapshot before = HostSnapshot::take();
  const std::string crashed_dir = fs::temp_directory_path().string() + "/orderguard-node-crash";
  {
    auto crashed_options = options;
    crashed_options.work_dir = crashed_dir;
    crashed_options.keep_running = true;  // outlives this object, like `orderguard-cluster up`
    auto cp = ControlPlane::start(crashed_options);
    ASSERT_TRUE(cp.ok()) << cp.error().message;
    run_pod(**cp);
  }
  // The crash: every recorded process killed at once; the Pod's container,
  // the bridge, the rules and the mounts stay behind.
  std::ifstream pids(crashed_dir + "/pids");
  std::vector<std::pair<std::string, pid_t>> killed;
  std::string name;
  long pid = 0;
  while (pids >> name >> pid) {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    killed.emplace_back(name, static_cast<pid_t>(pid));
  }
  ASSERT_FALSE(killed.empty());
  ASSERT_TRUE(poll_until(
      [&] {
        for (const auto& [n, p] : killed) {
          if (process_matches(p, n, crashed_dir + "/")) return false;
        }
        return true;
      },
      seconds(20)));
  EXPECT_EQ(HostNetwork::owner(), crashed_dir);

  {
    auto cp = ControlPlane::start(options);
    ASSERT_TRUE(cp.ok()) << cp.error().message;
    run_pod(**cp);
    (*cp)->stop();
  }
  expect_same(before, HostSnapshot::take());
  ASSERT_TRUE(ControlPlane::stop_detached(crashed_dir).ok());
  std::error_code ec;
  EXPECT_FALSE(fs::exists(crashed_dir, ec));
}

}  // namespace
}  // namespace orderguard::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
