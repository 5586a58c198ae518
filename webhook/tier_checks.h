// Cross-resource checks on the tier resources (tiers.orderguard.io) that a CRD
// schema cannot express, because they depend on other objects:
// - an OrderService's cacheRef / shardSetRef name a CacheTier / ShardSet that
//   exists in its namespace;
// - every zone named by an OrderService, CacheTier or ShardSet is the
//   topology.kubernetes.io/zone of at least one Node.
// They are warnings, never denials: the referenced object may simply be created
// next (kubectl apply -f dir/ has no order), and a zone may get its first Node
// later. kubectl prints them; the operator's conditions say the rest.
//
// Pure: what exists comes from `TierLookup` (the webhook backs it with informers).
// The fields come from the typed specs of api/tiers.h, read at best effort.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/json_doc.h"

namespace orderguard::webhook {

struct TierLookup {
  // nullopt: not known yet (cache not synced); no warning is given then.
  std::function<std::optional<bool>(const std::string& ns, const std::string& name)>
      cache_tier_exists;
  std::function<std::optional<bool>(const std::string& ns, const std::string& name)>
      shard_set_exists;
  // Zones carried by the cluster's Nodes; nullopt when unknown.
  std::function<std::optional<std::set<std::string>>()> node_zones;
};

// Warnings for `object` of `kind` (OrderService, CacheTier, ShardSet), each
// "<field path>: <what is wrong>" and at most 120 characters (the API server's
// advice for warnings); empty for other kinds or malformed objects (the schema
// refuses those).
std::vector<std::string> tier_warnings(const std::string& kind, const nlohmann::json& object,
                                       const TierLookup& lookup);
// The same over the request's document, uncopied.
std::vector<std::string> tier_warnings(const std::string& kind, JsonRef object,
                                       const TierLookup& lookup);

}  // namespace orderguard::webhook
