#include <gtest/gtest.h>

#include "api/test/test_util.h"
#include "api/tiers.h"

namespace orderguard::api {
namespace {

using testing::load_json;

TEST(ParseOrderService, ReadsEveryField) {
  auto svc = parse_order_service_object(load_json("orderservice.json"));
  ASSERT_TRUE(svc.ok()) << svc.error().describe();
  EXPECT_EQ(svc->meta.name, "orders");
  EXPECT_EQ(svc->meta.ns, "shop");
  EXPECT_EQ(svc->meta.generation, 3);
  EXPECT_EQ(svc->spec.port, 8080);
  ASSERT_EQ(svc->spec.zones.size(), 3u);
  EXPECT_EQ(svc->spec.zones[1].name, "zone-b");
  EXPECT_EQ(svc->spec.zones[1].weight, 33);
  EXPECT_EQ(svc->spec.zones[1].min_replicas, 2);
  EXPECT_EQ(svc->spec.resource_requests.at("memory"), "1Gi");
  EXPECT_EQ(svc->spec.env.at(0).value, "prod");
  EXPECT_FALSE(svc->spec.autoscaling.has_value());
  EXPECT_EQ(svc->spec.failover.min_healthy_zones, 2);
  EXPECT_EQ(svc->spec.cache_ref, "orders-cache");
  EXPECT_EQ(svc->spec.shard_set_ref, "orders-db");
}

TEST(ParseOrderService, AppliesCrdDefaults) {
  auto spec = parse_order_service({{"image", "x"}, {"zones", {{{"name", "a"}, {"weight", 100}}}}});
  ASSERT_TRUE(spec.ok()) << spec.error().describe();
  EXPECT_EQ(spec->port, 8080);
  EXPECT_EQ(spec->replicas, 3);
  EXPECT_EQ(spec->zones[0].min_replicas, 1);
  EXPECT_EQ(spec->failover.unhealthy_after_seconds, 60);
  EXPECT_EQ(spec->failover.min_healthy_zones, 1);
  auto scaled = parse_order_service({{"image", "x"},
                                     {"zones", {{{"name", "a"}, {"weight", 100}}}},
                                     {"autoscaling", {{"minReplicas", 2}, {"maxReplicas", 5}}}});
  ASSERT_TRUE(scaled.ok()) << scaled.error().describe();
  EXPECT_EQ(scaled->autoscaling->target_cpu_utilization_percentage, 70);
  EXPECT_EQ(scaled->autoscaling->target_requests_per_second_per_pod, 100);
}

TEST(ParseOrderService, StructuralErrorsNameEveryFieldPath) {
  auto spec = parse_order_service(load_json("orderservice_invalid.json"));
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalid);
  const std::string& m = spec.error().message;
  EXPECT_NE(m.find("spec.port: must be an integer"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.zones[1].colour: unknown field"), std::string::npos) << m;
}

TEST(ParseOrderService, SemanticErrorsAreListedTogether) {
  nlohmann::json spec = load_json("orderservice_invalid.json");
  spec["port"] = 80;
  spec["zones"][1].erase("colour");
  auto parsed = parse_order_service(spec);
  ASSERT_FALSE(parsed.ok());
  const std::string& m = parsed.error().message;
  EXPECT_NE(m.find("zone weights must sum to 100 (they sum to 80)"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.zones[1]: duplicate value \"zone-a\""), std::string::npos) << m;
  EXPECT_NE(m.find("minReplicas must be <= maxReplicas"), std::string::npos) << m;
}

TEST(ParseOrderService, RangesAndRequiredFields) {
  auto missing = parse_order_service({{"port", 0}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("spec.image: is required"), std::string::npos);
  EXPECT_NE(missing.error().message.find("spec.zones: is required"), std::string::npos);
  EXPECT_NE(missing.error().message.find("spec.port: must be between 1 and 65535"),
            std::string::npos);
  auto weight =
      parse_order_service({{"image", "x"}, {"zones", {{{"name", "a"}, {"weight", 101}}}}});
  ASSERT_FALSE(weight.ok());
  EXPECT_NE(weight.error().message.find("spec.zones[0].weight: must be between 0 and 100"),
            std::string::npos);
  auto min_healthy = parse_order_service({{"image", "x"},
                                          {"zones", {{{"name", "a"}, {"weight", 100}}}},
                                          {"failover", {{"minHealthyZones", 2}}}});
  ASSERT_FALSE(min_healthy.ok());
  EXPECT_NE(min_healthy.error().message.find("minHealthyZones"), std::string::npos);
}

TEST(ParseCacheTier, ReadsFieldsAndDefaults) {
  auto c = parse_cache_tier_object(load_json("cachetier.json"));
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->spec.redis.shards, 6);
  EXPECT_EQ(c->spec.redis.image, "redis:7.2");
  EXPECT_EQ(c->spec.redis.maxmemory_policy, "allkeys-lru");
  EXPECT_EQ(c->spec.protection.bloom_expected_items, 600000000);
  EXPECT_EQ(c->spec.protection.bloom_false_positive_rate_ppm, 10000);
  EXPECT_EQ(c->spec.protection.null_value_ttl_seconds, 30);
  auto bad = parse_cache_tier({{"redis", {{"shards", 2}, {"maxmemoryPolicy", "random"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("spec.redis.shards: must be between 3 and 100"),
            std::string::npos);
  EXPECT_NE(bad.error().message.find("spec.redis.maxmemoryPolicy: must be one of"),
            std::string::npos);
}

TEST(ParseShardSet, ReadsFieldsAndDefaults) {
  auto s = parse_shard_set_object(load_json("shardset.json"));
  ASSERT_TRUE(s.ok()) << s.error().describe();
  EXPECT_EQ(s->spec.databases, 8);
  EXPECT_EQ(s->spec.strategy, "hash");
  EXPECT_EQ(s->spec.deletion_policy, "Retain");
  EXPECT_EQ(s->spec.storage_size, "100Gi");
  EXPECT_EQ(s->spec.engine, "mysql");
  EXPECT_EQ(s->spec.image, "mysql:8.0");
  auto maria = parse_shard_set({{"shardKey", "user_id"}, {"databases", 1}, {"engine", "mariadb"}});
  ASSERT_TRUE(maria.ok()) << maria.error().describe();
  EXPECT_EQ(maria->image, "mariadb:11.4");
  auto own = parse_shard_set(
      {{"shardKey", "user_id"}, {"databases", 1}, {"engine", "mariadb"}, {"image", "db:1"}});
  EXPECT_EQ(own->image, "db:1");
  auto unknown = parse_shard_set({{"shardKey", "user_id"}, {"databases", 1}, {"engine", "pg"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("spec.engine: must be one of mariadb, mysql"),
            std::string::npos)
      << unknown.error().message;
  auto bad = parse_shard_set({{"shardKey", "user_id"},
                              {"databases", 1024},
                              {"tablesPerDatabase", 1024},
                              {"zones", {"a", "a"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("65536"), std::string::npos);
  EXPECT_NE(bad.error().message.find("spec.zones[1]: duplicate value"), std::string::npos);
}

TEST(ParseShardSet, TableColumnsCannotEndTheStatement) {
  for (const char* bad : {"id INT); DROP DATABASE orders_0", "id INT \\g", "id INT,\nkey (id)"}) {
    auto r = parse_shard_set({{"shardKey", "user_id"}, {"databases", 1}, {"tableColumns", bad}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("spec.tableColumns"), std::string::npos) << r.error().message;
  }
  auto ok = parse_shard_set(
      {{"shardKey", "user_id"}, {"databases", 1}, {"tableColumns", "id INT, note VARCHAR(8)"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->table_columns, "id INT, note VARCHAR(8)");
  EXPECT_EQ(parse_shard_set({{"shardKey", "k"}, {"databases", 1}})->table_columns,
            "order_id BIGINT UNSIGNED NOT NULL, k VARCHAR(64) NOT NULL, created_at DATETIME(3) "
            "NOT NULL, body JSON, PRIMARY KEY (order_id), KEY (k)");
}

}  // namespace
}  // namespace orderguard::api
