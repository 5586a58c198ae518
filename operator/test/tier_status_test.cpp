#include <gtest/gtest.h>

#include "operator/test/test_util.h"
#include "operator/tier_reconciler.h"

namespace orderguard::op {
namespace {

using testing::load_api_json;

CacheTier tier() { return parse_cache_tier_object(load_api_json("cachetier.json")).value(); }
ShardSet shard_set() { return parse_shard_set_object(load_api_json("shardset.json")).value(); }

json condition(const json& status, const std::string& type) {
  for (const auto& c : status["conditions"])
    if (c["type"] == type) return c;
  return json();
}

json sts(int32_t replicas, int32_t ready) {
  return {{"metadata", {{"generation", 1}}},
          {"status",
           {{"observedGeneration", 1},
            {"replicas", replicas},
            {"updatedReplicas", replicas},
            {"readyReplicas", ready}}}};
}

TEST(CacheStatus, BootstrapPendingThenReadyAndRecordedOnce) {
  const CacheTier t = tier();
  const CachePlan plan = plan_cache(t.spec, std::nullopt, std::nullopt);
  json job = render_redis_bootstrap_job(t, 6);
  json s = compute_cache_status(t, json::object(), plan, nullptr, &job, "", "t0");
  EXPECT_EQ(s["observedGeneration"], 1);
  EXPECT_EQ(s["clusterShards"], 6);
  EXPECT_EQ(s["bootstrap"]["job"], "orders-cache-redis-bootstrap");
  EXPECT_EQ(s["bootstrap"]["completed"], false);
  EXPECT_EQ(condition(s, "Ready")["status"], "False");
  EXPECT_EQ(condition(s, "Progressing")["status"], "True");

  const json all_ready = sts(12, 12);
  s = compute_cache_status(t, s, plan, &all_ready, &job, "", "t1");
  EXPECT_EQ(condition(s, "Ready")["reason"], "BootstrapPending");

  job["status"] = {{"succeeded", 1}};
  s = compute_cache_status(t, s, plan, &all_ready, &job, "", "t2");
  EXPECT_EQ(s["bootstrap"]["completed"], true);
  EXPECT_EQ(s["readyShards"], 6);
  EXPECT_EQ(condition(s, "Ready")["status"], "True");
  EXPECT_EQ(condition(s, "Ready")["lastTransitionTime"], "t2");
  EXPECT_EQ(condition(s, "Progressing")["status"], "False");

  // The Job deleted afterwards: completion stays recorded.
  json again = compute_cache_status(t, s, plan, &all_ready, nullptr, "", "t3");
  EXPECT_EQ(again, s);
}

TEST(CacheStatus, ScaleDownBlockedExplainsHowToDrain) {
  CacheTier t = tier();
  t.spec.redis.shards = 4;
  const CachePlan plan = plan_cache(t.spec, 6, std::nullopt);
  const json live = sts(12, 12);
  json s = compute_cache_status(t, {{"bootstrap", {{"completed", true}}}}, plan, &live, nullptr, "",
                                "t0");
  const json ready = condition(s, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "ScaleDownBlocked");
  const std::string message = ready["message"];
  EXPECT_NE(message.find("del-node"), std::string::npos) << message;
  EXPECT_NE(message.find("tiers.orderguard.io/drained-to-shards=4"), std::string::npos) << message;
  EXPECT_EQ(condition(s, "Degraded")["status"], "True");
  EXPECT_EQ(s["clusterShards"], 6);
  EXPECT_EQ(s["replicas"], 12);
  EXPECT_EQ(s["desiredReplicas"], 12);
}

// The Pod counts are what the StatefulSet has, not what it is asked for: a
// StatefulSet sized for 12 that has created 5 Pods, 3 of them ready.
TEST(CacheStatus, PodCountsComeFromTheStatefulSet) {
  const CacheTier t = tier();
  const CachePlan plan = plan_cache(t.spec, std::nullopt, std::nullopt);
  json none = compute_cache_status(t, json::object(), plan, nullptr, nullptr, "", "t0");
  EXPECT_EQ(none["replicas"], 0);
  EXPECT_EQ(none["readyReplicas"], 0);
  EXPECT_EQ(none["desiredReplicas"], 12);
  json growing = sts(5, 3);
  json s = compute_cache_status(t, json::object(), plan, &growing, nullptr, "", "t1");
  EXPECT_EQ(s["replicas"], 5);
  EXPECT_EQ(s["readyReplicas"], 3);
  EXPECT_EQ(s["desiredReplicas"], 12);
  EXPECT_EQ(condition(s, "Progressing")["status"], "True");
  EXPECT_EQ(condition(s, "Ready")["message"], "3/12 Redis pods ready");
}

// A schema Job the cache does not hold yet.
const SchemaJobState kPending{"202611", "orders-db-schema-202611-0badc0de", nullptr};

TEST(ShardStatus, PrimaryAndReplicasPerShard) {
  const ShardSet set = shard_set();  // 8 databases, 1 replica each
  std::vector<json> primaries, replicas;
  for (int i = 0; i < 8; ++i) {
    primaries.push_back(sts(1, 1));
    replicas.push_back(sts(1, i == 3 ? 0 : 1));
  }
  auto pointers = [&] {
    std::vector<ShardStatefulSets> out;
    for (int i = 0; i < 8; ++i) out.push_back({&primaries[i], &replicas[i]});
    return out;
  };
  // Shard 3's primary serves, its replica does not: not ready, degraded.
  json s = compute_shard_status(set, json::object(), pointers(), "", kPending, "t0");
  EXPECT_EQ(s["readyShards"], 7);
  EXPECT_EQ(s["routingConfigMap"], "orders-db-routing");
  EXPECT_FALSE(s.contains("credentialsSecret"));  // not known to exist yet
  EXPECT_EQ(s["shards"][3]["statefulSet"], "orders-db-3");
  EXPECT_EQ(s["shards"][3]["ready"], false);
  EXPECT_EQ(s["shards"][3]["primaryReady"], true);
  EXPECT_EQ(s["shards"][3]["replicas"], 2);
  EXPECT_EQ(s["shards"][3]["readyReplicas"], 1);
  EXPECT_EQ(s["shards"][2]["readyReplicas"], 2);
  EXPECT_EQ(condition(s, "Ready")["reason"], "ReplicasNotReady");
  EXPECT_EQ(condition(s, "Ready")["message"],
            "shards below their ready replicas: orders-db-3 0/1 replicas");
  EXPECT_EQ(condition(s, "Degraded")["status"], "True");
  EXPECT_NE(condition(s, "Degraded")["message"].get<std::string>().find("orders-db-3"),
            std::string::npos);
  EXPECT_EQ(condition(s, "Progressing")["status"], "False");

  // Shard 5 loses its primary: Ready names it, whatever its replicas do.
  primaries[5] = sts(1, 0);
  s = compute_shard_status(set, s, pointers(), "", kPending, "t1");
  EXPECT_EQ(s["shards"][5]["primaryReady"], false);
  EXPECT_EQ(s["shards"][5]["ready"], false);
  EXPECT_EQ(condition(s, "Ready")["reason"], "PrimaryNotReady");
  EXPECT_EQ(condition(s, "Ready")["message"], "shards without a ready primary: orders-db-5");

  primaries[5] = sts(1, 1);
  replicas[3] = sts(1, 1);
  s = compute_shard_status(set, s, pointers(), "orders-db-mysql", kPending, "t2");
  EXPECT_EQ(s["readyShards"], 8);
  EXPECT_EQ(condition(s, "Ready")["status"], "True");
  EXPECT_EQ(condition(s, "Degraded")["status"], "False");
  EXPECT_EQ(s["credentialsSecret"], "orders-db-mysql");

  // A missing StatefulSet (either role) is being created.
  auto missing = pointers();
  missing[0].replicas = nullptr;
  s = compute_shard_status(set, s, missing, "orders-db-mysql", kPending, "t3");
  EXPECT_EQ(condition(s, "Progressing")["status"], "True");
  EXPECT_EQ(s["shards"][0]["ready"], false);
}

TEST(ShardStatus, WithoutReplicasThePrimaryAloneMakesTheShardReady) {
  ShardSet set = shard_set();
  set.spec.replicas_per_shard = 0;
  std::vector<json> primaries(8, sts(1, 1));
  std::vector<ShardStatefulSets> shards;
  for (const auto& p : primaries) shards.push_back({&p, nullptr});
  json s = compute_shard_status(set, json::object(), shards, "", kPending, "t0");
  EXPECT_EQ(s["readyShards"], 8);
  EXPECT_EQ(s["shards"][0]["replicas"], 1);
  EXPECT_EQ(condition(s, "Ready")["status"], "True");
  EXPECT_EQ(condition(s, "Progressing")["status"], "False");
}

TEST(ShardStatus, SchemaJobCompletionIsRecordedPerJob) {
  const ShardSet set = shard_set();
  const std::vector<ShardStatefulSets> none;
  json s = compute_shard_status(set, json::object(), none, "", kPending, "t0");
  EXPECT_EQ(s["schema"], json({{"period", "202611"},
                               {"job", "orders-db-schema-202611-0badc0de"},
                               {"complete", false}}));
  EXPECT_EQ(condition(s, "SchemaReady")["status"], "False");
  EXPECT_EQ(condition(s, "SchemaReady")["reason"], "SchemaPending");

  json job = {{"metadata", {{"name", kPending.name}}}, {"status", {{"active", 1}}}};
  SchemaJobState running = kPending;
  running.job = &job;
  s = compute_shard_status(set, s, none, "", running, "t1");
  EXPECT_EQ(s["schema"]["complete"], false);

  job["status"] = {{"succeeded", 1},
                   {"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}};
  s = compute_shard_status(set, s, none, "", running, "t2");
  EXPECT_EQ(s["schema"]["complete"], true);
  EXPECT_EQ(condition(s, "SchemaReady")["status"], "True");
  EXPECT_EQ(condition(s, "SchemaReady")["lastTransitionTime"], "t2");

  // The Job's TTL collected it: still complete, nothing changes.
  json again = compute_shard_status(set, s, none, "", kPending, "t3");
  EXPECT_EQ(again, s);

  // The next period's Job starts over.
  const SchemaJobState next{"202612", "orders-db-schema-202612-0badc0de", nullptr};
  s = compute_shard_status(set, s, none, "", next, "t4");
  EXPECT_EQ(s["schema"]["period"], "202612");
  EXPECT_EQ(s["schema"]["complete"], false);
  EXPECT_EQ(condition(s, "SchemaReady")["reason"], "SchemaPending");

  // Out of retries: the condition says so and what to do.
  json failed = {
      {"metadata", {{"name", next.name}}},
      {"status",
       {{"failed", 11}, {"conditions", json::array({{{"type", "Failed"}, {"status", "True"}}})}}}};
  SchemaJobState gave_up = next;
  gave_up.job = &failed;
  s = compute_shard_status(set, s, none, "", gave_up, "t5");
  EXPECT_EQ(condition(s, "SchemaReady")["reason"], "SchemaJobFailed");
  EXPECT_NE(condition(s, "SchemaReady")["message"].get<std::string>().find("delete it"),
            std::string::npos);
}

TEST(ShardStatus, RequeueAtTheNextPeriodBoundary) {
  using namespace std::chrono;
  ShardSet set = shard_set();  // monthly
  auto at = [](sys_days day, hours h) { return system_clock::time_point(day) + h; };
  const sys_days dec31 = year(2026) / 12 / 31;
  EXPECT_EQ(until_next_period(set, at(dec31, hours(23))), hours(1));
  EXPECT_EQ(until_next_period(set, at(sys_days(year(2026) / 11 / 29), hours(0))), days(2));
  // On the boundary itself: the whole new month.
  EXPECT_EQ(until_next_period(set, at(sys_days(year(2027) / 1 / 1), hours(0))), days(31));
  set.spec.time_split = "daily";
  EXPECT_EQ(until_next_period(set, at(dec31, hours(10))), hours(14));
  EXPECT_EQ(until_next_period(set, at(dec31, hours(24)) - milliseconds(1)), seconds(1));
  set.spec.time_split = "none";
  EXPECT_FALSE(until_next_period(set, at(dec31, hours(10))).has_value());
}

}  // namespace
}  // namespace orderguard::op
