// PolicyReports built from an audit pass's violations: one per namespace, a result per
// finding with its rule and field path, stable across passes.
#include "webhook/policy_report.h"

#include <gtest/gtest.h>

namespace orderguard::webhook {
namespace {

using nlohmann::json;

const auto kT1 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

policy::Finding finding(const std::string& policy, const std::string& rule, const std::string& path,
                        const std::string& message = "found") {
  policy::Finding f;
  f.rule_id = rule;
  f.container = "main";
  f.field_path = path;
  f.message = message;
  f.policy = policy;
  return f;
}

ReportedObject object(const std::string& kind, const std::string& ns, const std::string& name,
                      std::vector<policy::Finding> findings) {
  return {{{"apiVersion", kind == "Pod" ? "v1" : "apps/v1"},
           {"kind", kind},
           {"metadata", {{"namespace", ns}, {"name", name}, {"uid", "uid-" + name}}}},
          std::move(findings),
          ""};
}

TEST(BuildPolicyReports, OneReportPerNamespaceWithAResultPerFinding) {
  auto reports = build_policy_reports(
      {object("Pod", "shop", "miner",
              {finding("platform", "stratum-url", "spec.containers[0].args[1]"),
               finding("platform", "blocked-image", "spec.containers[0].image")}),
       object(
           "Deployment", "batch", "worker",
           {finding("platform", "miner-binary", "spec.template.spec.containers[0].command[0]")})},
      "orderguard", kT1);
  ASSERT_EQ(reports.size(), 2u);
  const json& shop = reports.at("shop");
  EXPECT_EQ(shop["apiVersion"], "wgpolicyk8s.io/v1alpha2");
  EXPECT_EQ(shop["kind"], "PolicyReport");
  EXPECT_EQ(shop["metadata"]["name"], "orderguard");
  EXPECT_EQ(shop["metadata"]["namespace"], "shop");
  EXPECT_EQ(shop["metadata"]["labels"]["app.kubernetes.io/managed-by"], "orderguard");
  EXPECT_EQ(shop["summary"],
            json({{"pass", 0}, {"fail", 2}, {"warn", 0}, {"error", 0}, {"skip", 0}}));
  ASSERT_EQ(shop["results"].size(), 2u);
  // Sorted by object, policy, rule.
  const json& r = shop["results"][0];
  EXPECT_EQ(r["policy"], "platform");
  EXPECT_EQ(r["rule"], "blocked-image");
  EXPECT_EQ(r["result"], "fail");
  EXPECT_EQ(r["severity"], "high");
  EXPECT_EQ(r["source"], "orderguard");
  EXPECT_EQ(r["timestamp"], json({{"seconds", 1'800'000'000}, {"nanos", 0}}));
  EXPECT_EQ(r["properties"]["fieldPath"], "spec.containers[0].image");
  EXPECT_EQ(r["properties"]["container"], "main");
  EXPECT_EQ(r["resources"], json::array({{{"apiVersion", "v1"},
                                          {"kind", "Pod"},
                                          {"namespace", "shop"},
                                          {"name", "miner"},
                                          {"uid", "uid-miner"}}}));
  EXPECT_EQ(shop["results"][1]["rule"], "stratum-url");
  EXPECT_EQ(reports.at("batch")["results"][0]["resources"][0]["kind"], "Deployment");
}

TEST(BuildPolicyReports, QuarantinesUnreadableObjectsAndNoViolations) {
  EXPECT_TRUE(build_policy_reports({}, "orderguard", kT1).empty());
  ReportedObject unreadable = object("Pod", "shop", "odd", {});
  unreadable.cause = "cannot read the pod spec: spec.containers must be a list";
  auto reports = build_policy_reports(
      {object("Pod", "shop", "q", {finding("", "quarantined-workload", "metadata.name")}),
       unreadable},
      "orderguard", kT1);
  const json& results = reports.at("shop")["results"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["resources"][0]["name"], "odd");
  EXPECT_EQ(results[0]["result"], "error");
  EXPECT_EQ(results[0]["rule"], "unreadable-object");
  EXPECT_NE(results[0]["message"].get<std::string>().find("spec.containers"), std::string::npos);
  EXPECT_EQ(results[1]["policy"], "Quarantine") << "a Quarantine object is no MinerPolicy";
  EXPECT_EQ(reports.at("shop")["summary"]["error"], 1);
  EXPECT_EQ(reports.at("shop")["summary"]["fail"], 1);
}

// Messages quote what the workload's author wrote: terminal controls must not reach a
// dashboard or `kubectl get -o yaml` as they are, and nothing is unbounded.
TEST(BuildPolicyReports, MessagesAreEscapedAndBounded) {
  auto reports =
      build_policy_reports({object("Pod", "shop", "m",
                                   {finding("p", "stratum-url", "spec.containers[0].args[0]",
                                            "url \x1b[2J" + std::string(5000, 'x'))})},
                           "orderguard", kT1);
  const std::string message = reports.at("shop")["results"][0]["message"];
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
  EXPECT_NE(message.find("\\x1b"), std::string::npos);
  EXPECT_LE(message.size(), kMaxResultMessageBytes);
}

TEST(BuildPolicyReports, AtMostTheCapOfResultsAndTheSummaryCountsThemAll) {
  std::vector<ReportedObject> many;
  for (size_t i = 0; i < kMaxReportResults + 5; ++i) {
    many.push_back(object("Pod", "shop", "m" + std::to_string(i),
                          {finding("p", "blocked-image", "spec.containers[0].image")}));
  }
  json report = build_policy_reports(many, "orderguard", kT1).at("shop");
  EXPECT_EQ(report["results"].size(), kMaxReportResults);
  EXPECT_EQ(report["summary"]["fail"], kMaxReportResults + 5);
  EXPECT_EQ(report["metadata"]["annotations"]["orderguard.io/results-omitted"], "5");
}

TEST(ClusterPolicyReport, ListsPoliciesThatDoNotCompile) {
  EXPECT_TRUE(build_cluster_policy_report({}, "orderguard", kT1).is_null());
  json report = build_cluster_policy_report({{{{"apiVersion", "security.orderguard.io/v1alpha1"},
                                               {"kind", "MinerPolicy"},
                                               {"metadata", {{"name", "broken"}, {"uid", "u1"}}}},
                                              "spec.signatures[0].regex: missing )"}},
                                            "orderguard", kT1);
  EXPECT_EQ(report["kind"], "ClusterPolicyReport");
  EXPECT_FALSE(report["metadata"].contains("namespace"));
  ASSERT_EQ(report["results"].size(), 1u);
  EXPECT_EQ(report["results"][0]["policy"], "MinerPolicy broken");
  EXPECT_EQ(report["results"][0]["rule"], "compile");
  EXPECT_EQ(report["results"][0]["result"], "error");
  EXPECT_EQ(report["results"][0]["resources"][0]["name"], "broken");
  EXPECT_EQ(report["summary"]["error"], 1);
}

// A second pass that finds the same writes nothing: results keep their first timestamp.
TEST(ReportCurrent, APassFindingTheSameChangesNothing) {
  auto objects = std::vector<ReportedObject>{
      object("Pod", "shop", "miner", {finding("p", "blocked-image", "spec.containers[0].image")})};
  json first = build_policy_reports(objects, "orderguard", kT1).at("shop");
  json stored = first;
  stored["metadata"]["resourceVersion"] = "7";
  stored["metadata"]["uid"] = "report-uid";

  json second =
      build_policy_reports(objects, "orderguard", kT1 + std::chrono::minutes(10)).at("shop");
  EXPECT_FALSE(report_current(stored, second)) << "timestamps differ before carrying";
  json carried = carry_timestamps(second, stored);
  EXPECT_TRUE(report_current(stored, carried));
  EXPECT_EQ(carried["results"][0]["timestamp"]["seconds"], 1'800'000'000);

  // A new finding is new: it gets the pass's time, the old one keeps its own.
  objects.push_back(
      object("Pod", "shop", "other", {finding("p", "stratum-url", "spec.containers[0].args[0]")}));
  json third = carry_timestamps(
      build_policy_reports(objects, "orderguard", kT1 + std::chrono::minutes(20)).at("shop"),
      stored);
  EXPECT_FALSE(report_current(stored, third));
  EXPECT_EQ(third["results"][0]["timestamp"]["seconds"], 1'800'000'000);
  EXPECT_EQ(third["results"][1]["timestamp"]["seconds"], 1'800'001'200);
}

}  // namespace
}  // namespace orderguard::webhook
