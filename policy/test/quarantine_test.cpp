// Quarantine objects: compilation, deterministic names, the object the agent creates, and the
// admission decision with objects (refusal naming the object and its reason, expiry, no
// exemption or Audit mode lifting them, legacy MinerPolicy entries still honoured alongside).
#include "policy/quarantine.h"

#include <gtest/gtest.h>

#include <set>

#include "policy/decision.h"
#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;
using std::chrono::seconds;

const std::string kDigest =
    "sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1";

json workload_object(std::string name, json spec_extra = json::object()) {
  json spec = {{"scope", "Workload"},
               {"namespace", "shop"},
               {"workload", {{"kind", "Deployment"}, {"name", "web"}}},
               {"image", "docker.io/library/ubuntu:22.04"},
               {"reason", "stratum-url in pod shop/web-6b7c8d9e0-x2k on node n1 (pid 4321 xmrig)"},
               {"nodeName", "n1"},
               {"createdBy", "orderguard-agent-x7k2p"}};
  spec.update(spec_extra);
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "Quarantine"},
          {"metadata", {{"name", std::move(name)}}},
          {"spec", std::move(spec)}};
}

QuarantineEntry must_compile(const json& object) {
  Result<QuarantineEntry> e = testing::compile_quarantine(object);
  EXPECT_TRUE(e.ok()) << e.error().message;
  return e.ok() ? std::move(e).value() : QuarantineEntry();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

QuarantineEntry workload(std::string kind, std::string ns, std::string name) {
  QuarantineEntry e;
  e.scope = QuarantineScope::kWorkload;
  e.namespace_name = std::move(ns);
  e.workload = {std::move(kind), std::move(name)};
  return e;
}

QuarantineEntry image(std::string ref) {
  QuarantineEntry e;
  e.scope = QuarantineScope::kImage;
  e.image = std::move(ref);
  json obj = {{"metadata", {{"name", "x"}}}, {"spec", {{"scope", "Image"}, {"image", e.image}}}};
  return must_compile(obj);
}

// A DNS-1123 subdomain as Kubernetes checks object names (no limit on one label), written
// independently of the implementation's check.
bool valid_object_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string label = name.substr(start, dot == std::string::npos ? dot : dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

TEST(QuarantineTest, CompilesEveryField) {
  json obj = workload_object("deployment.shop.web", {{"expiresAt", "2026-09-01T00:00:00Z"}});
  QuarantineEntry e = must_compile(obj);
  EXPECT_EQ(e.scope, QuarantineScope::kWorkload);
  EXPECT_EQ(e.namespace_name, "shop");
  EXPECT_EQ(e.workload.kind, "Deployment");
  EXPECT_EQ(e.workload.name, "web");
  EXPECT_EQ(e.node_name, "n1");
  EXPECT_EQ(e.created_by, "orderguard-agent-x7k2p");
  EXPECT_EQ(e.field_path, "Quarantine deployment.shop.web");
  ASSERT_TRUE(e.expires_at.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*e.expires_at), 1788220800);
  EXPECT_TRUE(e.in_force(*e.expires_at - seconds(1)));
  EXPECT_FALSE(e.in_force(*e.expires_at));
}

TEST(QuarantineTest, ReportsEveryProblemAtOnce) {
  json bad = workload_object("bad", {{"workload", {{"kind", "Secret"}}},
                                     {"expiresAt", "tomorrow"},
                                     {"image", "UPPER/Case"},
                                     {"nodeName", 7}});
  bad["spec"].erase("namespace");
  Result<QuarantineEntry> e = testing::compile_quarantine(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, ErrorCode::kInvalid);
  for (std::string_view part :
       {"Quarantine \"bad\" is invalid", "spec.namespace: required for scope Workload",
        "spec.workload.name: required", "spec.workload.kind: must be a kind with a pod template",
        "spec.expiresAt: must be an RFC 3339 date-time", "spec.image", "spec.nodeName"}) {
    EXPECT_TRUE(contains(e.error().message, part)) << part << " not in " << e.error().message;
  }
  EXPECT_FALSE(testing::compile_quarantine({{"metadata", {{"name", "x"}}}}).ok());
  EXPECT_FALSE(
      testing::compile_quarantine({{"metadata", {{"name", "x"}}}, {"spec", {{"scope", "Image"}}}})
          .ok());
  EXPECT_FALSE(
      testing::compile_quarantine({{"metadata", {{"name", "x"}}}, {"spec", {{"scope", "Node"}}}})
          .ok());
  EXPECT_FALSE(testing::compile_quarantine(json::array()).ok());
  EXPECT_FALSE(testing::compile_quarantine(json("spec")).ok());
}

// The spec is decoded strictly (api/security.h): a field of a MinerPolicy's legacy entry
// is not one of a Quarantine object, and a field refused for its shape is not judged again.
TEST(QuarantineTest, ShapeFirstThenValues) {
  json obj = workload_object("q", {{"time", "2026-08-30T10:00:00Z"}, {"expiresAt", 7}});
  Result<QuarantineEntry> e = testing::compile_quarantine(obj);
  ASSERT_FALSE(e.ok());
  const std::string& m = e.error().message;
  EXPECT_TRUE(contains(m, "spec.time: unknown field")) << m;
  EXPECT_TRUE(contains(m, "spec.expiresAt: must be a string")) << m;
  EXPECT_FALSE(contains(m, "RFC 3339")) << m;
  obj = workload_object("q", {{"workload", "web"}});
  e = testing::compile_quarantine(obj);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(contains(e.error().message, "spec.workload: must be an object")) << e.error().message;
  EXPECT_FALSE(contains(e.error().message, "spec.workload.")) << e.error().message;
}

TEST(QuarantineNameTest, ReadableForOrdinaryWorkloadsAndImages) {
  EXPECT_EQ(quarantine_name(workload("Deployment", "shop", "web")), "deployment.shop.web");
  EXPECT_EQ(quarantine_name(workload("Pod", "shop", "miner-1")), "pod.shop.miner-1");
  EXPECT_EQ(quarantine_name(workload("CronJob", "batch", "report.v2")), "cronjob.batch.report.v2");
  EXPECT_EQ(quarantine_name(image("docker.io/evil/miner@" + kDigest)),
            "image.sha256-" + kDigest.substr(7));
  EXPECT_EQ(quarantine_name(image(kDigest)), "image.sha256-" + kDigest.substr(7));
}

TEST(QuarantineNameTest, SameTargetSameNameDifferentTargetDifferentName) {
  // Names are how the agent deduplicates: the same workload again must collide, and targets
  // that a plain "-" join would confuse must not.
  EXPECT_EQ(quarantine_name(workload("Deployment", "shop", "web")),
            quarantine_name(workload("Deployment", "shop", "web")));
  std::vector<QuarantineEntry> distinct = {workload("Deployment", "shop", "web"),
                                           workload("StatefulSet", "shop", "web"),
                                           workload("Deployment", "shop-a", "b"),
                                           workload("Deployment", "shop", "a-b"),
                                           workload("Deployment", "shop", "h-web"),
                                           workload("Deployment", "shop", "web.x"),
                                           workload("Deployment", "shop", "Web"),
                                           workload("Deployment", "shop", "web_1"),
                                           workload("Deployment", "shop", std::string(240, 'w')),
                                           workload("Deployment", "shop", std::string(241, 'w')),
                                           workload("deployment", "shop", "web"),
                                           workload("Deployment", "Shop", "web"),
                                           image("docker.io/evil/miner:1"),
                                           image("docker.io/evil/miner:2"),
                                           image("docker.io/evil/miner@" + kDigest)};
  std::set<std::string> names;
  for (const QuarantineEntry& e : distinct) {
    std::string name = quarantine_name(e);
    EXPECT_TRUE(valid_object_name(name)) << name;
    EXPECT_TRUE(names.insert(name).second) << name << " given twice";
  }
  // The same digest under another name is the same image.
  EXPECT_EQ(quarantine_name(image("ghcr.io/other/name@" + kDigest)),
            quarantine_name(image("docker.io/evil/miner@" + kDigest)));
}

TEST(QuarantineNameTest, HostileNamesStillGiveValidObjectNames) {
  for (const std::string& hostile :
       {std::string("../../etc"), std::string("a b"), std::string(300, 'x'), std::string("\n"),
        std::string("\xff\xfe"), std::string("h-") + std::string(32, 'a'), std::string()}) {
    for (const std::string& kind : {std::string("Deployment"), hostile}) {
      for (const std::string& ns : {std::string("shop"), hostile}) {
        EXPECT_TRUE(valid_object_name(quarantine_name(workload(kind, ns, hostile))))
            << quarantine_name(workload(kind, ns, hostile));
      }
    }
    QuarantineEntry e;
    e.scope = QuarantineScope::kImage;
    e.image = hostile;
    EXPECT_TRUE(valid_object_name(quarantine_name(e))) << quarantine_name(e);
  }
}

TEST(QuarantineTest, TheAgentsObjectCompilesBackToTheSameEntry) {
  QuarantineEntry e = workload("Deployment", "shop", "web");
  e.image = "docker.io/library/nginx@" + kDigest;
  e.reason = "stratum-url in pod shop/web-x";
  e.node_name = "n1";
  e.created_by = "orderguard-agent-x7k2p";
  e.expires_at = *parse_rfc3339("2026-09-01T00:00:00Z");
  json obj = to_quarantine_object(e);
  EXPECT_EQ(obj["apiVersion"], "security.orderguard.io/v1alpha1");
  EXPECT_EQ(obj["kind"], "Quarantine");
  EXPECT_EQ(obj["metadata"]["name"], "deployment.shop.web");
  EXPECT_EQ(obj["spec"]["expiresAt"], "2026-09-01T00:00:00Z");
  QuarantineEntry back = must_compile(obj);
  EXPECT_EQ(to_quarantine_object(back), obj);
  EXPECT_EQ(back.digest, kDigest);

  QuarantineEntry img = image("docker.io/evil/miner@" + kDigest);
  json img_obj = to_quarantine_object(img);
  EXPECT_FALSE(img_obj["spec"].contains("workload"));
  EXPECT_FALSE(img_obj["spec"].contains("expiresAt"));
  EXPECT_EQ(must_compile(img_obj).scope, QuarantineScope::kImage);
}

// --- The admission decision with Quarantine objects -------------------------------------------

json policy_json(std::string name, json spec) {
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "MinerPolicy"},
          {"metadata", {{"name", std::move(name)}}},
          {"spec", std::move(spec)}};
}

