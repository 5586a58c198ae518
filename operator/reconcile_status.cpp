// Step 4 of a pass: status and Events.
#include <algorithm>

#include "base/log.h"
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

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// `unhealthy`: "zone (reason)" for every zone.
std::string no_healthy_zone_message(const std::vector<std::string>& unhealthy) {
  return "no zone is healthy: " + join(unhealthy) +
         "; there is no zone to fail over to, so every zone keeps serving its share by weight";
}

}  // namespace

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
  if (healthy_zones == 0) {
    // Nothing to fail over to: split_replicas keeps every zone serving its
    // share by weight, so no zone takes anyone's share.
    conditions = set_condition(conditions, "Degraded", "True", "NoHealthyZone",
                               no_healthy_zone_message(unhealthy), gen, now);
  } else if (!unhealthy.empty()) {
    std::vector<std::string> targets, drained, kept;
    for (const auto& p : plan) {
      if (p.healthy && p.serving && p.weight_in_effect > 0) targets.push_back(p.zone.name);
      if (!p.healthy) (p.serving ? kept : drained).push_back(p.zone.name);
    }
    std::string message = "unhealthy zones: " + join(unhealthy);
    if (!drained.empty()) {
      message += "; the share of " + join(drained) + " is served by: " + join(targets);
    }
    if (!kept.empty()) {
      message += "; " + join(kept) + (kept.size() == 1 ? " keeps" : " keep") +
                 " serving although unhealthy: failover.minHealthyZones " +
                 std::to_string(svc.spec.failover.min_healthy_zones) +
                 (kept.size() == 1 ? " needs it" : " needs them");
    }
    conditions =
        set_condition(conditions, "Degraded", "True",
                      drained.empty() ? "MinHealthyZones" : "ZoneFailover", message, gen, now);
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

std::vector<ZoneEvent> zone_events(const OrderService& svc, const std::vector<ZonePlan>& plan,
                                   const std::vector<ZoneHealth>& health) {
  std::map<std::string, bool> before;
  for (const auto& z : svc.status.value("zones", json::array())) {
    before[z.value("name", "")] = z.value("healthy", true);
  }
  auto was_healthy = [&](const std::string& zone) {
    auto it = before.find(zone);
    return it == before.end() ? true : it->second;
  };
  std::vector<std::string> targets, unhealthy;
  bool any_was_healthy = before.empty();
  for (size_t i = 0; i < health.size(); ++i) {
    if (health[i].healthy && plan[i].serving && plan[i].weight_in_effect > 0) {
      targets.push_back(health[i].name);
    }
    if (!health[i].healthy) unhealthy.push_back(health[i].name + " (" + health[i].reason + ")");
    any_was_healthy = any_was_healthy || was_healthy(health[i].name);
  }
  const bool none_healthy = unhealthy.size() == health.size();
  std::vector<ZoneEvent> out;
  for (size_t i = 0; i < health.size(); ++i) {
    const ZoneHealth& h = health[i];
    const bool was = was_healthy(h.name);
    if (was && !h.healthy && !none_healthy) {
      if (plan[i].serving) {
        out.push_back({false, "ZoneUnhealthy",
                       "zone " + h.name + " is unhealthy (" + h.reason +
                           ") but keeps serving: failover.minHealthyZones " +
                           std::to_string(svc.spec.failover.min_healthy_zones) + " needs it"});
      } else {
        out.push_back({false, "ZoneFailover",
                       "zone " + h.name + " is unhealthy (" + h.reason +
                           "); its share moves to: " + join(targets)});
      }
    } else if (!was && h.healthy) {
      out.push_back(
          {true, "ZoneRecovered", "zone " + h.name + " is healthy again; its share moves back"});
    }
  }
  // One Event when the last healthy zone goes, not one per zone: none of them
  // fails over anywhere.
  if (none_healthy && any_was_healthy) {
    out.push_back({false, "NoHealthyZone", no_healthy_zone_message(unhealthy)});
  }
  return out;
}

void OrderServiceReconciler::record_zone_events(const json& live, const OrderService& svc,
                                                const std::vector<ZonePlan>& plan,
                                                const std::vector<ZoneHealth>& health) {
  if (events_ == nullptr) return;
  for (const auto& e : zone_events(svc, plan, health)) {
    events_->record(live, e.normal ? kube::EventType::kNormal : kube::EventType::kWarning, e.reason,
                    "Failover", e.message);
  }
}

Status OrderServiceReconciler::reconcile_status(const OrderService& svc, const json& live,
                                                const json& status,
                                                const std::vector<ZonePlan>& plan,
                                                const std::vector<ZoneHealth>& health) {
  if (svc.status == status) return {};
  record_zone_events(live, svc, plan, health);
  auto patched = client_.patch(order_services_resource(), svc.meta.ns, svc.meta.name,
                               kube::PatchType::kMerge, {{"status", status}}, "status");
  if (!patched.ok()) return patched.error();
  status_memo_.wrote(live, status);
  return {};
}

}  // namespace orderguard::op
