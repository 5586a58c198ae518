// Step 3 of a pass: converge the children.
#include <cstdio>
#include <set>

#include "kube/log.h"
#include "operator/reconciler.h"

namespace orderguard::op {
namespace {

const kube::Resource* resource_for(const std::string& kind) {
  namespace res = kube::resources;
  if (kind == "ConfigMap") return &res::kConfigMaps;
  if (kind == "Service") return &res::kServices;
  if (kind == "Deployment") return &res::kDeployments;
  if (kind == "HorizontalPodAutoscaler") return &res::kHorizontalPodAutoscalers;
  if (kind == "PodDisruptionBudget") return &res::kPodDisruptionBudgets;
  return nullptr;
}

constexpr const char* kChildKinds[] = {"ConfigMap", "Service", "Deployment",
                                       "HorizontalPodAutoscaler", "PodDisruptionBudget"};

}  // namespace

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
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : object.dump()) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
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

kube::Informer* OrderServiceReconciler::cache_for(const std::string& kind) const {
  if (kind == "ConfigMap") return caches_.config_maps;
  if (kind == "Service") return caches_.services;
  if (kind == "Deployment") return caches_.deployments;
  if (kind == "HorizontalPodAutoscaler") return caches_.hpas;
  if (kind == "PodDisruptionBudget") return caches_.pdbs;
  return nullptr;
}

Status OrderServiceReconciler::reconcile_children(const OrderService& svc,
                                                  const std::vector<json>& desired) {
  std::map<std::string, std::set<std::string>> wanted;  // kind -> names
  for (json child : desired) {
    const std::string kind = child["kind"];
    const std::string name = child["metadata"]["name"];
    wanted[kind].insert(name);
    // The hash covers the content without the annotation itself.
    child["metadata"]["annotations"][kSpecHashAnnotation] = content_hash(child);
    kube::ObjectPtr live = cache_for(kind)->get(svc.meta.ns, name);
    if (!needs_apply(child, live.get())) continue;
    auto applied = client_.apply(*resource_for(kind), svc.meta.ns, child,
                                 {.field_manager = kFieldManager, .force = true});
    if (!applied.ok()) return applied.error();
    log::info(
        "applied child",
        {{"orderservice", svc.meta.ns + "/" + svc.meta.name}, {"kind", kind}, {"name", name}});
  }
  // Children owned by this OrderService that the spec no longer wants (a zone
  // removed, autoscaling switched off).
  for (const char* kind : kChildKinds) {
    for (const auto& obj : cache_for(kind)->by_owner(svc.meta.uid)) {
      const std::string name = (*obj)["metadata"]["name"];
      if (wanted[kind].contains(name)) continue;
      kube::DeleteOptions opts;
      opts.precondition_uid = (*obj)["metadata"].value("uid", "");
      opts.propagation_policy = "Background";
      Status st = client_.remove(*resource_for(kind), svc.meta.ns, name, opts);
      if (!st.ok() && st.error().code != ErrorCode::kNotFound) return st;
      log::info(
          "deleted child",
          {{"orderservice", svc.meta.ns + "/" + svc.meta.name}, {"kind", kind}, {"name", name}});
    }
  }
  return {};
}

}  // namespace orderguard::op
