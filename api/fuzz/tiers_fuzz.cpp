// Fuzz target over the tier decoders (api/tiers.h) and the reader under them
// (base/field_reader.h): the input is a JSON text taken as a spec of each kind.
//
// Oracle: nothing throws or crashes; the JsonRef and nlohmann adapters read the same
// values at best effort; a spec that decodes strictly reads the same at best effort; a
// refusal is kInvalid with a message. A violation aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/fuzz/oracle.h"
#include "api/tiers.h"

namespace {

namespace api = orderguard::api;

using orderguard::api::fuzz::check;
using orderguard::api::fuzz::join;

std::string summary(const api::OrderServiceSpec& s) {
  std::string out = s.image + "/" + std::to_string(s.port) + "/" + std::to_string(s.replicas) +
                    "/" + s.cache_ref + "/" + s.shard_set_ref + "/" +
                    std::to_string(s.failover.min_healthy_zones) + "/" +
                    std::to_string(s.autoscaling.has_value());
  for (const auto& z : s.zones) out += z.name + ":" + std::to_string(z.weight) + ",";
  for (const auto& e : s.env) out += e.name + "=" + e.value + ",";
  for (const auto& [k, v] : s.resource_requests) out += k + "=" + v + ",";
  return out;
}
std::string summary(const api::CacheTierSpec& s) {
  return s.redis.image + "/" + std::to_string(s.redis.shards) + "/" + join(s.redis.zones) + "/" +
         std::to_string(s.protection.bloom_expected_items.value_or(-1)) + "/" +
         std::to_string(s.protection.hot_key_mutex) + "/" + join(s.protection.warm_up_keys);
}
std::string summary(const api::ShardSetSpec& s) {
  return s.engine + "/" + s.shard_key + "/" + std::to_string(s.databases) + "/" + s.image + "/" +
         s.table_columns + "/" + join(s.zones) + "/" + s.deletion_policy;
}

template <typename Decode, typename Parse, typename ReadDom, typename ReadRef>
void one_kind(const nlohmann::json& dom, orderguard::JsonRef ref, Decode decode, Parse parse,
              ReadDom read_dom, ReadRef read_ref) {
  const auto by_ref = read_ref(ref);
  check(summary(read_dom(dom)) == summary(by_ref), "adapters read different values");
  auto strict = decode(dom);
  if (strict.ok()) {
    check(summary(*strict) == summary(by_ref), "strict and best-effort reads differ");
  } else {
    check(strict.error().code == orderguard::ErrorCode::kInvalid && !strict.error().message.empty(),
          "a refusal without kInvalid and a message");
  }
  auto parsed = parse(dom);
  if (!parsed.ok()) check(!parsed.error().message.empty(), "a refusal without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = orderguard::JsonDoc::parse(text, 64);
  if (!doc.ok()) return 0;
  const orderguard::JsonRef ref = doc->root();
  const nlohmann::json dom = ref.to_json();
  one_kind(
      dom, ref,
      [](const nlohmann::json& j) {
        orderguard::FieldTrace trace;
        return api::decode_order_service(j, &trace);
      },
      [](const auto& j) { return api::parse_order_service(j); },
      [](const nlohmann::json& j) { return api::read_order_service(j); },
      [](orderguard::JsonRef r) { return api::read_order_service(r); });
  one_kind(
      dom, ref,
      [](const nlohmann::json& j) {
        orderguard::FieldTrace trace;
        return api::decode_cache_tier(j, &trace);
      },
      [](const auto& j) { return api::parse_cache_tier(j); },
      [](const nlohmann::json& j) { return api::read_cache_tier(j); },
      [](orderguard::JsonRef r) { return api::read_cache_tier(r); });
  one_kind(
      dom, ref,
      [](const nlohmann::json& j) {
        orderguard::FieldTrace trace;
        return api::decode_shard_set(j, &trace);
      },
      [](const auto& j) { return api::parse_shard_set(j); },
      [](const nlohmann::json& j) { return api::read_shard_set(j); },
      [](orderguard::JsonRef r) { return api::read_shard_set(r); });
  return 0;
}
