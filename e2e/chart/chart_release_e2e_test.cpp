// Helm releases of the chart against the real control plane (no node): what
// only a cluster shows. The first install creates the CRDs as release objects
// and the default MinerPolicy as a hook; an upgrade takes the policy over and
// keeps its quarantine entries; a changed CRD reaches the API server on
// `helm upgrade`; a second release with names of its own installs beside the
// first, and colliding ones are refused with a message saying what to set; the
// NOTES state the failurePolicy the configuration has; `helm uninstall` runs
// the cleanup hook before anything else goes.
//
// With no kubelet, the hook Job's Pod is run here as a kubelet would run it:
// its container's arguments, with the webhook binary of this build,
// authenticated as the Job's ServiceAccount; then the Pod is reported
// Succeeded so the Job controller completes the Job and Helm goes on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/base64.h"
#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/support/pods.h"
#include "e2e/support/setup.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "kube/pki.h"

namespace orderguard::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace res = kube::resources;

const std::string kSource = ORDERGUARD_SOURCE_DIR;
const std::string kChart = kSource + "/charts/orderguard";
const std::string kHookNode = "hook-runner";
const kube::Resource kClusterRoles{"rbac.authorization.k8s.io", "v1", "clusterroles", false,
                                   "ClusterRole"};
const kube::Resource kMinerPolicies{"security.orderguard.io", "v1alpha1", "minerpolicies", false,
                                    "MinerPolicy"};
const std::vector<std::string> kCrds = {
    "cachetiers.tiers.orderguard.io", "minerpolicies.security.orderguard.io",
    "orderservices.tiers.orderguard.io", "shardsets.tiers.orderguard.io"};

