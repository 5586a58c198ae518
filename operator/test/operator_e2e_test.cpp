// The operator against a real kube-apiserver + controller manager: CRDs and
// examples apply, invalid specs are refused by the API server, the reconciler
// (in-process) creates the children, writes nothing when converged, moves a
// zone's share on failover (nodes NotReady, or a Deployment unavailable past
// its grace period) and back on recovery, and the garbage collector removes
// the children with their OrderService.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <sstream>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/process.h"
#include "e2e/support/wait.h"
#include "kube/client.h"
#include "operator/manager.h"
#include "operator/test/operator_e2e_fixture.h"

namespace orderguard::op {
namespace {

using e2e::cluster;
using e2e::poll_until;
using namespace std::chrono_literals;
namespace res = kube::resources;

const std::string kSource = ORDERGUARD_SOURCE_DIR;

class OperatorE2E : public testing::OperatorE2EBase {
 protected:
  static json get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    auto obj = client_->get(r, ns, name);
    return obj.ok() ? *obj : json();
  }
};

TEST_F(OperatorE2E, ExamplesApplyAndGetChildrenAndPrinterColumns) {
  auto applied = cluster().kubectl({"apply", "-f", kSource + "/examples/"});
  ASSERT_TRUE(applied.ok()) << applied.err;
  for (const std::string zone : {"zone-a", "zone-b", "zone-c"}) {
    const std::string name = "orders-" + zone;
    ASSERT_TRUE(poll_until([&] { return !get(res::kDeployments, "shop", name).is_null(); }, 30s))
        << name;
    ASSERT_TRUE(poll_until(
        [&] { return !get(res::kHorizontalPodAutoscalers, "shop", name).is_null(); }, 30s));
    ASSERT_TRUE(
        poll_until([&] { return !get(res::kPodDisruptionBudgets, "shop", name).is_null(); }, 30s));
    json d = get(res::kDeployments, "shop", name);
    EXPECT_EQ(d["metadata"]["ownerReferences"][0]["kind"], "OrderService");
    EXPECT_EQ(d["metadata"]["ownerReferences"][0]["controller"], true);
    EXPECT_EQ(d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
               ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
               ["matchExpressions"][0]["values"][0],
              zone);
  }
  ASSERT_TRUE(poll_until([&] { return !get(res::kServices, "shop", "orders").is_null(); }, 30s));
  ASSERT_TRUE(poll_until(
      [&] { return !get(res::kConfigMaps, "shop", "orders-tier-config").is_null(); }, 30s));
  json cm = get(res::kConfigMaps, "shop", "orders-tier-config");
  EXPECT_EQ(cm["data"]["ORDERGUARD_SHARDSET_ROUTING_CONFIGMAP"], "orders-db-routing");
  EXPECT_EQ(cm["data"]["ORDERGUARD_CACHE_STATUS"], "Found");
  ASSERT_TRUE(poll_until(
      [&] {
        json o = get(order_services_resource(), "shop", "orders");
        return o.contains("status") &&
               o["status"].value("observedGeneration", 0) == o["metadata"]["generation"];
      },
      30s));
  auto table = cluster().kubectl({"get", "osvc", "-n", "shop"});
  ASSERT_TRUE(table.ok()) << table.err;
  for (const char* column : {"READY", "ZONES", "REPLICAS", "AGE", "orders"}) {
    EXPECT_NE(table.out.find(column), std::string::npos) << table.out;
  }
  // kubectl explain shows each field's description (what the API server
  // publishes from the CRD), down to the nested ones.
  auto explain =
      cluster().kubectl({"explain", "orderservices.spec.failover.unhealthyAfterSeconds"});
  ASSERT_TRUE(explain.ok()) << explain.err;
  EXPECT_NE(explain.out.find("Seconds a zone's Deployment may have no available replica"),
            std::string::npos)
      << explain.out;
  explain = cluster().kubectl({"explain", "cachetiers.status.replicas"});
  ASSERT_TRUE(explain.ok()) << explain.err;
  EXPECT_NE(explain.out.find("Redis Pods that exist"), std::string::npos) << explain.out;
  auto category = cluster().kubectl({"get", "orderguard", "-n", "shop", "-o", "name"});
  ASSERT_TRUE(category.ok()) << category.err;
  EXPECT_NE(category.out.find("cachetier"), std::string::npos) << category.out;
  // The children were written, and writes() sees them: the steady-state checks that expect
  // it not to move would pass on a counter that reads nothing.
  EXPECT_GT(writes(), 0);
}

// The value of `series` (name and labels as Prometheus prints them) in `text`; -1 if absent.
double series_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// The orderguard-operator binary's /metrics: client-go's REST client metrics with a nonzero
// count of answered requests to this API server, the work queue gauges of each controller,
// and the process_* metrics. The examples give the controllers work.
TEST_F(OperatorE2E, BinaryMetricsFollowClientGoConventions) {
  auto applied = cluster().kubectl({"apply", "-f", kSource + "/examples/"});
  ASSERT_TRUE(applied.ok()) << applied.err;
  auto ports = e2e::free_ports(1);
  ASSERT_TRUE(ports.ok()) << ports.error().describe();
  const std::string address = "127.0.0.1:" + std::to_string((*ports)[0]);
  auto process =
      e2e::Process::spawn({.name = "orderguard-operator",
                           .argv = {ORDERGUARD_OPERATOR_BINARY, "--kubeconfig",
                                    cluster().kubeconfig_path(), "--metrics-addr", address},
                           .log_path = cluster().work_dir() + "/operator-metrics.log"});
  ASSERT_TRUE(process.ok()) << process.error().describe();
  const std::string server = cluster().server();
  const std::string host = server.substr(server.find("://") + 3);
  const std::string requests =
      R"(rest_client_requests_total{code="200",host=")" + host + R"(",method="GET"})";
  std::string text;
  ASSERT_TRUE(poll_until(
      [&] {
        auto scraped =
            e2e::run_command({"curl", "-sf", "--max-time", "5", "http://" + address + "/metrics"});
        text = scraped.out;
        return scraped.ok() && series_value(text, requests) > 0 &&
               series_value(text, R"(workqueue_adds_total{name="orderservice"})") > 0;
      },
      60s))
      << text << e2e::tail_file(process->log_path(), 20);
  EXPECT_GT(series_value(text, R"(rest_client_request_duration_seconds_count{host=")" + host +
                                   R"(",verb="GET"})"),
            0);
  EXPECT_GE(series_value(text, R"(rest_client_rate_limiter_duration_seconds_count{host=")" + host +
                                   R"(",verb="GET"})"),
            1);
  for (const char* queue : {"orderservice", "cachetier", "shardset"}) {
    for (const char* gauge :
         {"workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds"}) {
      EXPECT_GE(series_value(text, std::string(gauge) + "{name=\"" + queue + "\"}"), 0)
          << gauge << " " << queue << "\n"
          << text;
    }
  }
  for (const char* family : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                             "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                             "process_start_time_seconds"}) {
    EXPECT_GT(series_value(text, family), 0) << family << "\n" << text;
  }
  process->terminate(10s);
}

