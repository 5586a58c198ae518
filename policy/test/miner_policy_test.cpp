#include "policy/miner_policy.h"

#include <gtest/gtest.h>

#include "policy/rules.h"
#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;

json policy_with_spec(json spec) {
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "MinerPolicy"},
          {"metadata", {{"name", "p"}}},
          {"spec", std::move(spec)}};
}

std::string compile_error(json spec) {
  Result<CompiledPolicy> p = testing::compile(policy_with_spec(std::move(spec)));
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.error().code, ErrorCode::kInvalid);
  return p.error().message;
}

TEST(MinerPolicyTest, CompilesAFullPolicy) {
  CompiledPolicy p = testing::must_compile(testing::load("miner_policy_full.json"));
  EXPECT_EQ(p.name, "corp");
  EXPECT_EQ(p.generation, 3);
  EXPECT_EQ(p.mode, Mode::kEnforce);
  EXPECT_TRUE(p.builtin_indicators);
  ASSERT_EQ(p.blocked_images.size(), 3u);
  EXPECT_EQ(p.blocked_images[1].normalized(), "docker.io/*/xmrig-proxy");
  EXPECT_EQ(p.blocked_digests.size(), 1u);
  ASSERT_EQ(p.allowed_registries.size(), 3u);
  EXPECT_EQ(p.allowed_registries[2].normalized(), "ghcr.io/corp");
  ASSERT_EQ(p.signatures.size(), 2u);
  EXPECT_EQ(p.signatures[0].literal, "pool.corp-evil.io");
  EXPECT_NE(p.signatures[1].regex, nullptr);
  EXPECT_EQ(p.signatures[1].severity, Severity::kWeak);
  EXPECT_EQ(p.signatures[1].field_path, "spec.signatures[1]");
  EXPECT_TRUE(p.pool_domains.matches("a.mining.example.net"));
  EXPECT_TRUE(p.pool_domains.matches("pool.supportxmr.com"));  // built-ins stay
  EXPECT_EQ(p.miner_ports.count(1777), 1u);
  EXPECT_EQ(p.miner_ports.count(3333), 1u);
  EXPECT_EQ(p.exemptions.namespaces.count("monitoring"), 1u);
  ASSERT_TRUE(p.exemptions.namespace_selector.has_value());
  ASSERT_EQ(p.exemptions.service_accounts.size(), 1u);
  EXPECT_EQ(p.exemptions.service_accounts[0].namespace_name, "ci");
  ASSERT_EQ(p.quarantine.size(), 2u);
  EXPECT_EQ(p.quarantine[0].scope, QuarantineScope::kImage);
  EXPECT_EQ(p.quarantine[0].digest,
            "sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1");
  EXPECT_EQ(p.quarantine[1].workload.kind, "Deployment");
  EXPECT_EQ(p.scoring.threshold, 150);
  EXPECT_EQ(p.scoring.weight("miner-port", 30), 50);
  EXPECT_EQ(p.scoring.weight("stratum-url", 100), 100);
}

TEST(MinerPolicyTest, EmptySpecIsTheBuiltInBehaviour) {
  CompiledPolicy p = testing::must_compile(json{{"metadata", {{"name", "defaults"}}}});
  EXPECT_EQ(p.mode, Mode::kEnforce);
  EXPECT_TRUE(p.builtin_indicators);
  EXPECT_TRUE(p.pool_domains.matches("pool.minexmr.com"));
  CompiledPolicy off = testing::must_compile(policy_with_spec({{"builtinIndicators", false}}));
  EXPECT_FALSE(off.pool_domains.matches("pool.minexmr.com"));
  EXPECT_TRUE(off.miner_ports.empty());
}

