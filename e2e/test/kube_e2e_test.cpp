// The kube/ runtime against a real kube-apiserver + etcd (e2e/cluster.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <set>
#include <sstream>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/leader_election.h"

namespace orderguard::e2e {
namespace {

using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

// qps: the client-side rate limit; the default (20) is what production uses,
// tests that write a thousand objects raise it.
std::unique_ptr<kube::Client> admin_client(double qps = 20) {
  kube::Config config = cluster().admin_config();
  config.qps = qps;
  config.burst = static_cast<int>(qps * 1.5);
  auto client = kube::make_client(config);
  EXPECT_TRUE(client.ok()) << client.error().describe();
  return std::move(client).value();
}

void ensure_namespace(kube::Client& c, const std::string& ns) {
  auto r = c.create(res::kNamespaces, "",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  ASSERT_TRUE(r.ok() || r.error().code == ErrorCode::kAlreadyExists) << r.error().describe();
}

// Every ConfigMap a test makes carries this label, so lists and watches can
// ignore the kube-root-ca.crt ConfigMap the controller manager adds to each namespace.
constexpr const char* kTestLabel = "e2e=kube";

json config_map(const std::string& name, const std::string& ns, const json& data) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"e2e", "kube"}}}}},
          {"data", data}};
}

std::string rv(const json& obj) { return obj["metadata"].value("resourceVersion", ""); }

std::set<std::string> names_of(const json& list) {
  std::set<std::string> out;
  for (const auto& item : list["items"]) out.insert(item["metadata"]["name"].get<std::string>());
  return out;
}

