#include "agent/cpu.h"

#include <gtest/gtest.h>

#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::TempTree;

TEST(Cpu, SharesFromTwoSamplesOverTotalJiffies) {
  TempTree proc("proc");
  HostView view({proc.path(), "/"});
  FakeClock clock;
  std::vector<int> pids = *view.list_pids();
  Result<CpuSample> before = take_cpu_sample(view, clock, pids, true);
  ASSERT_TRUE(before.ok()) << before.error().message;
  proc.overlay("proc_t1");
  clock.advance(std::chrono::seconds(1));
  Result<CpuSample> after = take_cpu_sample(view, clock, pids, true);
  ASSERT_TRUE(after.ok());

  CpuShares shares = compute_cpu_shares(*before, *after);
  EXPECT_DOUBLE_EQ(shares.interval_seconds, 1.0);
  // Every jiffy of the interval was busy: 400 of 400 over 4 CPUs.
  EXPECT_EQ(shares.cpus, 4);
  EXPECT_DOUBLE_EQ(shares.busy_percent, 100.0);
  // 400 jiffies over 4 CPUs: 100 jiffies are one CPU.
  EXPECT_DOUBLE_EQ(shares.processes.at(100).percent, 95.0);
  EXPECT_DOUBLE_EQ(shares.processes.at(300).percent, 390.0);
  EXPECT_DOUBLE_EQ(shares.processes.at(400).percent, 90.0);
  EXPECT_DOUBLE_EQ(shares.processes.at(1).percent, 0.0);
  EXPECT_EQ(shares.processes.count(600), 0u);  // vanished: no stat
  EXPECT_EQ(shares.processes.count(601), 0u);  // truncated stat

  std::vector<CpuUsage> top = shares.top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].pid, 300);
  EXPECT_EQ(top[0].comm, "ffmpeg");
  EXPECT_EQ(top[1].pid, 100);

  // Per thread: the xmrig worker thread, not its main thread, burns the CPU.
  ASSERT_FALSE(shares.threads.empty());
  auto worker = std::find_if(shares.threads.begin(), shares.threads.end(),
                             [](const CpuUsage& u) { return u.tid == 101; });
  ASSERT_NE(worker, shares.threads.end());
  EXPECT_EQ(worker->pid, 100);
  EXPECT_DOUBLE_EQ(worker->percent, 90.0);
  auto main_thread = std::find_if(shares.threads.begin(), shares.threads.end(),
                                  [](const CpuUsage& u) { return u.tid == 100; });
  ASSERT_NE(main_thread, shares.threads.end());
  EXPECT_DOUBLE_EQ(main_thread->percent, 5.0);
}

CpuSample sample(uint64_t total, std::map<int, TaskTicks> procs) {
  CpuSample s;
  s.system.total = total;
  s.system.cpus = 1;
  s.processes = std::move(procs);
  return s;
}

TEST(Cpu, ReusedPidRestartsAtZeroAndNewPidHasNoShare) {
  CpuSample a = sample(1000, {{7, {500, 10, "old"}}});
  CpuSample b = sample(1100, {{7, {20, 99, "new"}}, {8, {50, 5, "born"}}});
  CpuShares s = compute_cpu_shares(a, b);
  EXPECT_DOUBLE_EQ(s.processes.at(7).percent, 20.0);
  EXPECT_EQ(s.processes.count(8), 0u);
}

TEST(Cpu, NoElapsedJiffiesGivesNothing) {
  CpuSample a = sample(1000, {{7, {5, 1, "x"}}});
  EXPECT_TRUE(compute_cpu_shares(a, a).processes.empty());
  CpuSample older = sample(900, {{7, {5, 1, "x"}}});
  EXPECT_TRUE(compute_cpu_shares(a, older).processes.empty());
}

TEST(Cpu, MissingProcStatIsAnError) {
  HostView view({"/nonexistent-proc", "/"});
  FakeClock clock;
  Result<CpuSample> s = take_cpu_sample(view, clock, {1}, false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace orderguard::agent
