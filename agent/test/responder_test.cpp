// The responder's pure decisions: exclusions, owner resolution, quarantine scope, the object,
// node condition and taint edits, the eviction budget, and not acting twice on a terminating
// pod (over a tiny client that only counts evictions and created objects). The I/O is covered
// by agent_e2e_test.
#include "agent/responder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>

#include "agent/test/fake_client.h"
#include "agent/test/test_util.h"
#include "base/json_doc.h"
#include "policy/finding.h"

namespace orderguard::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using testing::EvictingClient;

json load(const std::string& rel) {
  std::ifstream in(testing::testdata(rel));
  return json::parse(in);
}

ProcessReport miner(int pid, std::string comm, std::string exe, std::string rule) {
  ProcessReport p;
  p.pid = pid;
  p.ppid = 1;
  p.comm = std::move(comm);
  p.exe = std::move(exe);
  p.cmdline = {p.exe};
  policy::Finding f;
  f.rule_id = std::move(rule);
  f.evidence = "stratum+tcp://pool.example:3333";
  p.findings.push_back(f);
  p.score = 100;
  p.miner = true;
  return p;
}

// Objects by "Kind/name", as an ObjectFetcher over testdata/responder/owners.json.
class Objects {
 public:
  Objects() {
    for (const json& o : load("responder/owners.json")) {
      objects_[o["kind"].get<std::string>() + "/" + o["metadata"]["name"].get<std::string>()] = o;
    }
  }
  const json& operator[](const std::string& key) const { return objects_.at(key); }
  ObjectFetcher fetcher() const {
    return [this](const kube::Resource& r, std::string_view,
                  std::string_view name) -> std::optional<json> {
      auto it = objects_.find(r.kind + "/" + std::string(name));
      if (it == objects_.end()) return std::nullopt;
      return it->second;
    };
  }

 private:
  std::map<std::string, json> objects_;
};

TEST(PodTerminating, DeletionTimestampMarksIt) {
  EXPECT_TRUE(pod_terminating(
      {{"metadata", {{"name", "p"}, {"deletionTimestamp", "2026-01-01T00:00:00Z"}}}}));
  EXPECT_FALSE(pod_terminating({{"metadata", {{"name", "p"}}}}));
  EXPECT_FALSE(pod_terminating({{"metadata", {{"name", "p"}, {"deletionTimestamp", nullptr}}}}));
  EXPECT_FALSE(pod_terminating(json::object()));
  EXPECT_FALSE(pod_terminating(json::array()));
}

json running_pod(const std::string& name, const std::string& uid, const std::string& id) {
  return {
      {"metadata", {{"name", name}, {"namespace", "shop"}, {"uid", uid}}},
      {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})}}},
      {"status",
       {{"containerStatuses",
         json::array(
             {{{"name", "app"}, {"image", "busybox"}, {"containerID", "containerd://" + id}}})}}}};
}

ScanReport miner_in(const std::string& id, int pid) {
  ProcessReport p = miner(pid, "xmrig", "/tmp/xmrig", "stratum-url");
  p.container.runtime = "containerd";
  p.container.container_id = id;
  ScanReport r;
  r.processes.push_back(p);
  return r;
}

class TerminatingTest : public ::testing::Test {
 protected:
  TerminatingTest()
      : recorder_(client_, "orderguard.io/agent", "node-a", clock_),
        responder_(client_, recorder_, clock_, nullptr, options()) {}

  static ResponderOptions options() {
    ResponderOptions o;
    o.node_name = "node-a";
    o.evictions_per_minute = 2;
    return o;
  }

  // The outcome for the one pod of the report.
  std::string respond(const ScanReport& report, const json& pods) {
    ResponseSummary s = responder_.respond(report, pods, policy::combine({}));
    EXPECT_EQ(s.pods.size(), 1u);
    return s.pods.empty() ? "" : s.pods[0].outcome;
  }

  size_t events() {
    recorder_.flush();
    return client_.created("events");
  }

  EvictingClient client_;
  FakeClock clock_;
  kube::EventRecorder recorder_;
  Responder responder_;
  const std::string id_a_ = std::string(64, 'a');
  const std::string id_b_ = std::string(64, 'b');
};

TEST_F(TerminatingTest, APodWithADeletionTimestampIsNotEvictedAgain) {
  json pod = running_pod("web-1", "uid-1", id_a_);
  pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  for (int scan = 0; scan < 3; ++scan) {
    EXPECT_EQ(respond(miner_in(id_a_, 40), json::array({pod})), "terminating") << scan;
  }
  EXPECT_EQ(client_.evictions("shop/web-1"), 0);
  EXPECT_EQ(events(), 0u);
}

