// Rate limiters for the work queue, with the numbers of client-go's
// util/workqueue/default_rate_limiters.go.
//
// Contract:
//  - `when(key)` records one more failure of `key` (where the limiter counts
//    them) and returns how long to wait before the key may be processed again.
//    It is a reservation: calling it consumes whatever budget it accounts for.
//  - `forget(key)` clears the key's failure history (after a success).
//  - `num_requeues(key)` is the number of failures recorded since the last forget.
//  - Pure arithmetic over an injected Clock; no method sleeps. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"

namespace orderguard::kube {

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  virtual Clock::duration when(const std::string& key) = 0;
  virtual void forget(const std::string& key) = 0;
  virtual int num_requeues(const std::string& key) const = 0;
};

// Per-key exponential backoff: base * 2^failures, capped at max_delay.
// client-go's defaults are 5 ms and 1000 s.
class ItemExponentialLimiter final : public RateLimiter {
 public:
  static constexpr Clock::duration kDefaultBase = std::chrono::milliseconds(5);
  static constexpr Clock::duration kDefaultMax = std::chrono::seconds(1000);

  explicit ItemExponentialLimiter(Clock::duration base = kDefaultBase,
                                  Clock::duration max_delay = kDefaultMax);

  Clock::duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  int num_requeues(const std::string& key) const override;

 private:
  const Clock::duration base_;
  const Clock::duration max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> failures_;
};

// An overall token bucket shared by all keys, with the reservation semantics of
// golang.org/x/time/rate: `when()` takes one token now, letting the bucket go
// negative, and returns the time until that token will have been refilled
// (rate.Limiter.Reserve().Delay()). The bucket starts full. Keys are ignored.
class TokenBucketLimiter final : public RateLimiter {
 public:
  static constexpr double kDefaultQps = 10;
  static constexpr int kDefaultBurst = 100;

  TokenBucketLimiter(const Clock& clock, double qps = kDefaultQps, int burst = kDefaultBurst);

  Clock::duration when(const std::string& key) override;
  void forget(const std::string&) override {}
  int num_requeues(const std::string&) const override { return 0; }

 private:
  const Clock& clock_;
  const double qps_;
  const double burst_;
  std::mutex mu_;
  double tokens_;
  Clock::time_point last_;
};

// The largest delay of several limiters; every limiter sees every call, so each
// keeps its own accounting (the bucket spends a token even when the per-key
// backoff is the longer wait).
class MaxOfLimiter final : public RateLimiter {
 public:
  explicit MaxOfLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);

  Clock::duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  int num_requeues(const std::string& key) const override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultTypedControllerRateLimiter: MaxOf(per-key exponential
// 5 ms..1000 s, token bucket 10 qps burst 100). `clock` must outlive the result.
std::unique_ptr<RateLimiter> default_controller_rate_limiter(const Clock& clock);

}  // namespace orderguard::kube
