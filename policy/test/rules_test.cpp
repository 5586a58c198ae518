#include "policy/rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "policy/pod_context.h"
#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;

std::vector<Finding> findings_for(const json& object, const CompiledPolicy& policy) {
  Result<PodContext> ctx = testing::collect_pod_context(object, object.value("kind", ""));
  EXPECT_TRUE(ctx.ok()) << (ctx.ok() ? "" : ctx.error().message);
  if (!ctx.ok()) return {};
  return run_rules(*ctx, policy);
}

std::vector<Finding> findings_for(const json& object) {
  return findings_for(object, built_in_default());
}

const Finding* find(const std::vector<Finding>& fs, std::string_view rule, std::string_view path) {
  for (const Finding& f : fs) {
    if (f.rule_id == rule && f.field_path == path) return &f;
  }
  return nullptr;
}

std::string dump(const std::vector<Finding>& fs) {
  std::string out;
  for (const Finding& f : fs) out += format_cause(f) + "\n";
  return out;
}

json pod(json containers) {
  return {{"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", "shop"}}},
          {"spec", {{"containers", std::move(containers)}}}};
}

json policy_json(json spec) {
  return {{"metadata", {{"name", "test"}}}, {"spec", std::move(spec)}};
}

TEST(RuleTableTest, IdsAreUniqueKebabCaseWithASeverity) {
  std::set<std::string_view> ids;
  for (const Rule& r : rule_table()) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    EXPECT_TRUE(std::all_of(r.id.begin(), r.id.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    })) << r.id;
    EXPECT_NE(r.check, nullptr);
    EXPECT_GT(r.weight, 0);
    EXPECT_EQ(r.weight >= kStrongWeight, r.severity == Severity::kStrong) << r.id;
    EXPECT_EQ(find_rule(r.id), &r);
  }
  EXPECT_EQ(find_rule("no-such-rule"), nullptr);
  for (std::string_view id : {kRuleStratumUrl, kRuleMinerFlag, kRuleMinerBinary, kRulePoolHost,
                              kRuleMinerBase64, kRuleDropper, kRuleWalletAddress}) {
    EXPECT_EQ(ids.count(id), 1u) << id;  // shared with the agent's process scan
  }
}

TEST(RulesTest, BenignPodHasNoFindings) {
  // Includes an nginx with `--port 3333` and a listener on 0.0.0.0:3333: a port a server
  // listens on is not a pool it connects to, so not even a weak finding.
  std::vector<Finding> fs = findings_for(testing::load("pod_benign.json"));
  EXPECT_TRUE(fs.empty()) << dump(fs);
  EXPECT_TRUE(findings_for(testing::load("pod_of_deployment.json")).empty());
}

TEST(RulesTest, MinerDeploymentListsEveryIndicatorWithItsFieldPath) {
  std::vector<Finding> fs = findings_for(testing::load("deployment_miner.json"));
  const std::string args = "spec.template.spec.containers[1].args";
  const Finding* stratum = find(fs, kRuleStratumUrl, args + "[1]");
  ASSERT_NE(stratum, nullptr) << dump(fs);
  EXPECT_EQ(stratum->container, "miner");
  EXPECT_EQ(stratum->severity, Severity::kStrong);
  EXPECT_EQ(stratum->evidence, "stratum+tcp://pool.supportxmr.com:3333");
  EXPECT_EQ(stratum->policy, kBuiltInPolicyName);
  EXPECT_NE(find(fs, kRulePoolHost, args + "[1]"), nullptr) << dump(fs);
  EXPECT_NE(find(fs, kRuleMinerFlag, args + "[0]"), nullptr) << dump(fs);  // -o pool.*
  EXPECT_NE(find(fs, kRuleMinerFlag, args + "[4]"), nullptr) << dump(fs);  // --donate-level
  EXPECT_NE(find(fs, kRuleMinerFlag, args + "[5]"), nullptr) << dump(fs);  // -a rx/0
  EXPECT_NE(find(fs, kRuleWalletAddress, args + "[3]"), nullptr) << dump(fs);
  const Finding* port = find(fs, kRuleMinerPort, args + "[1]");
  ASSERT_NE(port, nullptr) << dump(fs);
  EXPECT_EQ(port->severity, Severity::kWeak);
  // Nothing about the nginx container.
  for (const Finding& f : fs) EXPECT_EQ(f.container, "miner") << format_cause(f);
}

