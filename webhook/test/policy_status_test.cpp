// The MinerPolicy status patches: what each writer puts in, what it carries over, and when
// there is nothing to write.
#include "webhook/policy_status.h"

#include <gtest/gtest.h>

namespace orderguard::webhook {
namespace {

using nlohmann::json;

const auto kT1 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

json miner_policy(int64_t generation) {
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "MinerPolicy"},
          {"metadata", {{"name", "p"}, {"generation", generation}, {"resourceVersion", "41"}}},
          {"spec", {{"mode", "Enforce"}}}};
}

const json* condition(const json& patch, const std::string& type) {
  for (const auto& c : patch["status"]["conditions"]) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

TEST(SpecStatusPatch, SaysWhichGenerationIsEnforcedAndWhetherItCompiles) {
  json p = miner_policy(3);
  p["spec"]["quarantine"] = json::array({json::object(), json::object()});
  auto patch = spec_status_patch(p, p, "", kT1);
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ((*patch)["metadata"]["resourceVersion"], "41") << "written only over what was read";
  const json& s = (*patch)["status"];
  EXPECT_EQ(s["observedGeneration"], 3);
  EXPECT_EQ(s["quarantineEntries"], 2);
  EXPECT_FALSE(s.contains("admissionDenials")) << "every replica's, never overwritten";
  EXPECT_FALSE(s.contains("auditViolations")) << "the audit's";
  const json* valid = condition(*patch, "Valid");
  ASSERT_NE(valid, nullptr);
  EXPECT_EQ((*valid)["status"], "True");
  EXPECT_EQ((*valid)["reason"], "Compiled");
  EXPECT_EQ((*valid)["observedGeneration"], 3);
  EXPECT_EQ((*valid)["lastTransitionTime"], "2027-01-15T08:00:00Z");

  // Once written, the same generation needs no write.
  p["status"] = s;
  EXPECT_FALSE(spec_status_patch(p, p, "", kT1 + std::chrono::hours(1)).has_value());
}

TEST(SpecStatusPatch, ANewGenerationOrACompileErrorIsWrittenAndOtherConditionsKept) {
  json p = miner_policy(3);
  p["status"] = (*spec_status_patch(p, p, "", kT1))["status"];
  p["status"]["admissionDenials"] = 7;
  p["status"]["conditions"].push_back({{"type", "Audited"},
                                       {"status", "True"},
                                       {"reason", "AuditCompleted"},
                                       {"message", "m"},
                                       {"observedGeneration", 3},
                                       {"lastTransitionTime", "2027-01-15T07:00:00Z"}});
  p["metadata"]["generation"] = 4;
  auto edited = spec_status_patch(p, p, "", kT1 + std::chrono::hours(1));
  ASSERT_TRUE(edited.has_value());
  EXPECT_EQ((*edited)["status"]["observedGeneration"], 4);
  const json* valid = condition(*edited, "Valid");
  EXPECT_EQ((*valid)["observedGeneration"], 4);
  EXPECT_EQ((*valid)["lastTransitionTime"], "2027-01-15T08:00:00Z") << "still True: no transition";
  const json* audited = condition(*edited, "Audited");
  ASSERT_NE(audited, nullptr) << "a merge patch replaces the list: others are carried over";
  EXPECT_EQ((*audited)["lastTransitionTime"], "2027-01-15T07:00:00Z");
  EXPECT_FALSE((*edited)["status"].contains("admissionDenials"));

  auto broken =
      spec_status_patch(p, p, "spec.signatures[0].regex: bad", kT1 + std::chrono::hours(2));
  ASSERT_TRUE(broken.has_value());
  valid = condition(*broken, "Valid");
  EXPECT_EQ((*valid)["status"], "False");
  EXPECT_EQ((*valid)["reason"], "CompileFailed");
  EXPECT_EQ((*valid)["lastTransitionTime"], "2027-01-15T10:00:00Z");
  EXPECT_NE((*valid)["message"].get<std::string>().find("spec.signatures[0].regex: bad"),
            std::string::npos);
}

// The generation written is the one the webhook enforces (its informer's copy), even when
// the object read back is newer.
TEST(SpecStatusPatch, WritesTheObservedGenerationNotTheLatest) {
  json observed = miner_policy(3);
  json current = miner_policy(5);
  current["metadata"]["resourceVersion"] = "50";
  auto patch = spec_status_patch(current, observed, "", kT1);
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ((*patch)["status"]["observedGeneration"], 3);
  EXPECT_EQ((*patch)["metadata"]["resourceVersion"], "50");
}

TEST(SpecStatusPatch, MalformedStatusIsRewrittenNotTrusted) {
  json p = miner_policy(2);
  p["status"] = "garbage";
  auto patch = spec_status_patch(p, p, "", kT1);
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ((*patch)["status"]["observedGeneration"], 2);
  p["status"] = {{"conditions", "not a list"}, {"observedGeneration", "2"}};
  EXPECT_TRUE(spec_status_patch(p, p, "", kT1).has_value());
}

TEST(AuditStatusPatch, WritesViolationsAndTheAuditedGeneration) {
  json p = miner_policy(4);
  p["status"] = {{"admissionDenials", 9}, {"observedGeneration", 4}};
  json patch = audit_status_patch(p, 2, 3, kT1);
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "41");
  EXPECT_EQ(patch["status"]["auditViolations"], 2);
  EXPECT_FALSE(patch["status"].contains("admissionDenials"));
  EXPECT_FALSE(patch["status"].contains("observedGeneration")) << "the spec writer's";
  const json* audited = condition(patch, "Audited");
  ASSERT_NE(audited, nullptr);
  EXPECT_EQ((*audited)["status"], "True");
  EXPECT_EQ((*audited)["observedGeneration"], 3) << "the generation the pass checked";
  EXPECT_NE((*audited)["message"].get<std::string>().find("2 existing object(s)"),
            std::string::npos);
}

TEST(AuditStatusPatch, AnIncompletePassKeepsTheLastCountAndSaysWhy) {
  json p = miner_policy(4);
  p["status"] = (audit_status_patch(p, 2, 4, kT1))["status"];
  json patch = audit_status_patch(p, 0, 4, kT1 + std::chrono::minutes(10), {"pods: Forbidden"});
  EXPECT_FALSE(patch["status"].contains("auditViolations"));
  const json* audited = condition(patch, "Audited");
  ASSERT_NE(audited, nullptr);
  EXPECT_EQ((*audited)["status"], "False");
  EXPECT_EQ((*audited)["reason"], "AuditIncomplete");
  EXPECT_NE((*audited)["message"].get<std::string>().find("pods: Forbidden"), std::string::npos);
}

TEST(AdmissionDenialsPatch, AddsToWhatIsStored) {
  json p = miner_policy(1);
  EXPECT_EQ(admission_denials_patch(p, 3)["status"]["admissionDenials"], 3);
  p["status"] = {{"admissionDenials", 40}};
  json patch = admission_denials_patch(p, 2);
  EXPECT_EQ(patch["status"]["admissionDenials"], 42);
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "41");
  EXPECT_EQ(patch["status"].size(), 1u) << "nothing else: the other writers' fields stay";
}

}  // namespace
}  // namespace orderguard::webhook
