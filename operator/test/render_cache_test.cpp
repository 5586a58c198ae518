#include "operator/render_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "operator/test/test_util.h"

namespace orderguard::op {
namespace {

using testing::load_api_json;
using testing::load_json;

CacheTier tier() {
  auto t = parse_cache_tier_object(load_api_json("cachetier.json"));
  EXPECT_TRUE(t.ok()) << t.error().describe();
  return std::move(t).value();
}

void expect_golden(const json& actual, const std::string& name) {
  const std::string path = std::string(OPERATOR_TESTDATA_DIR) + "/golden/" + name;
  if (std::getenv("ORDERGUARD_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << actual.dump(2) << "\n";
  }
  EXPECT_EQ(actual, load_json("golden/" + name)) << actual.dump(2);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(RenderCache, StatefulSetSizedShardsTimesCopies) {
  json sts = render_redis_statefulset(tier(), 6);
  EXPECT_EQ(sts["kind"], "StatefulSet");
  EXPECT_EQ(sts["metadata"]["name"], "orders-cache-redis");
  EXPECT_EQ(sts["spec"]["replicas"], 12);  // 6 shards x (1 master + 1 replica)
  EXPECT_EQ(sts["spec"]["serviceName"], "orders-cache-redis-headless");
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["kind"], "CacheTier");
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["uid"], "3333");
  EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(render_redis_statefulset(tier(), 7)["spec"]["replicas"], 14);
}

TEST(RenderCache, SpreadsOverZonesHardAndHostsSoft) {
  const json pod = render_redis_statefulset(tier(), 6)["spec"]["template"]["spec"];
  const json& spread = pod["topologySpreadConstraints"];
  ASSERT_EQ(spread.size(), 2u);
  EXPECT_EQ(spread[0]["topologyKey"], "topology.kubernetes.io/zone");
  EXPECT_EQ(spread[0]["whenUnsatisfiable"], "DoNotSchedule");
  EXPECT_EQ(spread[0]["maxSkew"], 1);
  EXPECT_EQ(spread[1]["topologyKey"], "kubernetes.io/hostname");
  EXPECT_EQ(pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
               ["podAffinityTerm"]["topologyKey"],
            "kubernetes.io/hostname");
  EXPECT_EQ(pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
               ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
            json::array({"zone-a", "zone-b"}));

  // Without zones: no hard zone constraint (a single-zone cluster still schedules).
  CacheTier t = tier();
  t.spec.redis.zones.clear();
  const json plain = render_redis_statefulset(t, 6)["spec"]["template"]["spec"];
  ASSERT_EQ(plain["topologySpreadConstraints"].size(), 1u);
  EXPECT_EQ(plain["topologySpreadConstraints"][0]["topologyKey"], "kubernetes.io/hostname");
  EXPECT_FALSE(plain["affinity"].contains("nodeAffinity"));
}

TEST(RenderCache, ServerConfigIsClusterEnabledWithMemoryLimits) {
  const std::string conf = render_redis_config_map(tier())["data"]["redis.conf"];
  EXPECT_TRUE(contains(conf, "cluster-enabled yes\n"));
  EXPECT_TRUE(contains(conf, "cluster-config-file /data/nodes.conf\n"));
  EXPECT_TRUE(contains(conf, "maxmemory 4gb\n"));
  EXPECT_TRUE(contains(conf, "maxmemory-policy allkeys-lru\n"));
  EXPECT_TRUE(contains(conf, "appendonly yes\n"));
  EXPECT_EQ(redis_memory("512Mi"), "512mb");
}

TEST(RenderCache, ServicesAndPdb) {
  json headless = render_redis_headless_service(tier());
  EXPECT_EQ(headless["spec"]["clusterIP"], "None");
  EXPECT_EQ(headless["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(headless["spec"]["ports"].size(), 2u);
  json client = render_redis_client_service(tier());
  EXPECT_EQ(client["metadata"]["name"], "orders-cache-redis");
  EXPECT_EQ(client["spec"]["ports"][0]["port"], 6379);
  json pdb = render_redis_pdb(tier());
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
  EXPECT_EQ(pdb["spec"]["selector"]["matchLabels"]["tiers.orderguard.io/cachetier"],
            "orders-cache");
}

TEST(RenderCache, BootstrapJobCreatesClusterFromEveryPod) {
  json job = render_redis_bootstrap_job(tier(), 6);
  expect_golden(job, "redis-bootstrap-job.json");
  const std::string script = job["spec"]["template"]["spec"]["containers"][0]["command"][2];
  EXPECT_TRUE(contains(script,
                       "redis-cli --cluster create "
                       "orders-cache-redis-0.orders-cache-redis-headless.shop.svc:6379 "));
  EXPECT_TRUE(contains(script,
                       "orders-cache-redis-11.orders-cache-redis-headless.shop.svc:6379 "
                       "--cluster-replicas 1 --cluster-yes"));
  EXPECT_FALSE(contains(script, "orders-cache-redis-12."));
  EXPECT_EQ(job["metadata"]["annotations"][kTargetShardsAnnotation], "6");
}

TEST(RenderCache, RebalanceJobAddsNewMastersThenReplicasThenRebalances) {
  json job = render_redis_rebalance_job(tier(), 6, 7);
  EXPECT_EQ(job["metadata"]["name"], "orders-cache-redis-rebalance-7");
  const std::string script = job["spec"]["template"]["spec"]["containers"][0]["command"][2];
  const std::string seed = "orders-cache-redis-0.orders-cache-redis-headless.shop.svc:6379";
  const auto master = script.find("--cluster add-node orders-cache-redis-12.");
  const auto replica = script.find("--cluster add-node orders-cache-redis-13.");
  const auto rebalance =
      script.find("redis-cli --cluster rebalance " + seed + " --cluster-use-empty-masters");
  ASSERT_NE(master, std::string::npos) << script;
  ASSERT_NE(replica, std::string::npos) << script;
  ASSERT_NE(rebalance, std::string::npos) << script;
  EXPECT_LT(master, replica);
  EXPECT_LT(replica, rebalance);
  EXPECT_TRUE(contains(script, "orders-cache-redis-13.orders-cache-redis-headless.shop.svc:6379 " +
                                   seed + " --cluster-slave"));
  EXPECT_FALSE(contains(script, "add-node orders-cache-redis-11."));
  // A retry after an attempt that stopped mid-migration closes the open slot
  // before it adds nodes or rebalances.
  const auto fix = script.find("redis-cli --cluster fix " + seed + " --cluster-yes");
  ASSERT_NE(fix, std::string::npos) << script;
  EXPECT_LT(fix, master);
}

TEST(RenderCache, ClientConfigCarriesL1ProtectionAndSeeds) {
  const json data = render_cache_client_config_map(tier())["data"];
  EXPECT_EQ(data["L1_MAX_ENTRIES"], "10000");
  EXPECT_EQ(data["L1_TTL_SECONDS"], "60");
  EXPECT_EQ(data["L1_TTL_JITTER_PERCENT"], "10");
  EXPECT_EQ(data["BLOOM_FILTER_ENABLED"], "true");
  EXPECT_EQ(data["BLOOM_EXPECTED_ITEMS"], "600000000");
  EXPECT_EQ(data["BLOOM_FALSE_POSITIVE_RATE_PPM"], "10000");
  EXPECT_EQ(data["NULL_VALUE_TTL_SECONDS"], "30");
  EXPECT_EQ(data["HOT_KEY_MUTEX"], "true");
  EXPECT_EQ(data["WARM_UP_KEYS"], "k1");
  EXPECT_EQ(data["REDIS_ENDPOINT"], "orders-cache-redis.shop.svc:6379");
  const std::string seeds = data["REDIS_SEEDS"];
  EXPECT_TRUE(contains(seeds, "orders-cache-redis-5.orders-cache-redis-headless.shop.svc:6379"));
  EXPECT_FALSE(contains(seeds, "orders-cache-redis-6."));
}

TEST(PlanCache, FirstPassScaleUpScaleDownAndDrained) {
  CacheTierSpec spec = tier().spec;  // 6 shards
  CachePlan first = plan_cache(spec, std::nullopt, std::nullopt);
  EXPECT_EQ(first.cluster_shards, 6);
  EXPECT_FALSE(first.scale_down_blocked);
  EXPECT_FALSE(first.rebalance_from);

  CachePlan same = plan_cache(spec, 6, std::nullopt);
  EXPECT_EQ(same.cluster_shards, 6);
  EXPECT_FALSE(same.rebalance_from);

  spec.redis.shards = 8;
  CachePlan up = plan_cache(spec, 6, std::nullopt);
  EXPECT_EQ(up.cluster_shards, 8);
  EXPECT_EQ(up.rebalance_from, 6);

  spec.redis.shards = 4;
  CachePlan down = plan_cache(spec, 6, std::nullopt);
  EXPECT_TRUE(down.scale_down_blocked);
  EXPECT_EQ(down.cluster_shards, 6);                       // the StatefulSet keeps the old size
  EXPECT_TRUE(plan_cache(spec, 6, 5).scale_down_blocked);  // drained to another size

  CachePlan drained = plan_cache(spec, 6, 4);
  EXPECT_FALSE(drained.scale_down_blocked);
  EXPECT_EQ(drained.cluster_shards, 4);
  EXPECT_FALSE(drained.rebalance_from);
}

TEST(RenderCache, ChildrenAreConfigFirstAndAllOwned) {
  auto children = render_cache_children(tier(), plan_cache(tier().spec, std::nullopt, {}));
  ASSERT_EQ(children.size(), 6u);
  EXPECT_EQ(children[0]["kind"], "ConfigMap");
  EXPECT_EQ(children[1]["kind"], "ConfigMap");
  for (const auto& c : children) {
    EXPECT_EQ(c["metadata"]["namespace"], "shop");
    EXPECT_EQ(c["metadata"]["labels"]["app.kubernetes.io/managed-by"], "orderguard-operator");
    EXPECT_EQ(c["metadata"]["ownerReferences"][0]["name"], "orders-cache");
  }
}

}  // namespace
}  // namespace orderguard::op
