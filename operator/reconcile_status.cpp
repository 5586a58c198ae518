// Step 4 of a pass: status and Events.
#include <algorithm>

#include "kube/log.h"
#include "operator/reconciler.h"

namespace orderguard::op {

json set_condition(json conditions, const std::string& type, const std::string& status,
                   const std::string& reason, const std::string& message, int64_t generation,
                   const std::string& now) {
  if (!conditions.is_array()) conditions = json::array();
  json updated = {{"type", type},
                  {"status", status},
                  {"reason", reason},
                  {"message", message},
                  {"observedGeneration", generation},
                  {"lastTransitionTime", now}};
  for (auto& c : conditions) {
    if (c.value("type", "") != type) continue;
    if (c.value("status", "") == status && c.contains("lastTransitionTime")) {
      updated["lastTransitionTime"] = c["lastTransitionTime"];
    }
    c = updated;
    return conditions;
  }
  conditions.push_back(updated);
  return conditions;
}

json compute_status(const OrderService& svc, const std::vector<ZonePlan>& plan,
                    const std::vector<ZoneHealth>& health,
                    const std::map<std::string, json>& deployments,
                    const std::vector<std::string>& missing_refs, const std::string& now) {
  const int64_t gen = svc.meta.generation;
  json zones = json::array();
  int32_t total_desired = 0;
  int32_t total_ready = 0;
  int healthy_zones = 0;
  bool rolling = false;
  std::vector<std::string> unhealthy, short_zones;
  for (size_t i = 0; i < plan.size(); ++i) {
    const ZonePlan& p = plan[i];
    int32_t ready = 0;
    int32_t desired = p.replicas;
    auto d = deployments.find(p.zone.name);
    if (d == deployments.end()) {
      rolling = true;
    } else {
      const json& dep = d->second;
      const json st = dep.value("status", json::object());
      ready = st.value("readyReplicas", 0);
      // With an HPA the Deployment's spec.replicas is the HPA's current choice,
      // within the HPA's bounds: a Deployment still below the minimum (just
      // created with one replica, or the HPA not yet synced) is not converged,
      // it is about to be scaled.
      if (svc.spec.autoscaling) {
        desired = std::clamp(dep["spec"].value("replicas", p.hpa_min), p.hpa_min,
                             std::max(p.hpa_min, p.hpa_max));
      }
      if (st.value("observedGeneration", int64_t{0}) <
              dep["metadata"].value("generation", int64_t{0}) ||
          st.value("updatedReplicas", 0) < desired) {
        rolling = true;
      }
    }
    total_desired += desired;
    total_ready += ready;
    if (ready < desired) short_zones.push_back(p.zone.name);
    json z = {{"name", p.zone.name},
              {"weight", p.weight_in_effect},
              {"desiredReplicas", desired},
              {"readyReplicas", ready},
              {"healthy", health[i].healthy}};
    if (!health[i].healthy) z["reason"] = health[i].reason;
    if (!health[i].unavailable_since.empty()) z["unavailableSince"] = health[i].unavailable_since;
    zones.push_back(z);
    if (health[i].healthy) {
      ++healthy_zones;
    } else {
      unhealthy.push_back(p.zone.name + " (" + health[i].reason + ")");
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };

  json conditions = svc.status.value("conditions", json::array());
  if (!missing_refs.empty()) {
    conditions = set_condition(conditions, "Ready", "False", "ReferenceNotFound",
                               "not found: " + join(missing_refs), gen, now);
  } else if (!unhealthy.empty()) {
    conditions = set_condition(conditions, "Ready", "False", "ZoneUnhealthy",
                               "unhealthy zones: " + join(unhealthy), gen, now);
  } else if (!short_zones.empty()) {
    conditions =
        set_condition(conditions, "Ready", "False", "ReplicasNotReady",
                      "zones below their desired ready replicas: " + join(short_zones), gen, now);
  } else {
    conditions = set_condition(conditions, "Ready", "True", "AllZonesReady",
                               "every zone serves its share", gen, now);
  }
  conditions = rolling ? set_condition(conditions, "Progressing", "True", "RollingOut",
                                       "zone Deployments are being created or updated", gen, now)
                       : set_condition(conditions, "Progressing", "False", "Stable",
                                       "every zone Deployment is up to date", gen, now);
  if (!unhealthy.empty()) {
    std::vector<std::string> serving;
    for (const auto& p : plan)
      if (p.serving && p.weight_in_effect > 0) serving.push_back(p.zone.name);
    conditions = set_condition(
        conditions, "Degraded", "True", "ZoneFailover",
        "unhealthy zones: " + join(unhealthy) + "; their share is served by: " + join(serving), gen,
        now);
  } else {
    conditions = set_condition(conditions, "Degraded", "False", "AllZonesHealthy",
                               "every zone is healthy", gen, now);
  }
  return {{"observedGeneration", gen},
          {"replicas", total_desired},
          {"selector", selector_string(svc)},
          {"zoneSummary", std::to_string(healthy_zones) + "/" + std::to_string(plan.size())},
          {"conditions", conditions},
          {"zones", zones}};
}

void OrderServiceReconciler::record_zone_events(const json& live, const OrderService& svc,
                                                const std::vector<ZoneHealth>& health) {
  if (events_ == nullptr) return;
  std::map<std::string, bool> before;
  for (const auto& z : svc.status.value("zones", json::array())) {
    before[z.value("name", "")] = z.value("healthy", true);
  }
  for (const auto& h : health) {
    auto it = before.find(h.name);
    const bool was_healthy = it == before.end() ? true : it->second;
    if (was_healthy && !h.healthy) {
      events_->record(live, kube::EventType::kWarning, "ZoneFailover", "Failover",
                      "zone " + h.name + " is unhealthy (" + h.reason +
                          "); its share moves to the healthy zones");
    } else if (!was_healthy && h.healthy) {
      events_->record(live, kube::EventType::kNormal, "ZoneRecovered", "Failover",
                      "zone " + h.name + " is healthy again; its share moves back");
    }
  }
}

Status OrderServiceReconciler::reconcile_status(const OrderService& svc, const json& live,
                                                const json& status,
                                                const std::vector<ZoneHealth>& health) {
  if (svc.status == status) return {};
  record_zone_events(live, svc, health);
  auto patched = client_.patch(order_services_resource(), svc.meta.ns, svc.meta.name,
                               kube::PatchType::kMerge, {{"status", status}}, "status");
  if (!patched.ok()) return patched.error();
  status_memo_.wrote(live, status);
  return {};
}

}  // namespace orderguard::op
