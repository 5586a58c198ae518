// The chart's renderings, field by field: `helm template` (the helm the
// project builds, --kube-version of the tested Kubernetes) with values that
// exercise each production setting, parsed back into objects. No cluster: what
// needs one (lookups of existing objects, the uninstall hook running, the
// NOTES against the live configuration) is in chart_release_e2e_test.
//
// tests/render_test.sh covers the rest: lint, golden files, values the schema refuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/environment.h"
#include "e2e/process.h"
#include "kube/yaml.h"

namespace orderguard::e2e {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kSource = ORDERGUARD_SOURCE_DIR;
const std::string kChart = kSource + "/charts/orderguard";
const std::string kNs = "orderguard-system";

std::string helm_path() {
  static const std::string path = [] {
    auto bin = resolve_tools_bin();
    return bin.ok() ? *bin + "/helm" : std::string();
  }();
  return path;
}

// `helm template og <chart> -n orderguard-system --kube-version 1.34.4 <args>`.
CommandResult helm_template(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {helm_path(), "template",       "og",    kChart, "-n",
                                   kNs,         "--kube-version", "1.34.4"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string home = testing::TempDir();
  return run_command(argv, {.env = {"HELM_CACHE_HOME=" + home + "/helm-cache",
                                    "HELM_CONFIG_HOME=" + home + "/helm-config",
                                    "HELM_DATA_HOME=" + home + "/helm-data"}});
}

// A values file for -f, in the test's temporary directory.
std::string values_file(const std::string& name, const std::string& yaml) {
  const std::string path = testing::TempDir() + "/" + name + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

class Rendered {
 public:
  explicit Rendered(const std::vector<std::string>& args = {}) {
    CommandResult r = helm_template(args);
    EXPECT_TRUE(r.ok()) << r.describe();
    if (!r.ok()) return;
    auto docs = kube::parse_yaml_documents(r.out);
    EXPECT_TRUE(docs.ok()) << docs.error().describe();
    if (docs.ok()) docs_ = std::move(docs).value();
  }

  // The one object of `kind` named `name`, or null.
  json get(const std::string& kind, const std::string& name) const {
    for (const json& d : docs_) {
      if (d.value("kind", "") == kind && d["metadata"].value("name", "") == name) return d;
    }
    return json();
  }
  std::vector<json> all(const std::string& kind) const {
    std::vector<json> out;
    for (const json& d : docs_) {
      if (d.value("kind", "") == kind) out.push_back(d);
    }
    return out;
  }
  // The pod template's spec of a workload.
  json pod_spec(const std::string& kind, const std::string& name) const {
    json w = get(kind, name);
    return w.is_null() ? json() : w["spec"]["template"]["spec"];
  }

 private:
  std::vector<json> docs_;
};

std::vector<std::string> strings(const json& array) {
  std::vector<std::string> out;
  for (const json& s : array) out.push_back(s.get<std::string>());
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The three workloads: kind, name, values key.
struct Workload {
  std::string kind, name, key;
};
const std::vector<Workload> kWorkloads = {{"Deployment", "og-operator", "operator"},
                                          {"Deployment", "og-webhook", "webhook"},
                                          {"DaemonSet", "og-agent", "agent"}};

TEST(ChartTemplate, DefaultsKeepTheSecureSettings) {
  Rendered r;
  for (const std::string name : {"og-operator", "og-webhook"}) {
    json spec = r.pod_spec("Deployment", name);
    ASSERT_FALSE(spec.is_null()) << name;
    EXPECT_EQ(spec["securityContext"], json::parse(R"({"runAsNonRoot":true,"runAsUser":65532,
                              "seccompProfile":{"type":"RuntimeDefault"}})"))
        << name;
    EXPECT_EQ(spec["containers"][0]["securityContext"],
              json::parse(R"({"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,
                              "capabilities":{"drop":["ALL"]}})"))
        << name;
  }
  json agent = r.pod_spec("DaemonSet", "og-agent");
  ASSERT_FALSE(agent.is_null());
  EXPECT_FALSE(agent.contains("securityContext")) << agent["securityContext"];
  EXPECT_EQ(agent["containers"][0]["securityContext"],
            json::parse(R"({"runAsUser":0,"allowPrivilegeEscalation":false,
                            "readOnlyRootFilesystem":true,
                            "capabilities":{"drop":["ALL"],"add":["SYS_PTRACE","DAC_READ_SEARCH"]}})"));
  EXPECT_EQ(agent["priorityClassName"], "system-node-critical");
  EXPECT_EQ(agent["tolerations"], json::parse(R"([{"operator":"Exists"}])"));
  EXPECT_TRUE(agent["hostPID"].get<bool>());

  // The webhook spreads over zones and hosts, each constraint selecting its own Pods.
  json spread = r.pod_spec("Deployment", "og-webhook")["topologySpreadConstraints"];
  ASSERT_EQ(spread.size(), 2u) << spread;
  EXPECT_EQ(spread[0]["topologyKey"], "topology.kubernetes.io/zone");
  EXPECT_EQ(spread[1]["topologyKey"], "kubernetes.io/hostname");
  for (const json& c : spread) {
    EXPECT_EQ(c["labelSelector"]["matchLabels"], json::parse(R"({"app.kubernetes.io/instance":"og",
                              "app.kubernetes.io/component":"webhook"})"));
  }
  for (const std::string name : {"og-operator", "og-webhook"}) {
    json spec = r.pod_spec("Deployment", name);
    for (const char* absent : {"nodeSelector", "affinity", "tolerations", "priorityClassName"}) {
      EXPECT_FALSE(spec.contains(absent)) << name << " " << absent;
    }
  }
  EXPECT_TRUE(r.all("NetworkPolicy").empty());
  EXPECT_TRUE(r.get("ConfigMap", "og-dashboard").is_null());
}

TEST(ChartTemplate, EachComponentTakesItsOwnPlacementSecurityAndExtras) {
  std::ostringstream values;
  for (const auto& w : kWorkloads) {
    values << w.key << ":\n"
           << "  nodeSelector: {pool: " << w.key << "}\n"
           << "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
              "{nodeSelectorTerms: [{matchExpressions: [{key: arch, operator: In, values: ["
           << w.key << "]}]}]}}}\n"
           << "  tolerations: [{key: dedicated, operator: Equal, value: " << w.key
           << ", effect: NoSchedule}]\n"
           << "  topologySpreadConstraints: [{maxSkew: 2, topologyKey: rack, "
              "whenUnsatisfiable: DoNotSchedule}]\n"
           << "  priorityClassName: prio-" << w.key << "\n"
           << "  podAnnotations: {note: " << w.key << "}\n"
           << "  podLabels: {team: " << w.key << ", app.kubernetes.io/component: not-" << w.key
           << "}\n"
           << "  resources: {requests: {cpu: 7m}, limits: {memory: 77Mi}}\n"
           << "  extraArgs: [--log-level=debug, --extra-" << w.key << "]\n"
           << "  extraEnv: [{name: EXTRA, value: " << w.key << "}]\n"
           << "  podSecurityContext: {fsGroup: 2000}\n"
           << "  securityContext: {readOnlyRootFilesystem: false}\n";
  }
  Rendered r({"-f", values_file("placement", values.str())});
  for (const auto& w : kWorkloads) {
    json workload = r.get(w.kind, w.name);
    ASSERT_FALSE(workload.is_null()) << w.name;
    json spec = workload["spec"]["template"]["spec"];
    json meta = workload["spec"]["template"]["metadata"];
    EXPECT_EQ(spec["nodeSelector"], json({{"pool", w.key}})) << w.name;
    EXPECT_EQ(spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                  ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
              json::array({w.key}))
        << w.name;
    ASSERT_EQ(spec["tolerations"].size(), 1u) << w.name;
    EXPECT_EQ(spec["tolerations"][0]["value"], w.key);
    ASSERT_EQ(spec["topologySpreadConstraints"].size(), 1u) << w.name;
    EXPECT_EQ(spec["topologySpreadConstraints"][0]["topologyKey"], "rack");
    EXPECT_EQ(spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"],
              workload["spec"]["selector"]["matchLabels"]);
    EXPECT_EQ(spec["priorityClassName"], "prio-" + w.key);
    EXPECT_EQ(meta["annotations"]["note"], w.key);
    EXPECT_EQ(meta["labels"]["team"], w.key);
    // podLabels cannot take the Pods out of their own selector.
    EXPECT_EQ(meta["labels"]["app.kubernetes.io/component"], w.key);
    for (const auto& [k, v] : workload["spec"]["selector"]["matchLabels"].items()) {
      EXPECT_EQ(meta["labels"][k], v) << w.name << " " << k;
    }
    json c = spec["containers"][0];
    // Helm merges maps of values: keys not set keep their defaults.
    EXPECT_EQ(c["resources"]["requests"]["cpu"], "7m") << w.name;
    EXPECT_EQ(c["resources"]["limits"]["memory"], "77Mi") << w.name;
    EXPECT_TRUE(c["resources"]["requests"].contains("memory")) << w.name;
    std::vector<std::string> args = strings(c["args"]);
    ASSERT_GE(args.size(), 2u);
    EXPECT_EQ(args[args.size() - 2], "--log-level=debug") << w.name;
    EXPECT_EQ(args.back(), "--extra-" + w.key) << w.name;
    bool env_found = false;
    for (const json& e : c["env"])
      env_found = env_found || (e["name"] == "EXTRA" && e["value"] == w.key);
    EXPECT_TRUE(env_found) << c["env"];
    // Overrides merge into the secure defaults: only the key set changes.
    EXPECT_EQ(spec["securityContext"]["fsGroup"], 2000) << w.name;
    EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], false) << w.name;
    EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false) << w.name;
    EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"})) << w.name;
    if (w.key != "agent") {
      EXPECT_EQ(spec["securityContext"]["runAsUser"], 65532) << w.name;
    }
  }
  // The agent keeps NODE_NAME beside the extra variable.
  EXPECT_EQ(r.pod_spec("DaemonSet", "og-agent")["containers"][0]["env"][0]["name"], "NODE_NAME");
}

TEST(ChartTemplate, KillUnownedAddsKillToAnyCapabilitySet) {
  Rendered r({"--set", "agent.killUnowned=true", "--set",
              "agent.securityContext.capabilities.add={SYS_PTRACE}"});
  json c = r.pod_spec("DaemonSet", "og-agent")["containers"][0];
  EXPECT_EQ(c["securityContext"]["capabilities"]["add"], json::parse(R"(["SYS_PTRACE","KILL"])"));
  EXPECT_TRUE(contains(strings(c["args"]), "--kill-unowned"));
}

std::string image_of(const Rendered& r, const Workload& w) {
  json spec = r.pod_spec(w.kind, w.name);
  return spec.is_null() ? "" : spec["containers"][0].value("image", "");
}

TEST(ChartTemplate, ImagesPerComponentWithDigestWinningOverTag) {
  Rendered defaults;
  EXPECT_EQ(image_of(defaults, kWorkloads[0]), "ghcr.io/orderguard/orderguard-operator:0.1.0");
  EXPECT_EQ(image_of(defaults, kWorkloads[1]), "ghcr.io/orderguard/orderguard-webhook:0.1.0");
  EXPECT_EQ(image_of(defaults, kWorkloads[2]), "ghcr.io/orderguard/orderguard-agent:0.1.0");

  // The chart-wide values callers used before per-component images existed.
  Rendered global({"--set", "image.registry=registry.example/og", "--set", "image.tag=2.0", "--set",
                   "image.pullPolicy=Never", "--set", "imagePullSecrets[0].name=pull"});
  for (const auto& w : kWorkloads) {
    EXPECT_EQ(image_of(global, w), "registry.example/og/orderguard-" + w.key + ":2.0");
    json spec = global.pod_spec(w.kind, w.name);
    EXPECT_EQ(spec["containers"][0]["imagePullPolicy"], "Never") << w.name;
    EXPECT_EQ(spec["imagePullSecrets"], json::parse(R"([{"name":"pull"}])")) << w.name;
  }

  const std::string digest = "sha256:" + std::string(64, 'a');
  Rendered each({"--set", "image.tag=2.0",
                 "--set", "imagePullSecrets[0].name=pull",
                 "--set", "operator.image.registry=mirror.example",
                 "--set", "operator.image.repository=team/op",
                 "--set", "operator.image.tag=3.1",
                 "--set", "operator.image.pullPolicy=Always",
                 "--set", "operator.imagePullSecrets[0].name=op-pull",
                 "--set", "webhook.image.tag=3.2",
                 "--set", "webhook.image.digest=" + digest,
                 "--set", "agent.image.registry=",
                 "--set", "image.registry=",
                 "--set", "agent.image.repository=docker.io/corp/agent"});
  EXPECT_EQ(image_of(each, kWorkloads[0]), "mirror.example/team/op:3.1");
  EXPECT_EQ(image_of(each, kWorkloads[1]), "orderguard-webhook@" + digest);
  EXPECT_EQ(image_of(each, kWorkloads[2]), "docker.io/corp/agent:2.0");
  json op = each.pod_spec("Deployment", "og-operator");
  EXPECT_EQ(op["containers"][0]["imagePullPolicy"], "Always");
  EXPECT_EQ(op["imagePullSecrets"], json::parse(R"([{"name":"pull"},{"name":"op-pull"}])"));
  EXPECT_EQ(each.pod_spec("Deployment", "og-webhook")["containers"][0]["imagePullPolicy"],
            "IfNotPresent");
  // The uninstall Job runs the webhook's image.
  json job = each.get("Job", "og-webhook-cleanup");
  ASSERT_FALSE(job.is_null());
  EXPECT_EQ(job["spec"]["template"]["spec"]["containers"][0]["image"],
            "orderguard-webhook@" + digest);
}

// Every object a release names, for the override tests.
std::set<std::string> names_of(const Rendered& r, const std::vector<std::string>& kinds) {
  std::set<std::string> out;
  for (const auto& k : kinds) {
    for (const json& d : r.all(k)) out.insert(k + "/" + d["metadata"].value("name", ""));
  }
  return out;
}

TEST(ChartTemplate, FullnameOverrideNamesEveryObject) {
  Rendered r({"--set", "fullnameOverride=acme"});
  const std::vector<std::string> kinds = {"ServiceAccount",
                                          "ClusterRole",
                                          "ClusterRoleBinding",
                                          "Role",
                                          "RoleBinding",
                                          "Deployment",
                                          "DaemonSet",
                                          "Service",
                                          "PodDisruptionBudget",
                                          "Job",
                                          "ValidatingWebhookConfiguration",
                                          "ValidatingAdmissionPolicy",
                                          "ValidatingAdmissionPolicyBinding"};
  std::set<std::string> names = names_of(r, kinds);
  ASSERT_GT(names.size(), 20u);
  for (const std::string& n : names) {
    EXPECT_NE(n.find("/acme-"), std::string::npos) << n;
    EXPECT_EQ(n.find("/og-"), std::string::npos) << n;
  }
  EXPECT_FALSE(r.get("ValidatingWebhookConfiguration", "acme-miners").is_null());
  // The admission policies apply to the renamed ServiceAccounts.
  EXPECT_EQ(r.get("ValidatingAdmissionPolicy",
                  "acme-agent-own-node")["spec"]["matchConditions"][0]["expression"],
            "request.userInfo.username == 'system:serviceaccount:orderguard-system:acme-agent'");
  std::vector<std::string> args =
      strings(r.pod_spec("Deployment", "acme-webhook")["containers"][0]["args"]);
  EXPECT_TRUE(contains(args, "--service-name=acme-webhook"));
  EXPECT_TRUE(contains(args, "--webhook-config-name=acme-miners"));
  EXPECT_TRUE(contains(args, "--secret-name=acme-webhook-tls"));
  json vwc = r.get("ValidatingWebhookConfiguration", "acme-miners");
  for (const json& hook : vwc["webhooks"]) {
    EXPECT_EQ(hook["clientConfig"]["service"]["name"], "acme-webhook");
  }
  json rbac = r.get("ClusterRole", "acme-webhook");
  bool own_config = false;
  for (const json& rule : rbac["rules"]) {
    own_config =
        own_config || rule.value("resourceNames", json::array()) == json::array({"acme-miners"});
  }
  EXPECT_TRUE(own_config) << rbac.dump();
  // Selectors stay on the release name: they are immutable on existing workloads.
  EXPECT_EQ(r.get("Deployment",
                  "acme-operator")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
            "og");

  Rendered named({"--set", "nameOverride=guard"});
  EXPECT_FALSE(named.get("Deployment", "og-guard-operator").is_null());
  EXPECT_EQ(
      named.get("Deployment", "og-guard-operator")["metadata"]["labels"]["app.kubernetes.io/name"],
      "guard");

  CommandResult too_long = helm_template({"--set", "nameOverride=" + std::string(50, 'n')});
  EXPECT_FALSE(too_long.ok());
  EXPECT_NE(too_long.err.find("longer than 45 characters"), std::string::npos) << too_long.err;
}

// The parsed CRD files of a directory, by file name.
std::map<std::string, json> crd_files(const std::string& dir) {
  std::map<std::string, json> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    auto docs = kube::read_yaml_file(entry.path().string());
    EXPECT_TRUE(docs.ok() && docs->size() == 1) << entry.path();
    if (docs.ok() && !docs->empty()) out[entry.path().filename().string()] = (*docs)[0];
  }
  return out;
}