TEST(RulesTest, DropperInCronJobInitContainer) {
  std::vector<Finding> fs = findings_for(testing::load("cronjob_dropper.json"));
  const Finding* f =
      find(fs, kRuleDropper, "spec.jobTemplate.spec.template.spec.initContainers[0].command[2]");
  ASSERT_NE(f, nullptr) << dump(fs);
  EXPECT_EQ(f->container, "fetch");
  EXPECT_NE(f->message.find("download piped to a shell"), std::string::npos);
  EXPECT_EQ(fs.size(), 1u) << dump(fs);
}

TEST(RulesTest, EveryHidingPlaceIsScanned) {
  std::vector<Finding> fs = findings_for(testing::load("pod_hiding_places.json"));
  const Finding* expanded = find(fs, kRuleStratumUrl, "spec.containers[0].args[0]");
  ASSERT_NE(expanded, nullptr) << dump(fs);
  EXPECT_NE(expanded->message.find("after $(VAR) expansion"), std::string::npos);
  EXPECT_NE(find(fs, kRuleDropper, "spec.containers[0].lifecycle.postStart.exec.command[2]"),
            nullptr)
      << dump(fs);
  EXPECT_NE(find(fs, kRuleMinerBase64, "spec.containers[0].livenessProbe.exec.command[2]"), nullptr)
      << dump(fs);
  EXPECT_NE(find(fs, kRuleMinerBinary, "spec.containers[0].readinessProbe.exec.command[1]"),
            nullptr)
      << dump(fs);
  EXPECT_NE(find(fs, kRuleWalletAddress, "spec.containers[0].startupProbe.exec.command[2]"),
            nullptr)
      << dump(fs);
  const Finding* ephemeral = find(fs, kRuleMinerBinary, "spec.ephemeralContainers[0].command[0]");
  ASSERT_NE(ephemeral, nullptr) << dump(fs);
  EXPECT_EQ(ephemeral->container, "debugger");
  const Finding* volume = find(fs, kRuleBlockedImage, "spec.volumes[0].image.reference");
  ASSERT_NE(volume, nullptr) << dump(fs);
  EXPECT_TRUE(volume->container.empty());
  EXPECT_NE(volume->message.find("docker.io/library/xmrig:6.21"), std::string::npos);
  // The env value HOST=203.0.113.9:4444 alone is an endpoint on a miner port (weak).
  EXPECT_NE(find(fs, kRuleMinerPort, "spec.containers[0].env[1].value"), nullptr) << dump(fs);
  // valueFrom is invisible here.
  for (const Finding& f : fs) EXPECT_EQ(f.field_path.find("env[2]"), std::string::npos);
}

TEST(RulesTest, EnvValuesAreExpandedAgainstEarlierVariables) {
  json p = pod({{{"name", "c"},
                 {"image", "alpine"},
                 {"env",
                  {{{"name", "S"}, {"value", "stratum+"}},
                   {{"name", "URL"}, {"value", "$(S)tcp://10.0.0.1:3333"}}}}}});
  std::vector<Finding> fs = findings_for(p);
  EXPECT_NE(find(fs, kRuleStratumUrl, "spec.containers[0].env[1].value"), nullptr) << dump(fs);
}

TEST(RulesTest, BuiltInMinerImagesInEverySpelling) {
  for (std::string image : {"xmrig", "index.docker.io/library/xmrig:latest", "metal3d/xmrig:6.21",
                            "ghcr.io/someone/xmrig", "1.2.3.4:5000/x/xmrig-notls",
                            "alpineos/dockerapi", "docker.io/ddsfdfsaadfs/dfsdf:99"}) {
    std::vector<Finding> fs = findings_for(pod({{{"name", "c"}, {"image", image}}}));
    EXPECT_NE(find(fs, kRuleBlockedImage, "spec.containers[0].image"), nullptr) << image;
  }
  EXPECT_TRUE(findings_for(pod({{{"name", "c"}, {"image", "nginx:1.25"}}})).empty());
}

