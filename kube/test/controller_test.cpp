#include "kube/controller.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "e2e/support/wait.h"

namespace orderguard::kube {
namespace {

using e2e::eventually;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Reads controller_runtime_* samples for controller "c" (and a result label).
double sample(prometheus::Registry& registry, const std::string& family,
              const std::string& result = "") {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      bool match = true;
      for (const auto& l : m.label) {
        if (l.name == "result" && l.value != result) match = false;
      }
      if (!match) continue;
      if (f.type == prometheus::MetricType::Counter) return m.counter.value;
      if (f.type == prometheus::MetricType::Gauge) return m.gauge.value;
      if (f.type == prometheus::MetricType::Histogram) {
        return static_cast<double>(m.histogram.sample_count);
      }
    }
  }
  return -1;
}

struct Fixture {
  FakeClock clock;
  prometheus::Registry registry;
  std::atomic<int> attempts{0};

  std::unique_ptr<Controller> make(Reconciler reconcile, int workers = 1) {
    ControllerOptions opts;
    opts.workers = workers;
    opts.metrics = &registry;
    return std::make_unique<Controller>("c", std::move(reconcile), clock, std::move(opts));
  }
  double total(const std::string& result) {
    return sample(registry, "controller_runtime_reconcile_total", result);
  }
};

TEST(RequestTest, KeyRoundTrips) {
  EXPECT_EQ((Request{"shop", "orders"}).key(), "shop/orders");
  EXPECT_EQ((Request{"", "node-1"}).key(), "node-1");
  EXPECT_EQ(Request::from_key("shop/orders"), (Request{"shop", "orders"}));
  EXPECT_EQ(Request::from_key("node-1"), (Request{"", "node-1"}));
}

TEST(ReconcileOutcomeTest, ErrorsAreTerminalUnlessTransient) {
  ReconcileOutcome transient = make_error(ErrorCode::kConflict, "stale");
  EXPECT_FALSE(transient.ok());
  EXPECT_FALSE(transient.is_terminal());
  ReconcileOutcome invalid = make_error(ErrorCode::kInvalid, "bad spec");
  EXPECT_TRUE(invalid.is_terminal());
  // Fixed without an event on the object (RBAC, the API server learning a CRD's kind).
  ReconcileOutcome forbidden = make_error(ErrorCode::kForbidden, "cannot find RESTMapping");
  EXPECT_FALSE(forbidden.is_terminal());
  ReconcileOutcome forced = terminal(make_error(ErrorCode::kUnavailable, "x"));
  EXPECT_TRUE(forced.is_terminal());
  ReconcileOutcome ok = ReconcileResult::requeue_after(seconds(3));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok.result().requeue());
  EXPECT_EQ(ok.result().after(), seconds(3));
  EXPECT_FALSE(ReconcileOutcome(ReconcileResult::done()).result().requeue());
}

TEST(ControllerTest, RetriesTransientErrorsWithGrowingBackoffThenForgets) {
  Fixture f;
  auto c = f.make([&](const Request& r) -> ReconcileOutcome {
    EXPECT_EQ(r, (Request{"shop", "orders"}));
    if (++f.attempts <= 2) return make_error(ErrorCode::kUnavailable, "apiserver away");
    return ReconcileResult::done();
  });
  c->enqueue({"shop", "orders"});
  c->start();

  ASSERT_TRUE(eventually([&] { return f.total("error") == 1; }));
  EXPECT_EQ(c->queue().num_requeues("shop/orders"), 1);
  EXPECT_EQ(c->queue().num_delayed(), 1u);
  f.clock.advance(milliseconds(4));
  c->queue().tick();
  EXPECT_EQ(c->queue().num_delayed(), 1u);  // 5 ms not reached yet
  f.clock.advance(milliseconds(1));
  c->queue().tick();

  ASSERT_TRUE(eventually([&] { return f.total("error") == 2; }));
  EXPECT_EQ(c->queue().num_requeues("shop/orders"), 2);
  f.clock.advance(milliseconds(9));
  c->queue().tick();
  EXPECT_EQ(c->queue().num_delayed(), 1u);  // the second backoff is 10 ms
  f.clock.advance(milliseconds(1));
  c->queue().tick();

  ASSERT_TRUE(eventually([&] { return f.total("success") == 1; }));
  EXPECT_EQ(f.attempts.load(), 3);
  EXPECT_EQ(c->queue().num_requeues("shop/orders"), 0);
  EXPECT_EQ(c->queue().num_delayed(), 0u);
  EXPECT_EQ(sample(f.registry, "controller_runtime_reconcile_errors_total"), 2);
  EXPECT_EQ(sample(f.registry, "controller_runtime_terminal_reconcile_errors_total"), 0);
  EXPECT_EQ(sample(f.registry, "controller_runtime_reconcile_time_seconds"), 3);
}