// crds/ at the root is the single source; the chart carries copies because a
// chart cannot read files outside its directory. A change to one without the
// other fails here: run `make chart-crds`.
TEST(ChartTemplate, ChartCrdsAreExactCopiesOfTheRepositoryCrds) {
  // Every file, the wgpolicyk8s.io/ directory's included, by its path under the directory.
  auto files = [](const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).string());
    }
    return out;
  };
  std::set<std::string> root = files(kSource + "/crds"), chart = files(kChart + "/files/crds");
  EXPECT_TRUE(root.count("wgpolicyk8s.io/policyreports.yaml")) << "the walk found no subdirectory";
  EXPECT_EQ(root, chart) << "run make chart-crds";
  for (const std::string& name : root) {
    EXPECT_EQ(read_text_file(kSource + "/crds/" + name),
              read_text_file(kChart + "/files/crds/" + name))
        << name << " differs from its chart copy: run make chart-crds";
  }
  EXPECT_FALSE(fs::exists(kChart + "/crds"))
      << "the chart's crds/ is installed once, never upgraded";
}

TEST(ChartTemplate, CrdsAreReleaseObjectsKeptOnUninstall) {
  std::map<std::string, json> source = crd_files(kSource + "/crds");
  // OrderService, CacheTier, ShardSet, MinerPolicy, Quarantine; then the two report CRDs
  // (PolicyReportCrdsAreInstalledOnlyWhereNoneIs).
  ASSERT_EQ(source.size(), 5u);
  Rendered r;
  ASSERT_EQ(r.all("CustomResourceDefinition").size(), source.size() + 2);
  for (const auto& [file, want] : source) {
    json got = r.get("CustomResourceDefinition", want["metadata"]["name"]);
    ASSERT_FALSE(got.is_null()) << file;
    EXPECT_EQ(got["spec"], want["spec"]) << file;
    EXPECT_EQ(got["metadata"]["annotations"]["helm.sh/resource-policy"], "keep") << file;
    EXPECT_EQ(got["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm") << file;
  }
  Rendered not_kept({"--set", "crds.keep=false"});
  for (const json& crd : not_kept.all("CustomResourceDefinition")) {
    if (crd["spec"]["group"] == "wgpolicyk8s.io") continue;
    EXPECT_FALSE(
        crd["metadata"].value("annotations", json::object()).contains("helm.sh/resource-policy"));
  }
  for (const json& crd :
       Rendered({"--set", "crds.install=false"}).all("CustomResourceDefinition")) {
    EXPECT_EQ(crd["spec"]["group"], "wgpolicyk8s.io") << "only policyReports.installCRD's";
  }
}

// The report CRDs are not orderguard's: rendered (always kept, whatever crds.keep says,
// since other products' reports live in them) unless policyReports says otherwise. That an
// existing one of another product is left alone needs a cluster to look it up:
// chart_release_e2e_test.
TEST(ChartTemplate, PolicyReportCrdsAreInstalledOnlyWhereNoneIs) {
  std::map<std::string, json> source = crd_files(kSource + "/crds/wgpolicyk8s.io");
  ASSERT_EQ(source.size(), 2u);
  Rendered r({"--set", "crds.keep=false"});
  for (const auto& [file, want] : source) {
    json got = r.get("CustomResourceDefinition", want["metadata"]["name"]);
    ASSERT_FALSE(got.is_null()) << file;
    EXPECT_EQ(got["spec"], want["spec"]) << file;
    EXPECT_EQ(got["metadata"]["annotations"]["helm.sh/resource-policy"], "keep") << file;
  }
  for (const char* off : {"policyReports.installCRD=false", "policyReports.enabled=false"}) {
    for (const json& crd : Rendered({"--set", off}).all("CustomResourceDefinition")) {
      EXPECT_NE(crd["spec"]["group"], "wgpolicyk8s.io") << off;
    }
  }
}

// The webhook writes reports of its own name only, and none when they are off.
TEST(ChartTemplate, WebhookWritesPolicyReportsOfItsOwnNameOnly) {
  auto report_rules = [](const Rendered& r, const std::string& role) {
    std::vector<json> out;
    const json cluster_role = r.get("ClusterRole", role);  // outlives the loop
    for (const json& rule :
         cluster_role.is_object() ? cluster_role.value("rules", json::array()) : json::array()) {
      if (rule["apiGroups"] == json::array({"wgpolicyk8s.io"})) out.push_back(rule);
    }
    return out;
  };
  Rendered r({"--set", "fullnameOverride=acme"});
  std::vector<json> rules = report_rules(r, "acme-webhook");
  ASSERT_EQ(rules.size(), 2u) << r.get("ClusterRole", "acme-webhook").dump();
  const json resources = json::array({"policyreports", "clusterpolicyreports"});
  EXPECT_EQ(rules[0]["resources"], resources);
  EXPECT_EQ(rules[0]["verbs"], json::array({"list", "create"}));
  EXPECT_FALSE(rules[0].contains("resourceNames"));
  EXPECT_EQ(rules[1]["resources"], resources);
  EXPECT_EQ(rules[1]["verbs"], json::array({"update", "delete"}));
  EXPECT_EQ(rules[1]["resourceNames"], json::array({"acme"}));
  EXPECT_TRUE(contains(strings(r.pod_spec("Deployment", "acme-webhook")["containers"][0]["args"]),
                       "--policy-report-name=acme"));

  Rendered off({"--set", "fullnameOverride=acme", "--set", "policyReports.enabled=false"});
  EXPECT_TRUE(report_rules(off, "acme-webhook").empty());
  EXPECT_TRUE(contains(strings(off.pod_spec("Deployment", "acme-webhook")["containers"][0]["args"]),
                       "--policy-report-name="));
}

// The rules a ClusterRole grants on `resource` of the core group, as verbs.
std::set<std::string> core_verbs(const Rendered& r, const std::string& role,
                                 const std::string& resource) {
  std::set<std::string> out;
  const json cluster_role = r.get("ClusterRole", role);  // outlives the loop
  for (const json& rule :
       cluster_role.is_object() ? cluster_role.value("rules", json::array()) : json::array()) {
    if (rule["apiGroups"] != json::array({""})) continue;
    for (const json& res : rule["resources"]) {
      if (res == resource) {
        for (const json& v : rule["verbs"]) out.insert(v.get<std::string>());
      }
    }
  }
  return out;
}

// `helm template` with default values renders the admission policies that confine the
// agent to its node and the webhook and the operator to their own objects, each bound
// and scoped to its ServiceAccount; admissionPolicies.enabled=false renders none.
// chart_confinement_e2e_test proves what they refuse.
TEST(ChartTemplate, AdmissionPoliciesConfineEachServiceAccountByDefault) {
  Rendered r;
  const std::vector<std::pair<std::string, std::string>> policies = {
      {"og-agent-own-node", "og-agent"},
      {"og-agent-own-node-evictions", "og-agent"},
      {"og-webhook-own-objects", "og-webhook"},
      {"og-operator-own-objects", "og-operator"}};
  ASSERT_EQ(r.all("ValidatingAdmissionPolicy").size(), policies.size());
  ASSERT_EQ(r.all("ValidatingAdmissionPolicyBinding").size(), policies.size());
  for (const auto& [name, sa] : policies) {
    json policy = r.get("ValidatingAdmissionPolicy", name);
    ASSERT_FALSE(policy.is_null()) << name;
    EXPECT_EQ(policy["apiVersion"], "admissionregistration.k8s.io/v1") << name;
    EXPECT_EQ(policy["spec"]["failurePolicy"], "Fail") << name;
    ASSERT_EQ(policy["spec"]["matchConditions"].size(), 1u) << name;
    EXPECT_EQ(policy["spec"]["matchConditions"][0]["expression"],
              "request.userInfo.username == 'system:serviceaccount:orderguard-system:" + sa + "'")
        << name;
    EXPECT_FALSE(policy["spec"]["validations"].empty()) << name;
    json binding = r.get("ValidatingAdmissionPolicyBinding", name);
    ASSERT_FALSE(binding.is_null()) << name;
    EXPECT_EQ(binding["spec"]["policyName"], name);
    EXPECT_EQ(binding["spec"]["validationActions"], json::array({"Deny"})) << name;
  }
  // Every write of the agent's ServiceAccount is matched; evictions take the Pod of
  // the request's namespace as the parameter.
  EXPECT_EQ(r.get("ValidatingAdmissionPolicy",
                  "og-agent-own-node")["spec"]["matchConstraints"]["resourceRules"],
            json::parse(R"([{"apiGroups":["*"],"apiVersions":["*"],"resources":["*/*"],
                             "operations":["CREATE","UPDATE","DELETE"]}])"));
  EXPECT_EQ(r.get("ValidatingAdmissionPolicy", "og-agent-own-node-evictions")["spec"]["paramKind"],
            json::parse(R"({"apiVersion":"v1","kind":"Pod"})"));
  EXPECT_EQ(
      r.get("ValidatingAdmissionPolicyBinding", "og-agent-own-node-evictions")["spec"]["paramRef"],
      json::parse(R"({"selector":{},"parameterNotFoundAction":"Allow"})"));

  // The agent's role: no delete on Pods unless asked for, no patch on Nodes.
  EXPECT_EQ(core_verbs(r, "og-agent", "pods"), (std::set<std::string>{"list", "watch"}));
  EXPECT_EQ(core_verbs(r, "og-agent", "pods/eviction"), (std::set<std::string>{"create"}));
  EXPECT_EQ(core_verbs(r, "og-agent", "nodes"), (std::set<std::string>{"get", "update"}));
  EXPECT_EQ(core_verbs(r, "og-agent", "nodes/status"), (std::set<std::string>{"update"}));
  EXPECT_FALSE(contains(strings(r.pod_spec("DaemonSet", "og-agent")["containers"][0]["args"]),
                        "--delete-on-pdb-block"));
  Rendered deleting({"--set", "agent.deleteOnPdbBlock=true"});
  EXPECT_EQ(core_verbs(deleting, "og-agent", "pods"),
            (std::set<std::string>{"list", "watch", "delete"}));
  EXPECT_TRUE(contains(strings(deleting.pod_spec("DaemonSet", "og-agent")["containers"][0]["args"]),
                       "--delete-on-pdb-block"));

  Rendered off({"--set", "admissionPolicies.enabled=false"});
  EXPECT_TRUE(off.all("ValidatingAdmissionPolicy").empty());
  EXPECT_TRUE(off.all("ValidatingAdmissionPolicyBinding").empty());
  Rendered no_agent({"--set", "agent.enabled=false"});
  EXPECT_TRUE(no_agent.get("ValidatingAdmissionPolicy", "og-agent-own-node").is_null());
  EXPECT_FALSE(no_agent.get("ValidatingAdmissionPolicy", "og-webhook-own-objects").is_null());
}

// Helm maps a release's regular objects to served kinds before creating any:
// while the MinerPolicy CRD is not served (first install) the policy must be a
// hook, and a regular object once it is (every upgrade).
TEST(ChartTemplate, DefaultPolicyIsAHookOnlyUntilItsKindIsServed) {
  json first = Rendered().get("MinerPolicy", "orderguard-default");
  ASSERT_FALSE(first.is_null());
  json a = first["metadata"]["annotations"];
  EXPECT_EQ(a["helm.sh/hook"], "post-install");
  EXPECT_EQ(a["helm.sh/resource-policy"], "keep");
  EXPECT_EQ(a["meta.helm.sh/release-name"], "og");
  EXPECT_EQ(a["meta.helm.sh/release-namespace"], kNs);

  json later = Rendered({"--api-versions", "security.orderguard.io/v1alpha1/MinerPolicy"})
                   .get("MinerPolicy", "orderguard-default");
  ASSERT_FALSE(later.is_null());
  EXPECT_FALSE(later["metadata"]["annotations"].contains("helm.sh/hook"));
  EXPECT_EQ(later["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
  EXPECT_EQ(later["spec"], first["spec"]);
}

TEST(ChartTemplate, UninstallHookRemovesTheWebhookConfigurationAndItsSecret) {
  Rendered r;
  json job = r.get("Job", "og-webhook-cleanup");
  ASSERT_FALSE(job.is_null());
  EXPECT_EQ(job["metadata"]["annotations"]["helm.sh/hook"], "pre-delete");
  json spec = job["spec"]["template"]["spec"];
  EXPECT_EQ(spec["serviceAccountName"], "og-webhook-cleanup");
  EXPECT_EQ(spec["restartPolicy"], "Never");
  EXPECT_EQ(spec["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(spec["containers"][0]["image"], "ghcr.io/orderguard/orderguard-webhook:0.1.0");
  std::vector<std::string> args = strings(spec["containers"][0]["args"]);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "cleanup");
  for (const std::string& want :
       {"--namespace=" + kNs, std::string("--webhook-config-name=og-miners"),
        std::string("--deployment-name=og-webhook"), std::string("--secret-name=og-webhook-tls"),
        std::string(
            "--pod-selector=app.kubernetes.io/instance=og,app.kubernetes.io/component=webhook")}) {
    EXPECT_TRUE(contains(args, want)) << want;
  }
  // Its ServiceAccount and RBAC are hooks that run first and go with it.
  for (const std::string kind :
       {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}) {
    json o = r.get(kind, "og-webhook-cleanup");
    ASSERT_FALSE(o.is_null()) << kind;
    EXPECT_EQ(o["metadata"]["annotations"]["helm.sh/hook"], "pre-delete") << kind;
    EXPECT_EQ(o["metadata"]["annotations"]["helm.sh/hook-weight"], "-10") << kind;
  }
  // The pod it waits for is never its own.
  EXPECT_EQ(spec.contains("topologySpreadConstraints"), false);
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"],
            "webhook-cleanup");

  // A Secret that cert-manager or the user provides is not the webhook's to delete.
  Rendered provided({"--set", "webhook.certificates.mode=provided", "--set",
                     "webhook.certificates.caBundle=Q0EK"});
  json pjob = provided.get("Job", "og-webhook-cleanup");
  ASSERT_FALSE(pjob.is_null());
  for (const std::string& a : strings(pjob["spec"]["template"]["spec"]["containers"][0]["args"])) {
    EXPECT_EQ(a.find("--secret-name"), std::string::npos) << a;
  }
  // A named copy: a range-for over a member of get()'s temporary would read freed memory.
  const json provided_role = provided.get("Role", "og-webhook-cleanup");
  for (const json& rule : provided_role["rules"]) {
    EXPECT_FALSE(contains(strings(rule["resources"]), "secrets")) << rule;
  }
  Rendered off({"--set", "webhook.cleanupOnUninstall=false"});
  EXPECT_TRUE(off.get("Job", "og-webhook-cleanup").is_null());
  EXPECT_TRUE(off.get("ClusterRole", "og-webhook-cleanup").is_null());
}

TEST(ChartTemplate, NetworkPolicyPerComponentBehindAValue) {
  Rendered r({"--set", "operator.networkPolicy.enabled=true", "--set",
              "webhook.networkPolicy.enabled=true", "--set", "agent.networkPolicy.enabled=true",
              "--set",
              "webhook.networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=obs",
              "--set", "agent.networkPolicy.egress[0].ports[0].port=53"});
  const std::map<std::string, std::vector<int>> ports = {
      {"og-operator", {8080}}, {"og-webhook", {8443, 8080}}, {"og-agent", {9090}}};
  ASSERT_EQ(r.all("NetworkPolicy").size(), 3u);
  for (const auto& w : kWorkloads) {
    json np = r.get("NetworkPolicy", w.name);
    ASSERT_FALSE(np.is_null()) << w.name;
    EXPECT_EQ(np["spec"]["podSelector"]["matchLabels"],
              r.get(w.kind, w.name)["spec"]["selector"]["matchLabels"]);
    std::vector<int> got;
    for (const json& rule : np["spec"]["ingress"]) got.push_back(rule["ports"][0]["port"]);
    EXPECT_EQ(got, ports.at(w.name)) << w.name;
  }
  json webhook = r.get("NetworkPolicy", "og-webhook")["spec"];
  EXPECT_FALSE(webhook["ingress"][0].contains("from")) << "the API server's address varies";
  EXPECT_EQ(webhook["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"]["team"], "obs");
  EXPECT_EQ(webhook["policyTypes"], json::array({"Ingress"}));
  json agent = r.get("NetworkPolicy", "og-agent")["spec"];
  EXPECT_EQ(agent["policyTypes"], json::parse(R"(["Ingress","Egress"])"));
  EXPECT_EQ(agent["egress"][0]["ports"][0]["port"], 53);
}

TEST(ChartTemplate, DisruptionBudgetsForOperatorAndWebhook) {
  Rendered r;
  for (const std::string name : {"og-operator", "og-webhook"}) {
    json pdb = r.get("PodDisruptionBudget", name);
    ASSERT_FALSE(pdb.is_null()) << name;
    EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
    EXPECT_EQ(pdb["spec"]["selector"]["matchLabels"],
              r.get("Deployment", name)["spec"]["selector"]["matchLabels"]);
  }
  Rendered off({"--set", "operator.podDisruptionBudget.enabled=false", "--set",
                "webhook.podDisruptionBudget.maxUnavailable=2"});
  EXPECT_TRUE(off.get("PodDisruptionBudget", "og-operator").is_null());
  EXPECT_EQ(off.get("PodDisruptionBudget", "og-webhook")["spec"]["maxUnavailable"], 2);
}

json excluded(const Rendered& r, const std::string& config) {
  json vwc = r.get("ValidatingWebhookConfiguration", config);
  return vwc.is_null() ? json() : vwc["webhooks"][0]["namespaceSelector"]["matchExpressions"][0];
}

TEST(ChartTemplate, WebhookNamespaceExclusionsComeFromValues) {
  Rendered r;
  json e = excluded(r, "og-miners");
  EXPECT_EQ(e["key"], "kubernetes.io/metadata.name");
  EXPECT_EQ(e["operator"], "NotIn");
  EXPECT_EQ(e["values"], json::parse(R"(["kube-system","orderguard-system"])"));
  EXPECT_EQ(r.get("MinerPolicy", "orderguard-default")["spec"]["exemptions"]["namespaces"],
            e["values"]);

  Rendered custom(
      {"--set", "webhook.excludedNamespaces={kube-system,monitoring,orderguard-system}"});
  EXPECT_EQ(excluded(custom, "og-miners")["values"],
            json::parse(R"(["kube-system","monitoring","orderguard-system"])"));
}

TEST(ChartTemplate, DashboardConfigMapForTheGrafanaSidecar) {
  Rendered r({"--set", "metrics.dashboard.enabled=true"});
  json cm = r.get("ConfigMap", "og-dashboard");
  ASSERT_FALSE(cm.is_null());
  EXPECT_EQ(cm["metadata"]["namespace"], kNs);
  EXPECT_EQ(cm["metadata"]["labels"]["grafana_dashboard"], "1");
  json dashboard = json::parse(cm["data"].value("orderguard.json", ""), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded());
  std::set<std::string> variables;
  for (const json& v : dashboard["templating"]["list"]) variables.insert(v["name"]);
  EXPECT_TRUE(variables.count("namespace") && variables.count("job")) << dashboard["templating"];
  // Every query is narrowed by both variables.
  int queries = 0;
  for (const json& panel : dashboard["panels"]) {
    for (const json& t : panel.value("targets", json::array())) {
      const std::string expr = t.value("expr", "");
      ++queries;
      EXPECT_NE(expr.find("namespace=~\"$namespace\""), std::string::npos) << expr;
      EXPECT_NE(expr.find("job=~\"$job\""), std::string::npos) << expr;
    }
  }
  EXPECT_GT(queries, 10);
  EXPECT_EQ(read_text_file(kChart + "/dashboards/orderguard.json"), cm["data"]["orderguard.json"]);

  Rendered elsewhere({"--set", "metrics.dashboard.enabled=true", "--set",
                      "metrics.dashboard.namespace=monitoring", "--set",
                      "metrics.dashboard.labels.grafana_dashboard=orderguard"});
  json moved = elsewhere.get("ConfigMap", "og-dashboard");
  EXPECT_EQ(moved["metadata"]["namespace"], "monitoring");
  EXPECT_EQ(moved["metadata"]["labels"]["grafana_dashboard"], "orderguard");
}

// Chart.yaml's kubeVersion is what --kube-version is checked against.
TEST(ChartTemplate, KubeVersionBelowTheChartsMinimumIsRefused) {
  std::vector<std::string> argv = {helm_path(), "template",       "og",
                                   kChart,      "--kube-version", "1.29.0"};
  const std::string home = testing::TempDir();
  CommandResult r = run_command(argv, {.env = {"HELM_CACHE_HOME=" + home + "/helm-cache",
                                               "HELM_CONFIG_HOME=" + home + "/helm-config",
                                               "HELM_DATA_HOME=" + home + "/helm-data"}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("incompatible with Kubernetes v1.29.0"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace orderguard::e2e
