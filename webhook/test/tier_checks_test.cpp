#include "webhook/tier_checks.h"

#include <gtest/gtest.h>

namespace orderguard::webhook {
namespace {

using nlohmann::json;

TierLookup lookup() {
  return {.cache_tier_exists = [](const std::string& ns, const std::string& name)
              -> std::optional<bool> { return ns == "shop" && name == "orders-cache"; },
          .shard_set_exists = [](const std::string& ns, const std::string& name)
              -> std::optional<bool> { return ns == "shop" && name == "orders-db"; },
          .node_zones =
              [] {
                return std::optional<std::set<std::string>>({"zone-a", "zone-b"});
              }};
}

json order_service(const std::string& cache, const std::string& shards, json zones) {
  json spec = {{"image", "shop/orders:1"}, {"zones", std::move(zones)}};
  if (!cache.empty()) spec["cacheRef"] = {{"name", cache}};
  if (!shards.empty()) spec["shardSetRef"] = {{"name", shards}};
  return {{"metadata", {{"name", "orders"}, {"namespace", "shop"}}}, {"spec", spec}};
}

TEST(TierWarnings, ExistingReferencesAndKnownZonesAreQuiet) {
  json zones =
      json::array({{{"name", "zone-a"}, {"weight", 50}}, {{"name", "zone-b"}, {"weight", 50}}});
  EXPECT_TRUE(
      tier_warnings("OrderService", order_service("orders-cache", "orders-db", zones), lookup())
          .empty());
}

TEST(TierWarnings, MissingReferencesAndUnknownZonesAreNamedByField) {
  json zones =
      json::array({{{"name", "zone-a"}, {"weight", 50}}, {{"name", "zone-x"}, {"weight", 50}}});
  auto w = tier_warnings("OrderService", order_service("nope", "orders-db2", zones), lookup());
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "spec.cacheRef.name: CacheTier shop/nope does not exist (yet)");
  EXPECT_EQ(w[1], "spec.shardSetRef.name: ShardSet shop/orders-db2 does not exist (yet)");
  EXPECT_EQ(w[2], "spec.zones[1].name: no Node is in zone zone-x");
}

TEST(TierWarnings, CacheTierAndShardSetZones) {
  json cache = {{"metadata", {{"namespace", "shop"}}},
                {"spec", {{"redis", {{"zones", {"zone-b", "zone-c"}}}}}}};
  EXPECT_EQ(tier_warnings("CacheTier", cache, lookup()),
            std::vector<std::string>{"spec.redis.zones[1]: no Node is in zone zone-c"});
  json shards = {{"metadata", {{"namespace", "shop"}}}, {"spec", {{"zones", {"zone-q"}}}}};
  EXPECT_EQ(tier_warnings("ShardSet", shards, lookup()),
            std::vector<std::string>{"spec.zones[0]: no Node is in zone zone-q"});
}

TEST(TierWarnings, UnknownStateGivesNoWarning) {
  // Caches not synced: nothing is claimed missing.
  TierLookup unknown{
      .cache_tier_exists = [](const std::string&, const std::string&) -> std::optional<bool> {
        return std::nullopt;
      },
      .shard_set_exists = {},
      .node_zones = [] { return std::optional<std::set<std::string>>(); }};
  json zones = json::array({{{"name", "zone-x"}, {"weight", 100}}});
  EXPECT_TRUE(tier_warnings("OrderService", order_service("nope", "nope", zones), unknown).empty());
}

TEST(TierWarnings, MalformedObjectsAndOtherKindsAreIgnored) {
  for (const json& bad : {json(), json::array(), json{{"spec", 3}}, json{{"spec", {{"zones", 7}}}},
                          json{{"spec", {{"zones", {1, nullptr, json::object()}}}}},
                          json{{"spec", {{"cacheRef", "orders-cache"}}}}}) {
    EXPECT_TRUE(tier_warnings("OrderService", bad, lookup()).empty()) << bad.dump();
  }
  EXPECT_TRUE(tier_warnings("Pod", order_service("nope", "", json::array()), lookup()).empty());
}

TEST(TierWarnings, StayUnder120Characters) {
  const std::string long_name(200, 'n');
  auto w = tier_warnings("OrderService", order_service(long_name, "", json::array()), lookup());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_LE(w[0].size(), 120u);
  EXPECT_EQ(w[0].substr(0, 22), "spec.cacheRef.name: Ca");
}

// The request's document (a JsonRef) gives what its DOM gives, for every object above.
TEST(TierWarnings, DocumentAndDomAgree) {
  json zones =
      json::array({{{"name", "zone-a"}, {"weight", 50}}, {{"name", "zone-x"}, {"weight", 50}}});
  const std::vector<std::pair<std::string, json>> objects = {
      {"OrderService", order_service("nope", "orders-db2", zones)},
      {"OrderService", order_service("orders-cache", "orders-db", zones)},
      {"CacheTier",
       {{"metadata", {{"namespace", "shop"}}},
        {"spec", {{"redis", {{"zones", {"zone-b", 3, "zone-c"}}}}}}}},
      {"ShardSet", {{"metadata", {{"namespace", "shop"}}}, {"spec", {{"zones", {"zone-q"}}}}}},
      {"OrderService", json{{"spec", {{"zones", {1, nullptr, {{"name", "zone-z"}}}}}}}},
      {"OrderService", json{{"spec", {{"cacheRef", "orders-cache"}}}}},
      {"OrderService", json{{"spec", 3}}},
      {"OrderService", json::array()},
  };
  for (const auto& [kind, object] : objects) {
    const JsonDoc doc = JsonDoc::from_json(object);
    EXPECT_EQ(tier_warnings(kind, doc.root(), lookup()), tier_warnings(kind, object, lookup()))
        << object.dump();
  }
  const JsonDoc doc = JsonDoc::from_json(
      {{"spec", {{"zones", {1, nullptr, {{"name", "zone-z"}, {"weight", 100}}}}}}});
  EXPECT_EQ(tier_warnings("OrderService", doc.root(), lookup()),
            std::vector<std::string>{"spec.zones[2].name: no Node is in zone zone-z"});
}

}  // namespace
}  // namespace orderguard::webhook