TEST(MinerPolicyTest, BadRegexIsRefusedWithFieldPathAndRe2Message) {
  Result<CompiledPolicy> p = testing::compile(testing::load("miner_policy_bad_regex.json"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kInvalid);
  const std::string& m = p.error().message;
  EXPECT_NE(m.find("MinerPolicy \"broken\" is invalid"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.signatures[2].regex: invalid regex: missing )"), std::string::npos) << m;
  EXPECT_EQ(m.find("spec.signatures[1]"), std::string::npos) << m;  // the good one is fine
}

TEST(MinerPolicyTest, RegexSizeIsBounded) {
  std::string huge;
  for (int i = 0; i < 30; ++i) huge += "[a-z]{1000}";
  std::string m = compile_error({{"signatures", {{{"name", "big"}, {"regex", huge}}}}});
  EXPECT_NE(m.find("spec.signatures[0].regex"), std::string::npos) << m;
  std::string m2 =
      compile_error({{"signatures", {{{"name", "long"}, {"literal", std::string(2000, 'a')}}}}});
  EXPECT_NE(m2.find("spec.signatures[0].literal: at most 1024"), std::string::npos) << m2;
}

TEST(MinerPolicyTest, EveryProblemIsReportedAtOnce) {
  std::string m = compile_error({
      {"mode", "Block"},
      {"blockedImages", {"ok/*", "bad@sha256:00"}},
      {"blockedDigests", {"sha256:XYZ"}},
      {"allowedRegistries", {"mycompany"}},
      {"signatures",
       {{{"name", "both"}, {"literal", "a"}, {"regex", "b"}},
        {{"regex", "x"}, {"severity", "Critical"}}}},
      {"minerPorts", {0, 70000, "3333"}},
      {"poolHosts", {"not a host"}},
      {"builtinIndicators", "yes"},
  });
  for (std::string_view want :
       {"spec.mode: must be Enforce or Audit", "spec.blockedImages[1]", "spec.blockedDigests[0]",
        "spec.allowedRegistries[0]", "spec.signatures[0]: exactly one of literal and regex",
        "spec.signatures[1].name: required", "spec.signatures[1].severity", "spec.minerPorts[0]",
        "spec.minerPorts[1]", "spec.minerPorts[2]", "spec.poolHosts[0]",
        "spec.builtinIndicators"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " not in: " << m;
  }
}

TEST(MinerPolicyTest, WrongTypesAreProblemsNotExceptions) {
  EXPECT_NE(compile_error({{"blockedImages", "xmrig"}}).find("spec.blockedImages: must be a list"),
            std::string::npos);
  EXPECT_NE(compile_error({{"blockedImages", {1}}}).find("spec.blockedImages[0]: must be a string"),
            std::string::npos);
  EXPECT_NE(compile_error({{"exemptions", "all"}}).find("spec.exemptions: must be an object"),
            std::string::npos);
  EXPECT_FALSE(testing::compile(json::array()).ok());
  EXPECT_FALSE(testing::compile(json{{"kind", "Pod"}, {"spec", json::object()}}).ok());
  EXPECT_FALSE(testing::compile(json{{"apiVersion", "v1"}}).ok());
  EXPECT_FALSE(testing::compile(json{{"spec", 3}}).ok());
}

// The spec is decoded strictly (api/security.h) before its values are judged: a field the
// decoder does not know is refused, and a field refused for its shape is not judged again
// (a list item that is not a string is not also a bad glob).
TEST(MinerPolicyTest, ShapeFirstThenValues) {
  std::string m = compile_error({{"blockedImage", {"xmrig"}}});
  EXPECT_NE(m.find("spec.blockedImage: unknown field"), std::string::npos) << m;
  m = compile_error({{"blockedImages", {1, "bad@sha256:00"}},
                     {"signatures", {"sig", {{"name", "n"}, {"regex", "(a+"}}}},
                     {"quarantine", {7}}});
  EXPECT_NE(m.find("spec.blockedImages[0]: must be a string"), std::string::npos) << m;
  EXPECT_EQ(m.find("spec.blockedImages[0]:", m.find("must be a string") + 1), std::string::npos)
      << m;
  EXPECT_NE(m.find("spec.blockedImages[1]"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.signatures[0]: must be an object"), std::string::npos) << m;
  EXPECT_EQ(m.find("spec.signatures[0].name"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.signatures[1].regex: invalid regex: missing )"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.quarantine[0]: must be an object"), std::string::npos) << m;
  EXPECT_EQ(m.find("spec.quarantine[0]."), std::string::npos) << m;
}

TEST(MinerPolicyTest, ExemptionValidation) {
  EXPECT_NE(compile_error({{"exemptions", {{"namespaceSelector", json::object()}}}})
                .find("an empty selector would exempt every namespace"),
            std::string::npos);
  std::string m = compile_error({{"exemptions",
                                  {{"namespaceSelector",
                                    {{"matchExpressions",
                                      {{{"key", "a"}, {"operator", "In"}},
                                       {{"key", "b"}, {"operator", "Exists"}, {"values", {"x"}}},
                                       {{"key", "c"}, {"operator", "Like"}}}}}},
                                   {"serviceAccounts", {"justname", "a:b:c", ":x"}}}}});
  for (std::string_view want :
       {"matchExpressions[0].values: required for In and NotIn",
        "matchExpressions[1].values: must be empty", "matchExpressions[2].operator",
        "spec.exemptions.serviceAccounts[0]: must be namespace:name",
        "spec.exemptions.serviceAccounts[1]", "spec.exemptions.serviceAccounts[2]"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " not in: " << m;
  }
}

TEST(MinerPolicyTest, AgentExclusions) {
  CompiledPolicy p = testing::must_compile(policy_with_spec(
      {{"agent",
        {{"exclusions",
          {{"executables", {"/opt/corp/bin/*", "/opt/gpu/**"}},
           {"namespaces", {"render", "batch"}},
           {"podSelector", {{"matchLabels", {{"orderguard.io/miner-ok", "true"}}}}}}}}}}));
  ASSERT_EQ(p.agent_exclusions.executables.size(), 2u);
  EXPECT_TRUE(p.agent_exclusions.executables[0].glob.matches("/opt/corp/bin/tool"));
  EXPECT_EQ(p.agent_exclusions.executables[1].field_path, "spec.agent.exclusions.executables[1]");
  EXPECT_EQ(p.agent_exclusions.namespaces.at("batch"), "spec.agent.exclusions.namespaces[1]");
  ASSERT_TRUE(p.agent_exclusions.pod_selector.has_value());
  EXPECT_TRUE(p.agent_exclusions.pod_selector->matches({{"orderguard.io/miner-ok", "true"}}));
  EXPECT_TRUE(testing::must_compile(policy_with_spec(json::object())).agent_exclusions.empty());
}

TEST(MinerPolicyTest, AgentExclusionValidation) {
  std::string m = compile_error({{"agent",
                                  {{"exclusions",
                                    {{"executables", {"relative", "/**", 3}},
                                     {"namespaces", {"", std::string(64, 'n')}},
                                     {"podSelector", json::object()}}}}}});
  for (std::string_view want :
       {"spec.agent.exclusions.executables[0]: executable glob must be an absolute path",
        "spec.agent.exclusions.executables[1]: executable glob must name something",
        "spec.agent.exclusions.executables[2]: must be a string",
        "spec.agent.exclusions.namespaces[0]: must be a namespace name",
        "spec.agent.exclusions.namespaces[1]",
        "spec.agent.exclusions.podSelector: an empty selector would exclude every Pod"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " not in: " << m;
  }
  EXPECT_NE(compile_error({{"agent", "x"}}).find("spec.agent: must be an object"),
            std::string::npos);
  EXPECT_NE(compile_error({{"agent", {{"exclusions", {1}}}}})
                .find("spec.agent.exclusions: must be an object"),
            std::string::npos);
}

TEST(MinerPolicyTest, QuarantineValidation) {
  std::string m = compile_error({{"quarantine",
                                  {{{"scope", "Image"}},
                                   {{"scope", "Workload"}, {"workload", {{"kind", "Deployment"}}}},
                                   {{"scope", "Workload"},
                                    {"namespace", "shop"},
                                    {"workload", {{"kind", "Service"}, {"name", "x"}}}},
                                   {{"scope", "Cluster"}},
                                   {{"scope", "Image"}, {"image", "evil/Miner"}}}}});
  for (std::string_view want :
       {"spec.quarantine[0].image: required for scope Image",
        "spec.quarantine[1].namespace: required", "spec.quarantine[1].workload.name: required",
        "spec.quarantine[2].workload.kind", "spec.quarantine[3].scope: must be Workload or Image",
        "spec.quarantine[4].image"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " not in: " << m;
  }
}

TEST(MinerPolicyTest, ScoringValidation) {
  std::string m = compile_error(
      {{"scoring", {{"threshold", 0}, {"weights", {{"no-such-rule", 5}, {"miner-port", -1}}}}}});
  EXPECT_NE(m.find("spec.scoring.threshold"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.scoring.weights.no-such-rule: unknown rule id"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.scoring.weights.miner-port"), std::string::npos) << m;
}

// compile() reads the text in place: what reading it as a DOM gave still holds for what
// only a text can say (member order, repeated keys, how a number is written).
TEST(MinerPolicyTest, ReadsTheTextAsADomWould) {
  const std::string text = R"({"metadata": {"name": "p", "generation": 7},
    "spec": {"scoring": {"threshold": 1.0e2, "weights": {"zz-unknown": 1, "miner-port": 5,
                                                         "aa-unknown": 1, "miner-port": 9}},
             "minerPorts": [3333, 1e3, 18446744073709551615, -0],
             "exemptions": {"namespaceSelector": {"matchLabels": {"b": 1, "a": 2, "b": "x"}}}}})";
  const JsonDoc doc = JsonDoc::parse(text).value();
  Result<CompiledPolicy> p = compile(doc.root());
  ASSERT_FALSE(p.ok());
  const std::string& m = p.error().message;
  // Numbers with a fraction or an exponent are not integers, nor is one beyond int64.
  EXPECT_NE(m.find("spec.scoring.threshold: must be a positive integer"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.minerPorts[1]: must be a port number"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.minerPorts[2]: must be a port number"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.minerPorts[3]: must be a port number"), std::string::npos) << m;
  EXPECT_EQ(m.find("spec.minerPorts[0]"), std::string::npos) << m;
  // Members in key order, the last of a repeated key only (its earlier value is not read).
  EXPECT_LT(m.find("weights.aa-unknown"), m.find("weights.zz-unknown")) << m;
  EXPECT_EQ(m.find("matchLabels.b"), std::string::npos) << m;
  EXPECT_NE(m.find("matchLabels.a: must be a string"), std::string::npos) << m;

  const std::string fixed = R"({"metadata": {"name": "p", "generation": 7},
    "spec": {"scoring": {"threshold": 100, "weights": {"miner-port": 5, "miner-port": 9}}}})";
  const JsonDoc ok_doc = JsonDoc::parse(fixed).value();
  Result<CompiledPolicy> ok = compile(ok_doc.root());
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->generation, 7);
  EXPECT_EQ(ok->scoring.threshold, 100);
  EXPECT_EQ(ok->scoring.weight("miner-port", 0), 9);
}

TEST(MinerPolicyTest, BuiltInDefault) {
  CompiledPolicy p = built_in_default();
  EXPECT_EQ(p.name, kBuiltInPolicyName);
  EXPECT_EQ(p.mode, Mode::kEnforce);
  EXPECT_TRUE(p.builtin_indicators);
  EXPECT_TRUE(p.blocked_images.empty());
  EXPECT_TRUE(p.pool_domains.matches("xmr-eu1.nanopool.org"));
  EXPECT_EQ(p.scoring.threshold, kDefaultThreshold);
}

TEST(MinerPolicyTest, CombineDefaultsAndScoring) {
  PolicySet none = combine({});
  ASSERT_EQ(none.policies.size(), 1u);
  EXPECT_EQ(none.policies[0].name, kBuiltInPolicyName);

  std::vector<CompiledPolicy> policies;
  policies.push_back(testing::must_compile(
      policy_with_spec({{"scoring", {{"threshold", 200}, {"weights", {{"miner-port", 10}}}}}})));
  policies.push_back(testing::must_compile(
      policy_with_spec({{"scoring", {{"threshold", 120}, {"weights", {{"host-escape", 70}}}}}})));
  PolicySet set = combine(std::move(policies));
  ASSERT_EQ(set.policies.size(), 2u);
  Scoring s = set.scoring();
  EXPECT_EQ(s.threshold, 120);
  // The second policy leaves miner-port at the table default, which beats 10.
  EXPECT_EQ(s.weight("miner-port", 0), kMinerPortWeight);
  EXPECT_EQ(s.weight("host-escape", 0), 70);
}

TEST(LabelSelectorTest, KubernetesSemantics) {
  LabelSelector sel;
  sel.match_labels = {{"env", "prod"}};
  sel.match_expressions = {
      {"team", LabelRequirement::Operator::kIn, {"a", "b"}},
      {"tier", LabelRequirement::Operator::kNotIn, {"frontend"}},
      {"owner", LabelRequirement::Operator::kExists, {}},
      {"legacy", LabelRequirement::Operator::kDoesNotExist, {}},
  };
  std::map<std::string, std::string> labels = {{"env", "prod"}, {"team", "a"}, {"owner", "x"}};
  EXPECT_TRUE(sel.matches(labels));
  auto changed = [&](std::string k, std::string v) {
    auto l = labels;
    l[k] = v;
    return sel.matches(l);
  };
  EXPECT_FALSE(changed("env", "dev"));
  EXPECT_FALSE(changed("team", "c"));
  EXPECT_FALSE(changed("tier", "frontend"));
  EXPECT_TRUE(changed("tier", "backend"));
  EXPECT_FALSE(changed("legacy", "true"));
  auto without_owner = labels;
  without_owner.erase("owner");
  EXPECT_FALSE(sel.matches(without_owner));
}

TEST(QuarantineEntryTest, ImageMatching) {
  const std::string d1 = "sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1";
  const std::string d2 = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  auto ref = [](std::string s) { return parse_image_ref(s).value(); };
  auto entry = [](std::string image) {
    json spec = {{"quarantine", {{{"scope", "Image"}, {"image", image}}}}};
    return std::move(testing::must_compile(policy_with_spec(spec)).quarantine.at(0));
  };
  QuarantineEntry bare = entry(d1);
  EXPECT_TRUE(bare.matches_image(ref("anything/else@" + d1)));
  EXPECT_FALSE(bare.matches_image(ref("anything/else@" + d2)));
  EXPECT_FALSE(bare.matches_image(ref("anything/else")));

  QuarantineEntry named = entry("evil/miner@" + d1);
  EXPECT_TRUE(named.matches_image(ref("ghcr.io/other/name@" + d1)));
  EXPECT_FALSE(named.matches_image(ref("evil/miner@" + d2)));  // rebuilt: a new digest

  QuarantineEntry tagged = entry("evil/miner:v1");
  EXPECT_TRUE(tagged.matches_image(ref("docker.io/evil/miner:v1")));
  EXPECT_FALSE(tagged.matches_image(ref("evil/miner:v2")));

  QuarantineEntry name_only = entry("ghcr.io/evil/miner@" + d1);
  name_only.image_ref->tag.clear();
  EXPECT_FALSE(name_only.matches_image(ref("ghcr.io/evil/miner:v9")));
}

TEST(QuarantineEntryTest, JsonRoundTrip) {
  QuarantineEntry e;
  e.scope = QuarantineScope::kWorkload;
  e.image = "docker.io/library/ubuntu:22.04";
  e.namespace_name = "shop";
  e.workload = {"Deployment", "web"};
  e.reason = "stratum-url in args";
  e.time = "2026-08-30T10:00:00Z";
  json spec = {{"quarantine", {to_json(e)}}};
  CompiledPolicy p = testing::must_compile(policy_with_spec(spec));
  ASSERT_EQ(p.quarantine.size(), 1u);
  EXPECT_EQ(to_json(p.quarantine[0]), to_json(e));
  EXPECT_EQ(p.quarantine[0].workload.name, "web");
}

}  // namespace
}  // namespace orderguard::policy
