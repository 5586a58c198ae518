// Step 3 of every pass: converge the children (shared by all three reconcilers).
#include <cstdio>
#include <map>
#include <set>

#include "base/hash.h"
#include "base/log.h"
#include "operator/reconciler.h"

namespace orderguard::op {

bool is_subset(const json& desired, const json& live) {
  if (desired.is_object()) {
    if (!live.is_object()) return false;
    for (const auto& [k, v] : desired.items()) {
      auto it = live.find(k);
      // The server drops empty maps and lists (omitempty): absent matches empty.
      if (it == live.end()) {
        if ((v.is_object() || v.is_array()) && v.empty()) continue;
        return false;
      }
      if (!is_subset(v, *it)) return false;
    }
    return true;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) return false;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!is_subset(desired[i], live[i])) return false;
    }
    return true;
  }
  return desired == live;
}

std::string content_hash(const json& object) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(fnv1a64(object.dump())));
  return buf;
}

bool needs_apply(const json& desired, const json* live) {
  if (live == nullptr) return true;
  const json& want = desired["metadata"]["annotations"][kSpecHashAnnotation];
  const json annotations = (*live)["metadata"].value("annotations", json::object());
  if (annotations.value(kSpecHashAnnotation, "") != want) return true;
  // Someone edited a field we own: put it back.
  return !is_subset(desired, *live);
}

bool ApplyMemo::matches(std::string_view key, std::string_view resource_version,
                        std::string_view hash) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = seen_.find(fnv1a64(key));
  return it != seen_.end() && it->second.resource_version == fnv1a64(resource_version) &&
         it->second.hash == fnv1a64(hash);
}

void ApplyMemo::record(std::string_view key, std::string_view resource_version,
                       std::string_view hash) {
  if (resource_version.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (seen_.size() >= kMaxEntries) seen_.clear();
  seen_[fnv1a64(key)] = {fnv1a64(resource_version), fnv1a64(hash)};
}

Status converge_children(kube::Client& client, const ObjectMeta& owner,
                         const std::vector<json>& desired, const std::vector<ChildKind>& kinds,
                         std::map<std::string, json>* applied, ApplyMemo* memo) {
  auto kind_of = [&](const std::string& kind) -> const ChildKind* {
    for (const auto& k : kinds) {
      if (k.kind == kind) return &k;
    }
    return nullptr;
  };
  std::map<std::string, std::set<std::string>> wanted;  // kind -> names
  for (json child : desired) {
    const std::string kind = child["kind"];
    const std::string name = child["metadata"]["name"];
    const ChildKind* k = kind_of(kind);
    if (k == nullptr) return make_error(ErrorCode::kInvalid, "no cache for child kind " + kind);
    wanted[kind].insert(name);
    // The hash covers the content without the annotation itself.
    const std::string hash = content_hash(child);
    child["metadata"]["annotations"][kSpecHashAnnotation] = hash;
    const std::string memo_key = kind + "/" + owner.ns + "/" + name;
    if (k->create_only) {
      if (k->cache->cached_resource_version(owner.ns, name)) continue;
    } else {
      // The memo answers for a child unchanged since it last matched, without
      // decoding it from the cache.
      const auto rv = k->cache->cached_resource_version(owner.ns, name);
      if (rv && memo != nullptr && memo->matches(memo_key, *rv, hash)) continue;
      kube::ObjectPtr live = rv ? k->cache->get(owner.ns, name) : nullptr;
      if (!needs_apply(child, live.get())) {
        if (memo != nullptr) {
          memo->record(memo_key, (*live)["metadata"].value("resourceVersion", ""), hash);
        }
        continue;
      }
    }
    auto answer = client.apply(*k->resource, owner.ns, child,
                               {.field_manager = kFieldManager, .force = true});
    if (!answer.ok()) return answer.error();
    log::info("applied child",
              {{"owner", owner.ns + "/" + owner.name}, {"kind", kind}, {"name", name}});
    // What the server answered is the child at its new resourceVersion, which
    // the watch delivers next: checked now, that event needs no decode.
    if (memo != nullptr && !k->create_only && answer->is_object() &&
        !needs_apply(child, &*answer)) {
      memo->record(memo_key, (*answer)["metadata"].value("resourceVersion", ""), hash);
    }
    if (applied != nullptr) (*applied)[kind + "/" + name] = std::move(*answer);
  }
  // Children the spec no longer wants (a zone removed, autoscaling switched off, ...).
  // Their names come from the index; only those to delete are decoded.
  for (const auto& k : kinds) {
    if (!k.prune) continue;
    for (const std::string& name : k.cache->names_by_owner(owner.uid)) {
      if (wanted[k.kind].contains(name)) continue;
      kube::ObjectPtr obj = k.cache->get(owner.ns, name);
      if (obj == nullptr) continue;
      kube::DeleteOptions opts;
      opts.precondition_uid = (*obj)["metadata"].value("uid", "");
      opts.propagation_policy = "Background";
      Status st = client.remove(*k.resource, owner.ns, name, opts);
      if (!st.ok() && st.error().code != ErrorCode::kNotFound) return st;
      log::info("deleted child",
                {{"owner", owner.ns + "/" + owner.name}, {"kind", k.kind}, {"name", name}});
    }
  }
  return {};
}

Status OrderServiceReconciler::reconcile_children(const OrderService& svc,
                                                  const std::vector<json>& desired,
                                                  std::map<std::string, json>* applied) {
  namespace res = kube::resources;
  const std::vector<ChildKind> kinds = {
      {"ConfigMap", &res::kConfigMaps, caches_.config_maps},
      {"Service", &res::kServices, caches_.services},
      {"Deployment", &res::kDeployments, caches_.deployments},
      {"HorizontalPodAutoscaler", &res::kHorizontalPodAutoscalers, caches_.hpas},
      {"PodDisruptionBudget", &res::kPodDisruptionBudgets, caches_.pdbs}};
  return converge_children(client_, svc.meta, desired, kinds, applied, &apply_memo_);
}

}  // namespace orderguard::op
