#include "policy/process.h"

#include <gtest/gtest.h>

#include <set>

#include "policy/rules.h"
#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;

ProcessInfo process_from(const json& j) {
  ProcessInfo p;
  p.comm = j.value("comm", "");
  p.exe = j.value("exe", "");
  p.cmdline = j.value("cmdline", std::vector<std::string>{});
  if (j.contains("environ")) p.environ = j["environ"].get<std::vector<std::string>>();
  return p;
}

ProcessInfo miner(std::string_view name) {
  return process_from(testing::load("processes.json")["miners"][std::string(name)]);
}

bool has(const ProcessFindings& r, std::string_view rule, std::string_view path) {
  for (const Finding& f : r.findings) {
    if (f.rule_id == rule && f.field_path == path) return true;
  }
  return false;
}

std::string dump(const ProcessFindings& r) {
  std::string out = "score " + std::to_string(r.score) + "\n";
  for (const Finding& f : r.findings) out += format_cause(f) + "\n";
  return out;
}

TEST(ProcessTest, PlainXmrig) {
  ProcessFindings r = scan_process(miner("xmrig"));
  EXPECT_TRUE(has(r, kRuleMinerBinary, "comm")) << dump(r);
  EXPECT_TRUE(has(r, kRuleMinerBinary, "exe")) << dump(r);
  EXPECT_TRUE(has(r, kRuleMinerBinary, "cmdline[0]")) << dump(r);
  EXPECT_TRUE(has(r, kRuleStratumUrl, "cmdline[2]")) << dump(r);
  EXPECT_TRUE(has(r, kRulePoolHost, "cmdline[2]")) << dump(r);
  EXPECT_TRUE(has(r, kRuleWalletAddress, "cmdline[4]")) << dump(r);
  EXPECT_TRUE(has(r, kRuleMinerFlag, "cmdline[5]")) << dump(r);  // --donate-level
  EXPECT_TRUE(has(r, kRuleMinerFlag, "cmdline[7]")) << dump(r);  // --cpu-priority
  EXPECT_TRUE(r.strong);
  EXPECT_TRUE(r.is_miner(kDefaultThreshold));
  // Distinct rules are summed once each: binary, stratum, pool host, wallet, flag.
  EXPECT_EQ(r.score, 5 * kStrongWeight);
}

TEST(ProcessTest, RenamedMinerIsFoundByItsArguments) {
  ProcessFindings r = scan_process(miner("renamed"));
  EXPECT_FALSE(has(r, kRuleMinerBinary, "comm"));
  EXPECT_TRUE(has(r, kRuleMinerFlag, "cmdline[1]")) << dump(r);  // -o pool.*
  EXPECT_TRUE(has(r, kRulePoolHost, "cmdline[2]")) << dump(r);
  EXPECT_TRUE(has(r, kRuleWalletAddress, "cmdline[4]")) << dump(r);
  EXPECT_TRUE(r.is_miner(kDefaultThreshold));
}

TEST(ProcessTest, KnownBinariesByCommAndExe) {
  ProcessFindings kinsing = scan_process(miner("kinsing"));
  EXPECT_TRUE(has(kinsing, kRuleMinerBinary, "comm")) << dump(kinsing);
  EXPECT_TRUE(has(kinsing, kRuleMinerBinary, "exe"));
  EXPECT_EQ(kinsing.score, kStrongWeight);  // three findings, one rule

  ProcessFindings dero = scan_process(miner("dero"));
  EXPECT_TRUE(has(dero, kRuleMinerBinary, "comm")) << dump(dero);  // truncated comm

  ProcessInfo deleted;
  deleted.comm = "bash";
  deleted.exe = "/tmp/.cache/xmrig (deleted)";
  EXPECT_TRUE(has(scan_process(deleted), kRuleMinerBinary, "exe"));
}