TEST(KubeClientE2E, CrudAndPaginationOver1200ConfigMaps) {
  auto c = admin_client(/*qps=*/500);
  const std::string ns = "crud";
  ensure_namespace(*c, ns);
  for (int i = 0; i < 1200; ++i) {
    auto r = c->create(res::kConfigMaps, ns,
                       config_map("cm-" + std::to_string(i), ns, {{"i", std::to_string(i)}}));
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().describe();
  }
  // One page of 100 carries a continue token; following them yields everything once.
  auto page = c->list(res::kConfigMaps, ns, {.label_selector = kTestLabel, .limit = 100});
  ASSERT_TRUE(page.ok()) << page.error().describe();
  EXPECT_EQ((*page)["items"].size(), 100u);
  EXPECT_FALSE((*page)["metadata"].value("continue", "").empty());

  auto all = c->list_all(res::kConfigMaps, ns, {.label_selector = kTestLabel, .limit = 250});
  ASSERT_TRUE(all.ok()) << all.error().describe();
  EXPECT_EQ((*all)["items"].size(), 1200u);
  EXPECT_EQ(names_of(*all).size(), 1200u);  // no duplicates across pages

  // get / update / merge patch / JSON patch / delete.
  auto got = c->get(res::kConfigMaps, ns, "cm-7");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["i"], "7");
  json changed = *got;
  changed["data"]["i"] = "seven";
  auto updated = c->update(res::kConfigMaps, ns, changed);
  ASSERT_TRUE(updated.ok()) << updated.error().describe();
  EXPECT_EQ((*updated)["data"]["i"], "seven");
  // A stale resourceVersion is a Conflict, not a silent overwrite.
  auto stale = c->update(res::kConfigMaps, ns, *got);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kConflict);
  EXPECT_EQ(stale.error().http_status, 409);

  auto merged =
      c->patch(res::kConfigMaps, ns, "cm-7", kube::PatchType::kMerge, {{"data", {{"extra", "x"}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().describe();
  EXPECT_EQ((*merged)["data"]["extra"], "x");
  auto jsonpatched = c->patch(res::kConfigMaps, ns, "cm-7", kube::PatchType::kJson,
                              json::array({{{"op", "remove"}, {"path", "/data/extra"}}}));
  ASSERT_TRUE(jsonpatched.ok()) << jsonpatched.error().describe();
  EXPECT_FALSE((*jsonpatched)["data"].contains("extra"));

  auto dup = c->create(res::kConfigMaps, ns, config_map("cm-7", ns, json::object()));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);

  ASSERT_TRUE(c->remove(res::kConfigMaps, ns, "cm-7").ok());
  auto gone = c->get(res::kConfigMaps, ns, "cm-7");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_NE(gone.error().message.find("cm-7"), std::string::npos);

  // Selectors are URL-encoded correctly.
  ASSERT_TRUE(c->patch(res::kConfigMaps, ns, "cm-8", kube::PatchType::kMerge,
                       {{"metadata", {{"labels", {{"tier", "cache"}}}}}})
                  .ok());
  auto selected = c->list_all(res::kConfigMaps, ns, {.label_selector = "tier in (cache,db)"});
  ASSERT_TRUE(selected.ok()) << selected.error().describe();
  EXPECT_EQ(names_of(*selected), std::set<std::string>{"cm-8"});
}

TEST(KubeClientE2E, WatchSeesCreateUpdateDeleteInOrder) {
  auto c = admin_client();
  const std::string ns = "watch";
  ensure_namespace(*c, ns);
  auto start = c->list(res::kConfigMaps, ns, {});
  ASSERT_TRUE(start.ok());

  std::mutex mu;
  std::vector<std::pair<kube::WatchEvent::Type, std::string>> seen;
  kube::Canceller cancel;
  std::thread watcher([&] {
    auto st = c->watch(
        res::kConfigMaps, ns,
        {.label_selector = kTestLabel, .resource_version = rv(*start), .timeout = 60s},
        [&](kube::WatchEvent&& ev) {
          if (ev.type == kube::WatchEvent::Type::kBookmark) return;
          std::lock_guard<std::mutex> lock(mu);
          seen.emplace_back(ev.type, ev.object["data"].value("v", ""));
        },
        cancel);
    EXPECT_TRUE(st.ok() || st.error().code == ErrorCode::kCancelled) << st.error().describe();
  });
  ASSERT_TRUE(c->create(res::kConfigMaps, ns, config_map("w", ns, {{"v", "1"}})).ok());
  ASSERT_TRUE(
      c->patch(res::kConfigMaps, ns, "w", kube::PatchType::kMerge, {{"data", {{"v", "2"}}}}).ok());
  ASSERT_TRUE(c->remove(res::kConfigMaps, ns, "w").ok());
  EXPECT_TRUE(poll_until(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return seen.size() >= 3;
      },
      30s));
  cancel.cancel();
  watcher.join();
  using T = kube::WatchEvent::Type;
  std::vector<std::pair<T, std::string>> want = {
      {T::kAdded, "1"}, {T::kModified, "2"}, {T::kDeleted, "2"}};
  EXPECT_EQ(seen, want);
}

TEST(KubeClientE2E, ServerSideApplyOfUnchangedObjectWritesNothing) {
  auto c = admin_client();
  const std::string ns = "ssa";
  ensure_namespace(*c, ns);
  json desired = config_map("applied", ns, {{"a", "1"}});
  kube::ApplyOptions opts{.field_manager = "orderguard-test", .force = true};
  auto first = c->apply(res::kConfigMaps, ns, desired, opts);
  ASSERT_TRUE(first.ok()) << first.error().describe();
  auto second = c->apply(res::kConfigMaps, ns, desired, opts);
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(rv(*first), rv(*second));
  // A real change does write, and the field manager owns the field.
  desired["data"]["a"] = "2";
  auto third = c->apply(res::kConfigMaps, ns, desired, opts);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(rv(*third), rv(*second));
  EXPECT_EQ((*third)["data"]["a"], "2");
  bool managed = false;
  for (const auto& mf : (*third)["metadata"]["managedFields"]) {
    managed |= mf.value("manager", "") == "orderguard-test" && mf.value("operation", "") == "Apply";
  }
  EXPECT_TRUE(managed);
}

// Cache contents as name -> resourceVersion.
std::map<std::string, std::string> cache_state(const kube::Informer& inf) {
  std::map<std::string, std::string> out;
  for (const auto& obj : inf.list()) out[(*obj)["metadata"]["name"]] = rv(*obj);
  return out;
}

std::map<std::string, std::string> list_state(kube::Client& c, const std::string& ns) {
  std::map<std::string, std::string> out;
  auto list = c.list_all(res::kConfigMaps, ns, {.label_selector = kTestLabel});
  EXPECT_TRUE(list.ok());
  if (!list.ok()) return out;
  for (const auto& item : (*list)["items"]) out[item["metadata"]["name"]] = rv(item);
  return out;
}

// An informer over the test ConfigMaps of `ns`, on its own client, counting
// the deletions its handlers see.
struct CountingInformer {
  explicit CountingInformer(const std::string& ns)
      : client(admin_client()),
        informer(*client, res::kConfigMaps, clock, {.ns = ns, .label_selector = kTestLabel}) {
    informer.add_handlers({.on_add = nullptr,
                           .on_update = nullptr,
                           .on_delete = [this](const kube::ObjectPtr&) { deletes++; }});
    informer.start();
  }
  ~CountingInformer() { informer.stop(); }

  RealClock clock;
  std::unique_ptr<kube::Client> client;
  kube::Informer informer;
  std::atomic<int> deletes{0};
};

TEST(KubeInformerE2E, RecoversFromApiServerRestartAndMatchesFreshList) {
  auto c = admin_client();
  const std::string ns = "restart";
  ensure_namespace(*c, ns);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c->create(res::kConfigMaps, ns, config_map("r" + std::to_string(i), ns, {})).ok());
  }
  CountingInformer counted(ns);
  kube::Informer& inf = counted.informer;
  std::atomic<int>& deletes = counted.deletes;
  ASSERT_TRUE(inf.wait_for_sync(60s));
  EXPECT_EQ(inf.size(), 20u);

  ASSERT_TRUE(cluster().stop_apiserver().ok());
  ASSERT_TRUE(cluster().start_apiserver().ok());
  // Changes after the restart: the informer must see them through a new watch.
  for (int i = 0; i < 5; ++i) {
    auto st = c->remove(res::kConfigMaps, ns, "r" + std::to_string(i));
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }
  ASSERT_TRUE(c->create(res::kConfigMaps, ns, config_map("after", ns, {{"x", "1"}})).ok());
  ASSERT_TRUE(
      c->patch(res::kConfigMaps, ns, "r10", kube::PatchType::kMerge, {{"data", {{"y", "2"}}}})
          .ok());

  EXPECT_TRUE(poll_until([&] { return cache_state(inf) == list_state(*c, ns); }, 90s))
      << "informer cache never converged to a fresh LIST after the restart";
  EXPECT_EQ(deletes.load(), 5);
  inf.stop();
}

