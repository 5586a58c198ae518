#include "agent/scoring.h"

#include <gtest/gtest.h>

#include "policy/process.h"

namespace orderguard::agent {
namespace {

const policy::Scoring kDefault{};

policy::Finding f(std::string_view rule) { return make_finding(rule, "", "", "", kDefault); }

std::vector<policy::Finding> policy_findings(std::vector<std::string> argv) {
  policy::ProcessInfo info;
  info.cmdline = std::move(argv);
  info.comm = info.cmdline.empty() ? "" : info.cmdline[0];
  return policy::scan_process(info).findings;
}

TEST(Scoring, CpuHogAloneIsNeverAMiner) {
  Verdict v = score_process({f(kRuleCpuHog)}, kDefault);
  EXPECT_EQ(v.score, 40);
  EXPECT_FALSE(v.miner);
  // Not even when a policy weighs it above the threshold.
  policy::Scoring heavy;
  heavy.weights.emplace(std::string(kRuleCpuHog), 500);
  Verdict h = score_process({make_finding(kRuleCpuHog, "", "", "", heavy)}, heavy);
  EXPECT_EQ(h.score, 500);
  EXPECT_FALSE(h.miner);
}

TEST(Scoring, CpuHogPlusPoolConnectionIsAMiner) {
  Verdict v = score_process({f(kRuleCpuHog), f(kRulePoolConnection)}, kDefault);
  EXPECT_EQ(v.score, 100);
  EXPECT_TRUE(v.miner);
  EXPECT_FALSE(score_process({f(kRulePoolConnection)}, kDefault).miner);
}

TEST(Scoring, StratumUrlOrMinerBinaryAloneIsAMiner) {
  std::vector<policy::Finding> stratum =
      policy_findings({"/app/run", "--url", "stratum+tcp://10.0.0.1:3333"});
  ASSERT_FALSE(stratum.empty());
  EXPECT_TRUE(score_process(stratum, kDefault).miner);
  std::vector<policy::Finding> binary = policy_findings({"xmrig"});
  ASSERT_FALSE(binary.empty());
  EXPECT_TRUE(score_process(binary, kDefault).miner);
}

TEST(Scoring, WeakSignalsAloneAreNot) {
  EXPECT_FALSE(score_process({f(kRuleCpuHog), f(kRuleMinerPortConnection)}, kDefault).miner);
  EXPECT_FALSE(score_process({f(kRuleExeTmp)}, kDefault).miner);
  EXPECT_FALSE(score_process({f(kRuleHugePages), f(kRuleExeDeleted)}, kDefault).miner);
  // Several weak ones together do pass: exe in /tmp + fake kernel thread + CPU hog.
  EXPECT_TRUE(
      score_process({f(kRuleExeTmp), f(kRuleFakeKernelThread), f(kRuleCpuHog)}, kDefault).miner);
}

TEST(Scoring, RepeatedRuleCountsOnce) {
  Verdict v = score_process({f(kRulePoolConnection), f(kRulePoolConnection)}, kDefault);
  EXPECT_EQ(v.score, 60);
}

TEST(Scoring, PolicyThresholdAndWeights) {
  policy::Scoring strict;
  strict.threshold = 60;
  EXPECT_TRUE(score_process({make_finding(kRulePoolConnection, "", "", "", strict)}, strict).miner);
  policy::Scoring lax;
  lax.threshold = 300;
  EXPECT_FALSE(score_process({f(kRuleCpuHog), f(kRulePoolConnection)}, lax).miner);
  policy::Scoring weights;
  weights.weights.emplace(std::string(kRuleExeTmp), 100);
  policy::Finding tmp = make_finding(kRuleExeTmp, "exe", "m", "e", weights);
  EXPECT_EQ(tmp.weight, 100);
  EXPECT_TRUE(score_process({tmp}, weights).miner);
}

TEST(Scoring, ThePolicyDefaultIsTheBuiltIn) {
  EXPECT_EQ(policy::built_in_default().scoring.threshold, policy::kDefaultThreshold);
}

}  // namespace
}  // namespace orderguard::agent
