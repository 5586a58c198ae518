// Steady state: once the operator has converged the shipped platform (an
// autoscaled OrderService with its CacheTier and ShardSet) and a plainly
// replicated OrderService, it sends no write for 60 s although informer
// resyncs (every 15 s here) reconcile every resource again, and none after a
// restart either (a fresh list of everything, as after a leader change).
//
// The count is the client's own rest_client_requests_total (every verb but
// GET; watches are GETs), so it counts requests actually sent, Events
// included. No kubelets run: the test sets the OrderServices' pods Ready so
// every zone is available and healthy, as in a working cluster; the
// StatefulSets' pods stay Pending, which is stable too.
#include <gtest/gtest.h>

#include <thread>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "operator/manager.h"
#include "operator/render.h"
#include "operator/test/operator_e2e_fixture.h"

namespace orderguard::op {
namespace {

using e2e::cluster;
using e2e::poll_until;
using namespace std::chrono_literals;
namespace res = kube::resources;

const std::string kSource = ORDERGUARD_SOURCE_DIR;
constexpr auto kResync = 15s;
constexpr auto kWindow = 60s;

class SteadyStateE2E : public testing::OperatorE2EBase {
 protected:
  static void SetUpTestSuite() {
    ManagerOptions options;
    options.resync_period = kResync;
    start_operator(options);
  }

  static json get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    auto obj = client_->get(r, ns, name);
    return obj.ok() ? *obj : json();
  }

  static std::string condition(const json& obj, const std::string& type) {
    for (const auto& c : obj.value("status", json::object()).value("conditions", json::array()))
      if (c.value("type", "") == type) return c.value("status", "");
    return "";
  }

  static bool generation_observed(const json& obj) {
    return !obj.is_null() &&
           obj.value("status", json::object()).value("observedGeneration", int64_t{-1}) ==
               obj["metadata"].value("generation", int64_t{0});
  }

  // Waits until the client has sent no write for `quiet` (polled), then
  // returns the write count.
  static double wait_for_quiet(std::chrono::milliseconds quiet) {
    double before = -1;
    EXPECT_TRUE(poll_until(
        [&] {
          double now = writes();
          bool stable = now == before;
          before = now;
          return stable;
        },
        180s, quiet));
    return before;
  }
};

struct Root {
  const kube::Resource* resource;
  std::string name;
};

TEST_F(SteadyStateE2E, ConvergedOperatorSendsNoWriteThroughResyncsAndRelist) {
  const std::string ns = "shop";
  for (const std::string z : {"zone-a", "zone-b", "zone-c"}) create_ready_node("node-" + z, z);
  auto applied = cluster().kubectl({"apply", "-f", kSource + "/examples/"});
  ASSERT_TRUE(applied.ok()) << applied.err;
  const std::string plain = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: OrderService
metadata: {name: refunds, namespace: shop}
spec:
  image: registry.example.com/shop/refunds:2.0.1
  replicas: 5
  zones: [{name: zone-a, weight: 40}, {name: zone-b, weight: 30}, {name: zone-c, weight: 30}]
  failover: {unhealthyAfterSeconds: 5}
  cacheRef: {name: orders-cache}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, plain).ok());
  const std::vector<Root> roots = {{&order_services_resource(), "orders"},
                                   {&order_services_resource(), "refunds"},
                                   {&cache_tiers_resource(), "orders-cache"},
                                   {&shard_sets_resource(), "orders-db"}};

  // Converged: every root's generation observed; every zone of both services
  // available and healthy (their pods Ready), nothing rolling out.
  const std::string pods = std::string("app.kubernetes.io/name=orderservice");
  ASSERT_TRUE(poll_until(
      [&] {
        if (!set_pods_ready(ns, pods, true)) return false;
        for (const auto& r : roots) {
          if (!generation_observed(get(*r.resource, ns, r.name))) return false;
        }
        for (const std::string name : {"orders", "refunds"}) {
          json o = get(order_services_resource(), ns, name);
          if (condition(o, "Ready") != "True" || condition(o, "Progressing") != "False" ||
              condition(o, "Degraded") != "False") {
            return false;
          }
        }
        return true;
      },
      180s, 1s))
      << get(order_services_resource(), ns, "orders")["status"].dump() << "\n"
      << get(order_services_resource(), ns, "refunds")["status"].dump();
  // The controller manager settles (ReplicaSets, HPA status) and with it the
  // operator's last status writes.
  const double before = wait_for_quiet(10s);

  auto root_statuses = [&] {
    std::vector<json> out;
    for (const auto& r : roots) out.push_back(get(*r.resource, ns, r.name)["status"]);
    return out;
  };
  auto root_versions = [&] {
    std::vector<std::string> out;
    for (const auto& r : roots) {
      out.push_back(get(*r.resource, ns, r.name)["metadata"].value("resourceVersion", ""));
    }
    return out;
  };
  const auto versions = root_versions();
  const auto statuses = root_statuses();
  // What changed, should a root's status have been written.
  auto status_diff = [&] {
    std::string out;
    const auto now = root_statuses();
    for (size_t i = 0; i < roots.size(); ++i) {
      if (now[i] != statuses[i]) {
        out += roots[i].name + ": " + json::diff(statuses[i], now[i]).dump() + "\n";
      }
    }
    return out;
  };
  const double os_reconciles = reconciles("orderservice");
  const double cache_reconciles = reconciles("cachetier");
  const double shard_reconciles = reconciles("shardset");

  // The window: four resyncs, each reconciling every root again. Sleeping is
  // the measurement itself here, not a wait for something to happen.
  std::this_thread::sleep_for(kWindow);
  EXPECT_EQ(writes(), before) << "the operator wrote in steady state";
  EXPECT_EQ(root_versions(), versions) << status_diff();
  // The resyncs did reconcile: at least one pass per root (four expected).
  EXPECT_GE(reconciles("orderservice") - os_reconciles, 2);
  EXPECT_GE(reconciles("cachetier") - cache_reconciles, 1);
  EXPECT_GE(reconciles("shardset") - shard_reconciles, 1);

  // A relist: a new manager lists everything afresh and reconciles every root.
  const double os_before_restart = reconciles("orderservice");
  const double cache_before_restart = reconciles("cachetier");
  const double shard_before_restart = reconciles("shardset");
  restart_manager();
  ASSERT_TRUE(poll_until(
      [&] {
        return reconciles("orderservice") - os_before_restart >= 2 &&
               reconciles("cachetier") - cache_before_restart >= 1 &&
               reconciles("shardset") - shard_before_restart >= 1;
      },
      60s));
  EXPECT_EQ(wait_for_quiet(5s), before) << "the operator wrote after a relist";
  EXPECT_EQ(root_versions(), versions) << status_diff();
}

}  // namespace
}  // namespace orderguard::op

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
