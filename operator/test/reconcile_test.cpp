// The pure parts of a reconcile pass: zone health, conditions, status, and the
// "does this child need a write" decision.
#include <gtest/gtest.h>

#include "operator/reconciler.h"
#include "operator/test/test_util.h"

namespace orderguard::op {
namespace {

using namespace std::chrono_literals;
using testing::load_api_json;
using testing::load_json;

OrderService service() {
  auto svc = parse_order_service_object(load_api_json("orderservice.json"));
  EXPECT_TRUE(svc.ok()) << svc.error().describe();
  return std::move(svc).value();
}

kube::ObjectPtr node(const std::string& name, const std::string& zone, bool ready) {
  return std::make_shared<const json>(
      json{{"metadata", {{"name", name}, {"labels", {{"topology.kubernetes.io/zone", zone}}}}},
           {"status",
            {{"conditions",
              json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}}}});
}

json deployment(int replicas, int available) {
  return {{"metadata", {{"generation", 1}}},
          {"spec", {{"replicas", replicas}}},
          {"status",
           {{"observedGeneration", 1},
            {"availableReplicas", available},
            {"readyReplicas", available},
            {"updatedReplicas", replicas}}}};
}

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

std::vector<kube::ObjectPtr> all_ready() {
  return {node("a1", "zone-a", true), node("b1", "zone-b", true), node("c1", "zone-c", true)};
}

TEST(ZoneHealth, NoReadyNodeMakesAZoneUnhealthyAtOnce) {
  OrderService svc = service();
  auto health = compute_zone_health(
      svc, {node("a1", "zone-a", true), node("b1", "zone-b", true), node("c1", "zone-c", false)},
      {}, kNow);
  ASSERT_EQ(health.size(), 3u);
  EXPECT_TRUE(health[0].healthy);
  EXPECT_TRUE(health[1].healthy);
  EXPECT_FALSE(health[2].healthy);
  EXPECT_EQ(health[2].reason, "NoReadyNodes");
  // A zone without any Node at all is unhealthy too.
  auto none = compute_zone_health(svc, {node("a1", "zone-a", true)}, {}, kNow);
  EXPECT_FALSE(none[1].healthy);
}

TEST(ZoneHealth, UnavailableDeploymentGetsAGracePeriodRememberedInStatus) {
  OrderService svc = service();  // unhealthyAfterSeconds: 60
  std::map<std::string, json> deps = {{"zone-a", deployment(2, 0)}, {"zone-b", deployment(2, 2)}};
  auto first = compute_zone_health(svc, all_ready(), deps, kNow);
  EXPECT_TRUE(first[0].healthy);
  EXPECT_EQ(first[0].unavailable_since, format_rfc3339(kNow));
  EXPECT_EQ(first[0].recheck_after, 60s);
  EXPECT_TRUE(first[1].unavailable_since.empty());

  // The next pass (maybe another operator process) reads the time from status.
  svc.status = {
      {"zones", json::array({{{"name", "zone-a"}, {"unavailableSince", format_rfc3339(kNow)}}})}};
  auto later = compute_zone_health(svc, all_ready(), deps, kNow + 45s);
  EXPECT_TRUE(later[0].healthy);
  EXPECT_EQ(later[0].recheck_after, 15s);
  auto expired = compute_zone_health(svc, all_ready(), deps, kNow + 60s);
  EXPECT_FALSE(expired[0].healthy);
  EXPECT_EQ(expired[0].reason, "DeploymentUnavailable");
  EXPECT_EQ(expired[0].unavailable_since, format_rfc3339(kNow));

  // Available again: healthy, and the timestamp is dropped.
  deps["zone-a"] = deployment(2, 1);
  auto recovered = compute_zone_health(svc, all_ready(), deps, kNow + 90s);
  EXPECT_TRUE(recovered[0].healthy);
  EXPECT_TRUE(recovered[0].unavailable_since.empty());
  // A Deployment scaled to 0 is not unavailable.
  deps["zone-a"] = deployment(0, 0);
  EXPECT_TRUE(compute_zone_health(svc, all_ready(), deps, kNow + 900s)[0].healthy);
}

TEST(SetCondition, TransitionTimeChangesOnlyWhenStatusFlips) {
  json c = set_condition(json::array(), "Ready", "False", "Starting", "m", 1, "t1");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["lastTransitionTime"], "t1");
  c = set_condition(c, "Ready", "False", "StillStarting", "m2", 2, "t2");
  EXPECT_EQ(c[0]["lastTransitionTime"], "t1");
  EXPECT_EQ(c[0]["reason"], "StillStarting");
  EXPECT_EQ(c[0]["observedGeneration"], 2);
  c = set_condition(c, "Ready", "True", "Ok", "", 2, "t3");
  EXPECT_EQ(c[0]["lastTransitionTime"], "t3");
  c = set_condition(c, "Degraded", "False", "Fine", "", 2, "t4");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1]["type"], "Degraded");
}

