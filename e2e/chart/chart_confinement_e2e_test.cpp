// What a stolen token can do, against the real API server with the chart's RBAC and
// admission policies (admission-policies.yaml) installed by `helm install`.
//
// The agent's token is the one a miner with root on a node can read. Here node A and
// node B are Node objects; the "agent on node A" is a Pod object bound to node A
// (spec.nodeName, no kubelet needed) running as the agent's ServiceAccount, and its
// token is a TokenRequest bound to that Pod: the API server puts the Pod's node into
// the token's user (authentication.kubernetes.io/node-name), exactly as for the token
// the kubelet mounts. With it the agent still does its job on node A and is refused,
// with the policy's message, everything on node B and everything that would switch
// orderguard off. docs/SECURITY.md cites these tests line by line.
//
// No webhook runs here: its configuration is deleted after the install, so what
// refuses is RBAC or the API server's own admission policies, nothing else.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/support/setup.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "webhook/policy_report.h"
#include "webhook/server.h"

namespace orderguard {
namespace {

using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

const std::string kSource = ORDERGUARD_SOURCE_DIR;
const std::string kNs = "orderguard-system";
const std::string kApps = "apps";
const std::string kAgentSa = "og-agent";
const std::string kWebhookSa = "og-webhook";
const std::string kOperatorSa = "og-operator";
const std::string kNodeA = "node-a";
const std::string kNodeB = "node-b";
const std::string kAgentPodA = "og-agent-a";  // "the agent on node A"
const std::string kAgentPodB = "og-agent-b";
const std::string kDefaultPolicy = "orderguard-default";
const std::string kAgentPolicy = "og-agent-own-node";
const std::string kEvictionPolicy = "og-agent-own-node-evictions";
const std::string kWebhookPolicy = "og-webhook-own-objects";
const std::string kOperatorPolicy = "og-operator-own-objects";

json pod(const std::string& ns, const std::string& name, const std::string& node,
         const std::string& sa = "") {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "nginx:1.27"}}})}}}};
  if (!node.empty()) p["spec"]["nodeName"] = node;
  if (!sa.empty()) p["spec"]["serviceAccountName"] = sa;
  return p;
}

json quarantine(const std::string& name, const std::string& node, const std::string& created_by) {
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "Quarantine"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"scope", "Image"},
            {"namespace", kApps},
            {"image", "docker.io/miner/xmrig:" + name},
            {"reason", "set by the test"},
            {"nodeName", node},
            {"createdBy", created_by}}}};
}

json event(const std::string& instance) {
  return {{"apiVersion", "events.k8s.io/v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", "probe-"}, {"namespace", kApps}}},
          {"eventTime", "2026-01-01T00:00:00.000000Z"},
          {"reportingController", "orderguard.io/agent"},
          {"reportingInstance", instance},
          {"action", "Evict"},
          {"reason", "MinerDetected"},
          {"note", "set by the test"},
          {"type", "Warning"},
          {"regarding",
           {{"apiVersion", "v1"}, {"kind", "Pod"}, {"namespace", kApps}, {"name", "victim-a"}}}};
}

// A refusal by a chart admission policy: 403, the policy named (empty: any of the
// chart's, when two refuse the same request), and its message.
template <typename R>
void expect_policy_refusal(const R& result, const std::string& policy, const std::string& message,
                           const std::string& what) {
  ASSERT_FALSE(result.ok()) << what << " was allowed";
  EXPECT_EQ(result.error().http_status, 403) << what << ": " << result.error().describe();
  if (!policy.empty()) {
    EXPECT_NE(result.error().message.find("ValidatingAdmissionPolicy '" + policy + "'"),
              std::string::npos)
        << what << ": " << result.error().message;
  }
  EXPECT_NE(result.error().message.find(message), std::string::npos)
      << what << ": " << result.error().message;
}

// A refusal by RBAC: 403 naming the ServiceAccount (before any admission runs).
template <typename R>
void expect_rbac_refusal(const R& result, const std::string& sa, const std::string& what) {
  ASSERT_FALSE(result.ok()) << what << " was allowed";
  EXPECT_EQ(result.error().http_status, 403) << what << ": " << result.error().describe();
  EXPECT_NE(result.error().message.find("User \"system:serviceaccount:" + kNs + ":" + sa + "\""),
            std::string::npos)
      << what << ": " << result.error().message;
}

