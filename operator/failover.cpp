#include "operator/failover.h"

#include <ctime>

#include "base/time_format.h"
#include "operator/render.h"

namespace orderguard::op {

std::map<std::string, int> ready_nodes_by_zone(const std::vector<kube::ObjectPtr>& nodes) {
  std::map<std::string, int> out;
  for (const auto& node : nodes) {
    const json& labels = (*node)["metadata"].value("labels", json::object());
    auto zone = labels.find(kZoneLabel);
    if (zone == labels.end() || !zone->is_string()) continue;
    bool ready = false;
    if (node->contains("status")) {
      for (const auto& c : (*node)["status"].value("conditions", json::array())) {
        if (c.value("type", "") == "Ready") ready = c.value("status", "") == "True";
      }
    }
    out[zone->get<std::string>()] += ready ? 1 : 0;
  }
  return out;
}

std::vector<ZoneHealth> compute_zone_health(const OrderService& svc,
                                            const std::vector<kube::ObjectPtr>& nodes,
                                            const std::map<std::string, json>& deployments,
                                            WallTime now) {
  const auto ready = ready_nodes_by_zone(nodes);
  std::map<std::string, std::string> previous_since;
  for (const auto& z : svc.status.value("zones", json::array())) {
    previous_since[z.value("name", "")] = z.value("unavailableSince", "");
  }
  const auto grace = std::chrono::seconds(svc.spec.failover.unhealthy_after_seconds);
  std::vector<ZoneHealth> out;
  for (const auto& zone : svc.spec.zones) {
    ZoneHealth h;
    h.name = zone.name;
    auto d = deployments.find(zone.name);
    if (d != deployments.end()) {
      const json& dep = d->second;
      const int64_t wanted = dep.value("spec", json::object()).value("replicas", int64_t{1});
      const int64_t available =
          dep.value("status", json::object()).value("availableReplicas", int64_t{0});
      if (wanted > 0 && available == 0) {
        const std::string& prev = previous_since[zone.name];
        auto since = parse_rfc3339(prev);
        if (!since) since = now;
        h.unavailable_since = format_rfc3339(*since);
        const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - *since);
        if (elapsed >= grace) {
          h.healthy = false;
          h.reason = "DeploymentUnavailable";
        } else {
          h.recheck_after = grace - elapsed;
        }
      }
    }
    auto r = ready.find(zone.name);
    if (r == ready.end() || r->second == 0) {
      h.healthy = false;
      h.reason = "NoReadyNodes";
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace orderguard::op
