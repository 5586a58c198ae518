#include "kube/work_queue.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e/support/wait.h"

namespace orderguard::kube {
namespace {

using e2e::eventually;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<RateLimiter> exponential() { return std::make_unique<ItemExponentialLimiter>(); }

double sample(prometheus::Registry& registry, const std::string& family, const std::string& name) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "name" && l.value == name) {
          if (f.type == prometheus::MetricType::Counter) return m.counter.value;
          if (f.type == prometheus::MetricType::Gauge) return m.gauge.value;
          if (f.type == prometheus::MetricType::Histogram) {
            return static_cast<double>(m.histogram.sample_count);
          }
        }
      }
    }
  }
  return -1;
}

TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), "b");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedAfterDone) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add("a");
  ASSERT_EQ(q.get(), "a");
  q.add("a");
  q.add("a");
  // Not handed out again while a worker holds it.
  EXPECT_EQ(q.len(), 0u);
  q.done("a");
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueueTest, NeverHandsAKeyToTwoWorkersAtOnce) {
  FakeClock clock;
  WorkQueue q("test", clock);
  std::mutex mu;
  std::set<std::string> in_flight;
  std::atomic<int> overlaps{0};
  std::atomic<int> processed{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.get()) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!in_flight.insert(*key).second) ++overlaps;
        }
        std::this_thread::yield();
        {
          std::lock_guard<std::mutex> lock(mu);
          in_flight.erase(*key);
        }
        ++processed;
        q.done(*key);
      }
    });
  }
  for (int i = 0; i < 5000; ++i) q.add("k" + std::to_string(i % 7));
  q.shut_down_with_drain();
  for (auto& t : workers) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GE(processed.load(), 7);
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueueTest, AddAfterReleasesKeysInDeadlineOrder) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add_after("c", seconds(3));
  q.add_after("a", seconds(1));
  q.add_after("b", seconds(2));
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.num_delayed(), 3u);

  clock.advance(milliseconds(999));
  q.tick();
  EXPECT_EQ(q.len(), 0u);

  clock.advance(milliseconds(1));
  q.tick();
  ASSERT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "a");

  clock.advance(seconds(2));
  q.tick();
  ASSERT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "b");
  EXPECT_EQ(q.get(), "c");
  EXPECT_EQ(q.num_delayed(), 0u);
}

TEST(WorkQueueTest, AddAfterKeepsTheEarlierDeadline) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add_after("a", seconds(10));
  q.add_after("a", seconds(1));
  q.add_after("a", seconds(5));
  EXPECT_EQ(q.num_delayed(), 1u);
  clock.advance(seconds(1));
  q.tick();
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.num_delayed(), 0u);
}

TEST(WorkQueueTest, AddAfterZeroAddsAtOnceAndDeduplicatesWithQueued) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add("a");
  q.add_after("a", Clock::duration::zero());
  EXPECT_EQ(q.len(), 1u);
  q.add_after("a", seconds(1));
  clock.advance(seconds(1));
  q.tick();
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueueTest, DelayThreadMovesKeysWithARealClock) {
  RealClock clock;
  WorkQueue q("test", clock);
  q.add_after("a", milliseconds(1));
  EXPECT_EQ(q.get(), "a");  // blocks until the delay thread queues it
}

TEST(WorkQueueTest, RateLimitedAddsBackOffPerKey) {
  FakeClock clock;
  WorkQueue q("test", clock, exponential());
  q.add_rate_limited("a");
  EXPECT_EQ(q.num_requeues("a"), 1);
  clock.advance(milliseconds(4));
  q.tick();
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(1));
  q.tick();
  ASSERT_EQ(q.get(), "a");
  q.add_rate_limited("a");  // second failure: 10 ms
  q.done("a");
  clock.advance(milliseconds(9));
  q.tick();
  EXPECT_EQ(q.len(), 0u);
  clock.advance(milliseconds(1));
  q.tick();
  EXPECT_EQ(q.len(), 1u);
  q.forget("a");
  EXPECT_EQ(q.num_requeues("a"), 0);
}