template <typename R>
void expect_ok(const R& result, const std::string& what) {
  EXPECT_TRUE(result.ok()) << what << ": " << result.error().describe();
}

class ChartConfinementE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    admin_ = std::move(e2e::admin_client()).value();
    // agent.deleteOnPdbBlock grants delete on Pods: the policy has to confine it.
    auto installed = cluster().helm({"install", "og", kSource + "/charts/orderguard", "-n", kNs,
                                     "--create-namespace", "--set", "webhook.failurePolicy=Ignore",
                                     "--set", "agent.deleteOnPdbBlock=true"});
    ASSERT_TRUE(installed.ok()) << installed.describe();
    auto established = cluster().kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                                          "crd/minerpolicies.security.orderguard.io",
                                          "crd/quarantines.security.orderguard.io",
                                          "crd/policyreports.wgpolicyk8s.io"});
    ASSERT_TRUE(established.ok()) << established.describe();
    // No webhook serves it here (its Service has no endpoints).
    ASSERT_TRUE(admin_->remove(res::kValidatingWebhookConfigurations, "", "og-miners").ok());

    ASSERT_TRUE(cluster().kubectl({"create", "namespace", kApps}).ok());
    for (const std::string& node : {kNodeA, kNodeB}) {
      Status created = e2e::create_node(*admin_, node);
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }
    ASSERT_TRUE(
        poll_until([] { return admin_->get(res::kServiceAccounts, kApps, "default").ok(); }, 60s));
    for (const auto& [name, node] :
         std::vector<std::pair<std::string, std::string>>{{"victim-a", kNodeA},
                                                          {"victim-b", kNodeB},
                                                          {"doomed-a", kNodeA},
                                                          {"doomed-b", kNodeB},
                                                          {"pending", ""}}) {
      auto created = admin_->create(res::kPods, kApps, pod(kApps, name, node));
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }
    for (const auto& [name, node] : std::vector<std::pair<std::string, std::string>>{
             {kAgentPodA, kNodeA}, {kAgentPodB, kNodeB}, {"og-agent-unscheduled", ""}}) {
      auto created = admin_->create(res::kPods, kNs, pod(kNs, name, node, kAgentSa));
      ASSERT_TRUE(created.ok()) << created.error().describe();
    }
    agent_a_ = bound_client(kAgentPodA);
    agent_b_ = bound_client(kAgentPodB);
    agent_unscheduled_ = bound_client("og-agent-unscheduled");
    agent_unbound_ = client(cluster().service_account_config(kNs, kAgentSa));
    webhook_ = client(cluster().service_account_config(kNs, kWebhookSa));
    operator_ = client(cluster().service_account_config(kNs, kOperatorSa));
    ASSERT_TRUE(agent_a_ && agent_b_ && agent_unscheduled_ && agent_unbound_ && webhook_ &&
                operator_);

    // The API server loads new policies and bindings (and the Pods cache behind the
    // eviction policy's parameters) asynchronously: wait until each one refuses.
    const auto refuses = [](const auto& attempt, const std::string& policy) {
      return poll_until(
          [&] {
            auto r = attempt();
            return !r.ok() && r.error().message.find("'" + policy + "'") != std::string::npos;
          },
          60s);
    };
    kube::DeleteOptions dry;
    dry.dry_run = true;
    ASSERT_TRUE(refuses([&] { return agent_a_->evict(kApps, "victim-b", dry); }, kEvictionPolicy))
        << "the eviction policy never refused";
    ASSERT_TRUE(
        refuses([&] { return agent_a_->remove(res::kPods, kApps, "doomed-b", dry); }, kAgentPolicy))
        << "the agent policy never refused";
    ASSERT_TRUE(refuses(
        [&] {
          return webhook_->raw("POST", "/api/v1/namespaces/" + kNs + "/secrets?dryRun=All",
                               &secret_probe());
        },
        kWebhookPolicy))
        << "the webhook policy never refused";
    ASSERT_TRUE(refuses(
        [&] {
          return operator_->raw("POST", "/api/v1/namespaces/" + kApps + "/configmaps?dryRun=All",
                                &config_map_probe());
        },
        kOperatorPolicy))
        << "the operator policy never refused";
  }

  static void TearDownTestSuite() {
    for (auto* c : {&admin_, &agent_a_, &agent_b_, &agent_unscheduled_, &agent_unbound_, &webhook_,
                    &operator_}) {
      c->reset();
    }
  }

  static const json& secret_probe() {
    static const json s = {{"apiVersion", "v1"},
                           {"kind", "Secret"},
                           {"metadata", {{"name", "planted"}}},
                           {"stringData", {{"k", "v"}}}};
    return s;
  }
  static const json& config_map_probe() {
    static const json c = {{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", {{"name", "planted"}}},
                           {"data", {{"k", "v"}}}};
    return c;
  }

  static std::unique_ptr<kube::Client> client(Result<kube::Config> config) {
    EXPECT_TRUE(config.ok()) << config.error().describe();
    if (!config.ok()) return nullptr;
    auto made = kube::make_client(*config);
    EXPECT_TRUE(made.ok()) << made.error().describe();
    return made.ok() ? std::move(made).value() : nullptr;
  }
  static std::unique_ptr<kube::Client> bound_client(const std::string& agent_pod) {
    return client(cluster().pod_bound_service_account_config(kNs, kAgentSa, agent_pod));
  }

  static json get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    auto obj = admin_->get(r, ns, name);
    return obj.ok() ? *obj : json();
  }

  // What the agent does to mark a Node (agent/responder.cpp): read it, edit, update,
  // again on a conflict (the node lifecycle controller writes these Nodes too, as no
  // kubelet reports for them).
  static Result<json> update_node(kube::Client& c, const std::string& node, bool status,
                                  const std::function<void(json&)>& edit) {
    for (int attempt = 0;; ++attempt) {
      auto n = c.get(res::kNodes, "", node);
      if (!n.ok()) return n.error();
      json obj = *n;
      edit(obj);
      auto updated = c.update(res::kNodes, "", obj, status ? "status" : "");
      if (updated.ok() || updated.error().code != ErrorCode::kConflict || attempt == 10) {
        return updated;
      }
    }
  }
  static Result<json> taint(kube::Client& c, const std::string& node) {
    return update_node(c, node, false, [](json& obj) {
      obj["spec"]["taints"].push_back({{"key", "orderguard.io/miner-compromised"},
                                       {"value", "true"},
                                       {"effect", "NoSchedule"}});
    });
  }
  static Result<json> set_condition(kube::Client& c, const std::string& node) {
    return update_node(c, node, true, [](json& obj) {
      obj["status"]["conditions"].push_back({{"type", "MinerCompromised"},
                                             {"status", "True"},
                                             {"reason", "MinerFindings"},
                                             {"message", "set by the test"}});
    });
  }
  static bool marked(const std::string& node) {
    json n = get(res::kNodes, "", node);
    bool tainted = false, condition = false;
    for (const json& t : n["spec"].value("taints", json::array()))
      tainted = tainted || t.value("key", "") == "orderguard.io/miner-compromised";
    for (const json& c : n["status"].value("conditions", json::array()))
      condition = condition || c.value("type", "") == "MinerCompromised";
    return tainted || condition;
  }

  static inline std::unique_ptr<kube::Client> admin_;
  static inline std::unique_ptr<kube::Client> agent_a_;
  static inline std::unique_ptr<kube::Client> agent_b_;
  static inline std::unique_ptr<kube::Client> agent_unscheduled_;
  static inline std::unique_ptr<kube::Client> agent_unbound_;
  static inline std::unique_ptr<kube::Client> webhook_;
  static inline std::unique_ptr<kube::Client> operator_;
};

