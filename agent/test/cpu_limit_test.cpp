#include "agent/cpu_limit.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

namespace fs = std::filesystem;

TEST(CpuLimit, ParseCpuMax) {
  struct Case {
    std::string text;
    std::optional<double> cpus;
  };
  const std::vector<Case> cases = {
      {"50000 100000\n", 0.5},
      {"200000 100000", 2.0},
      {"max 100000\n", std::nullopt},
      {"0 100000", std::nullopt},
      {"-5 100000", std::nullopt},
      {"50000 0", std::nullopt},
      {"50000", std::nullopt},
      {"", std::nullopt},
      {"50000 100000 7", std::nullopt},
      {"99999999999999999999999 1", std::nullopt},
      {std::string("5\0 1", 4), std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parse_cpu_max(c.text), c.cpus) << c.text;
  }
}

TEST(CpuLimit, ParseCfsQuota) {
  EXPECT_EQ(parse_cfs_quota("50000\n", "100000\n"), 0.5);
  EXPECT_EQ(parse_cfs_quota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(parse_cfs_quota("150000", "100000"), 1.5);
  EXPECT_EQ(parse_cfs_quota("x", "100000"), std::nullopt);
  EXPECT_EQ(parse_cfs_quota("50000", ""), std::nullopt);
}

TEST(CpuLimit, FormatCpus) {
  EXPECT_EQ(format_cpus(0.5), "500m");
  EXPECT_EQ(format_cpus(0.25), "250m");
  EXPECT_EQ(format_cpus(1), "1 CPU");
  EXPECT_EQ(format_cpus(2), "2 CPUs");
  EXPECT_EQ(format_cpus(1.5), "1500m");
}

TEST(CpuLimit, FairShareAndBusyHost) {
  HostLoad load{4, 95, 8};
  EXPECT_TRUE(load.busy());
  EXPECT_DOUBLE_EQ(load.fair_share_percent(), 50);
  load.busy_percent = 89;
  EXPECT_FALSE(load.busy());
  load.competing = 0;  // nobody competed: a whole host each
  EXPECT_DOUBLE_EQ(load.fair_share_percent(), 400);

  CpuShares shares;
  shares.cpus = 2;
  shares.busy_percent = 100;
  shares.processes[1] = CpuUsage{1, 0, "a", 0.5};  // below kCompetingPercent
  shares.processes[2] = CpuUsage{2, 0, "b", 1};
  shares.processes[3] = CpuUsage{3, 0, "c", 150};
  HostLoad from = host_load(shares);
  EXPECT_EQ(from.cpus, 2);
  EXPECT_EQ(from.competing, 2u);
  EXPECT_TRUE(from.busy());
}

TEST(CpuLimit, HogDecisionTable) {
  const HostLoad idle{4, 30, 3};
  const HostLoad busy{2, 100, 4};  // fair share 50%
  const std::optional<CpuLimit> none;
  const std::optional<CpuLimit> m500 = CpuLimit{0.5, "/kubepods.slice/pod"};
  const std::optional<CpuLimit> m100 = CpuLimit{0.1, "/x"};
  const std::optional<CpuLimit> two = CpuLimit{2, "/x"};
  struct Case {
    double percent;
    std::optional<CpuLimit> limit;
    HostLoad load;
    bool hog;
    std::string message;
  };
  const std::vector<Case> cases = {
      // One CPU, as before.
      {95, none, idle, true, "uses 95% of a CPU"},
      {80, none, idle, true, "uses 80% of a CPU"},
      {79, none, idle, false, ""},
      // Against the limit: 40% of a CPU is 80% of 500m.
      {48, m500, idle, true, "uses 48% of a CPU, 96% of its 500m limit"},
      {40, m500, idle, true, "uses 40% of a CPU, 80% of its 500m limit"},
      {39, m500, idle, false, ""},
      {95, m500, idle, true, "uses 95% of a CPU, 190% of its 500m limit"},
      // A limit above one CPU does not raise the one-CPU threshold.
      {86, two, idle, true, "uses 86% of a CPU, 43% of its 2 CPUs limit"},
      {150, two, idle, true, "uses 150% of a CPU, 75% of its 2 CPUs limit"},
      // The floor: 9% of a CPU under a 100m limit is 90% of it, and still not a hog.
      {9, m100, idle, false, ""},
      {10, m100, idle, true, "uses 10% of a CPU, 100% of its 100m limit"},
      // Busy host: 40% of a 50% fair share.
      {48, none, busy, true,
       "uses 48% of a CPU, 96% of its fair share on a busy host (2 CPUs 100% busy, 4 processes "
       "competing)"},
      {39, none, busy, false, ""},
      {48, none, HostLoad{2, 89, 4}, false, ""},    // not busy
      {5, none, HostLoad{2, 100, 400}, false, ""},  // below the floor whatever the share
      // Idle or nonsense input.
      {0, m500, busy, false, ""},
      {-1, m500, busy, false, ""},
      {std::nan(""), m500, busy, false, ""},
  };
  for (const Case& c : cases) {
    HogDecision d = decide_cpu_hog(c.percent, c.limit, c.load, 80);
    EXPECT_EQ(d.hog, c.hog) << c.percent;
    EXPECT_EQ(d.message, c.message) << c.percent;
  }
}

// A host root with files under sys/fs/cgroup, removed on destruction.
class CgroupTree {
 public:
  CgroupTree() {
    char tmpl[] = "/tmp/orderguard-cgroup-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~CgroupTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    fs::path p = fs::path(root_) / "sys/fs/cgroup" / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void dir(const std::string& rel) const {
    fs::create_directories(fs::path(root_) / "sys/fs/cgroup" / rel);
  }
  HostView view() const { return HostView({"/proc", root_}); }
  std::string path(const std::string& rel) const { return root_ + "/sys/fs/cgroup/" + rel; }

 private:
  std::string root_;
};

TEST(ReadCpuLimit, V2SmallestOverTheCgroupAndItsAncestors) {
  CgroupTree t;
  t.write("kubepods.slice/cpu.max", "max 100000\n");
  t.write("kubepods.slice/pod.slice/cpu.max", "50000 100000\n");
  t.write("kubepods.slice/pod.slice/ctr.scope/cpu.max", "70000 100000\n");
  std::optional<CpuLimit> l = read_cpu_limit(t.view(), "0::/kubepods.slice/pod.slice/ctr.scope\n");
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->cpus, 0.5);
  EXPECT_EQ(l->cgroup, "/kubepods.slice/pod.slice");

  t.write("kubepods.slice/pod.slice/ctr.scope/cpu.max", "25000 100000\n");
  l = read_cpu_limit(t.view(), "0::/kubepods.slice/pod.slice/ctr.scope\n");
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->cpus, 0.25);

  // No quota anywhere; no such cgroup; no cgroup file.
  EXPECT_FALSE(read_cpu_limit(t.view(), "0::/kubepods.slice\n").has_value());
  EXPECT_FALSE(read_cpu_limit(t.view(), "0::/nowhere/at/all\n").has_value());
  EXPECT_FALSE(read_cpu_limit(t.view(), "").has_value());
}

