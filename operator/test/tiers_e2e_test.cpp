// The CacheTier and ShardSet reconcilers against a real kube-apiserver and
// controller manager (no kubelets: pods stay Pending): the examples produce
// every child (for a ShardSet the primary and replica StatefulSets, the
// credentials Secret, the schema ConfigMaps and Job), a converged pass writes
// nothing, a shard scale up grows the
// StatefulSet and creates a rebalance Job, a scale down is refused with a
// condition, and deleting the resources garbage-collects their children while
// Retain keeps the MySQL volumes and the credentials Secret and Delete
// collects them. The Secret is created once and never replaced, whether the
// operator or the user made it.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>

#include "base/base64.h"
#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/poll.h"
#include "kube/client.h"
#include "kube/pki.h"
#include "operator/manager.h"
#include "operator/test/operator_e2e_fixture.h"

namespace orderguard::op {
namespace {

using e2e::cluster;
using e2e::poll_until;
using namespace std::chrono_literals;
namespace res = kube::resources;

const std::string kSource = ORDERGUARD_SOURCE_DIR;

class TiersE2E : public testing::OperatorE2EBase {
 protected:
  // Waits until the client has sent no write for one interval.
  static double wait_for_quiet() {
    double before = -1;
    EXPECT_TRUE(poll_until(
        [&] {
          double now = writes();
          bool stable = now == before;
          before = now;
          return stable;
        },
        60s, 3s));
    return before;
  }