PolicySet set_of(std::vector<json> policies) {
  std::vector<CompiledPolicy> compiled;
  for (const json& p : policies) compiled.push_back(testing::must_compile(p));
  return combine(std::move(compiled));
}

QuarantineSet objects(std::vector<json> list) {
  std::vector<QuarantineEntry> entries;
  for (const json& o : list) entries.push_back(must_compile(o));
  return index_quarantines(std::move(entries));
}

const WallTime kNow = std::chrono::system_clock::from_time_t(1788000000);  // 2026-08-29

Decision decide(const PolicySet& policies, const QuarantineSet& set, testing::Input in,
                WallTime now = kNow) {
  in.quarantines = &set;
  in.now = now;
  return evaluate(policies, in);
}

TEST(QuarantineDecisionTest, AnObjectRefusesTheWorkloadsPodsWithItsReason) {
  QuarantineSet set = objects({workload_object("deployment.shop.web")});
  Decision d = decide(combine({}), set, testing::admission_from_file("pod_of_deployment.json"));
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message,
                       "rule quarantined-workload: metadata.ownerReferences[0]: owned by "
                       "quarantined Deployment shop/web (Quarantine deployment.shop.web): "
                       "stratum-url in pod shop/web-6b7c8d9e0-x2k on node n1 (pid 4321 xmrig)"))
      << d.message;
  EXPECT_EQ(d.audit_annotations["miner-decision"], "denied");
  EXPECT_TRUE(contains(d.audit_annotations["miner-policies"], "Quarantine"));

  // Without the object (deleted), the same pod is admitted.
  QuarantineSet none;
  EXPECT_TRUE(
      decide(combine({}), none, testing::admission_from_file("pod_of_deployment.json")).allowed);
  // Another namespace's workload of the same name is not affected.
  testing::Input elsewhere = testing::admission_from_file("pod_of_deployment.json");
  elsewhere.object["metadata"]["namespace"] = "staging";
  elsewhere.namespace_name = "staging";
  EXPECT_TRUE(decide(combine({}), set, elsewhere).allowed);
}

