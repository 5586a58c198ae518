// The tiers serve for real, on the test node: the operator (in-process) renders
// them, the node runs them from the images built here (Debian's Redis and
// MariaDB, see e2e/node/), PersistentVolumeClaims bind to the node's local
// volumes, and clients in Pods talk to them through the Services.
//
// Shapes are scaled to a 2-core test machine: 3 Redis masters x 1 replica
// with 64 MiB each.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/node_images.h"
#include "e2e/poll.h"
#include "operator/test/operator_e2e_fixture.h"

namespace orderguard::op {
namespace {

using e2e::cluster;
using e2e::poll_until;
using nlohmann::json;
using namespace std::chrono_literals;

// kubectl with the admin kubeconfig; the command's stdout, "" on failure
// (with the failure recorded).
std::string kubectl_out(const std::vector<std::string>& args, const std::string& input = "") {
  auto r = cluster().kubectl(args, input);
  std::string command = "kubectl";
  for (const auto& a : args) command += " " + a;
  EXPECT_TRUE(r.ok()) << command << ": " << r.describe() << "\n" << r.err;
  return r.ok() ? r.out : "";
}

json get_json(const std::string& ns, const std::string& what) {
  auto r = cluster().kubectl({"-n", ns, "get", what, "-o", "json"});
  if (!r.ok()) return json();
  return json::parse(r.out, nullptr, false);
}

// The status of condition `type` of `what` ("ctier/cache"), "" when absent.
std::string condition(const std::string& ns, const std::string& what, const std::string& type) {
  json o = get_json(ns, what);
  if (!o.is_object()) return "";
  for (const auto& c : o.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == type) return c.value("status", "");
  }
  return "";
}

bool job_complete(const std::string& ns, const std::string& job) {
  json j = get_json(ns, "job/" + job);
  return j.is_object() && j.value("status", json::object()).value("succeeded", 0) >= 1;
}

bool pod_ready(const std::string& ns, const std::string& pod) {
  json p = get_json(ns, "pod/" + pod);
  if (!p.is_object()) return false;
  for (const auto& c : p.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

// A long-running client Pod from `image`, Ready.
void start_client(const std::string& ns, const std::string& name, const std::string& image) {
  kubectl_out({"-n", ns, "run", name, "--image=" + image, "--image-pull-policy=Never",
               "--restart=Never", "--command", "--", "sleep", "86400"});
  ASSERT_TRUE(poll_until([&] { return pod_ready(ns, name); }, 120s, 1s)) << name << " not Ready";
}

// Runs `command` in the client Pod with `input` on its stdin.
e2e::CommandResult exec(const std::string& ns, const std::string& pod,
                        const std::vector<std::string>& command, const std::string& input = "") {
  std::vector<std::string> args = {"-n", ns, "exec", "-i", pod, "--"};
  args.insert(args.end(), command.begin(), command.end());
  return cluster().kubectl(args, input);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// ---- cache tier ----

constexpr char kCacheNs[] = "cache-e2e";
constexpr char kCache[] = "cache";
constexpr int kKeys = 10000;

class CacheTierNodeE2E : public testing::OperatorE2EBase {
 protected:
  static std::string service() { return std::string(kCache) + "-redis"; }
  static std::string member(int i) {
    return std::string(kCache) + "-redis-" + std::to_string(i) + "." + kCache + "-redis-headless." +
           kCacheNs + ".svc";
  }
  static std::string redis(const std::vector<std::string>& args, const std::string& host = "") {
    std::vector<std::string> cmd = {"redis-cli", "-h", host.empty() ? service() : host};
    cmd.insert(cmd.end(), args.begin(), args.end());
    auto r = exec(kCacheNs, "client", cmd);
    return r.ok() ? r.out : "";
  }
  // "cluster_state" etc. from CLUSTER INFO.
  static std::map<std::string, std::string> cluster_info() {
    std::map<std::string, std::string> out;
    for (const auto& l : lines(redis({"cluster", "info"}))) {
      const auto colon = l.find(':');
      if (colon != std::string::npos) out[l.substr(0, colon)] = l.substr(colon + 1);
    }
    return out;
  }
  static std::string role(int i) {
    auto l = lines(redis({"role"}, member(i)));
    return l.empty() ? "" : l[0];
  }
  // Writes key:i = value-i for every i through the Service, following the
  // cluster's redirects (-c); the number of OK answers.
  static int write_keys() {
    std::string input;
    for (int i = 0; i < kKeys; ++i) {
      input += "SET key:" + std::to_string(i) + " value-" + std::to_string(i) + "\n";
    }
    auto r = exec(kCacheNs, "client", {"redis-cli", "-c", "-h", service()}, input);
    int ok = 0;
    for (const auto& l : lines(r.out)) ok += l == "OK";
    return ok;
  }
  // Reads every key back; the number that hold their value.
  static int keys_found() {
    std::string input;
    for (int i = 0; i < kKeys; ++i) input += "GET key:" + std::to_string(i) + "\n";
    auto r = exec(kCacheNs, "client", {"redis-cli", "-c", "-h", service()}, input);
    // redis-cli prints "-> Redirected ..." before a redirected answer: the
    // answers are the other lines, in order.
    std::vector<std::string> answers;
    for (const auto& l : lines(r.out)) {
      if (l.rfind("-> Redirected", 0) != 0) answers.push_back(l);
    }
    int found = 0;
    for (int i = 0; i < kKeys && i < static_cast<int>(answers.size()); ++i) {
      found += answers[i] == "value-" + std::to_string(i);
    }
    return found;
  }
  static bool ready() {
    return condition(kCacheNs, std::string("ctier/") + kCache, "Ready") == "True";
  }
};

TEST_F(CacheTierNodeE2E, FormsServesFailsOverAndGrows) {
  kubectl_out({"create", "namespace", kCacheNs});
  const json tier = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                     {"kind", "CacheTier"},
                     {"metadata", {{"name", kCache}, {"namespace", kCacheNs}}},
                     {"spec",
                      {{"redis",
                        {{"image", e2e::kRedisImage},
                         {"shards", 3},
                         {"replicasPerShard", 1},
                         {"memory", "64Mi"},
                         {"storage", {{"size", "200Mi"}}}}}}}};
  kubectl_out({"apply", "-f", "-"}, tier.dump());

  // 1. The cluster forms: 3 masters, a replica each, every slot covered.
  ASSERT_TRUE(poll_until([] { return job_complete(kCacheNs, "cache-redis-bootstrap"); }, 300s, 2s))
      << kubectl_out({"-n", kCacheNs, "get", "pods,jobs"});
  ASSERT_TRUE(poll_until(ready, 120s, 2s));
  start_client(kCacheNs, "client", e2e::kRedisImage);
  auto info = cluster_info();
  EXPECT_EQ(info["cluster_state"], "ok");
  EXPECT_EQ(info["cluster_slots_assigned"], "16384");
  EXPECT_EQ(info["cluster_slots_ok"], "16384");
  EXPECT_EQ(info["cluster_size"], "3");
  EXPECT_EQ(info["cluster_known_nodes"], "6");
  int masters = 0, replicas = 0;
  for (int i = 0; i < 6; ++i) {
    const std::string r = role(i);
    masters += r == "master";
    replicas += r == "slave";
  }
  EXPECT_EQ(masters, 3);
  EXPECT_EQ(replicas, 3);
  // Every member on a claimed volume of the node's provisioner.
  json claims = get_json(kCacheNs, "pvc");
  int bound = 0;
  for (const auto& c : claims.value("items", json::array())) {
    bound += c["status"].value("phase", "") == "Bound";
  }
  EXPECT_EQ(bound, 6);

  // 2. A client in a Pod writes and reads 10,000 keys through the Service.
  ASSERT_EQ(write_keys(), kKeys);
  ASSERT_EQ(keys_found(), kKeys);

  // 3. A master goes away for longer than the cluster's node timeout (its
  // Pod deleted while the node is cordoned, so it cannot come back at once):
  // Redis promotes its replica, the CacheTier reports Degraded, and no key is
  // lost. Back on its volume, the old master rejoins as a replica.
  int victim = -1;
  for (int i = 0; i < 6 && victim < 0; ++i) {
    if (role(i) == "master") victim = i;
  }
  ASSERT_GE(victim, 0);
  const std::string victim_pod = std::string(kCache) + "-redis-" + std::to_string(victim);
  const std::string node = cluster().node_options().name;
  kubectl_out({"cordon", node});
  kubectl_out({"-n", kCacheNs, "delete", "pod", victim_pod, "--wait=false"});
  EXPECT_TRUE(poll_until(
      [] { return condition(kCacheNs, std::string("ctier/") + kCache, "Degraded") == "True"; }, 60s,
      1s));
  // The cluster is whole again without the victim: its replica took over
  // (after cluster-node-timeout, 5 s, and an election).
  const auto masters_without_victim = [&] {
    int n = 0;
    for (int i = 0; i < 6; ++i) {
      if (i != victim) n += role(i) == "master";
    }
    return n;
  };
  EXPECT_TRUE(poll_until(
      [&] {
        auto i = cluster_info();
        return masters_without_victim() == 3 && i["cluster_state"] == "ok" &&
               i["cluster_slots_ok"] == "16384";
      },
      90s, 2s))
      << redis({"cluster", "nodes"});
  EXPECT_EQ(keys_found(), kKeys);
  kubectl_out({"uncordon", node});
  EXPECT_TRUE(poll_until([&] { return pod_ready(kCacheNs, victim_pod); }, 120s, 1s));
  EXPECT_TRUE(poll_until([&] { return role(victim) == "slave"; }, 60s, 1s))
      << redis({"cluster", "nodes"});
  EXPECT_TRUE(poll_until(
      [] {
        return ready() &&
               condition(kCacheNs, std::string("ctier/") + kCache, "Degraded") == "False";
      },
      60s, 1s));
  EXPECT_EQ(cluster_info()["cluster_known_nodes"], "6");
  EXPECT_EQ(keys_found(), kKeys);

  // 4. Scaling up moves slots to the new master (the rebalance Job), no key lost.
  kubectl_out({"-n", kCacheNs, "patch", std::string("ctier/") + kCache, "--type=merge", "-p",
               R"({"spec":{"redis":{"shards":4}}})"});
  ASSERT_TRUE(
      poll_until([] { return job_complete(kCacheNs, "cache-redis-rebalance-4"); }, 300s, 2s))
      << kubectl_out({"-n", kCacheNs, "get", "pods,jobs"})
      << kubectl_out({"-n", kCacheNs, "logs", "job/cache-redis-rebalance-4", "--tail=40"})
      << redis({"cluster", "nodes"});
  EXPECT_TRUE(poll_until(ready, 120s, 2s));
  info = cluster_info();
  EXPECT_EQ(info["cluster_state"], "ok");
  EXPECT_EQ(info["cluster_size"], "4");
  EXPECT_EQ(info["cluster_slots_ok"], "16384");
  EXPECT_EQ(info["cluster_known_nodes"], "8");
  // The new master holds slots: the keys are spread over 4 masters.
  int masters_with_keys = 0;
  for (int i = 0; i < 8; ++i) {
    if (role(i) != "master") continue;
    auto n = lines(redis({"dbsize"}, member(i)));
    masters_with_keys += !n.empty() && n[0] != "0";
  }
  EXPECT_EQ(masters_with_keys, 4);
  EXPECT_EQ(keys_found(), kKeys);

  // 5. Scaling down is refused while the masters hold slots.
  kubectl_out({"-n", kCacheNs, "patch", std::string("ctier/") + kCache, "--type=merge", "-p",
               R"({"spec":{"redis":{"shards":3}}})"});
  EXPECT_TRUE(poll_until(
      [] {
        json o = get_json(kCacheNs, std::string("ctier/") + kCache);
        for (const auto& c : o["status"].value("conditions", json::array())) {
          if (c.value("reason", "") == "ScaleDownBlocked") return true;
        }
        return false;
      },
      60s, 1s));
  EXPECT_EQ(get_json(kCacheNs, "sts/cache-redis")["spec"].value("replicas", 0), 8);

  // 6. Deleting the tier deletes its volumes (the provisioner removes their
  // directories once released).
  kubectl_out({"-n", kCacheNs, "delete", "pod", "client", "--wait=false"});
  kubectl_out({"-n", kCacheNs, "delete", std::string("ctier/") + kCache});
  EXPECT_TRUE(poll_until(
      [] {
        json c = get_json(kCacheNs, "pvc");
        return c.is_object() && c.value("items", json::array()).empty();
      },
      180s, 2s));
  EXPECT_TRUE(poll_until(
      [] {
        json pv = get_json("default", "pv");
        for (const auto& v : pv.value("items", json::array())) {
          if (v["spec"].value("claimRef", json::object()).value("namespace", "") == kCacheNs) {
            return false;
          }
        }
        return true;
      },
      120s, 2s));
}

// ---- app tier ----

constexpr char kAppNs[] = "app-e2e";

class AppTierNodeE2E : public testing::OperatorE2EBase {};

TEST_F(AppTierNodeE2E, ZonePodsServeThroughTheServiceAndAZoneWithoutNodesFailsOver) {
  // The node is zone-a; zone-b has no node, so its share moves to zone-a.
  const std::string node = cluster().node_options().name;
  kubectl_out({"label", "node", node, "topology.kubernetes.io/zone=zone-a", "--overwrite"});
  kubectl_out({"create", "namespace", kAppNs});
  const json svc = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                    {"kind", "OrderService"},
                    {"metadata", {{"name", "orders"}, {"namespace", kAppNs}}},
                    {"spec",
                     {{"image", e2e::kOrderAppImage},
                      {"port", 8080},
                      {"zones",
                       {{{"name", "zone-a"}, {"weight", 50}, {"minReplicas", 1}},
                        {{"name", "zone-b"}, {"weight", 50}, {"minReplicas", 1}}}},
                      {"replicas", 3},
                      {"autoscaling", {{"minReplicas", 3}, {"maxReplicas", 6}}},
                      {"failover", {{"unhealthyAfterSeconds", 10}, {"minHealthyZones", 1}}}}}};
  kubectl_out({"apply", "-f", "-"}, svc.dump());

  // zone-b has no Ready node: unhealthy at once, its weight moves to zone-a.
  const auto zone_status = [](const std::string& name) {
    json o = get_json(kAppNs, "orderservice/orders");
    for (const auto& z : o.value("status", json::object()).value("zones", json::array())) {
      if (z.value("name", "") == name) return z;
    }
    return json();
  };
  EXPECT_TRUE(poll_until(
      [&] {
        json b = zone_status("zone-b");
        json a = zone_status("zone-a");
        return b.is_object() && !b.value("healthy", true) &&
               b.value("reason", "") == "NoReadyNodes" && a.value("weight", 0) == 100;
      },
      60s, 1s))
      << get_json(kAppNs, "orderservice/orders").dump(2);
  // Each zone has its HPA. A drained zone keeps its floor (minReplicas 1, so it
  // can show availability again); zone-a serves the rest of the minimum.
  EXPECT_TRUE(poll_until(
      [] {
        json a = get_json(kAppNs, "hpa/orders-zone-a");
        json b = get_json(kAppNs, "hpa/orders-zone-b");
        return a.is_object() && b.is_object() && a["spec"].value("minReplicas", 0) == 2 &&
               b["spec"].value("minReplicas", 0) == 1;
      },
      30s, 1s))
      << kubectl_out({"-n", kAppNs, "get", "hpa"});
  EXPECT_TRUE(poll_until(
      [] {
        json d = get_json(kAppNs, "deploy/orders-zone-a");
        return d.is_object() && d["status"].value("readyReplicas", 0) >= 2;
      },
      120s, 1s))
      << kubectl_out({"-n", kAppNs, "get", "pods,deploy,hpa", "-o", "wide"});

  // The app serves through the Service, from zone-a's Pods. (By the Service's
  // address, with nc: the testbox's static busybox cannot use glibc's
  // resolver, and its wget crashes in it.)
  start_client(kAppNs, "client", e2e::kTestboxImage);
  const std::string address = get_json(kAppNs, "svc/orders")["spec"].value("clusterIP", "");
  ASSERT_FALSE(address.empty());
  const auto http_get = [&](const std::string& path) {
    auto r = exec(kAppNs, "client",
                  {"sh", "-c",
                   "printf 'GET " + path + " HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " + address + " 80"});
    EXPECT_TRUE(r.ok()) << r.describe() << r.err;
    const auto body = r.out.find("\r\n\r\n");
    EXPECT_EQ(r.out.rfind("HTTP/1.1 200", 0), 0u) << r.out;
    return body == std::string::npos ? std::string() : r.out.substr(body + 4);
  };
  std::set<std::string> pods_seen;
  for (int i = 0; i < 20; ++i) {
    const std::string body = http_get("/");
    EXPECT_EQ(body.rfind("zone=zone-a pod=orders-zone-a-", 0), 0u) << body;
    pods_seen.insert(body);
  }
  // The Service balances over both of zone-a's Pods.
  EXPECT_EQ(pods_seen.size(), 2u);
  EXPECT_EQ(http_get("/healthz"), "ok\n");
  kubectl_out({"delete", "namespace", kAppNs, "--wait=false"});
}

}  // namespace
}  // namespace orderguard::op

int main(int argc, char** argv) { return orderguard::e2e::run_node_e2e_tests(argc, argv); }
