// The tiers serve for real, on the test node: the operator (in-process) renders
// them, the node runs them from the images built here (Debian's Redis and
// MariaDB, see e2e/node/), PersistentVolumeClaims bind to the node's local
// volumes, and clients in Pods talk to them through the Services.
//
// Shapes are scaled to a 2-core test machine: 3 Redis masters x 1 replica
// with 64 MiB each.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/node_images.h"
#include "e2e/support/wait.h"
#include "operator/render_shards.h"
#include "operator/test/operator_e2e_fixture.h"
#include "operator/types.h"

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
  // Whether member i owns `slot`: its own line of CLUSTER NODES ends with its
  // slot ranges ("0-5460", or a lone "5461").
  static bool owns_slot(int i, int slot) {
    for (const auto& l : lines(redis({"cluster", "nodes"}, member(i)))) {
      if (l.find("myself") == std::string::npos) continue;
      std::istringstream fields(l);
      std::string f;
      for (int n = 0; fields >> f; ++n) {
        if (n < 8 || f.empty() || f[0] == '[') continue;
        const auto dash = f.find('-');
        const int lo = std::stoi(f.substr(0, dash));
        const int hi = dash == std::string::npos ? lo : std::stoi(f.substr(dash + 1));
        if (lo <= slot && slot <= hi) return true;
      }
    }
    return false;
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
  // First leave one slot half-moved between two masters, as an earlier Job
  // attempt that died mid-migration would: the Job must close it, keys and all,
  // before it grows the cluster (a bare `check` would wait on it forever).
  const int slot = std::stoi(lines(redis({"cluster", "keyslot", "key:0"})).at(0));
  int from = -1, to = -1;
  for (int i = 0; i < 6; ++i) {
    if (role(i) != "master") continue;
    (owns_slot(i, slot) ? from : to) = i;
  }
  ASSERT_GE(from, 0);
  ASSERT_GE(to, 0);
  const std::string from_id = lines(redis({"cluster", "myid"}, member(from))).at(0);
  const std::string to_id = lines(redis({"cluster", "myid"}, member(to))).at(0);
  const std::string slot_s = std::to_string(slot);
  ASSERT_EQ(redis({"cluster", "setslot", slot_s, "importing", from_id}, member(to)), "OK\n");
  ASSERT_EQ(redis({"cluster", "setslot", slot_s, "migrating", to_id}, member(from)), "OK\n");
  kubectl_out({"-n", kCacheNs, "patch", std::string("ctier/") + kCache, "--type=merge", "-p",
               R"({"spec":{"redis":{"shards":4}}})"});
  ASSERT_TRUE(
      poll_until([] { return job_complete(kCacheNs, "cache-redis-rebalance-4"); }, 300s, 2s))
      << kubectl_out({"-n", kCacheNs, "get", "pods,jobs"})
      << kubectl_out({"-n", kCacheNs, "logs", "job/cache-redis-rebalance-4", "--tail=40"})
      // The attempt before a restart says why it stopped (none if it never restarted).
      << cluster()
             .kubectl(
                 {"-n", kCacheNs, "logs", "job/cache-redis-rebalance-4", "--previous", "--tail=40"})
             .out
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
  const std::string check =
      exec(kCacheNs, "client", {"redis-cli", "--cluster", "check", member(0) + ":6379"}).out;
  EXPECT_EQ(check.find("[WARNING]"), std::string::npos) << check;
  EXPECT_NE(check.find("[OK] All 16384 slots covered."), std::string::npos) << check;

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

// ---- database tier ----

constexpr char kDbNs[] = "db-e2e";
constexpr char kDb[] = "orders-db";
constexpr int kOrders = 10000;

class ShardSetNodeE2E : public testing::OperatorE2EBase {
 protected:
  static std::string root_password(const std::string& set) {
    json secret = get_json(kDbNs, "secret/" + credentials_secret_name(set));
    const std::string b64 = secret.value("data", json::object()).value("root-password", "");
    if (b64.empty()) return "";
    // base64 -d through the shell's coreutils: the test has no decoder of its own.
    auto d = e2e::run_command({"sh", "-c", "printf %s '" + b64 + "' | base64 -d"});
    return d.ok() ? d.out : "";
  }
  // SQL through `service` (a Service name or a Pod's host) as root; -N -B:
  // tab-separated rows without headers.
  static e2e::CommandResult sql(const std::string& service, const std::string& statements,
                                const std::string& password, bool column_names = false) {
    std::vector<std::string> cmd = {
        "mariadb", "-h", service, "-uroot", "--password=" + password, "-B", "--connect-timeout=5"};
    if (!column_names) cmd.push_back("-N");
    // A client that could not connect (DNS timeout on a loaded machine: ERROR
    // 2005; refused: 2002/2003) ran nothing, so it may try again.
    e2e::CommandResult r;
    for (int attempt = 0; attempt < 5; ++attempt) {
      r = exec(kDbNs, "client", cmd, statements);
      const bool not_connected = r.err.find("ERROR 2005") != std::string::npos ||
                                 r.err.find("ERROR 2002") != std::string::npos ||
                                 r.err.find("ERROR 2003") != std::string::npos;
      if (r.ok() || !not_connected) break;
      std::this_thread::sleep_for(2s);
    }
    return r;
  }
  static bool set_ready(const std::string& set) {
    return condition(kDbNs, "shardset/" + set, "Ready") == "True";
  }
};

TEST_F(ShardSetNodeE2E, ShardsReplicateAndOrdersLandWhereTheRoutingTableSays) {
  kubectl_out({"create", "namespace", kDbNs});
  // 4 databases x 4 tables, monthly split, a primary and a replica each.
  const json set = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                    {"kind", "ShardSet"},
                    {"metadata", {{"name", kDb}, {"namespace", kDbNs}}},
                    {"spec",
                     {{"engine", "mariadb"},
                      {"image", e2e::kMariaDbImage},
                      {"shardKey", "user_id"},
                      {"strategy", "hash"},
                      {"databases", 4},
                      {"tablesPerDatabase", 4},
                      {"timeSplit", "monthly"},
                      {"replicasPerShard", 1},
                      {"storage", {{"size", "300Mi"}}},
                      {"deletionPolicy", "Retain"}}}};
  kubectl_out({"apply", "-f", "-"}, set.dump());
  ASSERT_TRUE(poll_until([] { return set_ready(kDb); }, 420s, 3s))
      << kubectl_out({"-n", kDbNs, "get", "pods,sts,pvc,jobs"})
      << get_json(kDbNs, std::string("shardset/") + kDb).dump(2);
  ASSERT_TRUE(poll_until(
      [] { return condition(kDbNs, std::string("shardset/") + kDb, "SchemaReady") == "True"; },
      300s, 3s))
      << kubectl_out({"-n", kDbNs, "get", "pods,jobs"});
  start_client(kDbNs, "client", e2e::kMariaDbImage);
  const std::string password = root_password(kDb);
  ASSERT_FALSE(password.empty());

  // The routing table the operator wrote is the one route() computes from the
  // live object (the writer below uses route(), as `orderguard-operator route`).
  auto parsed = parse_shard_set_object(get_json(kDbNs, std::string("shardset/") + kDb));
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  const ShardSet& shards = *parsed;

  // 1. Roles: rw reaches only the primary, ro only the replica, which is
  // read-only and replicating from its primary.
  for (int db = 0; db < 4; ++db) {
    // Polled: a client may meet a DNS timeout on a loaded machine and retry.
    e2e::CommandResult rw, ro;
    const std::string rw_want = std::to_string(server_id_base(db)) + "\t0\n";
    const std::string ro_want = std::to_string(server_id_base(db) + 1) + "\t1\n";
    EXPECT_TRUE(poll_until(
        [&] {
          rw = sql(shard_rw_service_name(kDb, db), "SELECT @@server_id, @@read_only;", password);
          return rw.out == rw_want;
        },
        30s, 1s))
        << rw.out << rw.err;
    EXPECT_TRUE(poll_until(
        [&] {
          ro = sql(shard_ro_service_name(kDb, db), "SELECT @@server_id, @@read_only;", password);
          return ro.out == ro_want;
        },
        30s, 1s))
        << ro.out << ro.err;
    // Connected to its primary (the replica retries every 5 s while the
    // primary starts) and applying.
    e2e::CommandResult status;
    EXPECT_TRUE(poll_until(
        [&] {
          status = sql(shard_ro_service_name(kDb, db), "SHOW SLAVE STATUS\\G", password, true);
          return status.out.find("Slave_IO_Running: Yes") != std::string::npos &&
                 status.out.find("Slave_SQL_Running: Yes") != std::string::npos;
        },
        60s, 2s))
        << status.out;
    EXPECT_NE(status.out.find("Master_Host: " + shard_rw_service_name(kDb, db)), std::string::npos)
        << status.out;
  }

  // 2. Schemas: every database has the tables of this month and the next.
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  for (int db = 0; db < 4; ++db) {
    auto tables =
        sql(shard_rw_service_name(kDb, db),
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'orders_" +
                std::to_string(db) + "';",
            password);
    EXPECT_EQ(tables.out, "8\n") << tables.describe() << tables.err;
  }

  // 3. The order writer: 10,000 orders with random user IDs, each inserted
  // through its shard's rw Service into the table route() names.
  std::mt19937_64 rng(20261203);
  std::map<int, std::string> inserts;  // database -> SQL
  std::map<uint64_t, Route> routed;    // order id -> where it must be
  for (int i = 1; i <= kOrders; ++i) {
    const std::string user = std::to_string(rng() % 100000000);
    auto r = route(user, today, shards);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    routed[i] = *r;
    inserts[r->database] += "INSERT INTO " + r->database_name + "." + r->table_name +
                            " (order_id, user_id, created_at, body) VALUES (" + std::to_string(i) +
                            ", '" + user + "', NOW(3), '{\"items\": " + std::to_string(i % 7 + 1) +
                            "}');\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& [db, statements] : inserts) {
    auto w = sql(shard_rw_service_name(kDb, db), "START TRANSACTION;\n" + statements + "COMMIT;\n",
                 password);
    ASSERT_TRUE(w.ok()) << w.describe() << w.err;
  }
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // 4. Read back through the ro Services once replication has caught up:
  // each order in exactly the database and table its route names.
  std::map<uint64_t, std::vector<std::pair<int, std::string>>> found;
  const auto t1 = std::chrono::steady_clock::now();
  for (int db = 0; db < 4; ++db) {
    std::string query;
    for (int t = 0; t < 4; ++t) {
      for (const auto& day : {today, today + std::chrono::days(40)}) {
        auto r = route("0", day, shards);  // any key: only the suffix matters here
        const std::string suffix = r->table_name.substr(r->table_name.rfind('_'));
        const std::string table = "orders_" + std::to_string(db) + "_" + std::to_string(t) + suffix;
        query += std::string(query.empty() ? "" : " UNION ALL ") + "SELECT '" + table +
                 "', order_id FROM orders_" + std::to_string(db) + "." + table;
      }
    }
    query += ";";
    std::vector<std::string> rows;
    const int expected = static_cast<int>(std::count_if(
        routed.begin(), routed.end(), [&](const auto& o) { return o.second.database == db; }));
    EXPECT_TRUE(poll_until(
        [&] {
          auto r = sql(shard_ro_service_name(kDb, db), query, password);
          rows = lines(r.out);
          if (!rows.empty() && rows.back().empty()) rows.pop_back();
          return r.ok() && static_cast<int>(rows.size()) == expected;
        },
        60s, 1s))
        << "database " << db << ": " << rows.size() << " rows on the replica, " << expected
        << " written";
    for (const auto& row : rows) {
      const auto tab = row.find('\t');
      if (tab == std::string::npos) continue;
      found[std::stoull(row.substr(tab + 1))].emplace_back(db, row.substr(0, tab));
    }
  }
  const double read_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  int in_place = 0;
  for (const auto& [id, where] : routed) {
    auto f = found.find(id);
    if (f != found.end() && f->second.size() == 1 && f->second[0].first == where.database &&
        f->second[0].second == where.table_name) {
      ++in_place;
    }
  }
  EXPECT_EQ(in_place, kOrders);
  EXPECT_EQ(found.size(), static_cast<size_t>(kOrders));
  // A figure, not a target (BENCHMARKS.md "Tiers on the test node").
  std::cout << "order writer: " << kOrders << " inserts in " << write_s << " s ("
            << kOrders / write_s << "/s) through the rw Services; read back through the ro "
            << "Services after replication in " << read_s << " s\n";

  // 5. The primary of database 0 is killed (no grace): the StatefulSet brings
  // it back on its volume, and every acknowledged order is still there. The
  // operator does not promote the replica (documented): writes wait for the
  // primary, reads keep going to the replica.
  const auto rows_on_primary = [&] {
    std::string q;
    for (int t = 0; t < 4; ++t) {
      auto r = route("0", today, shards);
      const std::string suffix = r->table_name.substr(r->table_name.rfind('_'));
      q += std::string(q.empty() ? "SELECT " : " + ") + "(SELECT COUNT(*) FROM orders_0.orders_0_" +
           std::to_string(t) + suffix + ")";
    }
    auto r = sql(shard_rw_service_name(kDb, 0), q + ";", password);
    return r.ok() ? r.out : "";
  };
  const std::string before = rows_on_primary();
  ASSERT_FALSE(before.empty());
  const std::string primary_pod = shard_statefulset_name(kDb, 0) + "-0";
  const std::string uid_before = get_json(kDbNs, "pod/" + primary_pod)["metadata"].value("uid", "");
  kubectl_out({"-n", kDbNs, "delete", "pod", primary_pod, "--grace-period=0", "--force"});
  EXPECT_TRUE(poll_until(
      [&] {
        json p = get_json(kDbNs, "pod/" + primary_pod);
        return p.is_object() && p["metadata"].value("uid", "") != uid_before &&
               pod_ready(kDbNs, primary_pod);
      },
      180s, 2s));
  EXPECT_TRUE(poll_until([&] { return rows_on_primary() == before; }, 60s, 2s))
      << rows_on_primary() << " vs " << before;
  EXPECT_TRUE(poll_until([] { return set_ready(kDb); }, 120s, 2s));

  // 6. deletionPolicy Retain: the ShardSet goes, its volumes (and the data in
  // them) and its credentials stay.
  kubectl_out({"-n", kDbNs, "delete", std::string("shardset/") + kDb});
  EXPECT_TRUE(poll_until(
      [] {
        json sts = get_json(kDbNs, "sts");
        return sts.is_object() && sts.value("items", json::array()).empty();
      },
      120s, 2s));
  json claims = get_json(kDbNs, "pvc");
  EXPECT_EQ(claims.value("items", json::array()).size(), 8u);
  EXPECT_TRUE(get_json(kDbNs, "secret/" + credentials_secret_name(kDb)).is_object());
  for (const auto& c : claims.value("items", json::array())) {
    const std::string volume = c["spec"].value("volumeName", "");
    EXPECT_TRUE(std::filesystem::exists(cluster().node_dir() + "/volumes/" + volume + "/mysql"))
        << volume;
  }
  kubectl_out({"-n", kDbNs, "delete", "pvc", "--all", "--wait=false"});
}