TEST(ReadCpuLimit, V2InsideACgroupNamespaceFindsTheUniqueDirectory) {
  CgroupTree t;
  t.dir("kubepods.slice/kubepods-burstable.slice/agent-pod.slice/agent.scope");
  t.write("kubepods.slice/kubepods-burstable.slice/miner-pod.slice/cpu.max", "50000 100000\n");
  t.write("kubepods.slice/kubepods-burstable.slice/miner-pod.slice/miner.scope/cpu.max",
          "max 100000\n");
  // Seen from the agent's namespace (rooted at agent.scope): two levels up, then down.
  std::optional<CpuLimit> l = read_cpu_limit(t.view(), "0::/../../miner-pod.slice/miner.scope\n");
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->cpus, 0.5);
  EXPECT_EQ(l->cgroup, "/kubepods.slice/kubepods-burstable.slice/miner-pod.slice");

  // Ambiguous: the same path under two parents gives no quota rather than a guess.
  t.write("kubepods.slice/kubepods-besteffort.slice/miner-pod.slice/miner.scope/cpu.max",
          "10000 100000\n");
  EXPECT_FALSE(read_cpu_limit(t.view(), "0::/../../miner-pod.slice/miner.scope\n").has_value());
}

TEST(ReadCpuLimit, ALocatorRemembersWhereANamespacedPathWasFound) {
  CgroupTree t;
  const std::string file = "0::/../../miner-pod.slice/miner.scope\n";
  t.write("kubepods.slice/kubepods-burstable.slice/miner-pod.slice/cpu.max", "50000 100000\n");
  t.dir("kubepods.slice/kubepods-burstable.slice/miner-pod.slice/miner.scope");
  CgroupLocator locator;
  ASSERT_TRUE(read_cpu_limit(t.view(), file, &locator).has_value());

  // A second directory of the same name makes a fresh search ambiguous; the remembered
  // location still answers, because it was found before and still exists.
  t.dir("kubepods.slice/kubepods-besteffort.slice/miner-pod.slice/miner.scope");
  EXPECT_FALSE(read_cpu_limit(t.view(), file).has_value());
  std::optional<CpuLimit> l = read_cpu_limit(t.view(), file, &locator);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->cgroup, "/kubepods.slice/kubepods-burstable.slice/miner-pod.slice");

  // Once that directory is gone, the path is searched again (and is ambiguous no more).
  std::filesystem::remove_all(t.path("kubepods.slice/kubepods-burstable.slice"));
  t.write("kubepods.slice/kubepods-besteffort.slice/miner-pod.slice/cpu.max", "20000 100000\n");
  l = read_cpu_limit(t.view(), file, &locator);
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->cpus, 0.2);
}