TEST(WorkQueueTest, ShutDownUnblocksGetAndDropsWork) {
  FakeClock clock;
  WorkQueue q("test", clock);
  auto blocked = std::async(std::launch::async, [&] { return q.get(); });
  q.shut_down();
  EXPECT_EQ(blocked.get(), std::nullopt);

  q.add("a");
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.get(), std::nullopt);
  EXPECT_TRUE(q.shutting_down());
}

TEST(WorkQueueTest, ShutDownDropsQueuedAndDelayedKeys) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add("a");
  q.add_after("b", seconds(1));
  q.shut_down();
  EXPECT_EQ(q.get(), std::nullopt);
  EXPECT_EQ(q.num_delayed(), 0u);
}

TEST(WorkQueueTest, DrainHandsOutQueuedKeysAndWaitsForDone) {
  FakeClock clock;
  WorkQueue q("test", clock);
  q.add("a");
  q.add("b");
  ASSERT_EQ(q.get(), "a");

  auto drained = std::async(std::launch::async, [&] { q.shut_down_with_drain(); });
  ASSERT_TRUE(eventually([&] { return q.shutting_down(); }));
  q.add("c");  // ignored: the queue is shutting down
  EXPECT_EQ(q.get(), "b");
  q.done("b");
  EXPECT_NE(drained.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  q.done("a");
  drained.get();
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueueTest, ExportsMetrics) {
  FakeClock clock;
  prometheus::Registry registry;
  WorkQueue q("orders", clock, exponential(), &registry);
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(sample(registry, "workqueue_adds_total", "orders"), 2);
  EXPECT_EQ(sample(registry, "workqueue_depth", "orders"), 2);
  ASSERT_EQ(q.get(), "a");
  q.add_rate_limited("a");
  q.done("a");
  EXPECT_EQ(sample(registry, "workqueue_depth", "orders"), 1);
  EXPECT_EQ(sample(registry, "workqueue_retries_total", "orders"), 1);
  EXPECT_EQ(sample(registry, "workqueue_queue_duration_seconds", "orders"), 1);
  EXPECT_EQ(sample(registry, "workqueue_work_duration_seconds", "orders"), 1);
}

// client-go's two gauges: the summed and the longest age of the keys being processed.
TEST(WorkQueueTest, UnfinishedWorkGauges) {
  FakeClock clock;
  prometheus::Registry registry;
  WorkQueue q("orders", clock, exponential(), &registry);
  auto gauge = [&](const std::string& family) {
    for (const auto& f : registry.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) return m.gauge.value;
    }
    return -1.0;
  };
  q.add("a");
  q.add("b");
  q.update_unfinished_work();
  EXPECT_EQ(gauge("workqueue_unfinished_work_seconds"), 0);  // queued is not unfinished
  EXPECT_EQ(gauge("workqueue_longest_running_processor_seconds"), 0);
  ASSERT_EQ(q.get(), "a");
  clock.advance(seconds(3));
  ASSERT_EQ(q.get(), "b");
  clock.advance(seconds(2));
  q.update_unfinished_work();
  EXPECT_EQ(gauge("workqueue_unfinished_work_seconds"), 5 + 2);
  EXPECT_EQ(gauge("workqueue_longest_running_processor_seconds"), 5);
  q.done("a");  // refreshed at once
  EXPECT_EQ(gauge("workqueue_unfinished_work_seconds"), 2);
  EXPECT_EQ(gauge("workqueue_longest_running_processor_seconds"), 2);
  q.done("b");
  EXPECT_EQ(gauge("workqueue_unfinished_work_seconds"), 0);
  EXPECT_EQ(gauge("workqueue_longest_running_processor_seconds"), 0);
}

// The internal thread refreshes them while a key is processing, without anyone asking.
TEST(WorkQueueTest, UnfinishedWorkRefreshedWhileProcessing) {
  FakeClock clock;
  prometheus::Registry registry;
  WorkQueue q("orders", clock, exponential(), &registry);
  q.add("a");
  ASSERT_EQ(q.get(), "a");
  clock.advance(seconds(4));
  EXPECT_TRUE(eventually([&] {
    for (const auto& f : registry.Collect()) {
      if (f.name == "workqueue_longest_running_processor_seconds") {
        return !f.metric.empty() && f.metric[0].gauge.value == 4;
      }
    }
    return false;
  }));
  q.done("a");
}

}  // namespace
}  // namespace orderguard::kube