TEST(ProcessTest, EnvironmentIsScanned) {
  ProcessFindings r = scan_process(miner("env_configured"));
  EXPECT_TRUE(has(r, kRuleStratumUrl, "environ[1]")) << dump(r);
  EXPECT_TRUE(has(r, kRulePoolHost, "environ[1]")) << dump(r);
  EXPECT_TRUE(has(r, kRuleWalletAddress, "environ[2]")) << dump(r);
  EXPECT_TRUE(r.is_miner(kDefaultThreshold));
}

TEST(ProcessTest, DropperShell) {
  ProcessFindings r = scan_process(miner("dropper_shell"));
  EXPECT_TRUE(has(r, kRuleDropper, "cmdline[2]")) << dump(r);
}

TEST(ProcessTest, BenignProcessesHaveNoFindings) {
  json benign = testing::load("processes.json")["benign"];
  ASSERT_GE(benign.size(), 10u);
  for (const auto& [name, p] : benign.items()) {
    ProcessFindings r = scan_process(process_from(p));
    EXPECT_TRUE(r.findings.empty()) << name << "\n" << dump(r);
    EXPECT_EQ(r.score, 0) << name;
    EXPECT_FALSE(r.is_miner(kDefaultThreshold)) << name;
  }
}

TEST(ProcessTest, SameRuleIdsAsTheAdmissionRules) {
  std::set<std::string> ids;
  json miners = testing::load("processes.json")["miners"];
  for (const auto& [name, p] : miners.items()) {
    for (const Finding& f : scan_process(process_from(p)).findings) ids.insert(f.rule_id);
  }
  for (const std::string& id : ids) EXPECT_NE(find_rule(id), nullptr) << id;
  EXPECT_GE(ids.size(), 6u);
}

TEST(ProcessTest, PolicySignaturesWeightsAndBuiltinSwitch) {
  CompiledPolicy p = testing::must_compile(
      {{"metadata", {{"name", "p"}}},
       {"spec",
        {{"signatures",
          {{{
                "name",
                "corp",
            },
            {"literal", "corp-miner"},
            {"severity", "Weak"}}}},
         {"scoring", {{"threshold", 150}, {"weights", {{"custom-signature", 60}}}}}}}});
  ProcessInfo proc;
  proc.comm = "app";
  proc.cmdline = {"/app/bin", "--name=corp-miner"};
  ProcessFindings r = scan_process(proc, p);
  ASSERT_EQ(r.findings.size(), 1u) << dump(r);
  EXPECT_EQ(r.findings[0].rule_id, kRuleCustomSignature);
  EXPECT_EQ(r.findings[0].severity, Severity::kWeak);
  EXPECT_EQ(r.findings[0].field_path, "cmdline[1]");
  EXPECT_EQ(r.score, 60);
  EXPECT_FALSE(r.strong);
  EXPECT_FALSE(r.is_miner(p.scoring.threshold));

  CompiledPolicy off = testing::must_compile(
      {{"metadata", {{"name", "off"}}}, {"spec", {{"builtinIndicators", false}}}});
  EXPECT_TRUE(scan_process(miner("xmrig"), off).findings.empty());
}

TEST(ProcessTest, ScoreCountsEachRuleOnce) {
  std::vector<Finding> fs(3);
  fs[0].rule_id = "stratum-url";
  fs[0].weight = 100;
  fs[1].rule_id = "stratum-url";
  fs[1].weight = 100;
  fs[2].rule_id = "cpu-hog";  // an agent-only finding
  fs[2].weight = 40;
  EXPECT_EQ(score_findings(fs, Scoring{}), 140);
  Scoring s;
  s.weights["cpu-hog"] = 70;
  EXPECT_EQ(score_findings(fs, s), 170);
}

TEST(ProcessTest, EmptyProcessIsClean) {
  ProcessFindings r = scan_process(ProcessInfo{});
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(r.score, 0);
}

}  // namespace
}  // namespace orderguard::policy