// The pod cache may still show the pod without its deletionTimestamp at the next scan.
TEST_F(TerminatingTest, APodItEvictedIsNotEvictedAgainNorSpendsTheBudget) {
  json a = running_pod("web-1", "uid-1", id_a_);
  EXPECT_EQ(respond(miner_in(id_a_, 40), json::array({a})), "evicted");
  EXPECT_EQ(events(), 1u);
  for (int scan = 0; scan < 3; ++scan) {
    EXPECT_EQ(respond(miner_in(id_a_, 40), json::array({a})), "terminating") << scan;
  }
  EXPECT_EQ(client_.evictions("shop/web-1"), 1);
  EXPECT_EQ(events(), 1u);
  // The budget of 2 per minute still has room for another pod.
  json b = running_pod("web-2", "uid-2", id_b_);
  EXPECT_EQ(respond(miner_in(id_b_, 41), json::array({a, b})), "evicted");
  EXPECT_EQ(client_.evictions("shop/web-2"), 1);
}

TEST(ProcessExclusion, KernelThreadsPid1AndSelfAreNeverActedOn) {
  ProcessReport p = miner(1, "xmrig", "/usr/bin/xmrig", "miner-binary");
  EXPECT_EQ(process_exclusion(p, 0), "pid-1");
  p.pid = 4242;
  EXPECT_EQ(process_exclusion(p, 4242), "self");
  EXPECT_EQ(process_exclusion(p, 7), std::nullopt);

  ProcessReport kthread;
  kthread.pid = 57;
  kthread.ppid = 2;
  kthread.comm = "kworker/0:1";
  EXPECT_EQ(process_exclusion(kthread, 0), "kernel-thread");
  ProcessReport kthreadd;
  kthreadd.pid = 2;
  kthreadd.comm = "kthreadd";
  EXPECT_TRUE(is_kernel_thread(kthreadd));
}

TEST(ProcessExclusion, AMasqueradingKernelThreadIsNotExcluded) {
  ProcessReport fake = miner(900, "[kworker/0:1]", "/tmp/.x/kworkerds", "fake-kernel-thread");
  EXPECT_FALSE(is_kernel_thread(fake));
  EXPECT_EQ(process_exclusion(fake, 1), std::nullopt);
}

TEST(ResolveWorkload, PodToReplicaSetToDeployment) {
  Objects objects;
  policy::WorkloadRef w = resolve_workload(objects["Pod/web-7d4b9c-abcde"], objects.fetcher());
  EXPECT_EQ(w.kind, "Deployment");
  EXPECT_EQ(w.name, "web");
}

TEST(ResolveWorkload, JobToCronJob) {
  Objects objects;
  policy::WorkloadRef w =
      resolve_workload(objects["Pod/nightly-28000000-xyz12"], objects.fetcher());
  EXPECT_EQ(w.kind, "CronJob");
  EXPECT_EQ(w.name, "nightly");
}

TEST(ResolveWorkload, UnreadableReplicaSetFallsBackToIt) {
  Objects objects;
  policy::WorkloadRef w = resolve_workload(
      objects["Pod/web-7d4b9c-abcde"],
      [](const kube::Resource&, std::string_view, std::string_view) { return std::nullopt; });
  EXPECT_EQ(w.kind, "ReplicaSet");
  EXPECT_EQ(w.name, "web-7d4b9c");
}

TEST(ResolveWorkload, BarePodAndStatefulSet) {
  Objects objects;
  policy::WorkloadRef bare = resolve_workload(objects["Pod/bare"], objects.fetcher());
  EXPECT_EQ(bare.kind, "Pod");
  EXPECT_EQ(bare.name, "bare");
  policy::WorkloadRef sts = resolve_workload(objects["Pod/db-0"], objects.fetcher());
  EXPECT_EQ(sts.kind, "StatefulSet");
  EXPECT_EQ(sts.name, "db");
}

class ScopeTest : public ::testing::Test {
 protected:
  PodMatch match(const json& pod, const std::string& container) {
    PodMatch m;
    m.namespace_name = pod["metadata"]["namespace"];
    m.name = pod["metadata"]["name"];
    m.container_name = container;
    for (const json& s : pod["status"]["containerStatuses"]) {
      if (s["name"] == container) {
        m.image = s["image"];
        m.image_id = s["imageID"];
      }
    }
    return m;
  }
  Objects objects_;
  policy::PolicySet policies_ = policy::combine({});
};

