#include "operator/failover.h"

#include <ctime>

#include "operator/render.h"

namespace orderguard::op {

std::string format_time(WallTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<WallTime> parse_time(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

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
        auto since = parse_time(prev);
        if (!since) since = now;
        h.unavailable_since = format_time(*since);
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