// The API server type-checks each policy's CEL against the kinds it matches (the schema
// of a CRD included) and reports what does not fit in status.typeChecking: a misspelt
// field would otherwise only show as a refusal at the worst moment.
TEST_F(ChartConfinementE2E, ThePoliciesTypeCheckWithoutWarnings) {
  const kube::Resource policies{"admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
                                false, "ValidatingAdmissionPolicy"};
  for (const std::string& name : {kAgentPolicy, kEvictionPolicy, kWebhookPolicy, kOperatorPolicy}) {
    json policy;
    ASSERT_TRUE(poll_until(
        [&] {
          policy = get(policies, "", name);
          return !policy.is_null() && policy.contains("status") &&
                 policy["status"].value("observedGeneration", int64_t{0}) ==
                     policy["metadata"]["generation"].get<int64_t>();
        },
        60s))
        << name << " was never type-checked: " << policy.dump();
    EXPECT_TRUE(policy["status"]
                    .value("typeChecking", json::object())
                    .value("expressionWarnings", json::array())
                    .empty())
        << name << ": " << policy["status"].dump();
  }
}

// The mechanism the policies rest on: the API server puts the node of the Pod a token
// is bound to into the token's user. A token bound to an unscheduled Pod has none.
TEST_F(ChartConfinementE2E, APodBoundTokenCarriesItsPodAndNode) {
  json review = {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}};
  auto who = agent_a_->raw("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", &review);
  ASSERT_TRUE(who.ok()) << who.error().describe();
  const json& user = (*who)["status"]["userInfo"];
  EXPECT_EQ(user["username"], "system:serviceaccount:" + kNs + ":" + kAgentSa);
  EXPECT_EQ(user["extra"]["authentication.kubernetes.io/node-name"], json::array({kNodeA}))
      << user.dump();
  EXPECT_EQ(user["extra"]["authentication.kubernetes.io/pod-name"], json::array({kAgentPodA}))
      << user.dump();
}

