// The tier decoders' best-effort form (read_*), over a request's JsonRef and over a DOM.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/test/test_util.h"
#include "api/tiers.h"

namespace orderguard::api {
namespace {

using nlohmann::json;

// The tier decoders' best-effort form, over a request's JsonRef: the example objects
// read the same as their strict decoding, and an object that does not decode still
// yields the fields that do.
TEST(ReadTierSpecs, AgreeWithStrictDecodingOnValidObjects) {
  using testing::load_json;
  const json svc = load_json("orderservice.json");
  auto doc = JsonDoc::parse_owned(svc["spec"].dump());
  ASSERT_TRUE(doc.ok());
  const OrderServiceSpec read = read_order_service(doc->root());
  const auto strict = decode_order_service(svc["spec"]);
  ASSERT_TRUE(strict.ok());
  ASSERT_EQ(read.zones.size(), strict->zones.size());
  for (size_t i = 0; i < read.zones.size(); ++i) {
    EXPECT_EQ(read.zones[i].name, strict->zones[i].name);
    EXPECT_EQ(read.zones[i].weight, strict->zones[i].weight);
  }
  EXPECT_EQ(read.image, strict->image);
  EXPECT_EQ(read.cache_ref, strict->cache_ref);
  EXPECT_EQ(read.shard_set_ref, strict->shard_set_ref);
  EXPECT_EQ(read.resource_requests, strict->resource_requests);

  const json shards = load_json("shardset.json");
  auto sdoc = JsonDoc::parse_owned(shards["spec"].dump());
  ASSERT_TRUE(sdoc.ok());
  EXPECT_EQ(read_shard_set(sdoc->root()).zones, decode_shard_set(shards["spec"])->zones);
}

TEST(ReadTierSpecs, ReadWhatFitsOfObjectsThatDoNotDecode) {
  auto doc = JsonDoc::parse(R"({"zones": ["zone-q"], "bogus": 1})");
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(decode_shard_set(doc->root().to_json()).ok());
  EXPECT_EQ(read_shard_set(doc->root()).zones, std::vector<std::string>{"zone-q"});
  EXPECT_EQ(read_shard_set(json::parse(R"({"zones": ["zone-q"], "bogus": 1})")).zones,
            std::vector<std::string>{"zone-q"});
  EXPECT_TRUE(read_order_service(JsonRef()).zones.empty());
  EXPECT_EQ(read_cache_tier(json(3)).redis.shards, 3);
}

}  // namespace
}  // namespace orderguard::api