class ChartRelease : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    admin_ = std::move(e2e::admin_client()).value();
    // The Node the hook Pods are bound to (there is no scheduler or kubelet).
    Status created = e2e::create_node(*admin_, kHookNode);
    ASSERT_TRUE(created.ok()) << created.error().describe();
    // The first release: defaults, as a user installs it, but for the
    // failurePolicy: no webhook answers here, and its configuration covers the
    // second release's namespace. No --wait: without kubelets the workloads
    // never become ready.
    auto installed = install("first", "og-first", {"--set", "webhook.failurePolicy=Ignore"});
    ASSERT_TRUE(installed.ok()) << installed.describe();
    first_install_ = installed;
  }
  static void TearDownTestSuite() { admin_.reset(); }

  static CommandResult install(const std::string& release, const std::string& ns,
                               const std::vector<std::string>& args,
                               const std::string& chart = kChart) {
    std::vector<std::string> argv = {"install", release, chart, "-n", ns, "--create-namespace"};
    argv.insert(argv.end(), args.begin(), args.end());
    return cluster().helm(argv);
  }
  static CommandResult upgrade(const std::string& release, const std::string& ns,
                               const std::vector<std::string>& args,
                               const std::string& chart = kChart) {
    std::vector<std::string> argv = {"upgrade", release, chart, "-n", ns, "--reuse-values"};
    argv.insert(argv.end(), args.begin(), args.end());
    return cluster().helm(argv);
  }

  static json get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    auto o = admin_->get(r, ns, name);
    return o.ok() ? *o : json();
  }
  static bool gone(const kube::Resource& r, const std::string& ns, const std::string& name) {
    return poll_until([&] { return get(r, ns, name).is_null(); }, 60s);
  }

  // The Job's ServiceAccount as a kubeconfig file, for the webhook binary.
  static std::string kubeconfig_for(const std::string& ns, const std::string& sa) {
    auto config = cluster().service_account_config(ns, sa);
    EXPECT_TRUE(config.ok()) << config.error().describe();
    if (!config.ok()) return "";
    json kubeconfig = {
        {"apiVersion", "v1"},
        {"kind", "Config"},
        {"clusters",
         {{{"name", "e2e"},
           {"cluster",
            {{"server", config->server},
             {"certificate-authority-data", base64_encode(config->ca_pem)}}}}}},
        {"users", {{{"name", sa}, {"user", {{"token", config->token}}}}}},
        {"contexts", {{{"name", "e2e"}, {"context", {{"cluster", "e2e"}, {"user", sa}}}}}},
        {"current-context", "e2e"}};
    const std::string path = cluster().work_dir() + "/" + ns + "-" + sa + ".kubeconfig";
    std::ofstream(path) << kubeconfig.dump();  // JSON is YAML
    return path;
  }

  // What the kubelet would do with the cleanup Job's Pod: run its container
  // (the webhook binary of this build with the Pod's arguments, as the Job's
  // ServiceAccount), then report how it ended.
  static CommandResult run_hook_pod(const std::string& ns, const std::string& job) {
    const json pod = e2e::wait_for_first_pod(*admin_, ns, "job-name=" + job, 60s);
    EXPECT_FALSE(pod.is_null()) << "the hook Job made no Pod";
    if (pod.is_null()) return {};
    const json& spec = pod["spec"];
    std::vector<std::string> argv = {ORDERGUARD_WEBHOOK_BINARY};
    for (const json& a : spec["containers"][0]["args"]) argv.push_back(a.get<std::string>());
    argv.push_back("--kubeconfig=" + kubeconfig_for(ns, spec.value("serviceAccountName", "")));
    CommandResult ran = run_command(argv, {.timeout = 2min});
    // A Job retries its Pod: a second run finds everything gone and succeeds too.
    if (ran.ok()) {
      CommandResult again = run_command(argv, {.timeout = 2min});
      EXPECT_TRUE(again.ok()) << again.describe();
      EXPECT_NE(again.err.find("\"deleted\":false"), std::string::npos) << again.err;
    }

    const std::string name = pod["metadata"]["name"];
    Status bound = e2e::bind_pod(*admin_, ns, name, kHookNode);
    EXPECT_TRUE(bound.ok()) << bound.error().describe();
    const bool succeeded = ran.ok();
    json state = {{"terminated",
                   {{"exitCode", ran.exit_code},
                    {"reason", succeeded ? "Completed" : "Error"},
                    {"startedAt", "2026-01-01T00:00:00Z"},
                    {"finishedAt", "2026-01-01T00:00:01Z"}}}};
    json status = {{"status",
                    {{"phase", succeeded ? "Succeeded" : "Failed"},
                     {"containerStatuses", json::array({{{"name", spec["containers"][0]["name"]},
                                                         {"image", spec["containers"][0]["image"]},
                                                         {"imageID", ""},
                                                         {"ready", false},
                                                         {"restartCount", 0},
                                                         {"state", state}}})}}}};
    auto patched = admin_->patch(res::kPods, ns, name, kube::PatchType::kMerge, status, "status");
    EXPECT_TRUE(patched.ok()) << patched.error().describe();
    return ran;
  }

  // `helm uninstall`, with the cleanup hook's Pod run as above. `before_done`
  // runs after the hook's command and before Helm is let go on.
  static void uninstall(
      const std::string& release, const std::string& ns, const std::string& fullname,
      const std::function<void()>& before_done = [] {}) {
    auto helm = std::async(std::launch::async, [&] {
      return cluster().helm({"uninstall", release, "-n", ns, "--timeout", "3m"});
    });
    // Pre-delete: when the Job exists, Helm has deleted nothing yet.
    ASSERT_TRUE(poll_until(
        [&] { return !get(res::kJobs, ns, fullname + "-webhook-cleanup").is_null(); }, 60s))
        << "no cleanup Job";
    EXPECT_FALSE(get(res::kDeployments, ns, fullname + "-operator").is_null());
    CommandResult ran = run_hook_pod(ns, fullname + "-webhook-cleanup");
    EXPECT_TRUE(ran.ok()) << ran.describe() << "\n" << ran.out;
    before_done();
    CommandResult done = helm.get();
    ASSERT_TRUE(done.ok()) << done.describe();
  }

  static inline std::unique_ptr<kube::Client> admin_;
  static inline CommandResult first_install_;
};