TEST(ControllerTest, TerminalErrorsAreNotRetried) {
  Fixture f;
  auto c = f.make([&](const Request& r) -> ReconcileOutcome {
    ++f.attempts;
    if (r.name == "forced") return terminal(make_error(ErrorCode::kUnavailable, "give up"));
    return make_error(ErrorCode::kInvalid, "zone weights do not sum to 100");
  });
  c->enqueue({"shop", "forced"});
  c->enqueue({"shop", "invalid"});
  c->start();

  ASSERT_TRUE(eventually([&] { return f.total("error") == 2; }));
  EXPECT_EQ(sample(f.registry, "controller_runtime_terminal_reconcile_errors_total"), 2);
  EXPECT_EQ(c->queue().num_delayed(), 0u);
  EXPECT_EQ(c->queue().len(), 0u);
  EXPECT_EQ(c->queue().num_requeues("shop/forced"), 0);
  f.clock.advance(seconds(2000));
  c->queue().tick();
  EXPECT_EQ(c->queue().len(), 0u);
  c->stop();
  EXPECT_EQ(f.attempts.load(), 2);
}

TEST(ControllerTest, RequeueAfterReschedules) {
  Fixture f;
  auto c = f.make([&](const Request&) -> ReconcileOutcome {
    if (++f.attempts == 1) return ReconcileResult::requeue_after(seconds(30));
    return ReconcileResult::done();
  });
  c->enqueue({"", "node-1"});
  c->start();

  ASSERT_TRUE(eventually([&] { return f.total("requeue_after") == 1; }));
  EXPECT_EQ(c->queue().num_delayed(), 1u);
  EXPECT_EQ(c->queue().num_requeues("node-1"), 0);
  f.clock.advance(seconds(29));
  c->queue().tick();
  EXPECT_EQ(c->queue().num_delayed(), 1u);
  f.clock.advance(seconds(1));
  c->queue().tick();
  ASSERT_TRUE(eventually([&] { return f.total("success") == 1; }));
  EXPECT_EQ(f.attempts.load(), 2);
}

TEST(ControllerTest, ThrowingReconcilerIsCaughtAndRetried) {
  Fixture f;
  auto c = f.make([&](const Request&) -> ReconcileOutcome {
    if (++f.attempts == 1) throw std::runtime_error("bug");
    return ReconcileResult::done();
  });
  c->enqueue({"shop", "orders"});
  c->start();

  ASSERT_TRUE(eventually([&] { return f.total("error") == 1; }));
  EXPECT_EQ(sample(f.registry, "controller_runtime_reconcile_panics_total"), 1);
  EXPECT_EQ(c->queue().num_delayed(), 1u);
  f.clock.advance(milliseconds(5));
  c->queue().tick();
  ASSERT_TRUE(eventually([&] { return f.total("success") == 1; }));
  EXPECT_EQ(f.attempts.load(), 2);
}