TEST_F(OperatorE2E, SpecEditsReachTheChildrenAndObservedGenerationFollows) {
  auto applied = cluster().kubectl({"apply", "-f", kSource + "/examples/"});
  ASSERT_TRUE(applied.ok()) << applied.err;
  auto converged = [&] {
    json o = get(order_services_resource(), "shop", "orders");
    return o.contains("status") &&
           o["status"].value("observedGeneration", 0) == o["metadata"]["generation"];
  };
  ASSERT_TRUE(poll_until(converged, 30s));
  const int64_t before = get(order_services_resource(), "shop", "orders")["metadata"]["generation"];

  // A new image and new weights, as a user would roll out and rebalance.
  const std::string image = "registry.example.com/shop/order-service:1.5.0";
  auto patched =
      cluster().kubectl({"-n", "shop", "patch", "orderservice", "orders", "--type=json", "-p",
                         R"([{"op":"replace","path":"/spec/image","value":")" + image +
                             R"("},{"op":"replace","path":"/spec/zones/0/weight","value":50},)"
                             R"({"op":"replace","path":"/spec/zones/1/weight","value":30},)"
                             R"({"op":"replace","path":"/spec/zones/2/weight","value":20}])"});
  ASSERT_TRUE(patched.ok()) << patched.err;

  // Every zone's Deployment runs the new image; the HPA bounds follow the
  // weights (max 60 split 50/30/20).
  auto image_of = [&](const std::string& zone) -> std::string {
    json d = get(res::kDeployments, "shop", "orders-" + zone);
    if (d.is_null()) return "";
    return d["spec"]["template"]["spec"]["containers"][0].value("image", "");
  };
  auto max_of = [&](const std::string& zone) -> int {
    json h = get(res::kHorizontalPodAutoscalers, "shop", "orders-" + zone);
    return h.is_null() ? -1 : h["spec"].value("maxReplicas", -1);
  };
  EXPECT_TRUE(poll_until(
      [&] {
        return image_of("zone-a") == image && image_of("zone-b") == image &&
               image_of("zone-c") == image;
      },
      30s))
      << image_of("zone-a");
  EXPECT_TRUE(poll_until(
      [&] { return max_of("zone-a") == 30 && max_of("zone-b") == 18 && max_of("zone-c") == 12; },
      30s))
      << max_of("zone-a") << "/" << max_of("zone-b") << "/" << max_of("zone-c");
  ASSERT_TRUE(poll_until(converged, 30s));
  EXPECT_GT(
      get(order_services_resource(), "shop", "orders")["metadata"]["generation"].get<int64_t>(),
      before);
}