  static json get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    auto obj = client_->get(r, ns, name);
    return obj.ok() ? *obj : json();
  }
  static bool exists(const kube::Resource& r, const std::string& ns, const std::string& name) {
    return poll_until([&] { return !get(r, ns, name).is_null(); }, 30s);
  }
  static json condition(const kube::Resource& r, const std::string& ns, const std::string& name,
                        const std::string& type) {
    json o = get(r, ns, name);
    if (o.is_null() || !o.contains("status")) return json();
    for (const auto& c : o["status"].value("conditions", json::array()))
      if (c["type"] == type) return c;
    return json();
  }
  static bool generation_observed(const kube::Resource& r, const std::string& ns,
                                  const std::string& name) {
    return poll_until(
        [&] {
          json o = get(r, ns, name);
          return !o.is_null() && o.contains("status") &&
                 o["status"].value("observedGeneration", int64_t{-1}) ==
                     o["metadata"]["generation"].get<int64_t>();
        },
        30s);
  }
};

TEST_F(TiersE2E, ExamplesProduceChildrenAndConvergedPassWritesNothing) {
  auto applied = cluster().kubectl({"apply", "-f", kSource + "/examples/"});
  ASSERT_TRUE(applied.ok()) << applied.err;
  const std::string ns = "shop";

  // CacheTier orders-cache: 6 shards x (1 + 1).
  ASSERT_TRUE(poll_until(
      [&] {
        json s = get(res::kStatefulSets, ns, "orders-cache-redis");
        return !s.is_null() && s["spec"].value("replicas", 0) == 12;
      },
      30s));
  json sts = get(res::kStatefulSets, ns, "orders-cache-redis");
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["kind"], "CacheTier");
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(sts["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"],
            "DoNotSchedule");
  ASSERT_TRUE(exists(res::kServices, ns, "orders-cache-redis"));
  ASSERT_TRUE(exists(res::kServices, ns, "orders-cache-redis-headless"));
  EXPECT_EQ(get(res::kServices, ns, "orders-cache-redis-headless")["spec"]["clusterIP"], "None");
  ASSERT_TRUE(exists(res::kPodDisruptionBudgets, ns, "orders-cache-redis"));
  ASSERT_TRUE(exists(res::kJobs, ns, "orders-cache-redis-bootstrap"));
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "orders-cache-redis-config"));
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "orders-cache-client-config"));
  json client_cm = get(res::kConfigMaps, ns, "orders-cache-client-config");
  EXPECT_EQ(client_cm["data"]["L1_MAX_ENTRIES"], "10000");
  EXPECT_EQ(client_cm["data"]["BLOOM_EXPECTED_ITEMS"], "600000000");
  const std::string bootstrap = get(
      res::kJobs, ns,
      "orders-cache-redis-bootstrap")["spec"]["template"]["spec"]["containers"][0]["command"][2];
  EXPECT_NE(bootstrap.find("--cluster-replicas 1 --cluster-yes"), std::string::npos);
  ASSERT_TRUE(generation_observed(cache_tiers_resource(), ns, "orders-cache"));
  json cache = get(cache_tiers_resource(), ns, "orders-cache");
  EXPECT_EQ(cache["status"]["bootstrap"]["job"], "orders-cache-redis-bootstrap");
  EXPECT_EQ(cache["status"]["clusterShards"], 6);

  // ShardSet orders-db: 8 databases, primary + 2 replicas each, MySQL by default.
  EXPECT_EQ(get(shard_sets_resource(), ns, "orders-db")["spec"]["engine"], "mysql");
  // Per database: the primary's StatefulSet (one pod) and the replicas' (two),
  // the rw Service on the primary's pods, the ro Service on the replicas'.
  for (int db = 0; db < 8; ++db) {
    const std::string name = "orders-db-" + std::to_string(db);
    ASSERT_TRUE(exists(res::kStatefulSets, ns, name)) << name;
    ASSERT_TRUE(exists(res::kStatefulSets, ns, name + "-replica")) << name;
    const json primary = get(res::kStatefulSets, ns, name);
    const json replicas = get(res::kStatefulSets, ns, name + "-replica");
    EXPECT_EQ(primary["spec"]["replicas"], 1);
    EXPECT_EQ(replicas["spec"]["replicas"], 2);
    EXPECT_EQ(replicas["spec"]["podManagementPolicy"], "Parallel");
    ASSERT_TRUE(exists(res::kServices, ns, name + "-rw"));
    ASSERT_TRUE(exists(res::kServices, ns, name + "-ro"));
    ASSERT_TRUE(exists(res::kPodDisruptionBudgets, ns, name));
    const json rw = get(res::kServices, ns, name + "-rw")["spec"]["selector"];
    const json ro = get(res::kServices, ns, name + "-ro")["spec"]["selector"];
    EXPECT_EQ(rw, primary["spec"]["selector"]["matchLabels"]);
    EXPECT_EQ(ro, replicas["spec"]["selector"]["matchLabels"]);
    EXPECT_EQ(rw["tiers.orderguard.io/role"], "primary");
    EXPECT_EQ(ro["tiers.orderguard.io/role"], "replica");
  }
  // The schema: per database a ConfigMap with its SQL for this month and the
  // next, one Job running them, its progress in status.
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::string month = period_suffix("monthly", today);
  for (int db = 0; db < 8; ++db) {
    const std::string cm = "orders-db-" + std::to_string(db) + "-schema";
    ASSERT_TRUE(exists(res::kConfigMaps, ns, cm)) << cm;
    const std::string sql =
        get(res::kConfigMaps, ns, cm)["data"]["shard-" + std::to_string(db) + ".sql"];
    EXPECT_NE(sql.find("CREATE DATABASE IF NOT EXISTS `orders_" + std::to_string(db) + "`;"),
              std::string::npos)
        << sql;
    EXPECT_NE(sql.find("_7_" + month + "` LIKE"), std::string::npos) << sql;
  }
  auto examples = parse_shard_set_object(get(shard_sets_resource(), ns, "orders-db"));
  ASSERT_TRUE(examples.ok()) << examples.error().describe();
  const std::string schema_job = schema_job_name(*examples, today);
  ASSERT_TRUE(exists(res::kJobs, ns, schema_job)) << schema_job;
  EXPECT_EQ(get(res::kJobs, ns,
                schema_job)["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"]
                .size(),
            8u);
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "orders-db-routing"));
  const json routing = json::parse(
      get(res::kConfigMaps, ns, "orders-db-routing")["data"]["routing.json"].get<std::string>());
  EXPECT_EQ(routing["tables"], 64);
  bool found = false;
  for (const auto& v : routing["testVectors"]) {
    if (v["key"] != "12345") continue;
    found = true;
    EXPECT_EQ(v["database"], 7);
    EXPECT_EQ(v["table"], 0);
    EXPECT_EQ(v["tableName"], "orders_7_0_202611");
  }
  EXPECT_TRUE(found) << routing.dump(2);
  // The credentials Secret: random passwords, kept with the volumes (Retain:
  // no owner), recorded in status.
  ASSERT_TRUE(exists(res::kSecrets, ns, "orders-db-mysql"));
  const json secret = get(res::kSecrets, ns, "orders-db-mysql");
  EXPECT_FALSE(secret["metadata"].contains("ownerReferences"));
  for (const char* key : {"root-password", "replication-password"}) {
    auto password = base64_decode(secret["data"].value(key, ""));
    ASSERT_TRUE(password.ok()) << key;
    EXPECT_EQ(password->size(), 24u) << key;
    EXPECT_TRUE(std::all_of(password->begin(), password->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c));
    })) << key;
  }
  ASSERT_TRUE(generation_observed(shard_sets_resource(), ns, "orders-db"));
  ASSERT_TRUE(poll_until(
      [&] {
        return get(shard_sets_resource(), ns, "orders-db")["status"].value("credentialsSecret",
                                                                           "") == "orders-db-mysql";
      },
      30s));
  const json shards = get(shard_sets_resource(), ns, "orders-db")["status"]["shards"];
  ASSERT_EQ(shards.size(), 8u);
  EXPECT_EQ(shards[0]["replicas"], 3);
  EXPECT_EQ(shards[0]["primaryReady"], false);  // no kubelet: pods stay Pending
  EXPECT_EQ(condition(shard_sets_resource(), ns, "orders-db", "Ready")["reason"],
            "PrimaryNotReady");
  ASSERT_TRUE(poll_until(
      [&] {
        return get(shard_sets_resource(), ns, "orders-db")["status"].value("schema", json()) ==
               json({{"period", month}, {"job", schema_job}, {"complete", false}});
      },
      30s))
      << get(shard_sets_resource(), ns, "orders-db")["status"].dump();
  EXPECT_EQ(condition(shard_sets_resource(), ns, "orders-db", "SchemaReady")["reason"],
            "SchemaPending");
  // The OrderService still reads both tiers.
  ASSERT_TRUE(poll_until(
      [&] {
        json cm = get(res::kConfigMaps, ns, "orders-tier-config");
        return !cm.is_null() && cm["data"].value("ORDERGUARD_CACHE_STATUS", "") == "Found";
      },
      30s));

  // Converged: a pass of each reconciler sends nothing and changes nothing.
  const double quiet = wait_for_quiet();
  auto rvs = [&] {
    std::vector<std::string> out;
    auto rv = [&](const kube::Resource& r, const std::string& name) {
      out.push_back(get(r, ns, name)["metadata"].value("resourceVersion", ""));
    };
    rv(cache_tiers_resource(), "orders-cache");
    rv(shard_sets_resource(), "orders-db");
    rv(res::kStatefulSets, "orders-cache-redis");
    rv(res::kServices, "orders-cache-redis-headless");
    rv(res::kConfigMaps, "orders-cache-client-config");
    rv(res::kConfigMaps, "orders-db-routing");
    rv(res::kSecrets, "orders-db-mysql");
    rv(res::kJobs, schema_job);
    for (int db = 0; db < 8; ++db) {
      rv(res::kStatefulSets, "orders-db-" + std::to_string(db));
      rv(res::kStatefulSets, "orders-db-" + std::to_string(db) + "-replica");
      rv(res::kConfigMaps, "orders-db-" + std::to_string(db) + "-schema");
    }
    return out;
  };
  const auto before = rvs();
  for (int i = 0; i < 2; ++i) {
    auto c = manager_->cache_tier_reconciler().reconcile({ns, "orders-cache"});
    ASSERT_TRUE(c.ok()) << c.error().describe();
    auto s = manager_->shard_set_reconciler().reconcile({ns, "orders-db"});
    ASSERT_TRUE(s.ok()) << s.error().describe();
    // Monthly tables: the pass comes back when the next month starts.
    ASSERT_TRUE(s.result().requeue());
    const auto left = until_next_period(*examples, std::chrono::system_clock::now());
    ASSERT_TRUE(left.has_value());
    EXPECT_LE(s.result().after(), *left + 5s);
    EXPECT_GE(s.result().after(), *left - 60s);
  }
  EXPECT_EQ(writes(), quiet);
  EXPECT_EQ(rvs(), before);

  // A deleted child comes back.
  ASSERT_TRUE(client_->remove(res::kServices, ns, "orders-db-5-ro").ok());
  ASSERT_TRUE(exists(res::kServices, ns, "orders-db-5-ro"));

  // Deleting the ShardSet collects its children; Retain keeps the volumes the
  // StatefulSet controller created for the (Pending) primaries and replicas.
  ASSERT_TRUE(poll_until(
      [&] {
        auto pvcs = cluster().kubectl({"get", "pvc", "-n", ns, "-o", "name"});
        return pvcs.ok() && pvcs.out.find("data-orders-db-0-0") != std::string::npos &&
               pvcs.out.find("data-orders-db-0-replica-1") != std::string::npos;
      },
      30s));
  ASSERT_TRUE(client_->remove(shard_sets_resource(), ns, "orders-db").ok());
  ASSERT_TRUE(poll_until(
      [&] {
        return get(res::kStatefulSets, ns, "orders-db-0").is_null() &&
               get(res::kStatefulSets, ns, "orders-db-0-replica").is_null() &&
               get(res::kConfigMaps, ns, "orders-db-0-schema").is_null() &&
               get(res::kJobs, ns, schema_job).is_null() &&
               get(res::kConfigMaps, ns, "orders-db-routing").is_null() &&
               get(res::kServices, ns, "orders-db-7-rw").is_null();
      },
      60s));
  auto pvcs = cluster().kubectl({"get", "pvc", "-n", ns, "-o", "name"});
  ASSERT_TRUE(pvcs.ok()) << pvcs.err;
  EXPECT_NE(pvcs.out.find("data-orders-db-0-0"), std::string::npos) << pvcs.out;
  EXPECT_NE(pvcs.out.find("data-orders-db-0-replica-1"), std::string::npos) << pvcs.out;
  // The Secret stays with them, and a ShardSet of the same name takes both up
  // again: its Secret is not replaced.
  const json kept = get(res::kSecrets, ns, "orders-db-mysql");
  ASSERT_FALSE(kept.is_null());
  EXPECT_EQ(kept["data"], secret["data"]);
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", kSource + "/examples/order-platform.yaml"}).ok());
  ASSERT_TRUE(poll_until(
      [&] {
        return get(shard_sets_resource(), ns, "orders-db")
                   .value("status", json::object())
                   .value("credentialsSecret", "") == "orders-db-mysql";
      },
      30s));
  EXPECT_EQ(get(res::kSecrets, ns, "orders-db-mysql")["metadata"]["resourceVersion"],
            kept["metadata"]["resourceVersion"]);
  ASSERT_TRUE(client_->remove(shard_sets_resource(), ns, "orders-db").ok());
}

