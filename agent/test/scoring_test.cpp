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

// The published table (README, "Scoring"): which combinations of evidence make a miner.
TEST(Scoring, CombinationsOfEvidenceClasses) {
  struct Case {
    std::vector<std::string_view> rules;
    bool miner;
  };
  const std::vector<Case> table = {
      // CPU alone, or any one weak signal alone: not a miner.
      {{kRuleCpuHog}, false},
      {{kRuleMinerPortConnection}, false},
      {{kRulePoolConnection}, false},
      {{kRuleExeDeleted}, false},
      {{kRuleExeMemfd}, false},
      {{kRuleExeTmp}, false},
      {{kRuleFakeKernelThread}, false},
      {{kRuleHugePages}, false},
      // CPU with any network signal: a miner.
      {{kRuleCpuHog, kRuleMinerPortConnection}, true},
      {{kRuleCpuHog, kRulePoolConnection}, true},
      // CPU with any identity signal: a miner.
      {{kRuleCpuHog, kRuleExeDeleted}, true},
      {{kRuleCpuHog, kRuleExeMemfd}, true},
      {{kRuleCpuHog, kRuleExeTmp}, true},
      {{kRuleCpuHog, kRuleFakeKernelThread}, true},
      // CPU with memory evidence only adds weights (40 + 20).
      {{kRuleCpuHog, kRuleHugePages}, false},
      // Without CPU, weak signals add their weights.
      {{kRuleMinerPortConnection, kRuleExeDeleted}, false},
      {{kRulePoolConnection, kRuleExeMemfd}, true},                  // 60 + 40
      {{kRuleExeTmp, kRuleFakeKernelThread, kRuleHugePages}, true},  // 40 + 50 + 20
  };
  for (const Case& c : table) {
    std::vector<policy::Finding> findings;
    std::string name;
    for (std::string_view r : c.rules) {
      findings.push_back(f(r));
      name += std::string(r) + " ";
    }
    Verdict v = score_process(findings, kDefault);
    EXPECT_EQ(v.miner, c.miner) << name << "score " << v.score;
    if (c.miner) {
      EXPECT_GE(v.score, kDefault.threshold) << name;
    }
  }
}

TEST(Scoring, APolicyTurnsACombiningRuleOffWithWeightZero) {
  policy::Scoring no_cpu;
  no_cpu.weights.emplace(std::string(kRuleCpuHog), 0);
  Verdict v = score_process({make_finding(kRuleCpuHog, "", "", "", no_cpu),
                             make_finding(kRuleMinerPortConnection, "", "", "", no_cpu)},
                            no_cpu);
  EXPECT_FALSE(v.miner);
  EXPECT_FALSE(v.combined);
  EXPECT_EQ(v.score, 30);
}

TEST(Scoring, WeakSignalsAloneAreNot) {
  EXPECT_FALSE(score_process({f(kRuleMinerPortConnection)}, kDefault).miner);
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
  EXPECT_FALSE(score_process({f(kRulePoolConnection), f(kRuleExeMemfd)}, lax).miner);
  // CPU with network evidence decides at any threshold, and scores it.
  Verdict combined = score_process({f(kRuleCpuHog), f(kRulePoolConnection)}, lax);
  EXPECT_TRUE(combined.miner);
  EXPECT_EQ(combined.score, 300);
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
