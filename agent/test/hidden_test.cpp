#include "agent/hidden.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::testdata;

// Pids in `alive` exist; a pid in `scripted` answers its queued replies first.
class FakeProbe final : public ProcessProbe {
 public:
  bool exists(pid_t pid) override {
    ++probes;
    auto it = scripted.find(pid);
    if (it != scripted.end() && !it->second.empty()) {
      bool r = it->second.front();
      it->second.pop_front();
      return r;
    }
    return alive.count(pid) > 0;
  }
  std::set<int> alive;
  std::map<int, std::deque<bool>> scripted;
  int probes = 0;
};

class HiddenTest : public ::testing::Test {
 protected:
  HiddenTest() : view_({testdata("proc"), testdata("host")}) {
    listed_ = *view_.list_pids();
    probe_.alive.insert(listed_.begin(), listed_.end());
    probe_.alive.insert(101);  // a thread of 100: signals reach it, readdir does not list it
    probe_.alive.insert(777);  // hidden
    probe_.scripted[888] = {true, false};  // exits before the re-probe
  }
  HostView view_;
  std::vector<int> listed_;
  FakeProbe probe_;
};

TEST_F(HiddenTest, FullSweepFindsHiddenButNotThreadsOrExitedPids) {
  HiddenProcessScanner scanner(&view_, &probe_, 0);
  HiddenSweep sweep = scanner.scan(listed_);
  EXPECT_EQ(scanner.pid_max(), 1000);  // from sys/kernel/pid_max
  EXPECT_EQ(sweep.from, 1);
  EXPECT_EQ(sweep.to, 1000);
  EXPECT_TRUE(sweep.wrapped);
  EXPECT_EQ(sweep.hidden, (std::vector<int>{777}));
  std::vector<policy::Finding> f = HiddenProcessScanner::findings(sweep, policy::Scoring{});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].rule_id, "hidden-process");
  EXPECT_EQ(f[0].severity, policy::Severity::kStrong);
}

TEST_F(HiddenTest, EpermCountsAsPresentInTheRealProbe) {
  // pid 1 exists on every Linux host; as any user kill(1, 0) gives 0 or EPERM.
  RealProcessProbe real;
  EXPECT_TRUE(real.exists(1));
  EXPECT_FALSE(real.exists(4194304 + 10));  // above any pid_max
}

TEST_F(HiddenTest, SweepIsSpreadOverScansInBoundedChunks) {
  HiddenProcessScanner scanner(&view_, &probe_, 300);
  HiddenSweep a = scanner.scan(listed_);
  EXPECT_EQ(a.from, 1);
  EXPECT_EQ(a.to, 301);
  EXPECT_FALSE(a.wrapped);
  EXPECT_TRUE(a.hidden.empty());
  HiddenSweep b = scanner.scan(listed_);
  EXPECT_EQ(b.from, 301);
  EXPECT_EQ(b.to, 601);
  EXPECT_TRUE(b.hidden.empty());
  HiddenSweep c = scanner.scan(listed_);
  EXPECT_EQ(c.from, 601);
  EXPECT_EQ(c.to, 901);
  EXPECT_FALSE(c.wrapped);
  EXPECT_EQ(c.hidden, (std::vector<int>{777}));
  HiddenSweep d = scanner.scan(listed_);
  EXPECT_EQ(d.from, 901);
  EXPECT_EQ(d.to, 1000);  // pid_max bounds the last chunk
  EXPECT_TRUE(d.wrapped);
  EXPECT_TRUE(d.hidden.empty());
  HiddenSweep e = scanner.scan(listed_);
  EXPECT_EQ(e.from, 1);
  // Each scan probed at most one chunk, plus re-probes of its few candidates.
  EXPECT_LE(probe_.probes, 300 * 5 + 10);
}

TEST_F(HiddenTest, PidListedInAFreshListingIsNotHidden) {
  // 777 is missing from the listing passed in but present in the proc root's fresh listing
  // (a process that started after the first listing): use a listing without 100.
  std::vector<int> stale;
  for (int p : listed_) {
    if (p != 100) stale.push_back(p);
  }
  HiddenProcessScanner scanner(&view_, &probe_, 0);
  HiddenSweep sweep = scanner.scan(stale);
  EXPECT_EQ(sweep.hidden, (std::vector<int>{777}));
}

}  // namespace
}  // namespace orderguard::agent