TEST_F(ChartRelease, FirstInstallMakesTheCrdsReleaseObjectsAndThePolicyAHook) {
  // No symbolic link, no crds/ directory: Helm has nothing to warn about.
  EXPECT_EQ(first_install_.err.find("WARNING"), std::string::npos) << first_install_.err;
  EXPECT_NE(first_install_.out.find("failurePolicy Ignore"), std::string::npos)
      << first_install_.out;
  for (const auto& name : kCrds) {
    json crd = get(res::kCustomResourceDefinitions, "", name);
    ASSERT_FALSE(crd.is_null()) << name;
    json a = crd["metadata"]["annotations"];
    EXPECT_EQ(a["meta.helm.sh/release-name"], "first") << name;
    EXPECT_EQ(a["meta.helm.sh/release-namespace"], "og-first") << name;
    EXPECT_EQ(a["helm.sh/resource-policy"], "keep") << name;
  }
  json policy = get(kMinerPolicies, "", "orderguard-default");
  ASSERT_FALSE(policy.is_null());
  EXPECT_EQ(policy["spec"]["mode"], "Enforce");
  EXPECT_EQ(policy["spec"]["exemptions"]["namespaces"],
            json::parse(R"(["kube-system","og-first"])"));
  auto hooks = cluster().helm({"get", "hooks", "first", "-n", "og-first"});
  EXPECT_NE(hooks.out.find("kind: MinerPolicy"), std::string::npos) << hooks.out;
  auto manifest = cluster().helm({"get", "manifest", "first", "-n", "og-first"});
  EXPECT_NE(manifest.out.find("kind: CustomResourceDefinition"), std::string::npos);
}

// The NOTES say which failurePolicy the miners webhook has; both come from
// one value, and an upgrade changes both.
TEST_F(ChartRelease, NotesStateTheLiveFailurePolicy) {
  for (const std::string policy : {"Ignore", "Fail"}) {
    if (policy == "Fail") {
      auto upgraded = upgrade("first", "og-first", {"--set", "webhook.failurePolicy=Fail"});
      ASSERT_TRUE(upgraded.ok()) << upgraded.describe();
    }
    json config = get(res::kValidatingWebhookConfigurations, "", "first-miners");
    ASSERT_FALSE(config.is_null());
    EXPECT_EQ(config["webhooks"][0]["name"], "miners.orderguard.io");
    EXPECT_EQ(config["webhooks"][0]["failurePolicy"], policy);
    auto notes = cluster().helm({"get", "notes", "first", "-n", "og-first"});
    ASSERT_TRUE(notes.ok()) << notes.describe();
    EXPECT_NE(notes.out.find("failurePolicy " + policy + " ("), std::string::npos) << notes.out;
    EXPECT_NE(notes.out.find("outside kube-system, og-first are"), std::string::npos) << notes.out;
    for (size_t i = 1; i < config["webhooks"].size(); ++i) {
      EXPECT_EQ(config["webhooks"][i]["failurePolicy"], "Ignore");  // "always fail open"
    }
  }
  auto back = upgrade("first", "og-first", {"--set", "webhook.failurePolicy=Ignore"});
  ASSERT_TRUE(back.ok()) << back.describe();
}

