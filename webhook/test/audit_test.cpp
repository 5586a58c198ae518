// The pure parts of the background audit: which existing objects violate, what
// the Event says, and when passes run.
#include "webhook/audit.h"

#include <gtest/gtest.h>

#include <atomic>

#include "base/base64.h"
#include "kube/pki.h"
#include "kube/test/eventually.h"
#include "policy/miner_policy.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;
namespace res = kube::resources;

json pod_spec(const std::string& image, const json& command = json::array()) {
  json c = {{"name", "main"}, {"image", image}};
  if (!command.empty()) c["command"] = command;
  return {{"containers", json::array({c})}};
}

json pod(const std::string& name, const std::string& image) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}, {"uid", "u-" + name}}},
          {"spec", pod_spec(image)}};
}

json deployment(const std::string& name, const json& spec) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec",
           {{"selector", {{"matchLabels", {{"app", name}}}}},
            {"template", {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", spec}}}}}};
}

AdmissionContext with_policies(std::vector<json> objects) {
  std::vector<policy::CompiledPolicy> compiled;
  for (const auto& o : objects) {
    auto c = policy::compile(JsonDoc::from_json(o).root());
    EXPECT_TRUE(c.ok()) << c.error().describe();
    compiled.push_back(std::move(c).value());
  }
  AdmissionContext ctx;
  ctx.policies = std::make_shared<const policy::PolicySet>(policy::combine(std::move(compiled)));
  return ctx;
}

json miner_policy(const std::string& name, const std::string& mode) {
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "MinerPolicy"},
          {"metadata", {{"name", name}, {"generation", 3}}},
          {"spec", {{"mode", mode}}}};
}

TEST(AuditedResources, CoverPodsAndEveryPodTemplateKind) {
  std::vector<std::string> kinds;
  for (const auto& r : audited_resources()) kinds.push_back(r.kind);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                                      "Job", "CronJob", "ReplicationController"}));
}

TEST(AuditedResources, ThenConfigMapsAndSecrets) {
  std::vector<std::string> kinds;
  for (const auto& r : audited_config_resources()) kinds.push_back(r.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"ConfigMap", "Secret"}));
}

TEST(AuditObject, MinerConfigMapAndSecretAreViolationsWithoutTheSecretValue) {
  const std::string config =
      R"({"donate-level": 1, "pools": [{"url": "stratum+tcp://xmr.example.net:3333"}]})";
  json cm = {{"metadata", {{"name", "cfg"}, {"namespace", "shop"}, {"uid", "u-cfg"}}},
             {"data", {{"config.json", config}}}};
  auto v = audit_object(res::kConfigMaps, cm, AdmissionContext{});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->regarding["kind"], "ConfigMap");
  EXPECT_NE(violation_note(*v).find("rule stratum-url: data[\"config.json\"]"), std::string::npos)
      << violation_note(*v);

  json secret = {{"metadata", {{"name", "creds"}, {"namespace", "shop"}}},
                 {"data", {{"config.json", base64_encode(config)}}}};
  auto s = audit_object(res::kSecrets, secret, AdmissionContext{});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->regarding["kind"], "Secret");
  const std::string note = violation_note(*s);
  EXPECT_NE(note.find("rule stratum-url: data[\"config.json\"]"), std::string::npos) << note;
  EXPECT_EQ(note.find("xmr.example.net"), std::string::npos) << note;

  json benign = {{"metadata", {{"name", "redis"}, {"namespace", "shop"}}},
                 {"data", {{"redis.conf", "port 3333\nbind 0.0.0.0\n"}}}};
  EXPECT_FALSE(audit_object(res::kConfigMaps, benign, AdmissionContext{}).has_value());
}

TEST(CreateRequest, LooksLikeWhatAdmissionSees) {
  const JsonDoc doc = JsonDoc::from_json(deployment("web", pod_spec("nginx")));
  const Request req = create_request(res::kDeployments, doc.root());
  EXPECT_EQ(req.operation, "CREATE");
  EXPECT_EQ(req.group, "apps");
  EXPECT_EQ(req.kind, "Deployment");
  EXPECT_EQ(req.namespace_name, "shop");
  EXPECT_EQ(req.name, "web");
  EXPECT_TRUE(req.object.same(doc.root()));
  EXPECT_FALSE(req.old_object.valid());
  EXPECT_FALSE(req.user_info.valid());
}

TEST(AuditObject, MinerPodIsAViolationWithItsCauseAndReference) {
  auto v = audit_object(res::kPods, pod("miner", "xmrig"), with_policies({}));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->regarding["apiVersion"], "v1");
  EXPECT_EQ(v->regarding["kind"], "Pod");
  EXPECT_EQ(v->regarding["metadata"]["name"], "miner");
  EXPECT_EQ(v->regarding["metadata"]["uid"], "u-miner");
  ASSERT_FALSE(v->causes.empty());
  EXPECT_NE(v->causes[0].find("rule blocked-image"), std::string::npos) << v->causes[0];
  EXPECT_NE(violation_note(*v).find("container main"), std::string::npos);
}