// The agent's job on its own node: evict a Pod there, delete one (deleteOnPdbBlock),
// taint the Node and set its condition, record a Quarantine and an Event.
TEST_F(ChartConfinementE2E, AgentDoesItsJobOnItsOwnNode) {
  expect_ok(agent_a_->evict(kApps, "victim-a"), "evict a Pod on node A");
  EXPECT_TRUE(get(res::kPods, kApps, "victim-a")["metadata"].contains("deletionTimestamp"));
  expect_ok(agent_a_->remove(res::kPods, kApps, "doomed-a"), "delete a Pod on node A");
  EXPECT_TRUE(get(res::kPods, kApps, "doomed-a")["metadata"].contains("deletionTimestamp"));

  expect_ok(taint(*agent_a_, kNodeA), "taint node A");
  expect_ok(set_condition(*agent_a_, kNodeA), "set node A's condition");
  EXPECT_TRUE(marked(kNodeA)) << get(res::kNodes, "", kNodeA).dump();

  expect_ok(agent_a_->create(webhook::kQuarantines, "", quarantine("image.a", kNodeA, kAgentPodA)),
            "create a Quarantine for node A");
  EXPECT_EQ(get(webhook::kQuarantines, "", "image.a")["spec"]["nodeName"], kNodeA);
  expect_ok(agent_a_->create(res::kEvents, kApps, event(kNodeA)), "record an Event as node A");
}

// Everything the agent may do, but on node B: refused by the policies, with their message.
TEST_F(ChartConfinementE2E, AgentOfNodeACannotTouchNodeB) {
  expect_policy_refusal(agent_a_->evict(kApps, "victim-b"), kEvictionPolicy,
                        "may evict only Pods bound to that node; apps/victim-b is on node node-b",
                        "evict a Pod on node B");
  expect_policy_refusal(agent_a_->evict(kApps, "pending"), kEvictionPolicy,
                        "apps/pending is on no node", "evict a Pod bound to no node");
  expect_policy_refusal(agent_a_->remove(res::kPods, kApps, "doomed-b"), kAgentPolicy,
                        "may delete only Pods bound to that node; apps/doomed-b is on node node-b",
                        "delete a Pod on node B");
  EXPECT_FALSE(get(res::kPods, kApps, "victim-b")["metadata"].contains("deletionTimestamp"));
  EXPECT_FALSE(get(res::kPods, kApps, "doomed-b")["metadata"].contains("deletionTimestamp"));

  expect_policy_refusal(taint(*agent_a_, kNodeB), kAgentPolicy,
                        "may change only its own Node, not node-b", "taint node B");
  expect_policy_refusal(set_condition(*agent_a_, kNodeB), kAgentPolicy,
                        "may change only its own Node, not node-b", "set node B's status");
  // Patch is not even in its role (the agent updates what it read).
  expect_rbac_refusal(agent_a_->patch(res::kNodes, "", kNodeB, kube::PatchType::kMerge,
                                      {{"spec", {{"unschedulable", true}}}}),
                      kAgentSa, "patch node B");
  EXPECT_FALSE(marked(kNodeB)) << get(res::kNodes, "", kNodeB).dump();
  EXPECT_FALSE(get(res::kNodes, "", kNodeB)["spec"].contains("unschedulable"));

  expect_policy_refusal(
      agent_a_->create(webhook::kQuarantines, "", quarantine("image.b", kNodeB, kAgentPodA)),
      kAgentPolicy, "may create only Quarantines with spec.nodeName node-a",
      "create a Quarantine naming node B");
  expect_policy_refusal(
      agent_a_->create(webhook::kQuarantines, "", quarantine("image.as-b", kNodeA, kAgentPodB)),
      kAgentPolicy, "and createdBy og-agent-b", "create a Quarantine as another agent's Pod");
  json no_node = quarantine("image.nowhere", kNodeA, kAgentPodA);
  no_node["spec"].erase("nodeName");
  expect_policy_refusal(agent_a_->create(webhook::kQuarantines, "", no_node), kAgentPolicy,
                        "this one has nodeName (none)", "create a Quarantine naming no node");
  expect_policy_refusal(agent_a_->create(res::kEvents, kApps, event(kNodeB)), kAgentPolicy,
                        "may write only Events with reportingController orderguard.io/agent and "
                        "reportingInstance node-a",
                        "record an Event as node B");
}