TEST_F(TiersE2E, ScaleUpRebalancesScaleDownIsRefusedAndDeleteCollects) {
  const std::string ns = "scale";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  const std::string tier = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: CacheTier
metadata: {name: c, namespace: scale}
spec:
  redis: {shards: 3, replicasPerShard: 1, memory: 256Mi}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, tier).ok());
  auto replicas = [&] {
    json s = get(res::kStatefulSets, ns, "c-redis");
    return s.is_null() ? -1 : s["spec"].value("replicas", -1);
  };
  ASSERT_TRUE(poll_until([&] { return replicas() == 6; }, 30s));
  ASSERT_TRUE(exists(res::kJobs, ns, "c-redis-bootstrap"));
  ASSERT_TRUE(generation_observed(cache_tiers_resource(), ns, "c"));

  // Up: 4 shards -> 8 pods and a rebalance Job for the new shard.
  auto scale = [&](int shards) {
    auto r = client_->patch(cache_tiers_resource(), ns, "c", kube::PatchType::kMerge,
                            {{"spec", {{"redis", {{"shards", shards}}}}}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
  };
  scale(4);
  ASSERT_TRUE(poll_until([&] { return replicas() == 8; }, 30s)) << replicas();
  ASSERT_TRUE(exists(res::kJobs, ns, "c-redis-rebalance-4"));
  const std::string script =
      get(res::kJobs, ns,
          "c-redis-rebalance-4")["spec"]["template"]["spec"]["containers"][0]["command"][2];
  EXPECT_NE(script.find("--cluster add-node c-redis-6."), std::string::npos) << script;
  EXPECT_NE(script.find("--cluster-use-empty-masters"), std::string::npos) << script;
  ASSERT_TRUE(generation_observed(cache_tiers_resource(), ns, "c"));
  EXPECT_EQ(get(cache_tiers_resource(), ns, "c")["status"]["clusterShards"], 4);
  // The bootstrap Job is not recreated for the new size.
  EXPECT_NE(get(res::kJobs, ns,
                "c-redis-bootstrap")["spec"]["template"]["spec"]["containers"][0]["command"][2]
                .get<std::string>()
                .find("c-redis-5."),
            std::string::npos);

  // Down: refused, the StatefulSet keeps its size, the condition says why.
  scale(3);
  ASSERT_TRUE(poll_until(
      [&] {
        return condition(cache_tiers_resource(), ns, "c", "Ready").value("reason", "") ==
               "ScaleDownBlocked";
      },
      30s));
  json ready = condition(cache_tiers_resource(), ns, "c", "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_NE(ready["message"].get<std::string>().find("drained-to-shards=3"), std::string::npos);
  ASSERT_TRUE(generation_observed(cache_tiers_resource(), ns, "c"));
  EXPECT_EQ(replicas(), 8);

  // Once the user marks the cluster drained, the scale down proceeds.
  ASSERT_TRUE(
      cluster()
          .kubectl({"annotate", "-n", ns, "cachetier/c", "tiers.orderguard.io/drained-to-shards=3"})
          .ok());
  ASSERT_TRUE(poll_until([&] { return replicas() == 6; }, 30s)) << replicas();
  ASSERT_TRUE(poll_until(
      [&] {
        return condition(cache_tiers_resource(), ns, "c", "Ready").value("reason", "") !=
               "ScaleDownBlocked";
      },
      30s));

  // Deleting the CacheTier collects its children, Jobs included.
  ASSERT_TRUE(client_->remove(cache_tiers_resource(), ns, "c").ok());
  ASSERT_TRUE(poll_until(
      [&] {
        return get(res::kStatefulSets, ns, "c-redis").is_null() &&
               get(res::kServices, ns, "c-redis-headless").is_null() &&
               get(res::kConfigMaps, ns, "c-client-config").is_null() &&
               get(res::kJobs, ns, "c-redis-bootstrap").is_null() &&
               get(res::kJobs, ns, "c-redis-rebalance-4").is_null();
      },
      60s));
}

// The CacheTier's Pod counts and printer columns are the StatefulSet's
// status, not the size asked for: a ResourceQuota lets the StatefulSet
// controller create only 4 of the 6 Redis Pods (it counts Pods with resource
// requests; the bootstrap Job's has none), and the test plays the kubelet for
// one of them.
TEST_F(TiersE2E, CacheTierShowsThePodsThatExistAndAreReady) {
  const std::string ns = "quota";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  const std::string quota = R"(apiVersion: v1
kind: ResourceQuota
metadata: {name: pods, namespace: quota}
spec:
  hard: {pods: "4"}
  scopes: [NotBestEffort]
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, quota).ok());
  // Quota admission refuses Pods until the quota controller has counted.
  ASSERT_TRUE(poll_until(
      [&] {
        auto q = cluster().kubectl(
            {"get", "resourcequota", "pods", "-n", ns, "-o", "jsonpath={.status.hard.pods}"});
        return q.ok() && q.out == "4";
      },
      60s));
  const std::string tier = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: CacheTier
metadata: {name: c, namespace: quota}
spec:
  redis: {shards: 3, replicasPerShard: 1, memory: 64Mi}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, tier).ok());
  auto status = [&] {
    json c = get(cache_tiers_resource(), ns, "c");
    return c.is_null() ? json::object() : c.value("status", json::object());
  };
  auto counts = [&] {
    json s = status();
    return std::vector<int>{s.value("replicas", -1), s.value("readyReplicas", -1),
                            s.value("desiredReplicas", -1)};
  };
  ASSERT_TRUE(poll_until(
      [&] {
        return counts() == std::vector<int>{4, 0, 6};
      },
      60s))
      << status().dump();

  // One Pod ready, as its kubelet would report it.
  ASSERT_TRUE(poll_until(
      [&] {
        return set_pods_ready(ns, "statefulset.kubernetes.io/pod-name=c-redis-0", true) &&
               counts() == std::vector<int>{4, 1, 6};
      },
      60s))
      << status().dump();
  json ready = condition(cache_tiers_resource(), ns, "c", "Ready");
  EXPECT_EQ(ready["reason"], "PodsNotReady");
  EXPECT_EQ(ready["message"], "1/6 Redis pods ready");

  // kubectl get: the columns the CRD declares, with these figures.
  auto table = cluster().kubectl({"get", "cachetier", "c", "-n", ns});
  ASSERT_TRUE(table.ok()) << table.err;
  std::istringstream lines(table.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  auto words = [](const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
  };
  EXPECT_EQ(words(header), (std::vector<std::string>{"NAME", "READY", "SHARDS", "PODS",
                                                     "READY-PODS", "DESIRED-PODS", "AGE"}))
      << table.out;
  auto cells = words(row);
  ASSERT_EQ(cells.size(), 7u) << table.out;
  EXPECT_EQ(std::vector<std::string>(cells.begin(), cells.begin() + 6),
            (std::vector<std::string>{"c", "False", "3", "4", "1", "6"}))
      << table.out;
  auto wide = cluster().kubectl({"get", "cachetier", "c", "-n", ns, "-o", "wide"});
  ASSERT_TRUE(wide.ok()) << wide.err;
  EXPECT_NE(wide.out.find("REPLICAS-PER-SHARD"), std::string::npos) << wide.out;

  ASSERT_TRUE(client_->remove(cache_tiers_resource(), ns, "c").ok());
}

