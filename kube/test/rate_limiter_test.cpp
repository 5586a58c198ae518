#include "kube/rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace orderguard::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ItemExponentialLimiterTest, DoublesFromFiveMillisecondsPerFailure) {
  ItemExponentialLimiter limiter;
  EXPECT_EQ(limiter.when("a"), milliseconds(5));
  EXPECT_EQ(limiter.when("a"), milliseconds(10));
  EXPECT_EQ(limiter.when("a"), milliseconds(20));
  EXPECT_EQ(limiter.when("a"), milliseconds(40));
  EXPECT_EQ(limiter.num_requeues("a"), 4);
}

TEST(ItemExponentialLimiterTest, CapsAtOneThousandSeconds) {
  ItemExponentialLimiter limiter;
  // 5 ms * 2^17 = 655.36 s is the last uncapped step; 2^18 would be 1310.72 s.
  for (int i = 0; i < 17; ++i) (void)limiter.when("a");
  EXPECT_EQ(limiter.when("a"), milliseconds(655'360));
  EXPECT_EQ(limiter.when("a"), seconds(1000));
  // A long failure streak saturates instead of overflowing.
  for (int i = 0; i < 2000; ++i) (void)limiter.when("a");
  EXPECT_EQ(limiter.when("a"), seconds(1000));
}

TEST(ItemExponentialLimiterTest, ForgetResetsTheKey) {
  ItemExponentialLimiter limiter;
  (void)limiter.when("a");
  (void)limiter.when("a");
  limiter.forget("a");
  EXPECT_EQ(limiter.num_requeues("a"), 0);
  EXPECT_EQ(limiter.when("a"), milliseconds(5));
}

TEST(ItemExponentialLimiterTest, KeysAreIndependent) {
  ItemExponentialLimiter limiter;
  (void)limiter.when("a");
  (void)limiter.when("a");
  (void)limiter.when("a");
  EXPECT_EQ(limiter.when("b"), milliseconds(5));
  limiter.forget("b");
  EXPECT_EQ(limiter.when("a"), milliseconds(40));
  EXPECT_EQ(limiter.num_requeues("b"), 0);
}

TEST(TokenBucketLimiterTest, BurstOfHundredThenTenPerSecond) {
  FakeClock clock;
  TokenBucketLimiter limiter(clock);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter.when("k" + std::to_string(i)), Clock::duration::zero()) << i;
  }
  // Each reservation beyond the burst waits one more token at 10 qps.
  EXPECT_EQ(limiter.when("x"), milliseconds(100));
  EXPECT_EQ(limiter.when("y"), milliseconds(200));
  EXPECT_EQ(limiter.when("z"), milliseconds(300));
  EXPECT_EQ(limiter.num_requeues("x"), 0);
}

TEST(TokenBucketLimiterTest, RefillsOverTime) {
  FakeClock clock;
  TokenBucketLimiter limiter(clock);
  for (int i = 0; i < 100; ++i) (void)limiter.when("k");
  EXPECT_EQ(limiter.when("k"), milliseconds(100));  // the bucket is at -1
  clock.advance(seconds(1));                        // +10 tokens: 9
  for (int i = 0; i < 9; ++i) ASSERT_EQ(limiter.when("k"), Clock::duration::zero()) << i;
  EXPECT_EQ(limiter.when("k"), milliseconds(100));
  clock.advance(milliseconds(150));  // -1 + 1.5 = 0.5 tokens: still short of one
  EXPECT_EQ(limiter.when("k"), milliseconds(50));
}

TEST(TokenBucketLimiterTest, NeverHoldsMoreThanTheBurst) {
  FakeClock clock;
  TokenBucketLimiter limiter(clock);
  clock.advance(std::chrono::hours(1));
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.when("k"), Clock::duration::zero()) << i;
  EXPECT_EQ(limiter.when("k"), milliseconds(100));
}

TEST(MaxOfLimiterTest, PicksTheLongerDelay) {
  FakeClock clock;
  auto limiter = default_controller_rate_limiter(clock);
  // Distinct keys: the per-key backoff (5 ms) wins while the bucket has tokens.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter->when("k" + std::to_string(i)), milliseconds(5)) << i;
  }
  // The bucket is empty: its 100 ms beats a first failure's 5 ms.
  EXPECT_EQ(limiter->when("fresh"), milliseconds(100));
  // A key with a long failure streak is limited by its own backoff.
  for (int i = 0; i < 10; ++i) (void)limiter->when("hot");
  EXPECT_EQ(limiter->when("hot"), milliseconds(5 << 10));  // 11th failure
  EXPECT_EQ(limiter->num_requeues("hot"), 11);
  limiter->forget("hot");
  EXPECT_EQ(limiter->num_requeues("hot"), 0);
}

}  // namespace
}  // namespace orderguard::kube
