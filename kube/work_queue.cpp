#include "kube/work_queue.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <utility>

namespace orderguard::kube {
namespace {

// The delay thread re-reads the clock at least this often, so a clock that
// jumps (or a FakeClock advanced without tick()) is noticed eventually.
constexpr std::chrono::seconds kMaxDelayWait{10};
// How often the unfinished-work gauges are refreshed while keys are processing (client-go's
// period).
constexpr std::chrono::milliseconds kUnfinishedWorkPeriod{500};

// now + d without overflowing for "wait forever" delays.
Clock::time_point saturating_add(Clock::time_point now, Clock::duration d) {
  if (d > Clock::time_point::max() - now) return Clock::time_point::max();
  return now + d;
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// client-go's workqueue histograms: ExponentialBuckets(10e-9, 10, 12).
prometheus::Histogram::BucketBoundaries duration_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  double v = 10e-9;
  for (int i = 0; i < 12; ++i, v *= 10) b.push_back(v);
  return b;
}

}  // namespace

struct WorkQueue::Metrics {
  prometheus::Gauge& depth;
  prometheus::Counter& adds;
  prometheus::Histogram& queue_duration;
  prometheus::Histogram& work_duration;
  prometheus::Counter& retries;
  prometheus::Gauge& unfinished_work;
  prometheus::Gauge& longest_running;
};

WorkQueue::WorkQueue(std::string name, const Clock& clock, std::unique_ptr<RateLimiter> limiter,
                     prometheus::Registry* metrics)
    : name_(std::move(name)),
      clock_(clock),
      limiter_(limiter ? std::move(limiter) : default_controller_rate_limiter(clock)) {
  if (metrics != nullptr) {
    const prometheus::Labels labels{{"name", name_}};
    // The registry merges families by name, so many queues share one family.
    metrics_ = std::make_unique<Metrics>(Metrics{
        prometheus::BuildGauge()
            .Name("workqueue_depth")
            .Help("Current depth of workqueue")
            .Register(*metrics)
            .Add(labels),
        prometheus::BuildCounter()
            .Name("workqueue_adds_total")
            .Help("Total number of adds handled by workqueue")
            .Register(*metrics)
            .Add(labels),
        prometheus::BuildHistogram()
            .Name("workqueue_queue_duration_seconds")
            .Help("How long in seconds an item stays in workqueue before being requested")
            .Register(*metrics)
            .Add(labels, duration_buckets()),
        prometheus::BuildHistogram()
            .Name("workqueue_work_duration_seconds")
            .Help("How long in seconds processing an item from workqueue takes")
            .Register(*metrics)
            .Add(labels, duration_buckets()),
        prometheus::BuildCounter()
            .Name("workqueue_retries_total")
            .Help("Total number of retries handled by workqueue")
            .Register(*metrics)
            .Add(labels),
        prometheus::BuildGauge()
            .Name("workqueue_unfinished_work_seconds")
            .Help("How many seconds of work has done that is in progress and hasn't been "
                  "observed by work_duration. Large values indicate stuck threads. One can "
                  "deduce the number of stuck threads by observing the rate at which this "
                  "increases.")
            .Register(*metrics)
            .Add(labels),
        prometheus::BuildGauge()
            .Name("workqueue_longest_running_processor_seconds")
            .Help("How many seconds has the longest running processor for workqueue been "
                  "running.")
            .Register(*metrics)
            .Add(labels),
    });
  }
  delay_thread_ = std::thread([this] { delay_loop(); });
}

WorkQueue::~WorkQueue() {
  shut_down();
  if (delay_thread_.joinable()) delay_thread_.join();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  add_locked(key);
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;  // already queued, or marked for re-queue
  added_at_.emplace(key, clock_.now());
  if (metrics_) {
    metrics_->adds.Increment();
    metrics_->depth.Increment();
  }
  // A key being processed is re-queued by done(), never handed out twice.
  if (processing_.count(key) != 0) return;
  queue_.push_back(key);
  ready_cv_.notify_one();
}

void WorkQueue::add_after(const std::string& key, Clock::duration delay) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  if (delay <= Clock::duration::zero()) {
    add_locked(key);
    return;
  }
  const Clock::time_point at = saturating_add(clock_.now(), delay);
  auto it = delayed_at_.find(key);
  if (it != delayed_at_.end()) {
    if (it->second <= at) return;  // the earlier deadline wins
    delayed_.erase({it->second, key});
    it->second = at;
  } else {
    delayed_at_.emplace(key, at);
  }
  delayed_.emplace(at, key);
  delay_cv_.notify_one();
}