TEST_F(ShardSetNodeE2E, DeletionPolicyDeleteRemovesTheVolumes) {
  const json set = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                    {"kind", "ShardSet"},
                    {"metadata", {{"name", "scratch"}, {"namespace", kDbNs}}},
                    {"spec",
                     {{"engine", "mariadb"},
                      {"image", e2e::kMariaDbImage},
                      {"shardKey", "user_id"},
                      {"databases", 1},
                      {"replicasPerShard", 0},
                      {"storage", {{"size", "200Mi"}}},
                      {"deletionPolicy", "Delete"}}}};
  cluster().kubectl({"create", "namespace", kDbNs});  // the first test may have made it
  kubectl_out({"apply", "-f", "-"}, set.dump());
  ASSERT_TRUE(poll_until([] { return set_ready("scratch"); }, 300s, 3s))
      << kubectl_out({"-n", kDbNs, "get", "pods,sts,pvc"});
  json claim = get_json(kDbNs, "pvc/data-" + shard_statefulset_name("scratch", 0) + "-0");
  const std::string volume = claim["spec"].value("volumeName", "");
  ASSERT_FALSE(volume.empty());
  const std::string dir = cluster().node_dir() + "/volumes/" + volume;
  EXPECT_TRUE(std::filesystem::exists(dir + "/mysql"));
  kubectl_out({"-n", kDbNs, "delete", "shardset/scratch"});
  // The claim, then the volume and its directory go.
  EXPECT_TRUE(poll_until(
      [&] {
        return !get_json(kDbNs, "pvc/data-" + shard_statefulset_name("scratch", 0) + "-0")
                    .is_object();
      },
      180s, 2s));
  EXPECT_TRUE(
      poll_until([&] { return !get_json("default", "pv/" + volume).is_object(); }, 120s, 2s));
  EXPECT_FALSE(std::filesystem::exists(dir));
  // Owned by the ShardSet with Delete: collected with it.
  EXPECT_TRUE(poll_until(
      [] { return !get_json(kDbNs, "secret/" + credentials_secret_name("scratch")).is_object(); },
      60s, 1s));
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