json condition(const json& status, const std::string& type) {
  for (const auto& c : status["conditions"])
    if (c["type"] == type) return c;
  return nullptr;
}

TEST(ComputeStatus, HealthyConvergedService) {
  OrderService svc = service();
  std::vector<bool> healthy = {true, true, true};
  auto plan = plan_zones(svc.spec, healthy);
  std::map<std::string, json> deps = {
      {"zone-a", deployment(2, 2)}, {"zone-b", deployment(2, 2)}, {"zone-c", deployment(2, 2)}};
  auto health = compute_zone_health(svc, all_ready(), deps, kNow);
  json st = compute_status(svc, plan, health, deps, {}, "t");
  EXPECT_EQ(st["observedGeneration"], 3);
  EXPECT_EQ(st["replicas"], 6);
  EXPECT_EQ(st["zoneSummary"], "3/3");
  EXPECT_EQ(st["selector"], "tiers.orderguard.io/orderservice=orders");
  EXPECT_EQ(condition(st, "Ready")["status"], "True");
  EXPECT_EQ(condition(st, "Progressing")["status"], "False");
  EXPECT_EQ(condition(st, "Degraded")["status"], "False");
  EXPECT_EQ(st["zones"][0], json({{"name", "zone-a"},
                                  {"weight", 34},
                                  {"desiredReplicas", 2},
                                  {"readyReplicas", 2},
                                  {"healthy", true}}));
  // The same inputs give the same status: a no-op pass writes nothing.
  svc.status = st;
  EXPECT_EQ(compute_status(svc, plan, health, deps, {}, "later"), st);
}

TEST(ComputeStatus, FailoverIsDegradedAndNamesTheServingZones) {
  OrderService svc = service();
  svc.spec.replicas = 12;
  auto health = compute_zone_health(
      svc, {node("a1", "zone-a", true), node("b1", "zone-b", true), node("c1", "zone-c", false)},
      {}, kNow);
  auto plan = plan_zones(svc.spec, {true, true, false});
  json st = compute_status(svc, plan, health, {}, {"ShardSet orders-db"}, "t");
  EXPECT_EQ(st["zoneSummary"], "2/3");
  EXPECT_EQ(condition(st, "Degraded")["status"], "True");
  EXPECT_EQ(condition(st, "Degraded")["reason"], "ZoneFailover");
  EXPECT_EQ(condition(st, "Degraded")["message"],
            "unhealthy zones: zone-c (NoReadyNodes); the share of zone-c is served by: zone-a, "
            "zone-b");
  EXPECT_EQ(condition(st, "Ready")["reason"], "ReferenceNotFound");
  EXPECT_EQ(condition(st, "Progressing")["status"], "True");
  EXPECT_EQ(st["zones"][2]["healthy"], false);
  EXPECT_EQ(st["zones"][2]["weight"], 0);
  EXPECT_EQ(st["zones"][2]["desiredReplicas"], 2);
  EXPECT_EQ(
      st["zones"][0]["desiredReplicas"].get<int>() + st["zones"][1]["desiredReplicas"].get<int>(),
      10);
}