json order_service(const json& zones, const json& extra = json::object()) {
  json spec = {{"image", "x"}, {"zones", zones}};
  spec.update(extra);
  return {{"apiVersion", kApiVersion},
          {"kind", "OrderService"},
          {"metadata", {{"name", "bad"}, {"namespace", "default"}}},
          {"spec", spec}};
}

// The causes of the API server's refusal, as "field: message", sorted (the
// server's order follows Go map iteration).
std::vector<std::string> causes(const Error& e) {
  std::vector<std::string> out;
  for (const auto& c : e.details.value("causes", json::array())) {
    out.push_back(c.value("field", "") + ": " + c.value("message", ""));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Each bad object is refused by the API server itself (OpenAPI schema and CEL
// rules), and the refusal names the field and says what it found there, not
// only what is wanted.
TEST_F(OperatorE2E, InvalidResourcesAreRefusedWithTheFieldAndTheValuesFound) {
  struct Case {
    std::string what;
    const kube::Resource* resource;
    json object;
    std::vector<std::string> causes;
  };
  auto zone = [](const std::string& name, int weight) {
    return json{{"name", name}, {"weight", weight}};
  };
  json cache = {{"apiVersion", kApiVersion},
                {"kind", "CacheTier"},
                {"metadata", {{"name", "bad"}, {"namespace", "default"}}},
                {"spec", {{"redis", {{"zones", {"zone-a", "zone-b", "zone-a"}}}}}}};
  json shards = {
      {"apiVersion", kApiVersion},
      {"kind", "ShardSet"},
      {"metadata", {{"name", "bad"}, {"namespace", "default"}}},
      {"spec", {{"shardKey", "user_id"}, {"databases", 1024}, {"tablesPerDatabase", 128}}}};
  json shard_zones = shards;
  shard_zones["spec"]["databases"] = 2;
  shard_zones["spec"]["tablesPerDatabase"] = 2;
  shard_zones["spec"]["zones"] = {"z1", "z1", "z2"};
  const Case cases[] = {
      {"weights",
       &order_services_resource(),
       order_service(json::array({zone("a", 50), zone("b", 40)})),
       {"spec.zones: Invalid value: \"array\": zone weights sum to 90, must be 100"}},
      {"names",
       &order_services_resource(),
       order_service(json::array({zone("a", 50), zone("a", 50)})),
       {"spec.zones: Invalid value: \"array\": zone names must be unique: a is given 2 times"}},
      {"min above max",
       &order_services_resource(),
       order_service(json::array({zone("a", 100)}),
                     {{"autoscaling", {{"minReplicas", 5}, {"maxReplicas", 2}}}}),
       {"spec.autoscaling.minReplicas: Invalid value: \"object\": autoscaling.minReplicas is 5, "
        "more than "
        "autoscaling.maxReplicas 2"}},
      {"min below zones",
       &order_services_resource(),
       order_service(json::array({zone("a", 50), zone("b", 50)}),
                     {{"autoscaling", {{"minReplicas", 1}, {"maxReplicas", 4}}}}),
       {"spec.autoscaling.minReplicas: Invalid value: \"object\": autoscaling.minReplicas is 1, "
        "fewer than "
        "the 2 zones: every zone needs at least one replica"}},
      {"min healthy zones",
       &order_services_resource(),
       order_service(json::array({zone("a", 50), zone("b", 50)}),
                     {{"failover", {{"minHealthyZones", 3}}}}),
       {"spec.failover.minHealthyZones: Invalid value: \"object\": failover.minHealthyZones is 3, "
        "more than "
        "the 2 zones"}},
      {"weight above 100",
       &order_services_resource(),
       order_service(json::array({zone("a", 101)})),
       {"spec.zones[0].weight: Invalid value: 101: spec.zones[0].weight in body should be less "
        "than or equal to 100",
        "spec.zones: Invalid value: \"array\": zone weights sum to 101, must be 100"}},
      {"cache zones",
       &cache_tiers_resource(),
       cache,
       {"spec.redis.zones: Invalid value: \"array\": redis.zones must be unique: zone-a is listed "
        "2 times"}},
      {"tables",
       &shard_sets_resource(),
       shards,
       {"spec.tablesPerDatabase: Invalid value: \"object\": databases x tablesPerDatabase is 1024 "
        "x 128 = "
        "131072 tables, more than 65536"}},
      {"shard zones",
       &shard_sets_resource(),
       shard_zones,
       {"spec.zones: Invalid value: \"array\": zones must be unique: z1 is listed 2 times"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = client_->create(*c.resource, "default", c.object);
    ASSERT_FALSE(r.ok()) << c.object.dump();
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid) << r.error().describe();
    EXPECT_EQ(causes(r.error()), sorted(c.causes)) << r.error().details.dump();
  }

  // kubectl shows the same: the field and the values.
  auto kubectl = cluster().kubectl(
      {"apply", "-f", "-"}, order_service(json::array({zone("a", 50), zone("b", 40)})).dump());
  EXPECT_FALSE(kubectl.ok());
  EXPECT_NE(
      kubectl.err.find("spec.zones: Invalid value: \"array\": zone weights sum to 90, must be 100"),
      std::string::npos)
      << kubectl.err;

  // A rule on change: the engine of an existing ShardSet.
  json engine = shard_zones;
  engine["metadata"]["name"] = "engine";
  engine["spec"].erase("zones");
  ASSERT_TRUE(client_->create(shard_sets_resource(), "default", engine).ok());
  auto changed = client_->patch(shard_sets_resource(), "default", "engine", kube::PatchType::kMerge,
                                {{"spec", {{"engine", "mariadb"}}}});
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(causes(changed.error()),
            std::vector<std::string>{
                "spec.engine: Invalid value: \"string\": engine cannot change from mysql "
                "to mariadb; switching engines on existing data is unsafe"})
      << changed.error().details.dump();
  ASSERT_TRUE(client_->remove(shard_sets_resource(), "default", "engine").ok());
}

TEST_F(OperatorE2E, FailoverMovesShareAndRecoveryMovesItBack) {
  const std::string ns = "failover";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  for (const std::string z : {"fz-a", "fz-b", "fz-c"}) create_ready_node("node-" + z, z);
  const std::string svc = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: OrderService
metadata: {name: pay, namespace: failover}
spec:
  image: registry.example.com/pay:1
  replicas: 12
  zones: [{name: fz-a, weight: 50}, {name: fz-b, weight: 30}, {name: fz-c, weight: 20}]
  failover: {unhealthyAfterSeconds: 3600}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, svc).ok());
  auto replicas = [&](const std::string& zone) {
    json d = get(res::kDeployments, ns, "pay-" + zone);
    return d.is_null() ? -1 : d["spec"].value("replicas", -1);
  };
  auto shares = [&] {
    return std::vector<int>{replicas("fz-a"), replicas("fz-b"), replicas("fz-c")};
  };
  auto condition = [&](const std::string& type) {
    json o = get(order_services_resource(), ns, "pay");
    if (!o.is_object()) return json::object();
    for (const auto& c : o.value("status", json::object()).value("conditions", json::array()))
      if (c["type"] == type) return c;
    return json::object();
  };
  ASSERT_TRUE(poll_until([&] { return shares() == std::vector<int>{6, 4, 2}; }, 30s));
  ASSERT_TRUE(
      poll_until([&] { return condition("Degraded").value("status", "") == "False"; }, 30s));

  // Converged: once the controller manager stops touching the Deployments, a
  // pass sends no request and changes no resourceVersion.
  double before = -1;
  ASSERT_TRUE(poll_until(
      [&] {
        double now = writes();
        bool stable = now == before;
        before = now;
        return stable;
      },
      60s, 3s));
  auto rvs = [&] {
    std::vector<std::string> out;
    out.push_back(get(order_services_resource(), ns, "pay")["metadata"]["resourceVersion"]);
    for (const std::string z : {"fz-a", "fz-b", "fz-c"}) {
      out.push_back(get(res::kDeployments, ns, "pay-" + z)["metadata"]["resourceVersion"]);
      out.push_back(get(res::kPodDisruptionBudgets, ns, "pay-" + z)["metadata"]["resourceVersion"]);
    }
    out.push_back(get(res::kServices, ns, "pay")["metadata"]["resourceVersion"]);
    out.push_back(get(res::kConfigMaps, ns, "pay-tier-config")["metadata"]["resourceVersion"]);
    return out;
  };
  auto rv_before = rvs();
  for (int i = 0; i < 2; ++i) {
    auto outcome = manager_->reconciler().reconcile({ns, "pay"});
    ASSERT_TRUE(outcome.ok()) << outcome.error().describe();
  }
  EXPECT_EQ(writes(), before);
  EXPECT_EQ(rvs(), rv_before);

  // Zone fz-c loses its nodes: its share (all but its floor) moves to a and b.
  set_node_ready("node-fz-c", false);
  ASSERT_TRUE(poll_until(
      [&] {
        return shares() == std::vector<int>{7, 4, 1};
      },
      30s))
      << shares()[0] << "," << shares()[1] << "," << shares()[2];
  ASSERT_TRUE(poll_until([&] { return condition("Degraded").value("status", "") == "True"; }, 30s));
  EXPECT_EQ(condition("Degraded")["reason"], "ZoneFailover");
  ASSERT_TRUE(poll_until(
      [&] {
        auto events = client_->list(res::kEvents, ns, {});
        if (!events.ok()) return false;
        for (const auto& e : (*events)["items"])
          if (e.value("reason", "") == "ZoneFailover") return true;
        return false;
      },
      30s));

  // Every zone loses its nodes: there is nowhere to fail over to. Every zone
  // keeps its share by weight, and neither the condition nor the Events claim
  // that a zone took one over.
  auto events_with = [&](const std::string& reason) {
    std::vector<std::string> notes;
    auto events = client_->list(res::kEvents, ns, {});
    if (events.ok()) {
      for (const auto& e : (*events)["items"])
        if (e.value("reason", "") == reason) notes.push_back(e.value("note", ""));
    }
    return notes;
  };
  set_node_ready("node-fz-a", false);
  set_node_ready("node-fz-b", false);
  ASSERT_TRUE(
      poll_until([&] { return condition("Degraded").value("reason", "") == "NoHealthyZone"; }, 30s))
      << condition("Degraded").dump();
  const std::string none_healthy =
      "no zone is healthy: fz-a (NoReadyNodes), fz-b (NoReadyNodes), fz-c (NoReadyNodes); there "
      "is no zone to fail over to, so every zone keeps serving its share by weight";
  EXPECT_EQ(condition("Degraded")["status"], "True");
  EXPECT_EQ(condition("Degraded")["message"], none_healthy);
  EXPECT_EQ(get(order_services_resource(), ns, "pay")["status"]["zoneSummary"], "0/3");
  EXPECT_TRUE(poll_until(
      [&] {
        return shares() == std::vector<int>{6, 4, 2};
      },
      30s))
      << shares()[0] << "," << shares()[1] << "," << shares()[2];
  ASSERT_TRUE(poll_until(
      [&] { return events_with("NoHealthyZone") == std::vector<std::string>{none_healthy}; }, 30s));
  // fz-b went last: the pass that saw it go found no zone to move its share to.
  for (const auto& note : events_with("ZoneFailover")) {
    EXPECT_EQ(note.find("zone fz-b is unhealthy"), std::string::npos) << note;
  }
  set_node_ready("node-fz-a", true);
  set_node_ready("node-fz-b", true);

  // Recovery: the share moves back.
  set_node_ready("node-fz-c", true);
  ASSERT_TRUE(poll_until([&] { return shares() == std::vector<int>{6, 4, 2}; }, 30s));
  ASSERT_TRUE(
      poll_until([&] { return condition("Degraded").value("status", "") == "False"; }, 30s));

  // A deleted child comes back.
  ASSERT_TRUE(client_->remove(res::kPodDisruptionBudgets, ns, "pay-fz-b").ok());
  ASSERT_TRUE(
      poll_until([&] { return !get(res::kPodDisruptionBudgets, ns, "pay-fz-b").is_null(); }, 30s));

  // Deleting the OrderService garbage-collects every child.
  ASSERT_TRUE(client_->remove(order_services_resource(), ns, "pay").ok());
  ASSERT_TRUE(poll_until(
      [&] {
        auto d = client_->list(res::kDeployments, ns, {});
        auto c = client_->get(res::kConfigMaps, ns, "pay-tier-config");
        return d.ok() && (*d)["items"].empty() && !c.ok();
      },
      60s));
}

// A zone whose Deployment has had no available replica for
// unhealthyAfterSeconds is failed over, although its nodes stay Ready. The
// test plays the kubelets (pods' Ready condition); the real ReplicaSet and
// Deployment controllers turn that into the Deployments' availableReplicas.
// (Patching a Deployment's status directly does not work: the Deployment
// controller recomputes it from its ReplicaSets within seconds.)
TEST_F(OperatorE2E, DeploymentUnavailablePastGracePeriodFailsOverAndRecovers) {
  const std::string ns = "avail";
  ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
  create_ready_node("node-az-a", "az-a");
  create_ready_node("node-az-b", "az-b");
  const std::string svc = R"(apiVersion: tiers.orderguard.io/v1alpha1
kind: OrderService
metadata: {name: cart, namespace: avail}
spec:
  image: registry.example.com/cart:1
  replicas: 4
  zones: [{name: az-a, weight: 50}, {name: az-b, weight: 50}]
  failover: {unhealthyAfterSeconds: 10, minHealthyZones: 1}
)";
  ASSERT_TRUE(cluster().kubectl({"apply", "-f", "-"}, svc).ok());
  auto pods_of = [](const std::string& zone) {
    return std::string(kServiceLabel) + "=cart," + kZoneNameLabel + "=" + zone;
  };
  auto deployment = [&](const std::string& zone) {
    return get(res::kDeployments, ns, "cart-" + zone);
  };
  auto shares = [&] {
    std::vector<int> out;
    for (const std::string z : {"az-a", "az-b"}) {
      json d = deployment(z);
      out.push_back(d.is_null() ? -1 : d["spec"].value("replicas", -1));
    }
    return out;
  };
  auto zone_status = [&](const std::string& zone) {
    json o = get(order_services_resource(), ns, "cart");
    for (const auto& z : o.value("status", json::object()).value("zones", json::array()))
      if (z.value("name", "") == zone) return z;
    return json::object();
  };
  auto condition = [&](const std::string& type) {
    json o = get(order_services_resource(), ns, "cart");
    for (const auto& c : o.value("status", json::object()).value("conditions", json::array()))
      if (c["type"] == type) return c;
    return json::object();
  };

  // Every pod Ready: both zones available and healthy, the share split 2/2.
  auto all_ready = [&] {
    return set_pods_ready(ns, pods_of("az-a"), true) && set_pods_ready(ns, pods_of("az-b"), true);
  };
  ASSERT_TRUE(poll_until(
      [&] {
        return all_ready() && shares() == std::vector<int>{2, 2} &&
               deployment("az-a")["status"].value("availableReplicas", 0) == 2 &&
               deployment("az-b")["status"].value("availableReplicas", 0) == 2 &&
               condition("Ready").value("status", "") == "True";
      },
      90s))
      << shares()[0] << "," << shares()[1] << " " << condition("Ready").dump();
  EXPECT_EQ(condition("Degraded").value("status", ""), "False");

  // az-b's pods stop being ready; its nodes stay Ready. Past the grace
  // period its share (all but its floor of 1) moves to az-a.
  ASSERT_TRUE(poll_until(
      [&] {
        return set_pods_ready(ns, pods_of("az-b"), false) &&
               set_pods_ready(ns, pods_of("az-a"), true) && shares() == std::vector<int>{3, 1};
      },
      90s))
      << shares()[0] << "," << shares()[1] << " " << zone_status("az-b").dump();
  ASSERT_TRUE(poll_until([&] { return condition("Degraded").value("status", "") == "True"; }, 30s));
  EXPECT_EQ(condition("Degraded")["reason"], "ZoneFailover");
  json b = zone_status("az-b");
  EXPECT_EQ(b.value("healthy", true), false) << b.dump();
  EXPECT_EQ(b.value("reason", ""), "DeploymentUnavailable") << b.dump();
  EXPECT_NE(b.value("unavailableSince", ""), "") << b.dump();
  EXPECT_EQ(zone_status("az-a").value("healthy", false), true);
  ASSERT_TRUE(poll_until(
      [&] {
        auto events = client_->list(res::kEvents, ns, {});
        if (!events.ok()) return false;
        for (const auto& e : (*events)["items"])
          if (e.value("reason", "") == "ZoneFailover" &&
              e.value("note", "").find("az-b") != std::string::npos)
            return true;
        return false;
      },
      30s));

  // az-b's pod is ready again: the zone is healthy and gets its share back.
  ASSERT_TRUE(poll_until(
      [&] {
        return all_ready() && shares() == std::vector<int>{2, 2} &&
               condition("Degraded").value("status", "") == "False";
      },
      90s))
      << shares()[0] << "," << shares()[1] << " " << zone_status("az-b").dump();
  EXPECT_EQ(zone_status("az-b").value("healthy", false), true);
  EXPECT_FALSE(zone_status("az-b").contains("unavailableSince"));

  ASSERT_TRUE(client_->remove(order_services_resource(), ns, "cart").ok());
}

}  // namespace
}  // namespace orderguard::op

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
