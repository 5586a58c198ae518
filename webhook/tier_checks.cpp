#include "webhook/tier_checks.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr size_t kMaxWarning = 120;

const json* at(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string string_at(const json& j, const char* key) {
  const json* v = at(j, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

void add(std::vector<std::string>& out, std::string warning) {
  if (warning.size() > kMaxWarning) warning = warning.substr(0, kMaxWarning - 3) + "...";
  out.push_back(std::move(warning));
}

void check_ref(
    std::vector<std::string>& out, const json& spec, const char* field, const char* kind,
    const std::string& ns,
    const std::function<std::optional<bool>(const std::string&, const std::string&)>& exists) {
  const json* ref = at(spec, field);
  if (ref == nullptr || !exists) return;
  const std::string name = string_at(*ref, "name");
  if (name.empty()) return;
  if (exists(ns, name) == false) {
    add(out, std::string("spec.") + field + ".name: " + kind + " " + ns + "/" + name +
                 " does not exist (yet)");
  }
}

// `zones` as an array of strings, or of objects with a name (OrderService).
void check_zones(std::vector<std::string>& out, const json* zones, const std::string& path,
                 const std::optional<std::set<std::string>>& known) {
  if (zones == nullptr || !zones->is_array() || !known) return;
  for (size_t i = 0; i < zones->size(); ++i) {
    const json& z = (*zones)[i];
    const bool named = z.is_object();
    const std::string zone =
        named ? string_at(z, "name") : (z.is_string() ? z.get<std::string>() : "");
    if (zone.empty() || known->contains(zone)) continue;
    add(out, path + "[" + std::to_string(i) + "]" + (named ? ".name" : "") +
                 ": no Node is in zone " + zone);
  }
}

}  // namespace

std::vector<std::string> tier_warnings(const std::string& kind, const json& object,
                                       const TierLookup& lookup) {
  std::vector<std::string> out;
  const json* spec = at(object, "spec");
  if (spec == nullptr || !spec->is_object()) return out;
  const std::string ns =
      string_at(at(object, "metadata") ? *at(object, "metadata") : json(), "namespace");
  const auto zones = lookup.node_zones ? lookup.node_zones() : std::nullopt;
  if (kind == "OrderService") {
    check_ref(out, *spec, "cacheRef", "CacheTier", ns, lookup.cache_tier_exists);
    check_ref(out, *spec, "shardSetRef", "ShardSet", ns, lookup.shard_set_exists);
    check_zones(out, at(*spec, "zones"), "spec.zones", zones);
  } else if (kind == "CacheTier") {
    const json* redis = at(*spec, "redis");
    check_zones(out, redis ? at(*redis, "zones") : nullptr, "spec.redis.zones", zones);
  } else if (kind == "ShardSet") {
    check_zones(out, at(*spec, "zones"), "spec.zones", zones);
  }
  return out;
}

}  // namespace orderguard::webhook