void WorkQueue::add_rate_limited(const std::string& key) {
  const Clock::duration delay = limiter_->when(key);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return;
    if (metrics_) metrics_->retries.Increment();
  }
  add_after(key, delay);
}

void WorkQueue::forget(const std::string& key) { limiter_->forget(key); }

int WorkQueue::num_requeues(const std::string& key) const { return limiter_->num_requeues(key); }

std::optional<std::string> WorkQueue::get() {
  std::unique_lock<std::mutex> lock(mu_);
  ready_cv_.wait(lock, [&] { return !queue_.empty() || shutting_down_; });
  if (shutting_down_ && (!draining_ || queue_.empty())) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  const Clock::time_point now = clock_.now();
  if (auto it = added_at_.find(key); it != added_at_.end()) {
    if (metrics_) metrics_->queue_duration.Observe(seconds_between(it->second, now));
    added_at_.erase(it);
  }
  started_at_[key] = now;
  if (metrics_) {
    metrics_->depth.Decrement();
    // The internal thread refreshes the unfinished-work gauges while keys are processing.
    if (processing_.size() == 1) delay_cv_.notify_all();
  }
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (processing_.erase(key) == 0) return;
  if (auto it = started_at_.find(key); it != started_at_.end()) {
    if (metrics_) metrics_->work_duration.Observe(seconds_between(it->second, clock_.now()));
    started_at_.erase(it);
  }
  update_unfinished_work_locked();
  if (dirty_.count(key) != 0) {
    queue_.push_back(key);
    ready_cv_.notify_one();
  } else if (processing_.empty()) {
    ready_cv_.notify_all();  // a drain may be waiting for the last key
  }
}

void WorkQueue::shut_down() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  draining_ = false;
  // get() hands nothing out from now on: drop the queued keys so depth says so.
  if (metrics_) metrics_->depth.Decrement(static_cast<double>(dirty_.size()));
  queue_.clear();
  dirty_.clear();
  added_at_.clear();
  delayed_.clear();
  delayed_at_.clear();
  ready_cv_.notify_all();
  delay_cv_.notify_all();
}

void WorkQueue::shut_down_with_drain() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!shutting_down_) draining_ = true;
  shutting_down_ = true;
  delayed_.clear();
  delayed_at_.clear();
  ready_cv_.notify_all();
  delay_cv_.notify_all();
  ready_cv_.wait(lock, [&] { return !draining_ || (queue_.empty() && processing_.empty()); });
}

bool WorkQueue::shutting_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::len() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t WorkQueue::num_delayed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delayed_.size();
}

void WorkQueue::tick() {
  std::lock_guard<std::mutex> lock(mu_);
  move_due_locked();
  delay_cv_.notify_all();
}

std::optional<Clock::time_point> WorkQueue::move_due_locked() {
  const Clock::time_point now = clock_.now();
  while (!delayed_.empty()) {
    auto first = delayed_.begin();
    if (first->first > now) return first->first;
    std::string key = first->second;
    delayed_at_.erase(key);
    delayed_.erase(first);
    add_locked(key);
  }
  return std::nullopt;
}

void WorkQueue::update_unfinished_work() {
  std::lock_guard<std::mutex> lock(mu_);
  update_unfinished_work_locked();
}

void WorkQueue::update_unfinished_work_locked() {
  if (!metrics_) return;
  const Clock::time_point now = clock_.now();
  double total = 0;
  double longest = 0;
  for (const auto& [key, started] : started_at_) {
    const double age = std::max(0.0, seconds_between(started, now));
    total += age;
    longest = std::max(longest, age);
  }
  metrics_->unfinished_work.Set(total);
  metrics_->longest_running.Set(longest);
}

void WorkQueue::delay_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutting_down_) {
    const std::optional<Clock::time_point> next = move_due_locked();
    const bool refresh = metrics_ && !processing_.empty();
    if (refresh) update_unfinished_work_locked();
    if (!next && !refresh) {
      delay_cv_.wait(lock);
      continue;
    }
    // Real time to sleep equals the clock time still to go; a FakeClock does
    // not move during it, so the loop just re-reads it and waits again until
    // tick() or a new earlier key wakes it.
    Clock::duration wait = kMaxDelayWait;
    if (next) wait = std::min<Clock::duration>(*next - clock_.now(), wait);
    if (refresh) wait = std::min<Clock::duration>(kUnfinishedWorkPeriod, wait);
    delay_cv_.wait_for(lock, wait);
  }
}

}  // namespace orderguard::kube