// Switching orderguard off: MinerPolicies and other agents' Quarantines. RBAC refuses
// first; with the agent's roles widened (an aggregated role, a careless binding) the
// policy still refuses, with its message.
TEST_F(ChartConfinementE2E, AgentCannotChangePoliciesOrOtherAgentsQuarantines) {
  expect_ok(agent_b_->create(webhook::kQuarantines, "", quarantine("image.b", kNodeB, kAgentPodB)),
            "agent B records its Quarantine");
  json policy = get(webhook::kMinerPolicies, "", kDefaultPolicy);
  ASSERT_FALSE(policy.is_null());
  json audit = policy;
  audit["spec"]["mode"] = "Audit";
  const json exempt = {{"spec", {{"exemptions", {{"namespaces", json::array({kApps})}}}}}};

  auto attempts = [&](const std::function<void(const Status&, const std::string&)>& check) {
    auto status = [](const auto& r) -> Status {
      if (r.ok()) return {};
      return r.error();
    };
    check(status(agent_a_->update(webhook::kMinerPolicies, "", audit)),
          "set a MinerPolicy to Audit");
    check(status(agent_a_->patch(webhook::kMinerPolicies, "", kDefaultPolicy,
                                 kube::PatchType::kMerge, exempt)),
          "exempt a namespace in a MinerPolicy");
    check(agent_a_->remove(webhook::kMinerPolicies, "", kDefaultPolicy), "delete a MinerPolicy");
    check(agent_a_->remove(webhook::kQuarantines, "", "image.b"), "delete agent B's Quarantine");
    check(status(agent_a_->patch(webhook::kQuarantines, "", "image.b", kube::PatchType::kMerge,
                                 {{"spec", {{"expiresAt", "2000-01-01T00:00:00Z"}}}})),
          "expire agent B's Quarantine");
    check(status(agent_a_->patch(res::kNodes, "", kNodeB, kube::PatchType::kMerge,
                                 {{"spec", {{"unschedulable", true}}}})),
          "patch node B");
    check(status(agent_a_->create(res::kSecrets, kNs, secret_probe())), "create a Secret");
  };
  attempts(
      [](const Status& s, const std::string& what) { expect_rbac_refusal(s, kAgentSa, what); });

  // Everything, everywhere, for the agent's ServiceAccount: only the policy stands.
  json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "ClusterRole"},
               {"metadata", {{"name", "widened-agent"}}},
               {"rules", json::array({{{"apiGroups", json::array({"*"})},
                                       {"resources", json::array({"*"})},
                                       {"verbs", json::array({"*"})}}})}};
  json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "ClusterRoleBinding"},
      {"metadata", {{"name", "widened-agent"}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"},
        {"kind", "ClusterRole"},
        {"name", "widened-agent"}}},
      {"subjects",
       json::array({{{"kind", "ServiceAccount"}, {"name", kAgentSa}, {"namespace", kNs}}})}};
  const kube::Resource roles{"rbac.authorization.k8s.io", "v1", "clusterroles", false,
                             "ClusterRole"};
  const kube::Resource bindings{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", false,
                                "ClusterRoleBinding"};
  ASSERT_TRUE(admin_->create(roles, "", role).ok());
  ASSERT_TRUE(admin_->create(bindings, "", binding).ok());
  // RBAC's cache: wait until the widened role answers (a read it did not have).
  ASSERT_TRUE(
      poll_until([&] { return agent_a_->get(webhook::kQuarantines, "", "image.b").ok(); }, 60s));
  attempts([](const Status& s, const std::string& what) {
    expect_policy_refusal(s, kAgentPolicy, "orderguard: the agent of node node-a may ", what);
  });
  EXPECT_TRUE(admin_->remove(bindings, "", "widened-agent").ok());
  EXPECT_TRUE(admin_->remove(roles, "", "widened-agent").ok());

  EXPECT_EQ(get(webhook::kMinerPolicies, "", kDefaultPolicy)["spec"], policy["spec"]);
  EXPECT_FALSE(get(webhook::kQuarantines, "", "image.b").is_null());
}