TEST(ControllerTest, StopLetsInFlightReconcilesFinish) {
  Fixture f;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> finished{false};
  auto c = f.make([&](const Request&) -> ReconcileOutcome {
    ++f.attempts;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    finished = true;
    return ReconcileResult::done();
  });
  c->enqueue({"shop", "a"});
  c->start();
  ASSERT_TRUE(eventually([&] { return f.attempts.load() == 1; }));
  EXPECT_EQ(sample(f.registry, "controller_runtime_active_workers"), 1);

  std::thread stopper([&] { c->stop(); });
  ASSERT_TRUE(eventually([&] { return c->queue().shutting_down(); }));
  c->enqueue({"shop", "b"});  // refused: the controller is stopping
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(f.attempts.load(), 1);
  EXPECT_EQ(f.total("success"), 1);
}

TEST(ControllerTest, WorkersShareTheQueue) {
  Fixture f;
  std::mutex mu;
  std::set<std::string> seen;
  auto c = f.make(
      [&](const Request& r) -> ReconcileOutcome {
        std::lock_guard<std::mutex> lock(mu);
        seen.insert(r.key());
        return ReconcileResult::done();
      },
      4);
  for (int i = 0; i < 50; ++i) c->enqueue({"ns", "o" + std::to_string(i)});
  c->start();
  ASSERT_TRUE(eventually([&] { return f.total("success") == 50; }));
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(sample(f.registry, "controller_runtime_max_concurrent_reconciles"), 4);
}

json owned(const std::string& ns, const std::string& name, const json& refs) {
  return {{"metadata", {{"namespace", ns}, {"name", name}, {"ownerReferences", refs}}}};
}

TEST(EnqueueHelpersTest, MapsOwnedObjectsToTheirControllerOwner) {
  const Resource order_service{"tiers.orderguard.io", "v1alpha1", "orderservices", true,
                               "OrderService"};
  const json refs = json::array(
      {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "rs"}, {"uid", "1"}},
       {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
        {"kind", "OrderService"},
        {"name", "orders"},
        {"uid", "2"},
        {"controller", true}}});
  EXPECT_EQ(controller_owner_request(owned("shop", "orders-zone-a", refs), order_service),
            (Request{"shop", "orders"}));

  // Not a controller reference, or another kind/group: no owner.
  json not_controller = refs;
  not_controller[1]["controller"] = false;
  EXPECT_EQ(controller_owner_request(owned("shop", "x", not_controller), order_service),
            std::nullopt);
  const Resource other_group{"example.com", "v1", "orderservices", true, "OrderService"};
  EXPECT_EQ(controller_owner_request(owned("shop", "x", refs), other_group), std::nullopt);
  EXPECT_EQ(controller_owner_request(json::object(), order_service), std::nullopt);
}

TEST(EnqueueHelpersTest, HandlersEnqueueRequests) {
  Fixture f;
  auto c = f.make([](const Request&) -> ReconcileOutcome { return ReconcileResult::done(); });
  const Resource order_service{"tiers.orderguard.io", "v1alpha1", "orderservices", true,
                               "OrderService"};
  auto owner_ref = [](const std::string& name) {
    return json::array({{{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                         {"kind", "OrderService"},
                         {"name", name},
                         {"controller", true}}});
  };

  EventHandlers for_object = enqueue_request_for_object(*c);
  for_object.on_add(std::make_shared<const json>(owned("shop", "a", json::array())));
  for_object.on_delete(std::make_shared<const json>(owned("shop", "a", json::array())));
  EXPECT_EQ(c->queue().len(), 1u);

  EventHandlers for_owner = enqueue_request_for_owner(*c, order_service);
  auto before = std::make_shared<const json>(owned("shop", "dep", owner_ref("old")));
  auto after = std::make_shared<const json>(owned("shop", "dep", owner_ref("new")));
  for_owner.on_update(before, after);
  EXPECT_EQ(c->queue().len(), 3u);
  EXPECT_EQ(c->queue().get(), "shop/a");
  EXPECT_EQ(c->queue().get(), "shop/old");
  EXPECT_EQ(c->queue().get(), "shop/new");
}

}  // namespace
}  // namespace orderguard::kube