TEST(KubeInformerE2E, GoneAfterEtcdCompactionRelistsWithNothingLost) {
  auto c = admin_client();
  const std::string ns = "gone";
  ensure_namespace(*c, ns);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c->create(res::kConfigMaps, ns, config_map("g" + std::to_string(i), ns, {})).ok());
  }
  CountingInformer counted(ns);
  kube::Informer& inf = counted.informer;
  std::atomic<int>& deletes = counted.deletes;
  ASSERT_TRUE(inf.wait_for_sync(60s));
  const std::string old_rv = inf.last_sync_resource_version();

  // History after old_rv disappears: writes, an etcd compaction, and an API
  // server restart so its watch cache starts after the compacted revision.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c->remove(res::kConfigMaps, ns, "g" + std::to_string(i)).ok());
  }
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c->patch(res::kConfigMaps, ns, "g9", kube::PatchType::kMerge,
                         {{"data", {{"n", std::to_string(i)}}}})
                    .ok());
  }
  ASSERT_TRUE(c->create(res::kConfigMaps, ns, config_map("g-new", ns, {})).ok());
  auto compacted = cluster().compact_etcd();
  ASSERT_TRUE(compacted.ok()) << compacted.error().describe();
  ASSERT_TRUE(cluster().stop_apiserver().ok());
  ASSERT_TRUE(cluster().start_apiserver().ok());

  // A raw watch from the old resourceVersion is refused with 410 Gone...
  kube::Canceller cancel;
  auto st = c->watch(
      res::kConfigMaps, ns, {.resource_version = old_rv, .timeout = 10s}, [](kube::WatchEvent&&) {},
      cancel);
  ASSERT_FALSE(st.ok()) << "watch from a compacted resourceVersion " << old_rv << " succeeded";
  EXPECT_EQ(st.error().code, ErrorCode::kGone) << st.error().describe();

  // ...and the informer relists: its cache equals a fresh LIST, and the
  // deletions it could not watch reached its handlers through the relist diff.
  EXPECT_TRUE(poll_until([&] { return cache_state(inf) == list_state(*c, ns); }, 90s));
  EXPECT_NE(inf.get(ns, "g-new"), nullptr);
  EXPECT_EQ(inf.get(ns, "g0"), nullptr);
  EXPECT_TRUE(poll_until([&] { return deletes.load() == 5; }, 10s)) << deletes.load();
  inf.stop();
}

json pod(const std::string& name, const std::string& ns) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
          {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "nginx:1.27"}}})}}}};
}