// The upgrade after the first install renders the policy as a regular object:
// Helm takes over the hook-made one, and the quarantine entries the agent
// added survive a change of the chart's fields.
TEST_F(ChartRelease, UpgradeTakesThePolicyOverAndKeepsItsQuarantine) {
  json entry = {{"scope", "Workload"},
                {"namespace", "apps"},
                {"workload", {{"kind", "Deployment"}, {"name", "shell"}}},
                {"reason", "stratum-url"},
                {"time", "2026-01-01T00:00:00Z"}};
  auto patched = admin_->patch(kMinerPolicies, "", "orderguard-default", kube::PatchType::kMerge,
                               {{"spec", {{"quarantine", json::array({entry})}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().describe();

  auto upgraded = upgrade("first", "og-first", {"--set", "defaultPolicy.mode=Audit"});
  ASSERT_TRUE(upgraded.ok()) << upgraded.describe();
  json policy = get(kMinerPolicies, "", "orderguard-default");
  EXPECT_EQ(policy["spec"]["mode"], "Audit");
  ASSERT_EQ(policy["spec"].value("quarantine", json::array()).size(), 1u) << policy["spec"];
  EXPECT_EQ(policy["spec"]["quarantine"][0]["workload"]["name"], "shell");
  auto manifest = cluster().helm({"get", "manifest", "first", "-n", "og-first"});
  EXPECT_NE(manifest.out.find("kind: MinerPolicy"), std::string::npos) << "not taken over";

  auto back = upgrade("first", "og-first", {"--set", "defaultPolicy.mode=Enforce"});
  ASSERT_TRUE(back.ok()) << back.describe();
  EXPECT_EQ(get(kMinerPolicies, "", "orderguard-default")["spec"]["quarantine"].size(), 1u);
}

TEST_F(ChartRelease, HelmUpgradeAppliesAChangedCrd) {
  // The chart of a later version: the same, with one more short name for MinerPolicy.
  const std::string chart = cluster().work_dir() + "/chart-next/orderguard";
  fs::create_directories(fs::path(chart).parent_path());
  fs::copy(kChart, chart, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  const std::string crd_file = chart + "/files/crds/minerpolicies.yaml";
  std::string text = read_text_file(crd_file);
  const std::string from = "shortNames: [mpol]";
  ASSERT_NE(text.find(from), std::string::npos) << "the test's edit no longer applies";
  text.replace(text.find(from), from.size(), "shortNames: [mpol, mpolnext]");
  std::ofstream(crd_file) << text;

  auto short_names = [] {
    return get(res::kCustomResourceDefinitions, "",
               "minerpolicies.security.orderguard.io")["spec"]["names"]
        .value("shortNames", json::array());
  };
  ASSERT_EQ(short_names(), json::array({"mpol"}));
  auto upgraded = upgrade("first", "og-first", {}, chart);
  ASSERT_TRUE(upgraded.ok()) << upgraded.describe();
  EXPECT_EQ(short_names(), json::parse(R"(["mpol","mpolnext"])"));
  EXPECT_EQ(upgraded.err.find("WARNING"), std::string::npos) << upgraded.err;
  // And back: a field the chart dropped is dropped from the CRD.
  auto back = upgrade("first", "og-first", {});
  ASSERT_TRUE(back.ok()) << back.describe();
  EXPECT_EQ(short_names(), json::array({"mpol"}));
}

// The PolicyReport CRDs are installed where none is; one another product owns (Kyverno's
// Helm release, here made so by its annotations) is left as it is by an upgrade: not taken
// over, not changed, and not deleted although it left the release.
TEST_F(ChartRelease, APolicyReportCrdOfAnotherProductIsLeftAlone) {
  const std::string name = "policyreports.wgpolicyk8s.io";
  json crd = get(res::kCustomResourceDefinitions, "", name);
  ASSERT_FALSE(crd.is_null()) << "the first install made none";
  EXPECT_EQ(crd["metadata"]["annotations"]["meta.helm.sh/release-name"], "first");
  EXPECT_EQ(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");

  // Kyverno's now, with a short name of its own.
  ASSERT_TRUE(
      cluster()
          .kubectl({"annotate", "--overwrite", "crd", name, "meta.helm.sh/release-name=kyverno",
                    "meta.helm.sh/release-namespace=kyverno"})
          .ok());
  ASSERT_TRUE(cluster()
                  .kubectl({"patch", "crd", name, "--type=json", "-p",
                            R"([{"op":"add","path":"/spec/names/shortNames/-","value":"kpolr"}])"})
                  .ok());
  auto upgraded = upgrade("first", "og-first", {});
  ASSERT_TRUE(upgraded.ok()) << upgraded.describe();
  crd = get(res::kCustomResourceDefinitions, "", name);
  ASSERT_FALSE(crd.is_null()) << "deleted when it left the release";
  EXPECT_EQ(crd["metadata"]["annotations"]["meta.helm.sh/release-name"], "kyverno");
  EXPECT_EQ(crd["spec"]["names"]["shortNames"], json::parse(R"(["polr","kpolr"])"));
  auto manifest = cluster().helm({"get", "manifest", "first", "-n", "og-first"});
  EXPECT_EQ(manifest.out.find("name: " + name), std::string::npos) << "taken over";
  EXPECT_NE(manifest.out.find("name: clusterpolicyreports.wgpolicyk8s.io"), std::string::npos)
      << "the other one is still the release's";

  // Handed back (README: the annotations), the next upgrade owns it again.
  ASSERT_TRUE(
      cluster()
          .kubectl({"annotate", "--overwrite", "crd", name, "meta.helm.sh/release-name=first",
                    "meta.helm.sh/release-namespace=og-first"})
          .ok());
  auto back = upgrade("first", "og-first", {});
  ASSERT_TRUE(back.ok()) << back.describe();
  EXPECT_EQ(get(res::kCustomResourceDefinitions, "", name)["spec"]["names"]["shortNames"],
            json::array({"polr"}));
}

TEST_F(ChartRelease, ASecondReleaseNeedsNamesOfItsOwn) {
  // Defaults again: the CRDs belong to the first release.
  auto crds = install("third", "og-third", {});
  ASSERT_FALSE(crds.ok());
  EXPECT_NE(crds.err.find("belongs to Helm release first in namespace og-first"), std::string::npos)
      << crds.err;
  EXPECT_NE(crds.err.find("crds.install=false"), std::string::npos) << crds.err;
  // Without the CRDs: the default MinerPolicy is the first release's.
  auto policy = install("third", "og-third", {"--set", "crds.install=false"});
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.err.find("MinerPolicy orderguard-default belongs to Helm release first"),
            std::string::npos)
      << policy.err;
  EXPECT_NE(policy.err.find("defaultPolicy.name"), std::string::npos) << policy.err;
  // The same release name in another namespace: the cluster-scoped names collide.
  auto names = install("first", "og-third",
                       {"--set", "crds.install=false", "--set", "defaultPolicy.create=false"});
  ASSERT_FALSE(names.ok());
  EXPECT_NE(names.err.find("belongs to Helm release first in namespace og-first"),
            std::string::npos)
      << names.err;
  EXPECT_NE(names.err.find("fullnameOverride"), std::string::npos) << names.err;
  // Nothing of the refused installs was created.
  EXPECT_TRUE(get(res::kServiceAccounts, "og-third", "third-operator").is_null());

  // With names of its own it installs beside the first.
  auto second =
      install("second", "og-second",
              {"--set", "fullnameOverride=og-second", "--set", "crds.install=false", "--set",
               "webhook.failurePolicy=Ignore", "--set", "defaultPolicy.name=og-second-policy"});
  ASSERT_TRUE(second.ok()) << second.describe();
  for (const std::string prefix : {"first", "og-second"}) {
    for (const std::string component : {"operator", "webhook", "agent"}) {
      EXPECT_FALSE(get(kClusterRoles, "", prefix + "-" + component).is_null())
          << prefix << "-" << component;
    }
    EXPECT_FALSE(get(res::kValidatingWebhookConfigurations, "", prefix + "-miners").is_null());
  }
  EXPECT_FALSE(get(kMinerPolicies, "", "og-second-policy").is_null());
  EXPECT_EQ(get(kMinerPolicies, "",
                "orderguard-default")["metadata"]["annotations"]["meta.helm.sh/release-name"],
            "first");
}

// The cleanup stops at the first refusal, before it removes anything else:
// Helm then fails the uninstall with the webhook still running.
TEST_F(ChartRelease, CleanupWithoutTheRightsChangesNothingAndFails) {
  const std::string kubeconfig = kubeconfig_for("og-second", "nobody");
  ASSERT_FALSE(kubeconfig.empty());
  CommandResult refused =
      run_command({ORDERGUARD_WEBHOOK_BINARY, "cleanup", "--kubeconfig=" + kubeconfig,
                   "--namespace=og-second", "--webhook-config-name=og-second-miners",
                   "--deployment-name=og-second-webhook", "--secret-name=og-second-webhook-tls"});
  EXPECT_EQ(refused.exit_code, 1) << refused.describe();
  EXPECT_NE(refused.err.find("Forbidden"), std::string::npos) << refused.err;
  EXPECT_FALSE(get(res::kValidatingWebhookConfigurations, "", "og-second-miners").is_null());
  EXPECT_FALSE(get(res::kDeployments, "og-second", "og-second-webhook").is_null());
}

TEST_F(ChartRelease, UninstallRemovesTheWebhookConfigurationAndSecretFirst) {
  ASSERT_FALSE(get(res::kDeployments, "og-second", "og-second-webhook").is_null())
      << "needs the second release";
  // The Secret the running webhook would have made (self-managed certificates).
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "og-second-webhook-tls"}, {"namespace", "og-second"}}},
                 {"stringData", {{"tls.crt", "x"}, {"tls.key", "y"}}}};
  ASSERT_TRUE(admin_->create(res::kSecrets, "og-second", secret).ok());

  uninstall("second", "og-second", "og-second", [] {
    // The hook ran while the rest of the release still stood.
    EXPECT_TRUE(get(res::kValidatingWebhookConfigurations, "", "og-second-miners").is_null());
    EXPECT_TRUE(get(res::kSecrets, "og-second", "og-second-webhook-tls").is_null());
    EXPECT_TRUE(get(res::kDeployments, "og-second", "og-second-webhook").is_null());
    EXPECT_FALSE(get(kClusterRoles, "", "og-second-operator").is_null());
  });
  EXPECT_TRUE(gone(kClusterRoles, "", "og-second-operator"));
  EXPECT_TRUE(gone(res::kDeployments, "og-second", "og-second-operator"));
  // The hook's own objects went with it (hook-succeeded).
  EXPECT_TRUE(gone(res::kJobs, "og-second", "og-second-webhook-cleanup"));
  EXPECT_TRUE(gone(kClusterRoles, "", "og-second-webhook-cleanup"));
  EXPECT_TRUE(gone(res::kServiceAccounts, "og-second", "og-second-webhook-cleanup"));
  // Kept on purpose: its MinerPolicy (quarantine entries). The first release is untouched.
  EXPECT_FALSE(get(kMinerPolicies, "", "og-second-policy").is_null());
  EXPECT_FALSE(get(res::kValidatingWebhookConfigurations, "", "first-miners").is_null());
}

TEST_F(ChartRelease, UninstallKeepsTheCrdsAndPolicyAndAReinstallTakesThemBack) {
  uninstall("first", "og-first", "first");
  EXPECT_TRUE(gone(res::kValidatingWebhookConfigurations, "", "first-miners"));
  EXPECT_TRUE(gone(kClusterRoles, "", "first-webhook"));
  for (const auto& name : kCrds) {
    EXPECT_FALSE(get(res::kCustomResourceDefinitions, "", name).is_null()) << name;
  }
  ASSERT_FALSE(get(kMinerPolicies, "", "orderguard-default").is_null());

  // The same release again adopts what it kept, quarantine entries included.
  auto again = install("first", "og-first", {"--set", "webhook.failurePolicy=Ignore"});
  ASSERT_TRUE(again.ok()) << again.describe();
  EXPECT_EQ(get(kMinerPolicies, "", "orderguard-default")["spec"]["quarantine"].size(), 1u);
  auto manifest = cluster().helm({"get", "manifest", "first", "-n", "og-first"});
  EXPECT_NE(manifest.out.find("kind: MinerPolicy"), std::string::npos);
}

}  // namespace
}  // namespace orderguard::e2e

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