TEST(QuarantineDecisionTest, AnExpiredObjectRefusesNothing) {
  QuarantineSet set =
      objects({workload_object("deployment.shop.web", {{"expiresAt", "2026-08-30T00:00:00Z"}})});
  const testing::Input in = testing::admission_from_file("pod_of_deployment.json");
  EXPECT_FALSE(decide(combine({}), set, in, kNow).allowed);
  const WallTime expiry = *parse_rfc3339("2026-08-30T00:00:00Z");
  EXPECT_FALSE(decide(combine({}), set, in, expiry - seconds(1)).allowed);
  EXPECT_TRUE(decide(combine({}), set, in, expiry).allowed);
  // A caller that sets no clock refuses: nothing counts as expired at the epoch.
  testing::Input no_clock = in;
  no_clock.quarantines = &set;
  EXPECT_FALSE(evaluate(combine({}), no_clock).allowed);
}

TEST(QuarantineDecisionTest, ObjectsApplyWhateverModesAndExemptionsSay) {
  // Every policy exempts shop, or only audits: the object still refuses.
  PolicySet lenient = set_of({policy_json("exempt", {{"exemptions", {{"namespaces", {"shop"}}}}}),
                              policy_json("watch", {{"mode", "Audit"}})});
  QuarantineSet set = objects({workload_object("deployment.shop.web")});
  Decision d = decide(lenient, set, testing::admission_from_file("pod_of_deployment.json"));
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "Quarantine deployment.shop.web")) << d.message;
}

