// Zone health for multi-active failover, as a pure function of what the
// caches hold and the clock.
//
// A zone is unhealthy when
//  - no Node labelled topology.kubernetes.io/zone=<zone> has Ready=True, or
//  - its Deployment wants replicas but has had none available for longer than
//    spec.failover.unhealthyAfterSeconds.
// "Unavailable since" is carried from the previous status (status.zones[].
// unavailableSince), so the grace period survives operator restarts and
// leader changes. A zone still within its grace period is healthy and asks to
// be rechecked when the grace ends.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/time_format.h"
#include "kube/informer.h"
#include "operator/types.h"

namespace orderguard::op {

struct ZoneHealth {
  std::string name;
  bool healthy = true;
  std::string reason;             // why unhealthy: "NoReadyNodes", "DeploymentUnavailable"
  std::string unavailable_since;  // RFC 3339, "" when the Deployment is available
  std::optional<std::chrono::seconds> recheck_after;
};

// `deployments`: zone name -> the live Deployment of that zone (absent: none yet).
std::vector<ZoneHealth> compute_zone_health(const OrderService& svc,
                                            const std::vector<kube::ObjectPtr>& nodes,
                                            const std::map<std::string, json>& deployments,
                                            WallTime now);

// Ready=True nodes per zone label value.
std::map<std::string, int> ready_nodes_by_zone(const std::vector<kube::ObjectPtr>& nodes);

}  // namespace orderguard::op