TEST(AuditObject, WorkloadTemplatesAreChecked) {
  auto d = audit_object(
      res::kDeployments,
      deployment("w", pod_spec("ubuntu", {"/x", "-o", "stratum+tcp://pool.minexmr.com:4444"})),
      with_policies({}));
  ASSERT_TRUE(d.has_value());
  EXPECT_NE(violation_note(*d).find("rule stratum-url"), std::string::npos);
  EXPECT_EQ(d->regarding["apiVersion"], "apps/v1");

  json cron = {{"metadata", {{"name", "c"}, {"namespace", "shop"}}},
               {"spec",
                {{"schedule", "* * * * *"},
                 {"jobTemplate", {{"spec", {{"template", {{"spec", pod_spec("xmrig")}}}}}}}}}};
  EXPECT_TRUE(audit_object(res::kCronJobs, cron, with_policies({})).has_value());
}

TEST(AuditObject, BenignAndWeakOnlyObjectsAreNotViolations) {
  EXPECT_FALSE(audit_object(res::kPods, pod("web", "nginx:1.27"), with_policies({})).has_value());
  json weak = pod("p", "nginx");
  weak["spec"]["containers"][0]["ports"] = {{{"containerPort", 3333}}};
  EXPECT_FALSE(audit_object(res::kPods, weak, with_policies({})).has_value());
}

TEST(AuditObject, AuditModePoliciesStillReportAndAreAttributed) {
  auto v = audit_object(res::kPods, pod("miner", "xmrig"),
                        with_policies({miner_policy("watch-only", "Audit")}));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->policies, std::vector<std::string>{"watch-only"});
}

TEST(AuditObject, CarriesItsStrongFindingsAndEveryPolicyItViolates) {
  json miner = pod("miner", "xmrig");
  miner["spec"]["containers"][0]["ports"] = {{{"containerPort", 3333}}};  // weak: not carried
  auto v = audit_object(
      res::kPods, miner,
      with_policies({miner_policy("enforce", "Enforce"), miner_policy("watch-only", "Audit")}));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->policies, (std::vector<std::string>{"enforce", "watch-only"}));
  ASSERT_FALSE(v->findings.empty());
  for (const auto& f : v->findings) {
    EXPECT_EQ(f.severity, policy::Severity::kStrong) << f.rule_id;
    EXPECT_NE(f.rule_id, "miner-port");
  }
  EXPECT_EQ(v->findings[0].rule_id, "blocked-image");
  EXPECT_EQ(v->findings[0].field_path, "spec.containers[0].image");
  EXPECT_EQ(v->findings[0].container, "main");
}

TEST(AuditObject, ExemptNamespaceIsNotAViolation) {
  json p = miner_policy("p", "Enforce");
  p["spec"]["exemptions"] = {{"namespaces", {"shop"}}};
  EXPECT_FALSE(audit_object(res::kPods, pod("miner", "xmrig"), with_policies({p})).has_value());
}

TEST(ViolationNote, TerminalControlsFromTheWorkloadAreEscaped) {
  json miner = pod("miner", "ubuntu");
  miner["spec"] = pod_spec("ubuntu", {"/x", "-o", "stratum+tcp://pool.minexmr.com:4444\x1b[2J"});
  auto v = audit_object(res::kPods, miner, with_policies({}));
  ASSERT_TRUE(v.has_value());
  const std::string note = violation_note(*v);
  EXPECT_EQ(note.find('\x1b'), std::string::npos) << note;
  EXPECT_NE(note.find("\\x1b[2J"), std::string::npos) << note;
}

TEST(ViolationNote, FitsTheEventNoteLimit) {
  Violation v;
  for (int i = 0; i < 200; ++i) v.causes.push_back("rule x: container c" + std::to_string(i));
  EXPECT_LE(violation_note(v).size(), 1024u);
}

// The first pass must not wait a whole interval (10 minutes by default): what was
// admitted before the webhook started is found as soon as this replica may audit.
TEST(AuditLoop, FirstPassRunsOnceAllowedNotAnIntervalLater) {
  std::atomic<int> asked{0}, passes{0};
  AuditLoop loop(
      std::chrono::hours(1), [&] { return ++asked > 3; },  // not leading for three polls
      [&] { ++passes; }, std::chrono::milliseconds(1));
  loop.start();
  EXPECT_TRUE(kube::testing::eventually([&] { return passes.load() == 1; }));
  loop.stop();
  EXPECT_EQ(passes.load(), 1) << "a second pass is an hour away";
  EXPECT_EQ(asked.load(), 4) << "should_run is not asked again until the next pass is due";
}

// A policy edit asks for a pass: it runs once min_spacing has passed since the last one,
// not an interval later, and several requests in a row make one pass.
TEST(AuditLoop, ARequestedPassRunsAfterTheMinimumSpacing) {
  std::atomic<int> passes{0};
  AuditLoop loop(
      std::chrono::hours(1), [] { return true; }, [&] { ++passes; }, std::chrono::milliseconds(5),
      std::chrono::milliseconds(0));
  loop.start();
  EXPECT_TRUE(kube::testing::eventually([&] { return passes.load() == 1; }));
  loop.request_pass();
  EXPECT_TRUE(kube::testing::eventually([&] { return passes.load() == 2; }));
  loop.stop();
  EXPECT_EQ(passes.load(), 2);
}

TEST(AuditLoop, StopsPromptlyWhileWaiting) {
  std::atomic<int> passes{0};
  AuditLoop loop(
      std::chrono::hours(1), [] { return true; }, [&] { ++passes; });
  loop.start();
  EXPECT_TRUE(kube::testing::eventually([&] { return passes.load() == 1; }));
  loop.stop();  // returns instead of sleeping out the hour (a hang would time the test out)
  EXPECT_EQ(passes.load(), 1);
}

}  // namespace
}  // namespace orderguard::webhook
