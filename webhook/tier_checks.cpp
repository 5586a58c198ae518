#include "webhook/tier_checks.h"

#include "api/tiers.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr size_t kMaxWarning = 120;

using Exists = std::function<std::optional<bool>(const std::string&, const std::string&)>;

void add(std::vector<std::string>& out, std::string warning) {
  if (warning.size() > kMaxWarning) warning = warning.substr(0, kMaxWarning - 3) + "...";
  out.push_back(std::move(warning));
}

void check_ref(std::vector<std::string>& out, const char* field, const std::string& name,
               const char* kind, const std::string& ns, const Exists& exists) {
  if (name.empty() || !exists) return;
  if (exists(ns, name) == false) {
    add(out, std::string("spec.") + field + ".name: " + kind + " " + ns + "/" + name +
                 " does not exist (yet)");
  }
}

// zones[i] names a zone (`suffix` is ".name" where the items are objects); indices are
// the document's (the best-effort read keeps them).
void check_zones(std::vector<std::string>& out, const std::vector<std::string>& zones,
                 const std::string& path, const char* suffix,
                 const std::optional<std::set<std::string>>& known) {
  if (!known) return;
  for (size_t i = 0; i < zones.size(); ++i) {
    const std::string& zone = zones[i];
    if (zone.empty() || known->contains(zone)) continue;
    add(out, path + "[" + std::to_string(i) + "]" + suffix + ": no Node is in zone " + zone);
  }
}

// `spec` is an object (an nlohmann DOM or a JsonRef); api::read_* reads it either way.
template <typename Spec>
std::vector<std::string> warnings_for(const std::string& kind, const std::string& ns,
                                      const Spec& spec, const TierLookup& lookup) {
  std::vector<std::string> out;
  const auto zones = lookup.node_zones ? lookup.node_zones() : std::nullopt;
  if (kind == api::kOrderServiceKind) {
    const api::OrderServiceSpec s = api::read_order_service(spec);
    check_ref(out, "cacheRef", s.cache_ref, api::kCacheTierKind, ns, lookup.cache_tier_exists);
    check_ref(out, "shardSetRef", s.shard_set_ref, api::kShardSetKind, ns, lookup.shard_set_exists);
    std::vector<std::string> names;
    names.reserve(s.zones.size());
    for (const auto& z : s.zones) names.push_back(z.name);
    check_zones(out, names, "spec.zones", ".name", zones);
  } else if (kind == api::kCacheTierKind) {
    check_zones(out, api::read_cache_tier(spec).redis.zones, "spec.redis.zones", "", zones);
  } else if (kind == api::kShardSetKind) {
    check_zones(out, api::read_shard_set(spec).zones, "spec.zones", "", zones);
  }
  return out;
}

}  // namespace

std::vector<std::string> tier_warnings(const std::string& kind, const json& object,
                                       const TierLookup& lookup) {
  const json& spec = api::spec_of(object);
  if (!spec.is_object()) return {};
  std::string ns;
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    if (auto n = m->find("namespace"); n != m->end() && n->is_string()) ns = n->get<std::string>();
  }
  return warnings_for(kind, ns, spec, lookup);
}

std::vector<std::string> tier_warnings(const std::string& kind, JsonRef object,
                                       const TierLookup& lookup) {
  const JsonRef spec = object.find("spec");
  if (!spec.is_object()) return {};
  const std::string ns(object.find("metadata").string_member("namespace"));
  return warnings_for(kind, ns, spec, lookup);
}

}  // namespace orderguard::webhook