// A stolen token that names no node (a TokenRequest bound to nothing, or to a Pod
// that is not on a node) writes nothing at all.
TEST_F(ChartConfinementE2E, TokenWithoutANodeWritesNothing) {
  for (kube::Client* c : {agent_unbound_.get(), agent_unscheduled_.get()}) {
    expect_policy_refusal(c->evict(kApps, "victim-b"), "", "the token has no node",
                          "evict without a node");
    expect_policy_refusal(c->remove(res::kPods, kApps, "doomed-b"), kAgentPolicy,
                          "the token has no node", "delete a Pod without a node");
    expect_policy_refusal(taint(*c, kNodeB), kAgentPolicy, "the token has no node",
                          "taint a Node without a node");
    expect_policy_refusal(
        c->create(webhook::kQuarantines, "", quarantine("image.none", kNodeA, kAgentPodA)),
        kAgentPolicy, "the token has no node", "create a Quarantine without a node");
    expect_policy_refusal(c->create(res::kEvents, kApps, event(kNodeA)), kAgentPolicy,
                          "the token has no node", "record an Event without a node");
  }
  EXPECT_FALSE(get(res::kPods, kApps, "victim-b")["metadata"].contains("deletionTimestamp"));
}

// A namespace admin (the built-in admin ClusterRole bound in one namespace) runs what
// it likes there, but cannot reach what decides admission: MinerPolicies, Quarantines,
// the webhook configuration, the admission policies, its Namespace's labels (which a
// MinerPolicy's exemptions may select), or the excluded release namespace.
TEST_F(ChartConfinementE2E, NamespaceAdminCannotSwitchOrderguardOff) {
  ASSERT_TRUE(cluster().kubectl({"create", "serviceaccount", "owner", "-n", kApps}).ok());
  ASSERT_TRUE(cluster()
                  .kubectl({"create", "rolebinding", "owner-admin", "-n", kApps,
                            "--clusterrole=admin", "--serviceaccount=" + kApps + ":owner"})
                  .ok());
  auto owner = client(cluster().service_account_config(kApps, "owner"));
  ASSERT_TRUE(owner);
  // RBAC's cache: wait until the binding answers.
  ASSERT_TRUE(poll_until([&] { return owner->list(res::kPods, kApps, {}).ok(); }, 60s));
  const std::string user = "system:serviceaccount:" + kApps + ":owner";
  const auto refused = [&](const auto& r, const std::string& what) {
    ASSERT_FALSE(r.ok()) << what << " was allowed";
    EXPECT_EQ(r.error().http_status, 403) << what << ": " << r.error().describe();
    EXPECT_NE(r.error().message.find("User \"" + user + "\""), std::string::npos)
        << what << ": " << r.error().message;
  };
  refused(owner->patch(webhook::kMinerPolicies, "", kDefaultPolicy, kube::PatchType::kMerge,
                       {{"spec", {{"mode", "Audit"}}}}),
          "set a MinerPolicy to Audit");
  refused(owner->create(webhook::kQuarantines, "", quarantine("image.owner", kNodeA, "owner")),
          "create a Quarantine");
  refused(owner->remove(webhook::kQuarantines, "", "image.a"), "lift a Quarantine");
  refused(owner->remove(res::kValidatingWebhookConfigurations, "", "og-miners"),
          "delete the webhook configuration");
  const kube::Resource policies{"admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
                                false, "ValidatingAdmissionPolicy"};
  refused(owner->remove(policies, "", kAgentPolicy), "delete an admission policy");
  refused(owner->patch(res::kNamespaces, "", kApps, kube::PatchType::kMerge,
                       {{"metadata", {{"labels", {{"orderguard.io/exempt", "true"}}}}}}),
          "label its Namespace");
  refused(owner->create(res::kPods, kNs, pod(kNs, "in-the-excluded-namespace", "")),
          "create a Pod in the release namespace");
  refused(owner->get(res::kSecrets, kNs, "og-webhook-tls"), "read the webhook's Secret");
}