// With every zone unhealthy every zone keeps serving (there is nowhere to
// move a share): the condition and the Event must not name a failover target.
TEST(ComputeStatus, NoHealthyZoneClaimsNoFailoverTarget) {
  OrderService svc = service();
  svc.spec.replicas = 12;
  const std::vector<kube::ObjectPtr> down = {
      node("a1", "zone-a", false), node("b1", "zone-b", false), node("c1", "zone-c", false)};
  auto health = compute_zone_health(svc, down, {}, kNow);
  auto plan = plan_zones(svc.spec, {false, false, false});
  json st = compute_status(svc, plan, health, {}, {}, "t");
  EXPECT_EQ(st["zoneSummary"], "0/3");
  const json degraded = condition(st, "Degraded");
  EXPECT_EQ(degraded["status"], "True");
  EXPECT_EQ(degraded["reason"], "NoHealthyZone");
  EXPECT_EQ(degraded["message"],
            "no zone is healthy: zone-a (NoReadyNodes), zone-b (NoReadyNodes), zone-c "
            "(NoReadyNodes); there is no zone to fail over to, so every zone keeps serving its "
            "share by weight");
  EXPECT_EQ(st["zones"][0]["desiredReplicas"].get<int>() +
                st["zones"][1]["desiredReplicas"].get<int>() +
                st["zones"][2]["desiredReplicas"].get<int>(),
            12);

  // From all healthy to none: one NoHealthyZone Event and no ZoneFailover.
  json healthy_before =
      compute_status(svc, plan_zones(svc.spec, {true, true, true}),
                     compute_zone_health(svc, all_ready(), {}, kNow), {}, {}, "t0");
  svc.status = healthy_before;
  auto events = zone_events(svc, plan, health);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].normal);
  EXPECT_EQ(events[0].reason, "NoHealthyZone");
  EXPECT_EQ(events[0].message, degraded["message"]);
  // Already none healthy: nothing new to say.
  svc.status = st;
  EXPECT_TRUE(zone_events(svc, plan, health).empty());

  // One zone comes back: it recovers and takes zone-c's share; zone-b keeps
  // serving, since minHealthyZones is 2.
  auto back = compute_zone_health(
      svc, {node("a1", "zone-a", true), node("b1", "zone-b", false), node("c1", "zone-c", false)},
      {}, kNow);
  auto back_plan = plan_zones(svc.spec, {true, false, false});
  events = zone_events(svc, back_plan, back);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "ZoneRecovered");
  json after = compute_status(svc, back_plan, back, {}, {}, "t1");
  EXPECT_EQ(condition(after, "Degraded")["reason"], "ZoneFailover");
  EXPECT_EQ(condition(after, "Degraded")["message"],
            "unhealthy zones: zone-b (NoReadyNodes), zone-c (NoReadyNodes); the share of zone-c "
            "is served by: zone-a; zone-b keeps serving although unhealthy: "
            "failover.minHealthyZones 2 needs it");
}

// A zone turning unhealthy names where its share goes; one that
// minHealthyZones keeps serving says so instead.
TEST(ComputeStatus, FailoverEventsNameTargetsOrWhyAZoneKeepsServing) {
  OrderService svc = service();
  svc.status = compute_status(svc, plan_zones(svc.spec, {true, true, true}),
                              compute_zone_health(svc, all_ready(), {}, kNow), {}, {}, "t0");
  auto health = compute_zone_health(
      svc, {node("a1", "zone-a", true), node("b1", "zone-b", true), node("c1", "zone-c", false)},
      {}, kNow);
  auto events = zone_events(svc, plan_zones(svc.spec, {true, true, false}), health);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "ZoneFailover");
  EXPECT_EQ(events[0].message,
            "zone zone-c is unhealthy (NoReadyNodes); its share moves to: zone-a, zone-b");

  svc.spec.failover.min_healthy_zones = 3;
  auto kept_plan = plan_zones(svc.spec, {true, true, false});
  ASSERT_TRUE(kept_plan[2].serving);
  events = zone_events(svc, kept_plan, health);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, "ZoneUnhealthy");
  EXPECT_EQ(events[0].message,
            "zone zone-c is unhealthy (NoReadyNodes) but keeps serving: failover.minHealthyZones "
            "3 needs it");
  json st = compute_status(svc, kept_plan, health, {}, {}, "t1");
  EXPECT_EQ(condition(st, "Degraded")["reason"], "MinHealthyZones");
  EXPECT_EQ(condition(st, "Degraded")["message"],
            "unhealthy zones: zone-c (NoReadyNodes); zone-c keeps serving although unhealthy: "
            "failover.minHealthyZones 3 needs it");
}

