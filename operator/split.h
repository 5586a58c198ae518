// Splitting a replica count over weighted zones, with failover.
//
// split_replicas(total, zones, healthy, min_healthy_zones):
//  - Serving zones are the healthy ones. If fewer than min_healthy_zones are
//    healthy, unhealthy zones keep serving too (highest weight first, then
//    spec order) until min_healthy_zones serve: draining them would leave too
//    few zones; and if no zone is healthy, every zone serves.
//  - Every zone gets at least its minReplicas, serving or not: a drained zone
//    keeps its floor so it can show availability again and recover.
//  - The rest of `total` goes to serving zones by weight (largest remainder:
//    floors first, leftover units to the largest fractional parts, ties to the
//    higher weight, then spec order). A serving zone whose weighted share is
//    below its minReplicas is pinned at minReplicas and the others share the
//    remainder. Serving zones whose weights are all 0 share equally.
//  - The shares sum to exactly `total` whenever total >= the sum of the
//    floors; otherwise each zone gets its floor (the floors win).
// effective_weights(zones, serving): the weight in effect per zone in percent
// (0 for drained zones, the rest scaled to sum to 100 by largest remainder).
#pragma once

#include <cstdint>
#include <vector>

#include "operator/types.h"

namespace orderguard::op {

std::vector<int32_t> split_replicas(int32_t total, const std::vector<Zone>& zones,
                                    const std::vector<bool>& healthy,
                                    int32_t min_healthy_zones = 1);

// Which zones serve, by the rules above.
std::vector<bool> serving_zones(const std::vector<Zone>& zones, const std::vector<bool>& healthy,
                                int32_t min_healthy_zones);

std::vector<int32_t> effective_weights(const std::vector<Zone>& zones,
                                       const std::vector<bool>& serving);

}  // namespace orderguard::op