// The webhook creates only its own Secret, audit Lease and PolicyReports, and writes
// no other webhook configuration.
TEST_F(ChartConfinementE2E, WebhookTokenWritesOnlyItsOwnObjects) {
  const auto post = [&](const std::string& path, json body) {
    return webhook_->raw("POST", path + "?dryRun=All", &body);
  };
  json own = secret_probe();
  own["metadata"]["name"] = "og-webhook-tls";
  expect_ok(post("/api/v1/namespaces/" + kNs + "/secrets", own), "create its own Secret");
  expect_policy_refusal(post("/api/v1/namespaces/" + kNs + "/secrets", secret_probe()),
                        kWebhookPolicy, "may create only its own secrets (og-webhook-tls)",
                        "create another Secret");
  expect_rbac_refusal(post("/api/v1/namespaces/default/secrets", secret_probe()), kWebhookSa,
                      "create a Secret in another namespace");

  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "orderguard-operator"}}},
                {"spec", {{"holderIdentity", "webhook"}}}};
  expect_policy_refusal(post("/apis/coordination.k8s.io/v1/namespaces/" + kNs + "/leases", lease),
                        kWebhookPolicy, "may create only its own leases (orderguard-webhook-audit)",
                        "create the operator's Lease");
  expect_rbac_refusal(webhook_->get(res::kLeases, kNs, "orderguard-operator"), kWebhookSa,
                      "read the operator's Lease");
  lease["metadata"]["name"] = "orderguard-webhook-audit";
  expect_ok(post("/apis/coordination.k8s.io/v1/namespaces/" + kNs + "/leases", lease),
            "create its own Lease");

  json report = {{"apiVersion", "wgpolicyk8s.io/v1alpha2"},
                 {"kind", "PolicyReport"},
                 {"metadata", {{"name", "kyverno-report"}}}};
  expect_policy_refusal(
      post("/apis/wgpolicyk8s.io/v1alpha2/namespaces/" + kApps + "/policyreports", report),
      kWebhookPolicy, "may create only its own policyreports (og)",
      "create another product's PolicyReport");
  report["metadata"]["name"] = "og";
  expect_ok(post("/apis/wgpolicyk8s.io/v1alpha2/namespaces/" + kApps + "/policyreports", report),
            "create its own PolicyReport");

  json other = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                {"kind", "ValidatingWebhookConfiguration"},
                {"metadata", {{"name", "someone-else"}}}};
  ASSERT_TRUE(admin_->create(res::kValidatingWebhookConfigurations, "", other).ok());
  expect_rbac_refusal(webhook_->remove(res::kValidatingWebhookConfigurations, "", "someone-else"),
                      kWebhookSa, "delete another webhook configuration");
  expect_rbac_refusal(
      webhook_->patch(res::kValidatingWebhookConfigurations, "", "someone-else",
                      kube::PatchType::kMerge, {{"metadata", {{"labels", {{"a", "b"}}}}}}),
      kWebhookSa, "patch another webhook configuration");
}

