#include "operator/render.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "operator/test/test_util.h"

namespace orderguard::op {
namespace {

using testing::load_api_json;
using testing::load_json;

OrderService service() {
  auto svc = parse_order_service_object(load_api_json("orderservice.json"));
  EXPECT_TRUE(svc.ok()) << svc.error().describe();
  return std::move(svc).value();
}

OrderService autoscaled_service() {
  json obj = load_api_json("orderservice.json");
  obj["spec"]["autoscaling"] = {{"minReplicas", 6},
                                {"maxReplicas", 60},
                                {"targetCPUUtilizationPercentage", 65},
                                {"targetRequestsPerSecondPerPod", 120}};
  auto svc = parse_order_service_object(obj);
  EXPECT_TRUE(svc.ok()) << svc.error().describe();
  return std::move(svc).value();
}

// Compares with testdata/golden/<name>; ORDERGUARD_UPDATE_GOLDEN=1 rewrites it.
void expect_golden(const json& actual, const std::string& name) {
  const std::string path = std::string(OPERATOR_TESTDATA_DIR) + "/golden/" + name;
  if (std::getenv("ORDERGUARD_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << actual.dump(2) << "\n";
  }
  EXPECT_EQ(actual, load_json("golden/" + name)) << actual.dump(2);
}

void expect_owned(const json& obj, const OrderService& svc) {
  ASSERT_EQ(obj["metadata"]["ownerReferences"].size(), 1u);
  const json& ref = obj["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["apiVersion"], kApiVersion);
  EXPECT_EQ(ref["kind"], "OrderService");
  EXPECT_EQ(ref["name"], svc.meta.name);
  EXPECT_EQ(ref["uid"], svc.meta.uid);
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(obj["metadata"]["namespace"], svc.meta.ns);
  EXPECT_EQ(obj["metadata"]["labels"]["app.kubernetes.io/managed-by"], "orderguard-operator");
}

TEST(RenderZoneDeployment, MatchesGolden) {
  OrderService svc = service();
  expect_golden(render_zone_deployment(svc, svc.spec.zones[1], 2), "deployment-zone-b.json");
}

TEST(RenderZoneDeployment, PinnedToItsZoneAndSpreadOverHosts) {
  OrderService svc = service();
  json d = render_zone_deployment(svc, svc.spec.zones[0], 4);
  expect_owned(d, svc);
  EXPECT_EQ(d["metadata"]["name"], "orders-zone-a");
  EXPECT_EQ(d["spec"]["replicas"], 4);
  const json& term = d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
                      ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0];
  EXPECT_EQ(term["matchExpressions"][0]["key"], "topology.kubernetes.io/zone");
  EXPECT_EQ(term["matchExpressions"][0]["values"], json::array({"zone-a"}));
  const json& spread = d["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
  EXPECT_EQ(spread["topologyKey"], "kubernetes.io/hostname");
  EXPECT_EQ(spread["labelSelector"]["matchLabels"], d["spec"]["selector"]["matchLabels"]);
  // The selector picks this zone's pods only, and the template carries it.
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"]["tiers.orderguard.io/zone"], "zone-a");
  for (const auto& [k, v] : d["spec"]["selector"]["matchLabels"].items()) {
    EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"][k], v);
  }
  const json& c = d["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], svc.spec.image);
  EXPECT_EQ(c["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(c["envFrom"][0]["configMapRef"]["name"], "orders-tier-config");
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "1");
}

TEST(RenderZoneDeployment, LeavesReplicasToAnHpa) {
  OrderService svc = autoscaled_service();
  json d = render_zone_deployment(svc, svc.spec.zones[0], std::nullopt);
  EXPECT_FALSE(d["spec"].contains("replicas"));
}

TEST(RenderZoneHpa, CpuAndRequestsPerSecond) {
  OrderService svc = autoscaled_service();
  json h = render_zone_hpa(svc, svc.spec.zones[2], 2, 20);
  expect_owned(h, svc);
  EXPECT_EQ(h["apiVersion"], "autoscaling/v2");
  EXPECT_EQ(h["spec"]["scaleTargetRef"]["name"], "orders-zone-c");
  EXPECT_EQ(h["spec"]["scaleTargetRef"]["kind"], "Deployment");
  EXPECT_EQ(h["spec"]["minReplicas"], 2);
  EXPECT_EQ(h["spec"]["maxReplicas"], 20);
  EXPECT_EQ(h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 65);
  EXPECT_EQ(h["spec"]["metrics"][1]["type"], "Pods");
  EXPECT_EQ(h["spec"]["metrics"][1]["pods"]["metric"]["name"], "http_requests_per_second");
  EXPECT_EQ(h["spec"]["metrics"][1]["pods"]["target"]["type"], "AverageValue");
  EXPECT_EQ(h["spec"]["metrics"][1]["pods"]["target"]["averageValue"], "120");
}

TEST(PlanZones, AutoscalingBoundsSplitByWeight) {
  OrderService svc = autoscaled_service();
  auto plan = plan_zones(svc.spec, {true, true, true});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].hpa_min + plan[1].hpa_min + plan[2].hpa_min, 6);
  EXPECT_EQ(plan[0].hpa_max + plan[1].hpa_max + plan[2].hpa_max, 60);
  EXPECT_EQ(plan[0].hpa_max, 20);  // 20.4, 19.8, 19.8: the leftovers go to b and c
  EXPECT_EQ(plan[1].hpa_max, 20);
  // zone-c fails: its max moves to a and b, its min stays at its floor (2).
  auto failed = plan_zones(svc.spec, {true, true, false});
  EXPECT_EQ(failed[2].hpa_min, 2);
  EXPECT_EQ(failed[2].hpa_max, 2);
  EXPECT_FALSE(failed[2].serving);
  EXPECT_EQ(failed[2].weight_in_effect, 0);
  EXPECT_EQ(failed[0].hpa_max + failed[1].hpa_max, 58);
  EXPECT_EQ(failed[0].weight_in_effect + failed[1].weight_in_effect, 100);
}

TEST(PlanZones, FixedReplicasFollowSplit) {
  OrderService svc = service();
  svc.spec.replicas = 12;
  auto plan = plan_zones(svc.spec, {true, true, true});
  EXPECT_EQ(plan[0].replicas, 4);
  EXPECT_EQ(plan[1].replicas, 4);
  EXPECT_EQ(plan[2].replicas, 4);
  auto failed = plan_zones(svc.spec, {false, true, true});
  EXPECT_EQ(failed[0].replicas, 2);  // its floor
  EXPECT_EQ(failed[1].replicas + failed[2].replicas, 10);
  EXPECT_FALSE(failed[0].healthy);
}

TEST(RenderZonePdb, OnePodAtATimeAndUnhealthyPodsEvictable) {
  OrderService svc = service();
  json p = render_zone_pdb(svc, svc.spec.zones[0]);
  expect_owned(p, svc);
  EXPECT_EQ(p["apiVersion"], "policy/v1");
  EXPECT_EQ(p["spec"]["maxUnavailable"], 1);
  EXPECT_EQ(p["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow");
  EXPECT_EQ(p["spec"]["selector"]["matchLabels"]["tiers.orderguard.io/zone"], "zone-a");
}

TEST(RenderService, SelectsEveryZone) {
  OrderService svc = service();
  json s = render_service(svc);
  expect_owned(s, svc);
  EXPECT_EQ(s["metadata"]["name"], "orders");
  EXPECT_EQ(s["spec"]["selector"], json({{"tiers.orderguard.io/orderservice", "orders"}}));
  EXPECT_EQ(s["spec"]["ports"][0]["targetPort"], "http");
  EXPECT_EQ(selector_string(svc), "tiers.orderguard.io/orderservice=orders");
}

TEST(RenderConfigMap, CarriesCacheAndRoutingSettings) {
  OrderService svc = service();
  auto cache = parse_cache_tier_object(load_api_json("cachetier.json"));
  auto shards = parse_shard_set_object(load_api_json("shardset.json"));
  ASSERT_TRUE(cache.ok() && shards.ok());
  json cm = render_config_map(svc, &*cache, &*shards);
  expect_owned(cm, svc);
  const json& d = cm["data"];
  EXPECT_EQ(d["ORDERGUARD_CACHE_L1_MAX_ENTRIES"], "10000");
  EXPECT_EQ(d["ORDERGUARD_CACHE_L1_TTL_JITTER_PERCENT"], "10");
  EXPECT_EQ(d["ORDERGUARD_CACHE_REDIS_ENDPOINT"], "orders-cache-redis.shop.svc:6379");
  std::string seeds = d["ORDERGUARD_CACHE_REDIS_SEEDS"];
  EXPECT_EQ(seeds.rfind("orders-cache-redis-0.orders-cache-redis-headless.shop.svc:6379", 0), 0u);
  EXPECT_EQ(std::count(seeds.begin(), seeds.end(), ','), 5);  // 6 seeds of 12 pods
  EXPECT_EQ(d["ORDERGUARD_CACHE_BLOOM_EXPECTED_ITEMS"], "600000000");
  EXPECT_EQ(d["ORDERGUARD_SHARDSET_ROUTING_CONFIGMAP"], "orders-db-routing");
  EXPECT_EQ(d["ORDERGUARD_SHARDSET_TIME_SPLIT"], "monthly");
  for (const auto& [k, v] : d.items()) EXPECT_TRUE(v.is_string()) << k;
}

TEST(RenderConfigMap, MissingReferencesAreReported) {
  OrderService svc = service();
  json cm = render_config_map(svc, nullptr, nullptr);
  EXPECT_EQ(cm["data"]["ORDERGUARD_CACHE_STATUS"], "NotFound");
  EXPECT_EQ(cm["data"]["ORDERGUARD_SHARDSET_STATUS"], "NotFound");
  EXPECT_FALSE(cm["data"].contains("ORDERGUARD_CACHE_L1_MAX_ENTRIES"));
  svc.spec.cache_ref.clear();
  svc.spec.shard_set_ref.clear();
  EXPECT_EQ(render_config_map(svc, nullptr, nullptr)["data"], json::object());
}

TEST(RenderChildren, EveryChildOnceWithHpasOnlyWhenAutoscaled) {
  OrderService fixed = service();
  auto children =
      render_children(fixed, plan_zones(fixed.spec, {true, true, true}), nullptr, nullptr);
  EXPECT_EQ(children.size(), 2u + 3 * 2);
  EXPECT_EQ(children[0]["kind"], "ConfigMap");
  OrderService scaled = autoscaled_service();
  auto with_hpa =
      render_children(scaled, plan_zones(scaled.spec, {true, true, true}), nullptr, nullptr);
  EXPECT_EQ(with_hpa.size(), 2u + 3 * 3);
  for (const auto& c : with_hpa) {
    if (c["kind"] == "Deployment") {
      EXPECT_FALSE(c["spec"].contains("replicas"));
    }
  }
}

}  // namespace
}  // namespace orderguard::op
