// A string-keyed work queue with the semantics of client-go's workqueue
// (Typed + Delaying + RateLimiting), the heart of a controller.
//
// Contract:
//  - De-duplicating: a key added while it waits in the queue is queued once.
//  - Per-key serialization: a key handed out by get() is "processing" until
//    done(key); adding it meanwhile marks it dirty, and done() re-queues it.
//    The same key is never handed to two workers at once.
//  - add_after(key, d) queues the key once the Clock has moved d forward; a
//    key already waiting keeps the earlier of the two deadlines.
//    add_rate_limited(key) is add_after(key, limiter.when(key)); forget(key)
//    resets the key's backoff; num_requeues(key) reports it.
//  - get() blocks until a key is available and returns it, or returns nullopt
//    once the queue is shut down.
//  - shut_down(): adds are ignored from then on, queued and delayed keys are
//    dropped, every get() returns nullopt at once. Keys already handed out may
//    still be done(). Use it to stop a controller (its informers re-queue
//    everything on the next start).
//  - shut_down_with_drain(): adds are ignored and delayed keys dropped, but
//    get() keeps handing out what is already queued; the call blocks until the
//    queue is empty and every handed-out key is done(). Never call it from a
//    worker that holds a key: it would wait for itself.
//  - Delayed keys are moved by an internal thread that waits on a condition
//    variable against the Clock's time. With a FakeClock nothing moves by
//    itself: after FakeClock::advance(), call tick(), which moves every due key
//    into the queue before it returns, so tests never sleep.
//  - Thread-safe. The destructor shuts the queue down and joins its thread.
//
// Metrics (when a registry is given), label name=<queue name>: workqueue_depth,
// workqueue_adds_total, workqueue_queue_duration_seconds,
// workqueue_work_duration_seconds, workqueue_retries_total, and the gauges
// workqueue_unfinished_work_seconds (the ages of the keys being processed, summed) and
// workqueue_longest_running_processor_seconds (the oldest one's). As in client-go, the
// gauges are refreshed every 500 ms while keys are processing (by the internal thread) and
// when a key is done; update_unfinished_work() refreshes them at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "base/clock.h"
#include "kube/rate_limiter.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace orderguard::kube {

class WorkQueue {
 public:
  // `clock` and `metrics` (may be null) must outlive the queue. A null
  // `limiter` means default_controller_rate_limiter(clock).
  WorkQueue(std::string name, const Clock& clock, std::unique_ptr<RateLimiter> limiter = nullptr,
            prometheus::Registry* metrics = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  const std::string& name() const { return name_; }

  void add(const std::string& key);
  void add_after(const std::string& key, Clock::duration delay);
  void add_rate_limited(const std::string& key);
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

  std::optional<std::string> get();
  void done(const std::string& key);

  void shut_down();
  void shut_down_with_drain();
  bool shutting_down() const;

  // Keys ready to be handed out (not those processing or waiting for a delay).
  size_t len() const;
  // Keys waiting for their add_after deadline.
  size_t num_delayed() const;

  // Moves every delayed key whose deadline the Clock has reached into the
  // queue, then wakes the internal thread so it recomputes its next wake-up.
  void tick();

  // Sets the two unfinished-work gauges from the keys processing now.
  void update_unfinished_work();

 private:
  struct Metrics;

  void add_locked(const std::string& key);
  // Moves due delayed keys into the queue; returns the next deadline, if any.
  std::optional<Clock::time_point> move_due_locked();
  void update_unfinished_work_locked();
  void delay_loop();

  const std::string name_;
  const Clock& clock_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<Metrics> metrics_;

  mutable std::mutex mu_;
  std::condition_variable ready_cv_;  // get() waiters and drain
  std::condition_variable delay_cv_;  // the delay thread
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;
  std::unordered_set<std::string> processing_;
  std::unordered_map<std::string, Clock::time_point> added_at_;    // for queue_duration
  std::unordered_map<std::string, Clock::time_point> started_at_;  // for work_duration
  // Delayed keys ordered by deadline, plus the deadline of each key.
  std::set<std::pair<Clock::time_point, std::string>> delayed_;
  std::unordered_map<std::string, Clock::time_point> delayed_at_;
  bool shutting_down_ = false;
  bool draining_ = false;
  std::thread delay_thread_;
};

}  // namespace orderguard::kube