// The operator writes only children of tier resources (a controller ownerReference to
// tiers.orderguard.io), and its own Lease.
TEST_F(ChartConfinementE2E, OperatorTokenWritesOnlyChildrenOfTierResources) {
  // A real owner: the garbage collector deletes children whose owner does not exist.
  const kube::Resource services{"tiers.orderguard.io", "v1alpha1", "orderservices", true,
                                "OrderService"};
  json svc = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
              {"kind", "OrderService"},
              {"metadata", {{"name", "orders"}, {"namespace", kApps}}},
              {"spec",
               {{"image", "registry.example.com/shop/order-service:1.4.2"},
                {"zones", json::array({{{"name", "zone-a"}, {"weight", 100}}})}}}};
  auto owner = admin_->create(services, kApps, svc);
  ASSERT_TRUE(owner.ok()) << owner.error().describe();
  json owned = config_map_probe();
  owned["metadata"]["name"] = "orders-routing";
  owned["metadata"]["ownerReferences"] =
      json::array({{{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                    {"kind", "OrderService"},
                    {"name", "orders"},
                    {"uid", (*owner)["metadata"]["uid"]},
                    {"controller", true}}});
  auto created = operator_->create(res::kConfigMaps, kApps, owned);
  expect_ok(created, "create a child of a tier resource");
  if (created.ok()) {
    json changed = *created;
    changed["data"]["k"] = "changed";
    auto updated = operator_->update(res::kConfigMaps, kApps, changed);
    expect_ok(updated, "update its child");
    json orphaned = updated.ok() ? *updated : changed;
    orphaned["metadata"].erase("ownerReferences");
    orphaned["data"]["k"] = "orphaned";
    expect_policy_refusal(operator_->update(res::kConfigMaps, kApps, orphaned), kOperatorPolicy,
                          "may UPDATE only objects a tier resource controls",
                          "strip its child's ownerReference");
    expect_ok(operator_->remove(res::kConfigMaps, kApps, "orders-routing"), "delete its child");
  }

  expect_policy_refusal(operator_->create(res::kConfigMaps, kApps, config_map_probe()),
                        kOperatorPolicy, "may CREATE only objects a tier resource controls",
                        "create a ConfigMap of its own");
  json users = config_map_probe();
  users["metadata"]["name"] = "users-config";
  ASSERT_TRUE(admin_->create(res::kConfigMaps, kApps, users).ok());
  auto live = admin_->get(res::kConfigMaps, kApps, "users-config");
  ASSERT_TRUE(live.ok());
  json rewritten = *live;
  rewritten["data"]["k"] = "rewritten";
  rewritten["metadata"]["ownerReferences"] = owned["metadata"]["ownerReferences"];
  expect_policy_refusal(operator_->update(res::kConfigMaps, kApps, rewritten), kOperatorPolicy,
                        "configmaps apps/users-config is not one", "take over a user's ConfigMap");
  expect_policy_refusal(operator_->remove(res::kConfigMaps, kApps, "users-config"), kOperatorPolicy,
                        "may DELETE only objects a tier resource controls",
                        "delete a user's ConfigMap");
  expect_policy_refusal(operator_->remove(res::kServices, "default", "kubernetes"), kOperatorPolicy,
                        "may DELETE only objects a tier resource controls",
                        "delete the kubernetes Service");
  expect_policy_refusal(operator_->create(res::kSecrets, kApps, secret_probe()), kOperatorPolicy,
                        "may CREATE only objects a tier resource controls", "create a Secret");
  EXPECT_EQ(get(res::kConfigMaps, kApps, "users-config")["data"]["k"], "v");
  // A ShardSet's credentials (deletionPolicy Retain: no ownerReference) only by its name.
  json credentials = secret_probe();
  credentials["metadata"]["name"] = "orders-db-mysql";
  credentials["metadata"]["labels"] = {{"tiers.orderguard.io/shardset", "orders-db"}};
  expect_ok(
      operator_->raw("POST", "/api/v1/namespaces/" + kApps + "/secrets?dryRun=All", &credentials),
      "create a ShardSet's credentials Secret");
  credentials["metadata"]["name"] = "payments-token";
  expect_policy_refusal(operator_->create(res::kSecrets, kApps, credentials), kOperatorPolicy,
                        "may CREATE only objects a tier resource controls",
                        "create a Secret under a ShardSet's label");

  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "orderguard-webhook-audit-x"}}},
                {"spec", {{"holderIdentity", "operator"}}}};
  expect_policy_refusal(
      operator_->raw(
          "POST", "/apis/coordination.k8s.io/v1/namespaces/" + kNs + "/leases?dryRun=All", &lease),
      kOperatorPolicy, "may create only its own Lease (orderguard-operator)",
      "create another Lease");
  expect_rbac_refusal(operator_->get(res::kLeases, kNs, "orderguard-webhook-audit"), kOperatorSa,
                      "read the webhook's Lease");
}

}  // namespace
}  // namespace orderguard

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