TEST(ReadCpuLimit, V1CpuControllerWinsOverTheV2Line) {
  CgroupTree t;
  t.write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  t.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  t.write("cpu,cpuacct/kubepods/burstable/podx/cpu.cfs_quota_us", "50000\n");
  t.write("cpu,cpuacct/kubepods/burstable/podx/cpu.cfs_period_us", "100000\n");
  t.write("cpu,cpuacct/kubepods/burstable/podx/ctr/cpu.cfs_quota_us", "-1\n");
  t.write("cpu,cpuacct/kubepods/burstable/podx/ctr/cpu.cfs_period_us", "100000\n");
  t.write("kubepods/burstable/podx/ctr/cpu.max", "10000 100000\n");  // not the enforced one
  const std::string file =
      "12:pids:/kubepods/burstable/podx/ctr\n"
      "4:cpu,cpuacct:/kubepods/burstable/podx/ctr\n"
      "0::/kubepods/burstable/podx/ctr\n";
  std::optional<CpuLimit> l = read_cpu_limit(t.view(), file);
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->cpus, 0.5);
  EXPECT_EQ(l->cgroup, "/kubepods/burstable/podx");
}

TEST(ReadCpuLimit, V1CpuMountedAlone) {
  CgroupTree t;
  t.write("cpu/job/cpu.cfs_quota_us", "150000\n");
  t.write("cpu/job/cpu.cfs_period_us", "100000\n");
  std::optional<CpuLimit> l = read_cpu_limit(t.view(), "3:cpu:/job\n2:cpuacct:/job\n");
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->cpus, 1.5);
}

TEST(ReadCpuLimit, HostilePathsReadNothingOutsideTheHierarchy) {
  CgroupTree t;
  t.write("cpu.max", "50000 100000\n");
  t.write("a/cpu.max", "max 100000\n");
  // A ".." inside the path is no kernel's; so is a controller list with a slash.
  EXPECT_FALSE(read_cpu_limit(t.view(), "0::/a/../../../etc\n").has_value());
  EXPECT_FALSE(read_cpu_limit(t.view(), "4:cpu/../../etc:/a\n").has_value());
  EXPECT_FALSE(read_cpu_limit(t.view(), std::string("0::/a\0/b\n", 9)).has_value());
}

}  // namespace
}  // namespace orderguard::agent