TEST(QuarantineDecisionTest, AnImageObjectRefusesTheDigestInEveryNamespace) {
  json obj = {{"metadata", {{"name", "image.sha256-" + kDigest.substr(7)}}},
              {"spec", {{"scope", "Image"}, {"image", "docker.io/evil/miner@" + kDigest}}}};
  QuarantineSet set = objects({obj});
  auto pod_in = [](std::string ns, std::string image) {
    return testing::admission_for(
        {{"kind", "Pod"},
         {"metadata", {{"name", "p"}, {"namespace", ns}}},
         {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}});
  };
  Decision d = decide(combine({}), set, pod_in("payments", "ghcr.io/x/renamed@" + kDigest));
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule quarantined-image: container c spec.containers[0].image"))
      << d.message;
  EXPECT_TRUE(decide(combine({}), set, pod_in("payments", "ubuntu:22.04")).allowed);
}

TEST(QuarantineDecisionTest, LegacyPolicyEntriesAreStillHonouredNextToObjects) {
  // A workload quarantined in a MinerPolicy before objects existed, and another by an object.
  PolicySet legacy = set_of({policy_json(
      "orderguard-default", {{"quarantine",
                              {{{"scope", "Workload"},
                                {"namespace", "shop"},
                                {"workload", {{"kind", "Deployment"}, {"name", "web"}}},
                                {"reason", "legacy entry"}}}}})});
  QuarantineSet set = objects({workload_object(
      "deployment.shop.api", {{"workload", {{"kind", "Deployment"}, {"name", "api"}}}})});
  Decision web = decide(legacy, set, testing::admission_from_file("pod_of_deployment.json"));
  ASSERT_FALSE(web.allowed);
  EXPECT_TRUE(contains(web.message, "(spec.quarantine[0]): legacy entry")) << web.message;

  testing::Input api = testing::admission_from_file("pod_of_deployment.json");
  api.object["metadata"]["ownerReferences"][0]["name"] = "api-7c9d8b6f5";
  api.object["metadata"]["labels"]["pod-template-hash"] = "7c9d8b6f5";
  Decision d = decide(legacy, set, api);
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "(Quarantine deployment.shop.api)")) << d.message;
}

TEST(QuarantineDecisionTest, ReasonsAreEscapedAndBounded) {
  QuarantineSet set = objects(
      {workload_object("deployment.shop.web", {{"reason", "\x1b[2J" + std::string(5000, 'r')}})});
  Decision d = decide(combine({}), set, testing::admission_from_file("pod_of_deployment.json"));
  ASSERT_FALSE(d.allowed);
  EXPECT_FALSE(contains(d.message, "\x1b")) << d.message.substr(0, 200);
  EXPECT_TRUE(contains(d.message, "\\x1b[2J")) << d.message.substr(0, 200);
  EXPECT_LT(d.message.size(), 600u);
}

TEST(QuarantineSetTest, IndexesWorkloadsByNamespace) {
  QuarantineSet set = objects(
      {workload_object("a"),
       workload_object("b", {{"namespace", "blog"}}),
       {{"metadata", {{"name", "i"}}}, {"spec", {{"scope", "Image"}, {"image", kDigest}}}}});
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(set.workloads_in("shop").size(), 1u);
  EXPECT_EQ(set.workloads_in("blog").size(), 1u);
  EXPECT_TRUE(set.workloads_in("nowhere").empty());
  EXPECT_EQ(set.images.size(), 1u);
}

}  // namespace
}  // namespace orderguard::policy
