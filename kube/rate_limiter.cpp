#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace orderguard::kube {

ItemExponentialLimiter::ItemExponentialLimiter(Clock::duration base, Clock::duration max_delay)
    : base_(base), max_(max_delay) {}

Clock::duration ItemExponentialLimiter::when(const std::string& key) {
  int exp;
  {
    std::lock_guard<std::mutex> lock(mu_);
    exp = failures_[key]++;
  }
  // Computed in floating point, as client-go does, so a long failure streak
  // saturates at the cap instead of overflowing.
  const double backoff = static_cast<double>(base_.count()) * std::pow(2.0, exp);
  if (backoff >= static_cast<double>(max_.count())) return max_;
  return Clock::duration(static_cast<Clock::duration::rep>(backoff));
}

void ItemExponentialLimiter::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

int ItemExponentialLimiter::num_requeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

TokenBucketLimiter::TokenBucketLimiter(const Clock& clock, double qps, int burst)
    : clock_(clock), qps_(qps), burst_(burst), tokens_(burst), last_(clock.now()) {}

Clock::duration TokenBucketLimiter::when(const std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = clock_.now();
  // Refill for the time elapsed since the last reservation, up to the burst.
  // A clock that went backwards refills nothing (rate.Limiter.advance).
  const Clock::time_point last = std::min(last_, now);
  const double elapsed_s = std::chrono::duration<double>(now - last).count();
  double tokens = std::min(burst_, tokens_ + elapsed_s * qps_);
  tokens -= 1;
  last_ = now;
  tokens_ = tokens;
  if (tokens >= 0) return Clock::duration::zero();
  if (qps_ <= 0) return Clock::duration::max();
  // Rounded rather than truncated so 1 token at 10 qps is exactly 100 ms.
  const double wait_ns = -tokens / qps_ * 1e9;
  if (wait_ns >= static_cast<double>(std::numeric_limits<int64_t>::max())) {
    return Clock::duration::max();
  }
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(std::llround(wait_ns)));
}

MaxOfLimiter::MaxOfLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

Clock::duration MaxOfLimiter::when(const std::string& key) {
  Clock::duration longest = Clock::duration::zero();
  for (auto& l : limiters_) longest = std::max(longest, l->when(key));
  return longest;
}

void MaxOfLimiter::forget(const std::string& key) {
  for (auto& l : limiters_) l->forget(key);
}

int MaxOfLimiter::num_requeues(const std::string& key) const {
  int most = 0;
  for (const auto& l : limiters_) most = std::max(most, l->num_requeues(key));
  return most;
}

std::unique_ptr<RateLimiter> default_controller_rate_limiter(const Clock& clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialLimiter>());
  limiters.push_back(std::make_unique<TokenBucketLimiter>(clock));
  return std::make_unique<MaxOfLimiter>(std::move(limiters));
}

}  // namespace orderguard::kube