TEST(KubeClientE2E, EvictionSubresourceEvictsAPod) {
  auto c = admin_client();
  const std::string ns = "evict";
  ensure_namespace(*c, ns);
  // The controller manager must have created the default ServiceAccount first.
  ASSERT_TRUE(poll_until([&] { return c->get(res::kServiceAccounts, ns, "default").ok(); }, 60s));
  ASSERT_TRUE(c->create(res::kPods, ns, pod("victim", ns)).ok());
  auto st = c->evict(ns, "victim", {.grace_period_seconds = 0});
  ASSERT_TRUE(st.ok()) << st.error().describe();
  // With no kubelet the pod is deleted directly (no node to drain it).
  EXPECT_TRUE(poll_until(
      [&] {
        auto p = c->get(res::kPods, ns, "victim");
        return !p.ok() || (*p)["metadata"].contains("deletionTimestamp");
      },
      30s));
  auto missing = c->evict(ns, "no-such-pod");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(KubeClientE2E, ServiceAccountGetsClearForbidden) {
  auto sa_config = cluster().service_account_config("rbac-test", "nobody");
  ASSERT_TRUE(sa_config.ok()) << sa_config.error().describe();
  auto sa = kube::make_client(*sa_config);
  ASSERT_TRUE(sa.ok());
  auto denied = (*sa)->list(res::kSecrets, "kube-system", {});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
  EXPECT_EQ(denied.error().http_status, 403);
  EXPECT_NE(denied.error().message.find("system:serviceaccount:rbac-test:nobody"),
            std::string::npos)
      << denied.error().message;
  EXPECT_NE(denied.error().message.find("secrets"), std::string::npos);
}

TEST(KubeEventsE2E, RecorderWritesAndAggregatesEvents) {
  auto c = admin_client();
  const std::string ns = "events";
  ensure_namespace(*c, ns);
  auto cm = c->create(res::kConfigMaps, ns, config_map("subject", ns, {}));
  ASSERT_TRUE(cm.ok());
  RealClock clock;
  kube::EventRecorder recorder(*c, "orderguard.io/test", "test-instance", clock);
  json subject = *cm;
  subject["apiVersion"] = "v1";
  subject["kind"] = "ConfigMap";
  for (int i = 0; i < 3; ++i) {
    recorder.record(subject, kube::EventType::kWarning, "Suspicious", "Inspect", "same note");
  }
  recorder.flush();
  auto events = c->list_all(res::kEvents, ns, {});
  ASSERT_TRUE(events.ok()) << events.error().describe();
  ASSERT_EQ((*events)["items"].size(), 1u) << (*events).dump();
  const json& ev = (*events)["items"][0];
  EXPECT_EQ(ev["reason"], "Suspicious");
  EXPECT_EQ(ev["type"], "Warning");
  EXPECT_EQ(ev["regarding"]["uid"], (*cm)["metadata"]["uid"]);
  EXPECT_EQ(ev["series"]["count"], 3);
}

// Two real processes campaign for one Lease.
TEST(KubeLeaderElectionE2E, ExactlyOneLeadsAndTheOtherTakesOverAfterAKill) {
  const std::string bin = std::string(ORDERGUARD_E2E_BIN_DIR) + "/e2e_lease_holder";
  auto spawn = [&](const std::string& id) {
    auto p = Process::spawn({.name = id,
                             .argv = {bin, "--kubeconfig", cluster().kubeconfig_path(), "--lease",
                                      "contended", "--identity", id},
                             .log_path = cluster().work_dir() + "/" + id + ".log"});
    EXPECT_TRUE(p.ok()) << p.error().describe();
    return std::move(p).value();
  };
  Process a = spawn("holder-a");
  Process b = spawn("holder-b");
  auto c = admin_client();
  auto holder = [&]() -> std::string {
    auto lease = c->get(res::kLeases, "default", "contended");
    return lease.ok() ? (*lease)["spec"].value("holderIdentity", "") : "";
  };
  auto leading_lines = [&](const Process& p) {
    std::ifstream in(p.log_path());
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    int n = 0;
    for (size_t pos = 0; (pos = text.find("leading ", pos)) != std::string::npos; ++pos) ++n;
    return n;
  };
  ASSERT_TRUE(poll_until([&] { return !holder().empty(); }, 60s));
  const std::string first = holder();
  Process& leader = first == "holder-a" ? a : b;
  Process& follower = first == "holder-a" ? b : a;
  ASSERT_TRUE(poll_until([&] { return leading_lines(leader) == 1; }, 30s));
  // Several renew periods later the follower still has not led.
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(holder(), first);
  EXPECT_EQ(leading_lines(follower), 0);

  auto before_kill = c->get(res::kLeases, "default", "contended");
  ASSERT_TRUE(before_kill.ok());
  ::kill(leader.pid(), SIGKILL);
  leader.terminate(1s);
  ASSERT_TRUE(poll_until([&] { return holder() == follower.name(); }, 60s));
  EXPECT_TRUE(poll_until([&] { return leading_lines(follower) == 1; }, 10s));
  auto after = c->get(res::kLeases, "default", "contended");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["spec"]["leaseTransitions"].get<int>(),
            (*before_kill)["spec"].value("leaseTransitions", 0) + 1);

  // A clean stop releases the Lease at once (empty holder).
  follower.terminate(10s);
  EXPECT_TRUE(poll_until([&] { return holder().empty(); }, 10s));
}

}  // namespace
}  // namespace orderguard::e2e

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
