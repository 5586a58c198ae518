// Converging a tier resource's children: shared by the CacheTier and
// ShardSet reconcilers.
#include <map>
#include <set>

#include "kube/log.h"
#include "operator/reconciler.h"
#include "operator/tier_reconciler.h"

namespace orderguard::op {

Status converge_children(kube::Client& client, const ObjectMeta& owner,
                         const std::vector<json>& desired, const std::vector<ChildKind>& kinds) {
  auto kind_of = [&](const std::string& kind) -> const ChildKind* {
    for (const auto& k : kinds)
      if (k.kind == kind) return &k;
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
    child["metadata"]["annotations"][kSpecHashAnnotation] = content_hash(child);
    kube::ObjectPtr live = k->cache->get(owner.ns, name);
    if (k->create_only ? live != nullptr : !needs_apply(child, live.get())) continue;
    auto applied = client.apply(*k->resource, owner.ns, child,
                                {.field_manager = kFieldManager, .force = true});
    if (!applied.ok()) return applied.error();
    log::info("applied child",
              {{"owner", owner.ns + "/" + owner.name}, {"kind", kind}, {"name", name}});
  }
  for (const auto& k : kinds) {
    if (!k.prune) continue;
    for (const auto& obj : k.cache->by_owner(owner.uid)) {
      const std::string name = (*obj)["metadata"]["name"];
      if (wanted[k.kind].contains(name)) continue;
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

}  // namespace orderguard::op