TEST_F(ScopeTest, MinerImageRunningItsEntrypointIsImageScope) {
  const json& pod = objects_["Pod/bare"];
  ProcessReport p = miner(10, "xmrig", "/xmrig/xmrig", "stratum-url");
  EXPECT_EQ(decide_scope(p, pod, match(pod, "miner"), policies_), policy::QuarantineScope::kImage);
}

TEST_F(ScopeTest, MinerFetchedIntoABaseImageIsWorkloadScope) {
  const json& pod = objects_["Pod/web-7d4b9c-abcde"];
  ProcessReport p = miner(11, "xmrig", "/tmp/.cache/xmrig", "stratum-url");
  EXPECT_EQ(decide_scope(p, pod, match(pod, "app"), policies_), policy::QuarantineScope::kWorkload);
}

TEST_F(ScopeTest, MinerImageButAnotherProcessIsWorkloadScope) {
  // The image is a miner but the process found is not its entrypoint (e.g. a sidecar shell).
  const json& pod = objects_["Pod/bare"];
  ProcessReport p = miner(12, "kdevtmpfsi", "/tmp/kdevtmpfsi", "miner-binary");
  EXPECT_EQ(decide_scope(p, pod, match(pod, "miner"), policies_),
            policy::QuarantineScope::kWorkload);
}

TEST_F(ScopeTest, BlockedImageFindingIsImageScope) {
  const json& pod = objects_["Pod/web-7d4b9c-abcde"];
  ProcessReport p = miner(13, "nginx", "/usr/sbin/nginx", std::string(policy::kRuleBlockedImage));
  EXPECT_EQ(decide_scope(p, pod, match(pod, "app"), policies_), policy::QuarantineScope::kImage);
}

TEST_F(ScopeTest, CommandEntrypointComparedByBasename) {
  json container = {{"name", "c"}, {"command", json::array({"/opt/bin/xmrig", "-c", "x"})}};
  auto ref = policy::parse_image_ref("evil.io/tools:1");
  ASSERT_TRUE(ref.ok());
  EXPECT_TRUE(process_is_entrypoint(miner(1, "xmrig", "/opt/bin/xmrig", "x"), container, *ref));
  EXPECT_FALSE(process_is_entrypoint(miner(1, "sh", "/bin/sh", "x"), container, *ref));
}

TEST(QuarantineImage, PrefersTheDigestFromImageID) {
  PodMatch m;
  m.image = "nginx:1.27";
  m.image_id = "docker-pullable://docker.io/library/nginx@sha256:" + std::string(64, 'a');
  EXPECT_EQ(quarantine_image(m), "docker.io/library/nginx@sha256:" + std::string(64, 'a'));
  m.image_id = "";
  EXPECT_EQ(quarantine_image(m), "nginx:1.27");
}

// The Quarantine object: who found the miner, where, and (with an expiry) until when; its
// name is the workload's, so a second scan's create is the same object.
TEST(QuarantineObject, RecordsNodeAgentPodAndExpiry) {
  EvictingClient client;
  FakeClock clock;
  kube::EventRecorder recorder(client, "orderguard.io/agent", "node-a", clock);
  ResponderOptions o;
  o.node_name = "node-a";
  o.pod_name = "orderguard-agent-x7k2p";
  o.quarantine_expiry = std::chrono::hours(72);
  Responder responder(client, recorder, clock, nullptr, o);
  const std::string id(64, 'c');
  ResponseSummary s = responder.respond(
      miner_in(id, 40), json::array({running_pod("web-1", "uid-1", id)}), policy::combine({}));
  ASSERT_EQ(s.pods.size(), 1u);
  EXPECT_EQ(s.pods[0].quarantine_name, "pod.shop.web-1");
  const std::vector<json> created = client.created_bodies("quarantines");
  ASSERT_EQ(created.size(), 1u);
  const json& q = created[0];
  EXPECT_EQ(q["apiVersion"], "security.orderguard.io/v1alpha1");
  EXPECT_EQ(q["kind"], "Quarantine");
  EXPECT_EQ(q["metadata"]["name"], "pod.shop.web-1");
  EXPECT_EQ(q["spec"]["scope"], "Workload");
  EXPECT_EQ(q["spec"]["namespace"], "shop");
  EXPECT_EQ(q["spec"]["workload"], json({{"kind", "Pod"}, {"name", "web-1"}}));
  EXPECT_EQ(q["spec"]["nodeName"], "node-a");
  EXPECT_EQ(q["spec"]["createdBy"], "orderguard-agent-x7k2p");
  EXPECT_EQ(q["spec"]["expiresAt"],
            format_rfc3339(clock.wall_now() + std::chrono::hours(72)));  // FakeClock's wall time
  EXPECT_NE(q["spec"].value("reason", "").find("on node node-a"), std::string::npos) << q.dump();
  // It compiles as the webhook will read it.
  EXPECT_TRUE(policy::compile_quarantine(JsonDoc::from_json(q).root()).ok());
}