TEST(RulesTest, InvalidImageIsAStrongFinding) {
  std::vector<Finding> fs = findings_for(pod({{{"name", "c"}, {"image", "Evil/Miner"}}}));
  const Finding* f = find(fs, kRuleInvalidImage, "spec.containers[0].image");
  ASSERT_NE(f, nullptr) << dump(fs);
  EXPECT_NE(f->message.find("must be lowercase"), std::string::npos);
}

TEST(RulesTest, PolicyImageListsAndRegistryAllowlist) {
  CompiledPolicy p = testing::must_compile(testing::load("miner_policy_full.json"));
  auto image_findings = [&](std::string image) {
    return findings_for(pod({{{"name", "c"}, {"image", image}}}), p);
  };
  EXPECT_TRUE(image_findings("registry.corp.io/shop/orders:1").empty());
  EXPECT_TRUE(image_findings("nginx").empty());  // docker.io/library
  EXPECT_TRUE(image_findings("ghcr.io/corp/tool").empty());

  std::vector<Finding> lookalike = image_findings("registry.corp.io.evil.com/shop/orders");
  EXPECT_NE(find(lookalike, kRuleRegistryNotAllowed, "spec.containers[0].image"), nullptr);
  EXPECT_NE(find(image_findings("ghcr.io/corporate/x"), kRuleRegistryNotAllowed,
                 "spec.containers[0].image"),
            nullptr);

  std::vector<Finding> blocked = image_findings("evil.io/a/b");
  const Finding* b = find(blocked, kRuleBlockedImage, "spec.containers[0].image");
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b->message.find("evil.io/**"), std::string::npos);

  std::vector<Finding> digest = image_findings(
      "registry.corp.io/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_NE(find(digest, kRuleBlockedDigest, "spec.containers[0].image"), nullptr) << dump(digest);
}

TEST(RulesTest, CustomSignatures) {
  CompiledPolicy p = testing::must_compile(testing::load("miner_policy_full.json"));
  std::vector<Finding> fs = findings_for(
      pod({{{"name", "c"},
            {"image", "registry.corp.io/app"},
            {"args", {"--upstream", "tcp://pool.corp-evil.io:9000", "--mode=xmrfast"}}}}),
      p);
  ASSERT_EQ(fs.size(), 2u) << dump(fs);
  EXPECT_EQ(fs[0].rule_id, kRuleCustomSignature);
  EXPECT_EQ(fs[0].field_path, "spec.containers[0].args[1]");
  EXPECT_EQ(fs[0].severity, Severity::kStrong);
  EXPECT_NE(fs[0].message.find("corp-pool"), std::string::npos);
  EXPECT_EQ(fs[1].field_path, "spec.containers[0].args[2]");
  EXPECT_EQ(fs[1].severity, Severity::kWeak);
}

TEST(RulesTest, HostEscapeAloneIsWeak) {
  std::vector<Finding> fs = findings_for(testing::load("pod_host_escape.json"));
  ASSERT_EQ(fs.size(), 1u) << dump(fs);
  EXPECT_EQ(fs[0].rule_id, kRuleHostEscape);
  EXPECT_EQ(fs[0].severity, Severity::kWeak);
  EXPECT_EQ(fs[0].container, "exporter");
  EXPECT_EQ(fs[0].field_path, "spec.volumes[0].hostPath.path");

  // Any one of the three missing: nothing.
  json no_pid = testing::load("pod_host_escape.json");
  no_pid["spec"]["hostPID"] = false;
  EXPECT_TRUE(findings_for(no_pid).empty());
  json not_root = testing::load("pod_host_escape.json");
  not_root["spec"]["volumes"][0]["hostPath"]["path"] = "/var/log";
  EXPECT_TRUE(findings_for(not_root).empty());
  json unprivileged = testing::load("pod_host_escape.json");
  unprivileged["spec"]["containers"][0]["securityContext"]["privileged"] = false;
  EXPECT_TRUE(findings_for(unprivileged).empty());
}

