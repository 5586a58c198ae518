// The best-effort reads over a JsonRef (the webhook's requests); see tiers_fields.h.
#include "api/tiers.h"
#include "api/tiers_fields.h"

namespace orderguard::api {

using detail::kCacheTierFields;
using detail::kOrderServiceFields;
using detail::kShardSetFields;
using detail::read_spec;

OrderServiceSpec read_order_service(JsonRef spec) {
  return read_spec<OrderServiceSpec>(JsonRefNode(spec), kOrderServiceFields);
}
CacheTierSpec read_cache_tier(JsonRef spec) {
  return read_spec<CacheTierSpec>(JsonRefNode(spec), kCacheTierFields);
}
ShardSetSpec read_shard_set(JsonRef spec) {
  return read_spec<ShardSetSpec>(JsonRefNode(spec), kShardSetFields);
}

}  // namespace orderguard::api
