#include "operator/types.h"

namespace orderguard::op {

const kube::Resource& order_services_resource() {
  static const kube::Resource r{api::kGroup, api::kVersion, api::kOrderServicesPlural, true,
                                api::kOrderServiceKind};
  return r;
}
const kube::Resource& cache_tiers_resource() {
  static const kube::Resource r{api::kGroup, api::kVersion, api::kCacheTiersPlural, true,
                                api::kCacheTierKind};
  return r;
}
const kube::Resource& shard_sets_resource() {
  static const kube::Resource r{api::kGroup, api::kVersion, api::kShardSetsPlural, true,
                                api::kShardSetKind};
  return r;
}

}  // namespace orderguard::op
