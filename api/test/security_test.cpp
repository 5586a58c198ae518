// The security.orderguard.io decoders (api/security.h): strict decoding with field paths,
// the CRD defaults, MinerPolicy's wording, list bounds, and the best-effort reads over both
// JSON models.
#include "api/security.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/json_doc.h"

namespace orderguard::api {
namespace {

using nlohmann::json;

std::vector<std::string> policy_problems(const std::string& spec_text) {
  const JsonDoc doc = JsonDoc::parse(spec_text).value();
  std::vector<std::string> problems;
  decode_miner_policy(doc.root(), &problems);
  return problems;
}

bool has(const std::vector<std::string>& problems, const std::string& want) {
  for (const auto& p : problems) {
    if (p == want) return true;
  }
  return false;
}

TEST(MinerPolicySpecTest, DecodesEveryField) {
  const JsonDoc doc = JsonDoc::parse(R"({
    "mode": "Audit", "builtinIndicators": false,
    "blockedImages": ["**/xmrig"], "blockedDigests": ["sha256:00"],
    "allowedRegistries": ["registry.corp.io"],
    "signatures": [{"name": "a", "literal": "pool"}, {"name": "b", "regex": "x+", "severity": "Weak"}],
    "poolHosts": ["pool.example.net"], "minerPorts": [3333, 14444],
    "exemptions": {"namespaces": ["kube-system"], "serviceAccounts": ["ci:runner"],
                   "namespaceSelector": {"matchLabels": {"team": "a"},
                     "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}},
    "quarantine": [{"scope": "Image", "image": "evil/miner", "namespace": "shop",
                    "workload": {"kind": "Deployment", "name": "web"}, "reason": "r",
                    "time": "2026-08-30T10:00:00Z"}],
    "scoring": {"threshold": 150, "weights": {"miner-port": 50}},
    "agent": {"exclusions": {"executables": ["/opt/x"], "namespaces": ["gpu"],
                             "podSelector": {"matchLabels": {"a": "b"}}}}})")
                          .value();
  std::vector<std::string> problems;
  const MinerPolicySpec s = decode_miner_policy(doc.root(), &problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(s.mode, "Audit");
  EXPECT_FALSE(s.builtin_indicators);
  EXPECT_EQ(s.blocked_images, std::vector<std::string>{"**/xmrig"});
  EXPECT_EQ(s.blocked_digests, std::vector<std::string>{"sha256:00"});
  EXPECT_EQ(s.allowed_registries, std::vector<std::string>{"registry.corp.io"});
  ASSERT_EQ(s.signatures.size(), 2u);
  EXPECT_EQ(s.signatures[0].literal, "pool");
  EXPECT_FALSE(s.signatures[0].regex.has_value());
  EXPECT_EQ(s.signatures[0].severity, "Strong");  // the CRD default
  EXPECT_EQ(s.signatures[1].regex, "x+");
  EXPECT_EQ(s.signatures[1].severity, "Weak");
  EXPECT_EQ(s.pool_hosts, std::vector<std::string>{"pool.example.net"});
  EXPECT_EQ(s.miner_ports, (std::vector<int64_t>{3333, 14444}));
  EXPECT_EQ(s.exemptions.namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_EQ(s.exemptions.service_accounts, std::vector<std::string>{"ci:runner"});
  ASSERT_TRUE(s.exemptions.namespace_selector.has_value());
  EXPECT_EQ(s.exemptions.namespace_selector->match_labels.at("team"), "a");
  ASSERT_EQ(s.exemptions.namespace_selector->match_expressions.size(), 1u);
  EXPECT_EQ(s.exemptions.namespace_selector->match_expressions[0].op, "In");
  ASSERT_EQ(s.quarantine.size(), 1u);
  EXPECT_EQ(s.quarantine[0].scope, "Image");
  EXPECT_EQ(s.quarantine[0].workload.name, "web");
  EXPECT_EQ(s.quarantine[0].time, "2026-08-30T10:00:00Z");
  EXPECT_EQ(s.scoring.threshold, 150);
  EXPECT_EQ(s.scoring.weights.at("miner-port"), 50);
  EXPECT_EQ(s.agent_exclusions.executables, std::vector<std::string>{"/opt/x"});
  EXPECT_EQ(s.agent_exclusions.namespaces, std::vector<std::string>{"gpu"});
  ASSERT_TRUE(s.agent_exclusions.pod_selector.has_value());
}

TEST(MinerPolicySpecTest, AbsentSpecIsTheDefaults) {
  std::vector<std::string> problems;
  const MinerPolicySpec s = decode_miner_policy(JsonRef(), &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(s.mode, "Enforce");
  EXPECT_TRUE(s.builtin_indicators);
  EXPECT_EQ(s.scoring.threshold, 100);
  EXPECT_FALSE(s.exemptions.namespace_selector.has_value());
  // An empty selector is there (policy/ refuses it), an absent one is not.
  const JsonDoc doc = JsonDoc::parse(R"({"agent": {"exclusions": {"podSelector": {}}}})").value();
  EXPECT_TRUE(decode_miner_policy(doc.root(), &problems).agent_exclusions.pod_selector);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(policy_problems("[]"), std::vector<std::string>{"spec: must be an object"});
}

TEST(MinerPolicySpecTest, EveryShapeProblemWithItsPathAndMinerPolicyWording) {
  const auto p = policy_problems(R"({
    "mode": 1, "builtinIndicators": "yes", "blockedImages": "xmrig", "poolHosts": [1, "a"],
    "signatures": [3, {"name": 2, "literal": "x", "colour": "red"}],
    "minerPorts": [0, 70000, "3333", 1e3, 3333],
    "exemptions": {"namespaceSelector": {"matchLabels": {"b": 1, "a": 2, "b": "x"}}},
    "quarantine": [{"scope": "Image", "nodeName": "n1"}],
    "scoring": {"threshold": 0, "weights": {"zz": "high", "aa": -1}},
    "agent": {"exclusions": "all"}, "extra": true})");
  for (const std::string want : {
           "spec.mode: must be a string",
           "spec.builtinIndicators: must be true or false",
           "spec.blockedImages: must be a list",
           "spec.poolHosts[0]: must be a string",
           "spec.signatures[0]: must be an object",
           "spec.signatures[1].name: must be a string",
           "spec.signatures[1].colour: unknown field",
           "spec.minerPorts[0]: must be a port number (1-65535)",
           "spec.minerPorts[1]: must be a port number (1-65535)",
           "spec.minerPorts[2]: must be a port number (1-65535)",
           "spec.minerPorts[3]: must be a port number (1-65535)",
           "spec.exemptions.namespaceSelector.matchLabels.a: must be a string",
           // A Quarantine object's field is not one of a legacy entry.
           "spec.quarantine[0].nodeName: unknown field",
           "spec.scoring.threshold: must be a positive integer",
           "spec.scoring.weights.aa: must be an integer between 0 and 1000000",
           "spec.scoring.weights.zz: must be an integer between 0 and 1000000",
           "spec.agent.exclusions: must be an object",
           "spec.extra: unknown field",
       }) {
    EXPECT_TRUE(has(p, want)) << want;
  }
  // The port 3333 is fine, and so is the last of the repeated key "b".
  for (const auto& problem : p) {
    EXPECT_EQ(problem.find("minerPorts[4]"), std::string::npos) << problem;
    EXPECT_EQ(problem.find("matchLabels.b"), std::string::npos) << problem;
  }
  EXPECT_EQ(p.size(), 18u);
}

TEST(MinerPolicySpecTest, ListsAreBounded) {
  json spec = {{"blockedImages", json::array()}, {"quarantine", json::array()}};
  for (size_t i = 0; i <= kMaxListEntries; ++i) spec["blockedImages"].push_back("x");
  for (size_t i = 0; i < kMaxQuarantineEntries; ++i)
    spec["quarantine"].push_back({{"scope", "Image"}});
  const JsonDoc doc = JsonDoc::from_json(spec);
  std::vector<std::string> problems;
  const MinerPolicySpec s = decode_miner_policy(doc.root(), &problems);
  EXPECT_EQ(problems, std::vector<std::string>{"spec.blockedImages: at most 1000 entries"});
  EXPECT_TRUE(s.blocked_images.empty());
  EXPECT_EQ(s.quarantine.size(), kMaxQuarantineEntries);
}

TEST(QuarantineSpecTest, DecodesItsFieldsOnly) {
  const JsonDoc doc = JsonDoc::parse(R"({"scope": "Workload", "namespace": "shop",
    "workload": {"kind": "Deployment", "name": "web"}, "image": "i", "reason": "r",
    "nodeName": "n1", "createdBy": "agent-x", "expiresAt": "2026-09-01T00:00:00Z"})")
                          .value();
  std::vector<std::string> problems;
  const QuarantineSpec q = decode_quarantine(doc.root(), &problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(q.scope, "Workload");
  EXPECT_EQ(q.namespace_name, "shop");
  EXPECT_EQ(q.workload.kind, "Deployment");
  EXPECT_EQ(q.workload.name, "web");
  EXPECT_EQ(q.image, "i");
  EXPECT_EQ(q.reason, "r");
  EXPECT_EQ(q.node_name, "n1");
  EXPECT_EQ(q.created_by, "agent-x");
  EXPECT_EQ(q.expires_at, "2026-09-01T00:00:00Z");

  const JsonDoc bad =
      JsonDoc::parse(R"({"scope": 1, "workload": {"kind": [], "uid": "u"}, "time": "t"})").value();
  problems.clear();
  decode_quarantine(bad.root(), &problems);
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "spec.scope: must be a string", "spec.workload.kind: must be a string",
                          "spec.workload.uid: unknown field", "spec.time: unknown field"}));
}

// The agent reads its informer's DOMs, the webhook its requests: the same text reads the
// same through both.
TEST(SecuritySpecReadTest, BothModelsReadTheSame) {
  const std::string text = R"({"builtinIndicators": false, "poolHosts": ["a.example", 7, "b"],
    "minerPorts": [1, "x", 2], "exemptions": {"namespaceSelector": {"matchLabels": {"k": "v"}}},
    "scoring": {"weights": {"b": 1, "a": "x", "b": 2}}, "quarantine": [1, {"scope": "Image"}]})";
  const JsonDoc doc = JsonDoc::parse(text).value();
  const MinerPolicySpec by_ref = read_miner_policy(doc.root());
  const MinerPolicySpec by_dom = read_miner_policy(json::parse(text));
  EXPECT_FALSE(by_ref.builtin_indicators);
  EXPECT_EQ(by_ref.pool_hosts, (std::vector<std::string>{"a.example", "", "b"}));
  EXPECT_EQ(by_ref.pool_hosts, by_dom.pool_hosts);
  EXPECT_EQ(by_ref.miner_ports, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(by_ref.miner_ports, by_dom.miner_ports);
  EXPECT_EQ(by_ref.scoring.weights, (std::map<std::string, int64_t>{{"b", 2}}));
  EXPECT_EQ(by_ref.scoring.weights, by_dom.scoring.weights);
  EXPECT_EQ(by_ref.quarantine.size(), 2u);
  EXPECT_EQ(by_dom.quarantine.size(), 2u);
  EXPECT_EQ(read_quarantine(json::parse(R"({"expiresAt": "t", "scope": 3})")).expires_at, "t");
}

TEST(ProblemPathsTest, CoversAFieldAndWhatIsInsideIt) {
  const ProblemPaths paths(
      {"spec.signatures[2]: must be an object", "spec.mode: must be a string"});
  EXPECT_TRUE(paths.covers("spec.signatures[2]"));
  EXPECT_TRUE(paths.covers("spec.signatures[2].name"));
  EXPECT_TRUE(paths.covers("spec.mode"));
  EXPECT_FALSE(paths.covers("spec.signatures[20]"));
  EXPECT_FALSE(paths.covers("spec.signatures"));
  EXPECT_FALSE(paths.covers("spec.modes"));
  EXPECT_FALSE(ProblemPaths({}).covers("spec"));
}

}  // namespace
}  // namespace orderguard::api