// The schema Job: one per period and shape, its completion recorded in
// status so that its TTL may collect it without a rerun. No kubelet runs its
// pod here, so the test marks it succeeded as the Job controller would.
TEST_F(TiersE2E, SchemaJobRunsOncePerPeriodAndShape) {
  const std::string ns = "schema";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  const std::string manifest = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: ShardSet
metadata: {name: s, namespace: schema}
spec:
  shardKey: user_id
  databases: 2
  tablesPerDatabase: 2
  timeSplit: daily
  replicasPerShard: 0
  storage: {size: 1Gi}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, manifest).ok());
  auto set = [&] { return parse_shard_set_object(get(shard_sets_resource(), ns, "s")).value(); };
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::string job = schema_job_name(set(), today);
  EXPECT_TRUE(job.starts_with("s-schema-" + period_suffix("daily", today) + "-")) << job;
  ASSERT_TRUE(exists(res::kJobs, ns, job));
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "s-1-schema"));
  const std::string sql = get(res::kConfigMaps, ns, "s-1-schema")["data"]["shard-1.sql"];
  const std::string tomorrow = period_suffix("daily", *next_period_start("daily", today));
  EXPECT_NE(sql.find("`s_1`.`s_1_1_" + tomorrow + "` LIKE `s_1`.`s_1_0_" + tomorrow + "`"),
            std::string::npos)
      << sql;

  // Succeeded, as the Job controller records it (after its own start).
  ASSERT_TRUE(poll_until(
      [&] {
        return get(res::kJobs, ns, job).value("status", json::object()).contains("startTime");
      },
      30s));
  const std::string now =
      format_rfc3339(std::chrono::system_clock::now() + std::chrono::seconds(1));
  json done = {
      {"status",
       {{"completionTime", now},
        {"active", 0},
        {"ready", 0},
        {"succeeded", 1},
        {"conditions",
         json::array(
             {{{"type", "SuccessCriteriaMet"}, {"status", "True"}, {"lastTransitionTime", now}},
              {{"type", "Complete"}, {"status", "True"}, {"lastTransitionTime", now}}})}}}};
  auto marked = client_->patch(res::kJobs, ns, job, kube::PatchType::kMerge, done, "status");
  ASSERT_TRUE(marked.ok()) << marked.error().describe();
  ASSERT_TRUE(poll_until(
      [&] {
        return condition(shard_sets_resource(), ns, "s", "SchemaReady").value("status", "") ==
               "True";
      },
      30s));
  EXPECT_EQ(get(shard_sets_resource(), ns, "s")["status"]["schema"]["complete"], true);

  // Collected (as its TTL would): recorded complete, so not run again.
  kube::DeleteOptions background;
  background.propagation_policy = "Background";
  ASSERT_TRUE(client_->remove(res::kJobs, ns, job, background).ok());
  ASSERT_TRUE(poll_until([&] { return get(res::kJobs, ns, job).is_null(); }, 30s));
  auto pass = manager_->shard_set_reconciler().reconcile({ns, "s"});
  ASSERT_TRUE(pass.ok()) << pass.error().describe();
  EXPECT_TRUE(pass.result().requeue());  // daily: at midnight UTC
  EXPECT_LE(pass.result().after(), std::chrono::hours(24));
  EXPECT_TRUE(get(res::kJobs, ns, job).is_null());
  EXPECT_EQ(get(shard_sets_resource(), ns, "s")["status"]["schema"]["complete"], true);

  // New columns make a new Job within the day.
  auto patched = client_->patch(shard_sets_resource(), ns, "s", kube::PatchType::kMerge,
                                {{"spec", {{"tableColumns", "id BIGINT, PRIMARY KEY (id)"}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().describe();
  const std::string reshaped = schema_job_name(set(), today);
  EXPECT_NE(reshaped, job);
  ASSERT_TRUE(exists(res::kJobs, ns, reshaped));
  ASSERT_TRUE(poll_until(
      [&] {
        return condition(shard_sets_resource(), ns, "s", "SchemaReady").value("reason", "") ==
               "SchemaPending";
      },
      30s));
  // The API server refuses columns that would end the statement.
  auto refused = client_->patch(shard_sets_resource(), ns, "s", kube::PatchType::kMerge,
                                {{"spec", {{"tableColumns", "id INT); DROP DATABASE s_0"}}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalid);
  EXPECT_NE(refused.error().message.find("spec.tableColumns"), std::string::npos)
      << refused.error().message;
  ASSERT_TRUE(client_->remove(shard_sets_resource(), ns, "s").ok());
}

// spec.engine: a MariaDB ShardSet runs MariaDB's programs with MariaDB's
// options, and the API server refuses to switch an existing ShardSet's engine.
TEST_F(TiersE2E, MariaDbShardSetKeepsItsEngine) {
  const std::string ns = "maria";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  // The user's own credentials, made before the ShardSet: used, never changed.
  auto own = client_->create(
      res::kSecrets, ns,
      {{"apiVersion", "v1"},
       {"kind", "Secret"},
       {"metadata", {{"name", "m-mysql"}, {"namespace", ns}}},
       {"stringData",
        {{"root-password", "chosen-by-the-user"}, {"replication-password", "also-chosen"}}}});
  ASSERT_TRUE(own.ok()) << own.error().describe();
  const std::string set = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: ShardSet
metadata: {name: m, namespace: maria}
spec:
  engine: mariadb
  shardKey: user_id
  databases: 1
  storage: {size: 1Gi}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, set).ok());
  ASSERT_TRUE(exists(res::kStatefulSets, ns, "m-0"));
  const json pod = get(res::kStatefulSets, ns, "m-0")["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["image"], "mariadb:11.4");
  EXPECT_EQ(pod["containers"][0]["readinessProbe"]["exec"]["command"][0], "mariadb-admin");
  EXPECT_EQ(pod["containers"][0]["env"][0]["name"], "MARIADB_ROOT_PASSWORD");
  ASSERT_TRUE(exists(res::kConfigMaps, ns, "m-0-mysql"));
  const std::string common = get(res::kConfigMaps, ns, "m-0-mysql")["data"]["common.cnf"];
  EXPECT_NE(common.find("gtid_strict_mode=ON"), std::string::npos) << common;
  EXPECT_EQ(common.find("gtid_mode"), std::string::npos) << common;
  ASSERT_TRUE(poll_until(
      [&] {
        return get(shard_sets_resource(), ns, "m")
                   .value("status", json::object())
                   .value("credentialsSecret", "") == "m-mysql";
      },
      30s));
  const json secret = get(res::kSecrets, ns, "m-mysql");
  EXPECT_EQ(secret["metadata"]["resourceVersion"], (*own)["metadata"]["resourceVersion"]);
  EXPECT_EQ(base64_decode(secret["data"]["root-password"].get<std::string>()).value(),
            "chosen-by-the-user");

  auto switched = client_->patch(shard_sets_resource(), ns, "m", kube::PatchType::kMerge,
                                 {{"spec", {{"engine", "mysql"}}}});
  ASSERT_FALSE(switched.ok());
  EXPECT_EQ(switched.error().code, ErrorCode::kInvalid);
  EXPECT_NE(switched.error().message.find(
                "spec.engine: Invalid value: \"string\": engine cannot change from mariadb to "
                "mysql; switching engines on existing data is unsafe"),
            std::string::npos)
      << switched.error().message;
  EXPECT_EQ(get(shard_sets_resource(), ns, "m")["spec"]["engine"], "mariadb");

  // Other fields still change. More replicas grow the replica StatefulSet;
  // none deletes it and the ro Service reads from the primary.
  auto replicas = [&](int n) {
    auto r = client_->patch(shard_sets_resource(), ns, "m", kube::PatchType::kMerge,
                            {{"spec", {{"replicasPerShard", n}}}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
  };
  replicas(2);
  ASSERT_TRUE(poll_until(
      [&] {
        json r = get(res::kStatefulSets, ns, "m-0-replica");
        return !r.is_null() && r["spec"].value("replicas", 0) == 2;
      },
      30s));
  EXPECT_EQ(get(res::kServices, ns, "m-0-ro")["spec"]["selector"]["tiers.orderguard.io/role"],
            "replica");
  replicas(0);
  ASSERT_TRUE(
      poll_until([&] { return get(res::kStatefulSets, ns, "m-0-replica").is_null(); }, 30s));
  ASSERT_TRUE(poll_until(
      [&] {
        return get(res::kServices, ns, "m-0-ro")["spec"]["selector"]["tiers.orderguard.io/role"] ==
               "primary";
      },
      30s));
  EXPECT_FALSE(get(res::kStatefulSets, ns, "m-0").is_null());
  ASSERT_TRUE(generation_observed(shard_sets_resource(), ns, "m"));
  EXPECT_EQ(get(shard_sets_resource(), ns, "m")["status"]["shards"][0]["replicas"], 1);
  ASSERT_TRUE(client_->remove(shard_sets_resource(), ns, "m").ok());
}

// deletionPolicy Delete: the StatefulSet's persistentVolumeClaimRetentionPolicy
// makes the StatefulSet controller put an ownerReference on each volume, so
// the garbage collector removes the volumes with the StatefulSet, which it
// removes with the ShardSet. No finalizer is involved.
TEST_F(TiersE2E, DeletePolicyCollectsTheVolumesWithTheShardSet) {
  const std::string ns = "dbdelete";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  const std::string set = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: ShardSet
metadata: {name: scratch, namespace: dbdelete}
spec:
  shardKey: user_id
  databases: 1
  tablesPerDatabase: 1
  replicasPerShard: 0
  storage: {size: 1Gi}
  deletionPolicy: Delete
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, set).ok());
  auto pvc = [&] {
    return get(kube::Resource{"", "v1", "persistentvolumeclaims", true, "PersistentVolumeClaim"},
               ns, "data-scratch-0-0");
  };
  ASSERT_TRUE(poll_until(
      [&] {
        json p = pvc();
        return !p.is_null() && !p["metadata"].value("ownerReferences", json::array()).empty();
      },
      60s))
      << pvc().dump();
  const json owner = pvc()["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "StatefulSet");
  EXPECT_EQ(owner["name"], "scratch-0");
  // The credentials Secret goes with the data: owned by the ShardSet.
  ASSERT_TRUE(exists(res::kSecrets, ns, "scratch-mysql"));
  const json secret_owner =
      get(res::kSecrets, ns, "scratch-mysql")["metadata"]["ownerReferences"][0];
  EXPECT_EQ(secret_owner["kind"], "ShardSet");
  EXPECT_EQ(secret_owner["name"], "scratch");
  EXPECT_EQ(get(res::kStatefulSets, ns,
                "scratch-0")["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
            "Delete");

  ASSERT_TRUE(client_->remove(shard_sets_resource(), ns, "scratch").ok());
  ASSERT_TRUE(poll_until(
      [&] {
        return get(res::kStatefulSets, ns, "scratch-0").is_null() && pvc().is_null() &&
               get(res::kSecrets, ns, "scratch-mysql").is_null();
      },
      90s))
      << pvc().dump();
}

}  // namespace
}  // namespace orderguard::op

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
