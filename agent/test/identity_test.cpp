#include "agent/identity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::testdata;

std::set<std::string> rules_of(const std::vector<policy::Finding>& findings) {
  std::set<std::string> out;
  for (const auto& f : findings) out.insert(f.rule_id);
  return out;
}

std::vector<policy::Finding> check_fixture(int pid) {
  HostView view({testdata("proc"), testdata("host")});
  Result<ProcessSnapshot> p = read_process(view, pid);
  EXPECT_TRUE(p.ok()) << pid;
  if (!p.ok()) return {};
  return check_identity(*p, policy::built_in_default());
}

TEST(Identity, MinerInArgvAndHugePages) {
  std::set<std::string> rules = rules_of(check_fixture(100));
  EXPECT_TRUE(rules.count("miner-binary"));
  EXPECT_TRUE(rules.count("stratum-url"));
  EXPECT_TRUE(rules.count("miner-flag"));
  EXPECT_TRUE(rules.count("huge-pages"));
  EXPECT_FALSE(rules.count("fake-kernel-thread"));
}

TEST(Identity, FakeKworkerDeletedFromTmp) {
  std::set<std::string> rules = rules_of(check_fixture(200));
  EXPECT_TRUE(rules.count("fake-kernel-thread"));
  EXPECT_TRUE(rules.count("exe-deleted"));
  EXPECT_TRUE(rules.count("exe-tmp"));
  EXPECT_TRUE(rules.count("miner-binary"));  // kworkerds is a known miner name
}

TEST(Identity, RealKernelThreadsAndBenignProcessesAreClean) {
  EXPECT_TRUE(check_fixture(2).empty());
  EXPECT_TRUE(check_fixture(10).empty());  // kworker/0:1 with PF_KTHREAD
  EXPECT_TRUE(check_fixture(1).empty());
  EXPECT_TRUE(check_fixture(300).empty());  // ffmpeg
  EXPECT_TRUE(check_fixture(401).empty());  // "nginx: master process" argv rewrite
}

TEST(Identity, MemfdButNotRunc) {
  EXPECT_EQ(rules_of(check_fixture(500)), (std::set<std::string>{"exe-memfd"}));
  EXPECT_TRUE(check_fixture(501).empty());
}

ProcessSnapshot snapshot(std::string comm, int ppid, std::string exe,
                         std::vector<std::string> argv) {
  ProcessSnapshot p;
  p.stat.pid = 4242;
  p.stat.ppid = ppid;
  p.comm = std::move(comm);
  p.exe = std::move(exe);
  p.exe_readable = !p.exe.empty();
  p.cmdline = std::move(argv);
  return p;
}

TEST(Identity, KernelThreadMasquerade) {
  const policy::CompiledPolicy pol = policy::built_in_default();
  auto has_fake = [&](const ProcessSnapshot& p) {
    return rules_of(check_identity(p, pol)).count("fake-kernel-thread") > 0;
  };
  // Bracketed argv[0] with an executable.
  EXPECT_TRUE(has_fake(snapshot("bash", 1, "/usr/bin/bash", {"[kworker/0:1]"})));
  // Kernel-like comm under kthreadd but with an exe: kernel threads have none.
  EXPECT_TRUE(has_fake(snapshot("kworker/1:2", 2, "/var/tmp/x", {})));
  // Kernel-like comm, exe unreadable (no ptrace rights), but ppid != 2.
  EXPECT_TRUE(has_fake(snapshot("ksoftirqd/0", 1, "", {})));
  // Kernel-like comm, no exe, ppid 2: looks genuine.
  EXPECT_FALSE(has_fake(snapshot("kworker/1:2", 2, "", {})));
  EXPECT_FALSE(has_fake(snapshot("bash", 1, "/usr/bin/bash", {"bash"})));
}

TEST(Identity, ExecutableLocations) {
  const policy::CompiledPolicy pol = policy::built_in_default();
  EXPECT_TRUE(
      rules_of(check_identity(snapshot("a", 1, "/dev/shm/a", {"a"}), pol)).count("exe-tmp"));
  EXPECT_TRUE(
      rules_of(check_identity(snapshot("a", 1, "/var/tmp/.x/a", {"a"}), pol)).count("exe-tmp"));
  EXPECT_FALSE(
      rules_of(check_identity(snapshot("a", 1, "/usr/tmp/a", {"a"}), pol)).count("exe-tmp"));
  EXPECT_EQ(
      rules_of(check_identity(snapshot("nginx", 1, "/usr/sbin/nginx (deleted)", {"nginx"}), pol)),
      (std::set<std::string>{"exe-deleted"}));
}

}  // namespace
}  // namespace orderguard::agent
