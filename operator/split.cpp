#include "operator/split.h"

#include <algorithm>
#include <numeric>

namespace orderguard::op {
namespace {

// Largest-remainder apportionment of `amount` over `weights` (all >= 0, some
// entries excluded by `use`). Weights all 0: equal shares.
std::vector<int64_t> apportion(int64_t amount, const std::vector<int64_t>& weights,
                               const std::vector<bool>& use) {
  const size_t n = weights.size();
  std::vector<int64_t> out(n, 0);
  std::vector<int64_t> w(n, 0);
  int64_t total_weight = 0;
  size_t used = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!use[i]) continue;
    ++used;
    w[i] = weights[i];
    total_weight += w[i];
  }
  if (used == 0 || amount <= 0) return out;
  if (total_weight == 0) {
    for (size_t i = 0; i < n; ++i) w[i] = use[i] ? 1 : 0;
    total_weight = static_cast<int64_t>(used);
  }
  std::vector<int64_t> rem(n, 0);
  int64_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!use[i]) continue;
    out[i] = amount * w[i] / total_weight;
    rem[i] = amount * w[i] % total_weight;
    given += out[i];
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i)
    if (use[i]) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (rem[a] != rem[b]) return rem[a] > rem[b];
    return w[a] > w[b];
  });
  for (size_t k = 0; given < amount; k = (k + 1) % order.size(), ++given) ++out[order[k]];
  return out;
}

}  // namespace

std::vector<bool> serving_zones(const std::vector<Zone>& zones, const std::vector<bool>& healthy,
                                int32_t min_healthy_zones) {
  std::vector<bool> serving(zones.size(), false);
  int32_t count = 0;
  for (size_t i = 0; i < zones.size(); ++i) {
    serving[i] = i < healthy.size() ? healthy[i] : true;
    if (serving[i]) ++count;
  }
  // Nothing known to be healthy: draining would only shuffle load between
  // zones equally suspect, so every zone serves.
  if (count == 0) return std::vector<bool>(zones.size(), true);
  std::vector<size_t> drained;
  for (size_t i = 0; i < zones.size(); ++i)
    if (!serving[i]) drained.push_back(i);
  std::stable_sort(drained.begin(), drained.end(),
                   [&](size_t a, size_t b) { return zones[a].weight > zones[b].weight; });
  const int32_t needed = std::max<int32_t>(1, min_healthy_zones);
  for (size_t i : drained) {
    if (count >= needed) break;
    serving[i] = true;
    ++count;
  }
  return serving;
}

std::vector<int32_t> split_replicas(int32_t total, const std::vector<Zone>& zones,
                                    const std::vector<bool>& healthy, int32_t min_healthy_zones) {
  const size_t n = zones.size();
  const std::vector<bool> serving = serving_zones(zones, healthy, min_healthy_zones);
  std::vector<int64_t> out(n, 0);
  std::vector<bool> free(n, false);  // serving and not pinned at its floor
  int64_t remaining = total;
  for (size_t i = 0; i < n; ++i) {
    if (serving[i]) {
      free[i] = true;
    } else {
      out[i] = zones[i].min_replicas;
      remaining -= out[i];
    }
  }
  std::vector<int64_t> weights(n);
  for (size_t i = 0; i < n; ++i) weights[i] = zones[i].weight;
  // Pin zones whose exact share falls below their floor, then share the rest;
  // at most n rounds since each round pins at least one zone or stops.
  while (true) {
    int64_t free_weight = 0;
    size_t free_count = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!free[i]) continue;
      free_weight += weights[i];
      ++free_count;
    }
    if (free_count == 0) break;
    bool pinned = false;
    for (size_t i = 0; i < n; ++i) {
      if (!free[i]) continue;
      // share < min  <=>  remaining * w / W < min  (equal shares when W == 0)
      const int64_t w = free_weight == 0 ? 1 : weights[i];
      const int64_t big_w = free_weight == 0 ? static_cast<int64_t>(free_count) : free_weight;
      if (remaining * w < int64_t{zones[i].min_replicas} * big_w) {
        out[i] = zones[i].min_replicas;
        remaining -= out[i];
        free[i] = false;
        pinned = true;
      }
    }
    if (pinned) continue;
    std::vector<int64_t> share = apportion(std::max<int64_t>(remaining, 0), weights, free);
    for (size_t i = 0; i < n; ++i)
      if (free[i]) out[i] = share[i];
    break;
  }
  return std::vector<int32_t>(out.begin(), out.end());
}

std::vector<int32_t> effective_weights(const std::vector<Zone>& zones,
                                       const std::vector<bool>& serving) {
  std::vector<int64_t> weights;
  for (const auto& z : zones) weights.push_back(z.weight);
  auto share = apportion(100, weights, serving);
  return std::vector<int32_t>(share.begin(), share.end());
}

}  // namespace orderguard::op