TEST(QuarantineObject, NoPodNameNoExpiryLeavesThoseFieldsOut) {
  EvictingClient client;
  FakeClock clock;
  kube::EventRecorder recorder(client, "orderguard.io/agent", "node-a", clock);
  ResponderOptions o;
  o.node_name = "node-a";
  Responder responder(client, recorder, clock, nullptr, o);
  const std::string id(64, 'd');
  responder.respond(miner_in(id, 40), json::array({running_pod("web-2", "uid-2", id)}),
                    policy::combine({}));
  const std::vector<json> created = client.created_bodies("quarantines");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_FALSE(created[0]["spec"].contains("createdBy")) << created[0].dump();
  EXPECT_FALSE(created[0]["spec"].contains("expiresAt")) << created[0].dump();
  EXPECT_EQ(created[0]["spec"]["nodeName"], "node-a");
}

TEST(EvidenceNote, NamesRulesPidCommAndExcerpt) {
  PodMatch m;
  m.container_name = "app";
  std::string note = evidence_note(miner(321, "xmrig", "/tmp/xmrig", "stratum-url"), m);
  EXPECT_NE(note.find("pid 321"), std::string::npos) << note;
  EXPECT_NE(note.find("(xmrig)"), std::string::npos) << note;
  EXPECT_NE(note.find("rules stratum-url"), std::string::npos) << note;
  EXPECT_NE(note.find("stratum+tcp://pool.example:3333"), std::string::npos) << note;
}

TEST(NodeCondition, SetKeepsOtherConditionsAndIsIdempotent) {
  json node = {
      {"status",
       {{"conditions",
         json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}})}}}};
  EXPECT_TRUE(set_node_condition(node, kConditionMinerCompromised, "True", "MinerFindings", "m",
                                 "2026-01-01T00:00:00Z"));
  ASSERT_EQ(node["status"]["conditions"].size(), 2u);
  EXPECT_EQ(node["status"]["conditions"][0]["type"], "Ready");
  EXPECT_EQ(node["status"]["conditions"][1]["status"], "True");
  EXPECT_FALSE(set_node_condition(node, kConditionMinerCompromised, "True", "MinerFindings",
                                  "other message", "2026-01-01T00:01:00Z"));
  EXPECT_TRUE(set_node_condition(node, kConditionMinerCompromised, "False", "Rebuilt", "",
                                 "2026-01-01T00:02:00Z"));
  EXPECT_EQ(node["status"]["conditions"].size(), 2u);
}

TEST(NodeTaint, AddedOnce) {
  json node = {{"spec", {{"taints", json::array({{{"key", "a"}, {"effect", "NoExecute"}}})}}}};
  EXPECT_TRUE(add_no_schedule_taint(node, kTaintMinerCompromised, "2026-01-01T00:00:00Z"));
  EXPECT_FALSE(add_no_schedule_taint(node, kTaintMinerCompromised, "2026-01-01T00:00:00Z"));
  ASSERT_EQ(node["spec"]["taints"].size(), 2u);
  EXPECT_EQ(node["spec"]["taints"][1]["effect"], "NoSchedule");
  json empty = json::object();
  EXPECT_TRUE(add_no_schedule_taint(empty, kTaintMinerCompromised, "t"));
}

TEST(EvictionBudget, AtMostNPerMinuteThenRefills) {
  FakeClock clock;
  EvictionBudget budget(clock, 5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(budget.try_acquire()) << i;
  EXPECT_FALSE(budget.try_acquire());
  clock.advance(11s);  // 11/60 of 5 tokens: not yet one
  EXPECT_FALSE(budget.try_acquire());
  clock.advance(1s);  // 12 s: one token
  EXPECT_TRUE(budget.try_acquire());
  EXPECT_FALSE(budget.try_acquire());
  clock.advance(10min);  // capped at 5
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(budget.try_acquire()) << i;
  EXPECT_FALSE(budget.try_acquire());
}

TEST(EvictionBudget, ZeroMeansNever) {
  FakeClock clock;
  EvictionBudget budget(clock, 0);
  EXPECT_FALSE(budget.try_acquire());
  clock.advance(1h);
  EXPECT_FALSE(budget.try_acquire());
}

}  // namespace
}  // namespace orderguard::agent
