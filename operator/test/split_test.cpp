#include "operator/split.h"

#include <gtest/gtest.h>

#include <numeric>

namespace orderguard::op {
namespace {

std::vector<Zone> zones(std::vector<std::pair<int32_t, int32_t>> weight_and_min) {
  std::vector<Zone> out;
  char name = 'a';
  for (auto [w, m] : weight_and_min) out.push_back({std::string(1, name++), w, m});
  return out;
}

int32_t sum(const std::vector<int32_t>& v) { return std::accumulate(v.begin(), v.end(), 0); }

const std::vector<bool> kAllHealthy(10, true);

TEST(SplitReplicas, ExactWeights) {
  EXPECT_EQ(split_replicas(10, zones({{50, 0}, {30, 0}, {20, 0}}), kAllHealthy),
            (std::vector<int32_t>{5, 3, 2}));
}

TEST(SplitReplicas, LargestRemainderSumsExactly) {
  // 34/33/33 of 10 = 3.4, 3.3, 3.3 -> 3,3,3 + 1 to the largest remainder (a).
  EXPECT_EQ(split_replicas(10, zones({{34, 0}, {33, 0}, {33, 0}}), kAllHealthy),
            (std::vector<int32_t>{4, 3, 3}));
  // Equal weights, 2 left over: ties go to spec order.
  EXPECT_EQ(split_replicas(5, zones({{33, 0}, {33, 0}, {34, 0}}), kAllHealthy),
            (std::vector<int32_t>{2, 1, 2}));
  for (int32_t total = 0; total <= 200; ++total) {
    auto s = split_replicas(total, zones({{34, 0}, {33, 0}, {33, 0}}), kAllHealthy);
    EXPECT_EQ(sum(s), total) << total;
  }
}

TEST(SplitReplicas, MinReplicasFloorsAndTheRestByWeight) {
  // c's share (10% of 10 = 1) is below its floor 3: pinned; a and b share 7 by 60:30.
  EXPECT_EQ(split_replicas(10, zones({{60, 1}, {30, 1}, {10, 3}}), kAllHealthy),
            (std::vector<int32_t>{5, 2, 3}));
  // Total below the floors: each zone gets its floor.
  EXPECT_EQ(split_replicas(2, zones({{50, 2}, {50, 2}}), kAllHealthy),
            (std::vector<int32_t>{2, 2}));
  // Weight 0 zone gets its floor only.
  EXPECT_EQ(split_replicas(6, zones({{100, 1}, {0, 1}}), kAllHealthy),
            (std::vector<int32_t>{5, 1}));
  EXPECT_EQ(split_replicas(0, zones({{50, 0}, {50, 0}}), kAllHealthy),
            (std::vector<int32_t>{0, 0}));
}

TEST(SplitReplicas, EveryShareAtLeastItsFloorAndSumsExactly) {
  auto z = zones({{70, 2}, {20, 3}, {10, 4}});
  for (int32_t total = 9; total <= 300; ++total) {
    for (int mask = 0; mask < 8; ++mask) {
      std::vector<bool> healthy = {(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0};
      auto s = split_replicas(total, z, healthy, 1);
      EXPECT_EQ(sum(s), total) << total << " mask " << mask;
      for (size_t i = 0; i < z.size(); ++i) EXPECT_GE(s[i], z[i].min_replicas);
    }
  }
}

TEST(SplitReplicas, FailoverMovesShareInProportionToWeight) {
  auto z = zones({{50, 1}, {30, 1}, {20, 1}});
  // c unhealthy: keeps its floor (1); a and b share 19 by 50:30 -> 11.875, 7.125.
  EXPECT_EQ(split_replicas(20, z, {true, true, false}), (std::vector<int32_t>{12, 7, 1}));
  // a unhealthy: b and c share 19 by 30:20 -> 11.4, 7.6.
  EXPECT_EQ(split_replicas(20, z, {false, true, true}), (std::vector<int32_t>{1, 11, 8}));
}

TEST(SplitReplicas, RecoveryRestoresTheOriginalSplit) {
  auto z = zones({{50, 1}, {30, 1}, {20, 1}});
  auto before = split_replicas(20, z, {true, true, true});
  auto during = split_replicas(20, z, {true, true, false});
  auto after = split_replicas(20, z, {true, true, true});
  EXPECT_NE(before, during);
  EXPECT_EQ(before, after);
  EXPECT_EQ(before, (std::vector<int32_t>{10, 6, 4}));
}

TEST(SplitReplicas, NeverFewerThanMinHealthyZonesServing) {
  auto z = zones({{50, 1}, {30, 1}, {20, 1}});
  // Two zones down but two must serve: b (the heavier) keeps serving.
  EXPECT_EQ(serving_zones(z, {true, false, false}, 2), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(split_replicas(20, z, {true, false, false}, 2), (std::vector<int32_t>{12, 7, 1}));
  // No zone healthy: all serve, as if nothing were known.
  EXPECT_EQ(split_replicas(20, z, {false, false, false}, 1),
            split_replicas(20, z, {true, true, true}, 1));
  // One zone down, min 3: nothing moves.
  EXPECT_EQ(split_replicas(20, z, {true, true, false}, 3),
            split_replicas(20, z, {true, true, true}, 3));
}

TEST(SplitReplicas, ZeroWeightServingZonesShareEquallyWhenAlone) {
  auto z = zones({{100, 0}, {0, 0}, {0, 0}});
  EXPECT_EQ(split_replicas(4, z, {false, true, true}), (std::vector<int32_t>{0, 2, 2}));
}

TEST(EffectiveWeights, ScaleServingZonesTo100) {
  auto z = zones({{50, 1}, {30, 1}, {20, 1}});
  EXPECT_EQ(effective_weights(z, {true, true, true}), (std::vector<int32_t>{50, 30, 20}));
  EXPECT_EQ(effective_weights(z, {true, true, false}), (std::vector<int32_t>{63, 37, 0}));
  EXPECT_EQ(effective_weights(z, {false, false, true}), (std::vector<int32_t>{0, 0, 100}));
}

}  // namespace
}  // namespace orderguard::op