// The HPA enforces its bounds on the Deployment: a zone whose Deployment is
// below the HPA's minimum (created with one replica, the HPA not synced yet)
// is about to scale up, so the service is neither ready nor done rolling out.
TEST(ComputeStatus, AutoscaledZoneBelowTheHpaMinimumIsNotConverged) {
  OrderService svc = service();
  svc.spec.autoscaling = Autoscaling{};
  svc.spec.autoscaling->min_replicas = 6;
  svc.spec.autoscaling->max_replicas = 30;
  auto plan = plan_zones(svc.spec, {true, true, true});
  ASSERT_EQ(plan[0].hpa_min, 2);
  std::map<std::string, json> below = {
      {"zone-a", deployment(1, 1)}, {"zone-b", deployment(1, 1)}, {"zone-c", deployment(1, 1)}};
  auto health = compute_zone_health(svc, all_ready(), below, kNow);
  json st = compute_status(svc, plan, health, below, {}, "t");
  EXPECT_EQ(st["zones"][0]["desiredReplicas"], 2);
  EXPECT_EQ(st["replicas"], 6);
  EXPECT_EQ(condition(st, "Ready")["status"], "False");
  EXPECT_EQ(condition(st, "Ready")["reason"], "ReplicasNotReady");
  EXPECT_EQ(condition(st, "Progressing")["status"], "True");

  // Scaled by the HPA within its bounds: that is the desired count.
  std::map<std::string, json> scaled = {
      {"zone-a", deployment(5, 5)}, {"zone-b", deployment(2, 2)}, {"zone-c", deployment(2, 2)}};
  st = compute_status(svc, plan, compute_zone_health(svc, all_ready(), scaled, kNow), scaled, {},
                      "t");
  EXPECT_EQ(st["zones"][0]["desiredReplicas"], 5);
  EXPECT_EQ(st["replicas"], 9);
  EXPECT_EQ(condition(st, "Ready")["status"], "True");
  EXPECT_EQ(condition(st, "Progressing")["status"], "False");
}

TEST(ApplyMemo, MatchesOnlyTheSameObjectVersionAndHash) {
  ApplyMemo memo;
  EXPECT_FALSE(memo.matches("Deployment/ns/a", "7", "h1"));
  memo.record("Deployment/ns/a", "7", "h1");
  EXPECT_TRUE(memo.matches("Deployment/ns/a", "7", "h1"));
  EXPECT_FALSE(memo.matches("Deployment/ns/a", "8", "h1"));  // edited since
  EXPECT_FALSE(memo.matches("Deployment/ns/a", "7", "h2"));  // desired state changed
  EXPECT_FALSE(memo.matches("Deployment/ns/b", "7", "h1"));
  memo.record("Deployment/ns/a", "9", "h2");  // the newer match replaces the old one
  EXPECT_FALSE(memo.matches("Deployment/ns/a", "7", "h1"));
  EXPECT_TRUE(memo.matches("Deployment/ns/a", "9", "h2"));
  memo.record("Deployment/ns/c", "", "h1");  // no version: nothing to remember
  EXPECT_FALSE(memo.matches("Deployment/ns/c", "", "h1"));
}

TEST(NeedsApply, OnlyWhenMissingChangedOrEdited) {
  json desired = {{"metadata", {{"name", "x"}, {"annotations", {{kSpecHashAnnotation, "h1"}}}}},
                  {"spec", {{"replicas", 2}, {"ports", json::array({{{"port", 80}}})}}}};
  EXPECT_TRUE(needs_apply(desired, nullptr));
  json live = desired;
  live["metadata"]["resourceVersion"] = "7";
  live["spec"]["ports"][0]["protocol"] = "TCP";  // defaulted by the server
  live["status"] = {{"ready", 1}};
  EXPECT_FALSE(needs_apply(desired, &live));
  json edited = live;
  edited["spec"]["replicas"] = 5;
  EXPECT_TRUE(needs_apply(desired, &edited));
  json changed = desired;
  changed["metadata"]["annotations"][kSpecHashAnnotation] = "h2";
  EXPECT_TRUE(needs_apply(changed, &live));
  EXPECT_NE(content_hash({{"a", 1}}), content_hash({{"a", 2}}));
  // An empty ConfigMap's data is omitted by the server: not a difference.
  EXPECT_TRUE(is_subset({{"data", json::object()}}, {{"kind", "ConfigMap"}}));
  EXPECT_FALSE(is_subset({{"data", {{"k", "v"}}}}, {{"kind", "ConfigMap"}}));
  EXPECT_EQ(content_hash({{"a", 1}}), content_hash({{"a", 1}}));
}

}  // namespace
}  // namespace orderguard::op