TEST(RulesTest, BuiltInIndicatorsCanBeSwitchedOff) {
  CompiledPolicy off = testing::must_compile(policy_json({{"builtinIndicators", false}}));
  EXPECT_TRUE(findings_for(testing::load("deployment_miner.json"), off).empty());
  EXPECT_TRUE(findings_for(pod({{{"name", "c"}, {"image", "xmrig"}}}), off).empty());
  // User lists still apply.
  CompiledPolicy own = testing::must_compile(
      policy_json({{"builtinIndicators", false}, {"poolHosts", {"supportxmr.com"}}}));
  std::vector<Finding> fs = findings_for(testing::load("deployment_miner.json"), own);
  ASSERT_EQ(fs.size(), 1u) << dump(fs);
  EXPECT_EQ(fs[0].rule_id, kRulePoolHost);
}

TEST(RulesTest, PolicyWeightsApply) {
  CompiledPolicy p =
      testing::must_compile(policy_json({{"scoring", {{"weights", {{"miner-port", 77}}}}}}));
  std::vector<Finding> fs = findings_for(testing::load("deployment_miner.json"), p);
  const Finding* port = find(fs, kRuleMinerPort, "spec.template.spec.containers[1].args[1]");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->weight, 77);
  EXPECT_EQ(port->policy, "test");
}

TEST(RulesTest, FindingsAreCapped) {
  json env = json::array();
  for (int i = 0; i < 300; ++i) {
    env.push_back({{"name", "P" + std::to_string(i)}, {"value", "stratum+tcp://p:1"}});
  }
  std::vector<Finding> fs = findings_for(pod({{{"name", "c"}, {"image", "alpine"}, {"env", env}}}));
  EXPECT_EQ(fs.size(), kMaxFindings);
}

TEST(PodContextTest, ExecOptionsCommand) {
  PodContext ctx = testing::collect_exec_context(
      json{{"container", "app"}, {"command", {"/bin/sh", "-c", "./xmrig -o x"}}});
  ASSERT_EQ(ctx.texts.size(), 1u);
  EXPECT_EQ(ctx.texts[0].container, "app");
  EXPECT_EQ(ctx.token_path(ctx.texts[0], 2), "command[2]");
}

TEST(PodContextTest, MalformedFieldsInsideAContainerAreSkipped) {
  json p = pod({{{"name", "c"},
                 {"image", 42},
                 {"args", {1, "ok", nullptr}},
                 {"env", {{{"name", "A"}, {"value", 3}}}},
                 {"lifecycle", "x"},
                 {"livenessProbe", {{"exec", {{"command", "sh"}}}}}}});
  Result<PodContext> ctx = testing::collect_pod_context(p, "Pod");
  ASSERT_TRUE(ctx.ok());
  EXPECT_TRUE(ctx->images.empty());
  ASSERT_EQ(ctx->texts.size(), 1u);
  // Non-strings are empty tokens, so token 1 is still args[1].
  EXPECT_EQ(ctx->texts[0].line.text(), " ok ");
  EXPECT_EQ(ctx->token_path(ctx->texts[0], 1), "spec.containers[0].args[1]");
}

TEST(PodContextTest, MalformedContainerListsAreRefusedNotSkipped) {
  // Skipping would let a container hide behind a malformed neighbour.
  Result<PodContext> bad_item = testing::collect_pod_context(pod({"not-an-object"}), "Pod");
  ASSERT_FALSE(bad_item.ok());
  EXPECT_NE(bad_item.error().message.find("spec.containers[0]"), std::string::npos);
  json p = pod({});
  p["spec"]["initContainers"] = "x";
  Result<PodContext> bad_list = testing::collect_pod_context(p, "Pod");
  ASSERT_FALSE(bad_list.ok());
  EXPECT_NE(bad_list.error().message.find("spec.initContainers"), std::string::npos);
}

}  // namespace
}  // namespace orderguard::policy
