#include "operator/render_shards.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "operator/test/test_util.h"

namespace orderguard::op {
namespace {

using std::chrono::sys_days;
using std::chrono::year;
using testing::load_api_json;
using testing::load_json;

ShardSet shard_set() {
  auto s = parse_shard_set_object(load_api_json("shardset.json"));
  EXPECT_TRUE(s.ok()) << s.error().describe();
  return std::move(s).value();
}

const sys_days kNov29 = sys_days(year(2026) / 11 / 29);

TEST(Fnv1a64, PublishedVectors) {
  // From the FNV reference (isthe.com/chongo/tech/comp/fnv): "" is the offset basis.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(Route, HashVectors) {
  // Vectors computed independently (Python): fnv1a64(key) % 64 -> db, table.
  struct Vector {
    const char* key;
    int32_t slot, db, table;
    const char* table_name;
  };
  const Vector vectors[] = {
      {"12345", 56, 7, 0, "orders_7_0_202611"},
      {"1", 60, 7, 4, "orders_7_4_202611"},
      {"987654321", 44, 5, 4, "orders_5_4_202611"},
  };
  for (const auto& v : vectors) {
    auto r = route(v.key, kNov29, shard_set());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->slot, v.slot) << v.key;
    EXPECT_EQ(r->database, v.db) << v.key;
    EXPECT_EQ(r->table, v.table) << v.key;
    EXPECT_EQ(r->table_name, v.table_name) << v.key;
    EXPECT_EQ(r->database_name, "orders_" + std::to_string(v.db));
    EXPECT_EQ(r->rw_service, "orders-db-" + std::to_string(v.db) + "-rw");
  }
}

TEST(Route, TimeSplitSuffixes) {
  ShardSet s = shard_set();
  s.spec.time_split = "daily";
  EXPECT_EQ(route("12345", sys_days(year(2026) / 1 / 5), s)->table_name, "orders_7_0_20260105");
  s.spec.time_split = "none";
  EXPECT_EQ(route("12345", std::nullopt, s)->table_name, "orders_7_0");
  s.spec.time_split = "monthly";
  EXPECT_FALSE(route("12345", std::nullopt, s).ok());  // a time is required
}

TEST(Route, RangeStrategy) {
  ShardSet s = shard_set();
  s.spec.strategy = "range";
  s.spec.time_split = "none";
  EXPECT_EQ(route("0", std::nullopt, s)->slot, 0);
  EXPECT_EQ(route("9999999", std::nullopt, s)->slot, 0);
  auto r = route("10000000", std::nullopt, s);
  EXPECT_EQ(r->slot, 1);
  EXPECT_EQ(r->database, 0);
  EXPECT_EQ(r->table, 1);
  r = route("80000000", std::nullopt, s);  // slot 8: the first table of database 1
  EXPECT_EQ(r->database, 1);
  EXPECT_EQ(r->table, 0);
  EXPECT_EQ(route("18446744073709551615", std::nullopt, s)->slot, 63);  // last table holds the tail
  EXPECT_FALSE(route("abc", std::nullopt, s).ok());
  EXPECT_FALSE(route("-1", std::nullopt, s).ok());
}

TEST(RenderShards, PrimaryAndReplicaStatefulSetsPerDatabase) {
  ShardSet s = shard_set();
  s.spec.replicas_per_shard = 2;
  s.spec.storage_size = "500Gi";
  s.spec.zones = {"zone-a", "zone-b", "zone-c"};
  const json primary = render_shard_statefulset(s, 3, kRolePrimary);
  const json replicas = render_shard_statefulset(s, 3, kRoleReplica);
  EXPECT_EQ(primary["metadata"]["name"], "orders-db-3");
  EXPECT_EQ(replicas["metadata"]["name"], "orders-db-3-replica");
  EXPECT_EQ(primary["spec"]["replicas"], 1);
  EXPECT_EQ(replicas["spec"]["replicas"], 2);
  EXPECT_EQ(replicas["spec"]["podManagementPolicy"], "Parallel");
  for (const json& sts : {primary, replicas}) {
    EXPECT_EQ(sts["spec"]["serviceName"], "orders-db-headless");
    EXPECT_EQ(sts["metadata"]["ownerReferences"][0]["kind"], "ShardSet");
    EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
    EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
              "500Gi");
    EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"], "Retain");
    // Spread over zones and nodes together: the shard's labels, both roles.
    const json pod = sts["spec"]["template"]["spec"];
    EXPECT_EQ(pod["topologySpreadConstraints"][0]["topologyKey"], "topology.kubernetes.io/zone");
    EXPECT_EQ(pod["topologySpreadConstraints"][0]["whenUnsatisfiable"], "DoNotSchedule");
    EXPECT_FALSE(
        pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"].contains(kRoleLabel));
    EXPECT_EQ(pod["initContainers"][0]["env"][1],
              json({{"name", "SERVER_ID_BASE"}, {"value", std::to_string(server_id_base(3))}}));
  }
  // The role: in the selector, the pod labels and the init container's ROLE.
  EXPECT_EQ(primary["spec"]["selector"]["matchLabels"][kRoleLabel], "primary");
  EXPECT_EQ(replicas["spec"]["selector"]["matchLabels"][kRoleLabel], "replica");
  EXPECT_EQ(primary["spec"]["template"]["metadata"]["labels"][kRoleLabel], "primary");
  EXPECT_EQ(replicas["spec"]["template"]["metadata"]["labels"][kRoleLabel], "replica");
  EXPECT_EQ(replicas["spec"]["template"]["metadata"]["labels"][kShardLabel], "3");
  EXPECT_EQ(primary["spec"]["template"]["spec"]["initContainers"][0]["env"][0],
            json({{"name", "ROLE"}, {"value", "primary"}}));
  EXPECT_EQ(replicas["spec"]["template"]["spec"]["initContainers"][0]["env"][0],
            json({{"name", "ROLE"}, {"value", "replica"}}));
  s.spec.deletion_policy = "Delete";
  for (const char* role : {kRolePrimary, kRoleReplica}) {
    EXPECT_EQ(render_shard_statefulset(
                  s, 0, role)["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
              "Delete");
  }
}

bool has(const json& data, const char* key, const std::string& text) {
  return std::string(data[key]).find(text) != std::string::npos;
}

TEST(RenderShards, ConfigMapGivesEachPodItsServerIdAndRole) {
  const json data = render_shard_config_map(shard_set(), 2)["data"];
  EXPECT_EQ(data["server-id-base"], "300");
  const std::string init = data["init-config.sh"];
  EXPECT_NE(init.find("primary) server_id=$SERVER_ID_BASE ;;"), std::string::npos) << init;
  EXPECT_NE(init.find("replica) server_id=$((SERVER_ID_BASE + 1 + ${HOSTNAME##*-})) ;;"),
            std::string::npos)
      << init;
  EXPECT_NE(init.find("server-id=%d"), std::string::npos);
  EXPECT_NE(init.find("cp /config/common.cnf \"/config/$ROLE.cnf\" /etc/mysql/conf.d/"),
            std::string::npos)
      << init;
  EXPECT_NE(init.find("cp \"/config/$ROLE-init.sh\" /docker-entrypoint-initdb.d/"),
            std::string::npos)
      << init;
  // Primary 300, replicas 301..305: ids never collide between shards.
  EXPECT_EQ(server_id_base(2), 300);
  EXPECT_GT(server_id_base(1), server_id_base(0) + 1 + 5);
}

TEST(RenderShards, MySqlConfigUsesGtidAutoPositionAndIsDurable) {
  const json data = render_shard_config_map(shard_set(), 2)["data"];
  for (const char* option : {"gtid_mode=ON", "enforce_gtid_consistency=ON", "log_bin=",
                             "binlog_format=ROW", "log_replica_updates=ON", "skip_name_resolve=ON",
                             "sync_binlog=1", "innodb_flush_log_at_trx_commit=1"}) {
    EXPECT_TRUE(has(data, "common.cnf", option)) << option;
  }
  EXPECT_TRUE(has(data, "replica.cnf", "read_only=ON"));
  EXPECT_TRUE(has(data, "replica.cnf", "replica_preserve_commit_order=ON"));
  // super_read_only would refuse the entrypoint's own first-start writes, so
  // the replica's init script persists it once those are done.
  EXPECT_FALSE(has(data, "replica.cnf", "super_read_only"));
  const std::string replica_init = data["replica-init.sh"];
  EXPECT_NE(replica_init.find("CHANGE REPLICATION SOURCE TO SOURCE_HOST='orders-db-2-rw', "
                              "SOURCE_PORT=3306, SOURCE_USER='repl', "
                              "SOURCE_PASSWORD='${REPLICATION_PASSWORD}', SOURCE_CONNECT_RETRY=5, "
                              "SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1; START REPLICA;"),
            std::string::npos)
      << replica_init;
  EXPECT_LT(replica_init.find("START REPLICA"),
            replica_init.find("SET PERSIST super_read_only=ON"));
  EXPECT_TRUE(has(data, "primary-init.sh", "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'"));
}

TEST(RenderShards, MariaDbConfigHasNoMySqlOnlyOption) {
  ShardSet s = shard_set();
  s.spec.engine = "mariadb";
  const json data = render_shard_config_map(s, 2)["data"];
  for (const char* option :
       {"log_bin=", "binlog_format=ROW", "log_slave_updates=ON", "gtid_strict_mode=ON",
        "skip_name_resolve=ON", "sync_binlog=1", "innodb_flush_log_at_trx_commit=1"}) {
    EXPECT_TRUE(has(data, "common.cnf", option)) << option;
  }
  EXPECT_TRUE(has(data, "replica.cnf", "read_only=ON"));
  EXPECT_TRUE(has(data, "replica.cnf", "relay_log="));
  // mariadbd refuses to start on an option it does not know.
  for (const char* key : {"common.cnf", "primary.cnf", "replica.cnf", "replica-init.sh"}) {
    for (const char* mysql_only :
         {"gtid_mode", "enforce_gtid_consistency", "super_read_only",
          "replica_preserve_commit_order", "log_replica_updates", "SOURCE_", "PERSIST"}) {
      EXPECT_FALSE(has(data, key, mysql_only)) << key << ": " << mysql_only;
    }
  }
  EXPECT_TRUE(has(data, "replica-init.sh",
                  "CHANGE MASTER TO MASTER_HOST='orders-db-2-rw', MASTER_PORT=3306, "
                  "MASTER_USER='repl', MASTER_PASSWORD='${REPLICATION_PASSWORD}', "
                  "MASTER_CONNECT_RETRY=5, MASTER_USE_GTID=slave_pos; START SLAVE;"));
}

TEST(RenderShards, EngineChoosesClientProgramsAndRootPasswordVariable) {
  ShardSet s = shard_set();
  json mysql =
      render_shard_statefulset(s, 0, kRolePrimary)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(mysql["image"], "mysql:8.0");
  EXPECT_EQ(mysql["readinessProbe"]["exec"]["command"],
            json::array({"mysqladmin", "ping", "-h", "127.0.0.1"}));
  EXPECT_EQ(mysql["env"][0]["name"], "MYSQL_ROOT_PASSWORD");

  auto parsed = parse_shard_set({{"shardKey", "user_id"}, {"databases", 2}, {"engine", "mariadb"}});
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  s.spec = *parsed;
  json maria =
      render_shard_statefulset(s, 0, kRoleReplica)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(maria["image"], "mariadb:11.4");
  EXPECT_EQ(maria["readinessProbe"]["exec"]["command"],
            json::array({"mariadb-admin", "ping", "-h", "127.0.0.1"}));
  EXPECT_EQ(maria["env"][0]["name"], "MARIADB_ROOT_PASSWORD");
  EXPECT_EQ(maria["env"][0]["valueFrom"]["secretKeyRef"]["key"], "root-password");
  EXPECT_EQ(std::string(engine_profile("mariadb").client), "mariadb");
  EXPECT_EQ(std::string(engine_profile("mysql").client), "mysql");
}

TEST(RenderShards, ReadWriteServiceSelectsThePrimaryReadOnlyTheReplicas) {
  ShardSet s = shard_set();
  json rw = render_shard_rw_service(s, 1);
  EXPECT_EQ(rw["metadata"]["name"], "orders-db-1-rw");
  EXPECT_EQ(rw["spec"]["selector"],
            json({{kShardSetLabel, "orders-db"}, {kShardLabel, "1"}, {kRoleLabel, "primary"}}));
  json ro = render_shard_ro_service(s, 1);
  EXPECT_EQ(ro["metadata"]["name"], "orders-db-1-ro");
  EXPECT_EQ(ro["spec"]["selector"],
            json({{kShardSetLabel, "orders-db"}, {kShardLabel, "1"}, {kRoleLabel, "replica"}}));
  // Each selector matches one StatefulSet's pods and not the other's.
  const json primary_pods =
      render_shard_statefulset(s, 1, kRolePrimary)["spec"]["template"]["metadata"]["labels"];
  const json replica_pods =
      render_shard_statefulset(s, 1, kRoleReplica)["spec"]["template"]["metadata"]["labels"];
  auto selects = [](const json& selector, const json& labels) {
    for (const auto& [k, v] : selector.items()) {
      if (!labels.contains(k) || labels[k] != v) return false;
    }
    return true;
  };
  EXPECT_TRUE(selects(rw["spec"]["selector"], primary_pods));
  EXPECT_FALSE(selects(rw["spec"]["selector"], replica_pods));
  EXPECT_TRUE(selects(ro["spec"]["selector"], replica_pods));
  EXPECT_FALSE(selects(ro["spec"]["selector"], primary_pods));
  // Without replicas, reads go to the primary.
  s.spec.replicas_per_shard = 0;
  EXPECT_EQ(render_shard_ro_service(s, 1)["spec"]["selector"][kRoleLabel], "primary");
  json pdb = render_shard_pdb(shard_set(), 1);
  EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
  EXPECT_EQ(pdb["spec"]["selector"]["matchLabels"],
            json({{kShardSetLabel, "orders-db"}, {kShardLabel, "1"}}));
}

TEST(RenderShards, RoutingConfigMapMatchesRouteAndGolden) {
  json cm = render_routing_config_map(shard_set());
  EXPECT_EQ(cm["metadata"]["name"], "orders-db-routing");
  const json doc = json::parse(std::string(cm["data"]["routing.json"]));
  const std::string path = std::string(OPERATOR_TESTDATA_DIR) + "/golden/routing.json";
  if (std::getenv("ORDERGUARD_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << doc.dump(2) << "\n";
  }
  EXPECT_EQ(doc, load_json("golden/routing.json")) << doc.dump(2);
  EXPECT_EQ(doc["tableNamePattern"], "orders_{database}_{table}_{yyyyMM}");
  EXPECT_EQ(doc["shards"].size(), 8u);
  bool found = false;
  for (const auto& v : doc["testVectors"]) {
    if (v["key"] == "12345") {
      found = true;
      EXPECT_EQ(v["database"], 7);
      EXPECT_EQ(v["table"], 0);
      EXPECT_EQ(v["tableName"], "orders_7_0_202611");
    }
  }
  EXPECT_TRUE(found);
}

TEST(RenderShards, CredentialsSecretIsOwnedOnlyWhenTheDataGoesToo) {
  ShardSet s = shard_set();
  json secret = render_credentials_secret(s, "rootpw", "replpw");
  EXPECT_EQ(secret["kind"], "Secret");
  EXPECT_EQ(secret["metadata"]["name"], "orders-db-mysql");
  EXPECT_EQ(secret["metadata"]["namespace"], "shop");
  EXPECT_EQ(secret["stringData"],
            json({{"root-password", "rootpw"}, {"replication-password", "replpw"}}));
  // Retain: the Secret outlives the ShardSet, as the volumes it unlocks do.
  EXPECT_FALSE(secret["metadata"].contains("ownerReferences"));
  s.spec.deletion_policy = "Delete";
  secret = render_credentials_secret(s, "rootpw", "replpw");
  ASSERT_EQ(secret["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ(secret["metadata"]["ownerReferences"][0]["kind"], "ShardSet");
  EXPECT_EQ(secret["metadata"]["ownerReferences"][0]["uid"], "4444");
  // The pods read the same Secret and keys.
  const json env = render_shard_statefulset(
      s, 0, kRolePrimary)["spec"]["template"]["spec"]["containers"][0]["env"];
  EXPECT_EQ(env[0]["valueFrom"]["secretKeyRef"],
            json({{"name", "orders-db-mysql"}, {"key", "root-password"}}));
  EXPECT_EQ(
      env[1],
      json({{"name", "REPLICATION_PASSWORD"},
            {"valueFrom",
             {{"secretKeyRef", {{"name", "orders-db-mysql"}, {"key", "replication-password"}}}}}}));
}

TEST(Schema, PeriodsAndTheNextAcrossAYearBoundary) {
  const sys_days dec31 = year(2026) / 12 / 31;
  EXPECT_EQ(period_suffix("monthly", dec31), "202612");
  EXPECT_EQ(period_suffix("daily", dec31), "20261231");
  EXPECT_EQ(period_suffix("none", dec31), "");
  EXPECT_EQ(next_period_start("monthly", dec31), sys_days(year(2027) / 1 / 1));
  EXPECT_EQ(next_period_start("monthly", sys_days(year(2026) / 1 / 31)),
            sys_days(year(2026) / 2 / 1));
  EXPECT_EQ(next_period_start("daily", dec31), sys_days(year(2027) / 1 / 1));
  EXPECT_EQ(next_period_start("daily", sys_days(year(2028) / 2 / 28)),
            sys_days(year(2028) / 2 / 29));
  EXPECT_FALSE(next_period_start("none", dec31).has_value());
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Schema, MonthlyCreatesThisMonthsAndNextMonthsTables) {
  ShardSet s = shard_set();  // orders-db: 8 x 8, monthly, shard key user_id
  const auto sql = lines(shard_schema_sql(s, 3, sys_days(year(2026) / 12 / 31)));
  // A comment, the database, 2 periods x 8 tables.
  ASSERT_EQ(sql.size(), 1u + 1u + 16u);
  EXPECT_EQ(sql[1], "CREATE DATABASE IF NOT EXISTS `orders_3`;");
  EXPECT_EQ(sql[2],
            "CREATE TABLE IF NOT EXISTS `orders_3`.`orders_3_0_202612` (order_id BIGINT UNSIGNED "
            "NOT NULL, user_id VARCHAR(64) NOT NULL, created_at DATETIME(3) NOT NULL, body JSON, "
            "PRIMARY KEY (order_id), KEY (user_id));");
  EXPECT_EQ(sql[9],
            "CREATE TABLE IF NOT EXISTS `orders_3`.`orders_3_7_202612` LIKE "
            "`orders_3`.`orders_3_0_202612`;");
  EXPECT_EQ(sql[10].substr(0, 63),
            "CREATE TABLE IF NOT EXISTS `orders_3`.`orders_3_0_202701` (orde");
  EXPECT_EQ(sql[17],
            "CREATE TABLE IF NOT EXISTS `orders_3`.`orders_3_7_202701` LIKE "
            "`orders_3`.`orders_3_0_202701`;");
  // The names route() gives a key of the shard.
  auto r = route("12345", sys_days(year(2026) / 12 / 31), s);  // database 7, table 0
  const std::string of7 = shard_schema_sql(s, 7, sys_days(year(2026) / 12 / 31));
  EXPECT_NE(of7.find("`" + r->database_name + "`.`" + r->table_name + "`"), std::string::npos);
  for (const auto& line : sql) {
    if (line.starts_with("--")) continue;
    EXPECT_TRUE(line.starts_with("CREATE ")) << line;
    EXPECT_NE(line.find(" IF NOT EXISTS "), std::string::npos) << line;
    EXPECT_TRUE(line.ends_with(";")) << line;
  }
}

TEST(Schema, DailyNoneAndOwnColumns) {
  ShardSet s = shard_set();
  s.spec.time_split = "daily";
  s.spec.tables_per_database = 2;
  auto sql = lines(shard_schema_sql(s, 0, sys_days(year(2026) / 12 / 31)));
  ASSERT_EQ(sql.size(), 2u + 4u);
  EXPECT_NE(sql[2].find("`orders_0_0_20261231` ("), std::string::npos) << sql[2];
  EXPECT_NE(sql[3].find("`orders_0_1_20261231` LIKE"), std::string::npos) << sql[3];
  EXPECT_NE(sql[4].find("`orders_0_0_20270101` ("), std::string::npos) << sql[4];

  s.spec.time_split = "none";
  s.spec.table_columns = "id BIGINT NOT NULL, PRIMARY KEY (id)";
  sql = lines(shard_schema_sql(s, 0, sys_days(year(2026) / 12 / 31)));
  ASSERT_EQ(sql.size(), 2u + 2u);
  EXPECT_EQ(sql[2],
            "CREATE TABLE IF NOT EXISTS `orders_0`.`orders_0_0` (id BIGINT NOT NULL, PRIMARY KEY "
            "(id));");
  EXPECT_EQ(sql[3],
            "CREATE TABLE IF NOT EXISTS `orders_0`.`orders_0_1` LIKE `orders_0`.`orders_0_0`;");
}

TEST(Schema, ConfigMapPerShard) {
  const ShardSet s = shard_set();
  const sys_days day = year(2026) / 11 / 29;
  const json cm = render_shard_schema_config_map(s, 5, day);
  EXPECT_EQ(cm["metadata"]["name"], "orders-db-5-schema");
  EXPECT_EQ(cm["metadata"]["ownerReferences"][0]["kind"], "ShardSet");
  EXPECT_EQ(cm["data"].size(), 1u);
  EXPECT_EQ(cm["data"]["shard-5.sql"], shard_schema_sql(s, 5, day));
  // The largest shard the CRD allows (1024 tables, 4096 characters of
  // columns) stays far below the 1 MiB an object may hold.
  ShardSet big = s;
  big.spec.databases = 64;
  big.spec.tables_per_database = 1024;
  big.spec.table_columns = std::string(4096, 'x');
  EXPECT_LT(render_shard_schema_config_map(big, 63, day).dump().size(), 400'000u);
}

TEST(Schema, OneJobPerPeriodAndShape) {
  ShardSet s = shard_set();
  const sys_days nov29 = year(2026) / 11 / 29;
  const std::string nov = schema_job_name(s, nov29);
  EXPECT_TRUE(nov.starts_with("orders-db-schema-202611-")) << nov;
  EXPECT_EQ(nov.size(), std::string("orders-db-schema-202611-").size() + 8);
  EXPECT_EQ(schema_job_name(s, sys_days(year(2026) / 11 / 1)), nov);  // the same month
  EXPECT_TRUE(
      schema_job_name(s, sys_days(year(2026) / 12 / 1)).starts_with("orders-db-schema-202612-"));
  // A new database (or new columns) within the month: a new Job.
  ShardSet grown = s;
  grown.spec.databases = 9;
  EXPECT_NE(schema_job_name(grown, nov29), nov);
  ShardSet daily = s;
  daily.spec.time_split = "daily";
  EXPECT_TRUE(schema_job_name(daily, nov29).starts_with("orders-db-schema-20261129-"));
  ShardSet none = s;
  none.spec.time_split = "none";
  const std::string v = schema_job_name(none, nov29);
  EXPECT_TRUE(v.starts_with("orders-db-schema-v")) << v;
  EXPECT_EQ(schema_job_name(none, sys_days(year(2027) / 5 / 1)), v);  // no period
  none.spec.table_columns = "id INT";
  EXPECT_NE(schema_job_name(none, nov29), v);
}

TEST(Schema, JobRunsEachShardsFileOnItsPrimary) {
  for (const char* engine : {"mysql", "mariadb"}) {
    SCOPED_TRACE(engine);
    ShardSet s = shard_set();
    s.spec.engine = engine;
    const json job = render_schema_job(s, sys_days(year(2026) / 11 / 29));
    EXPECT_EQ(job["kind"], "Job");
    EXPECT_EQ(job["metadata"]["name"], schema_job_name(s, sys_days(year(2026) / 11 / 29)));
    EXPECT_EQ(job["metadata"]["ownerReferences"][0]["kind"], "ShardSet");
    EXPECT_EQ(job["metadata"]["labels"]["app.kubernetes.io/managed-by"], "orderguard-operator");
    EXPECT_EQ(job["spec"]["backoffLimit"], 10);
    EXPECT_EQ(job["spec"]["ttlSecondsAfterFinished"], 86400);
    const json pod = job["spec"]["template"]["spec"];
    EXPECT_EQ(pod["restartPolicy"], "OnFailure");
    // Not selected by the headless Service or the PDBs.
    EXPECT_FALSE(job["spec"]["template"]["metadata"]["labels"].contains(kShardSetLabel));
    const json c = pod["containers"][0];
    EXPECT_EQ(c["image"], s.spec.image);
    EXPECT_EQ(c["env"][0]["name"], "MYSQL_PWD");
    EXPECT_EQ(c["env"][0]["valueFrom"]["secretKeyRef"],
              json({{"name", "orders-db-mysql"}, {"key", "root-password"}}));
    EXPECT_EQ(c["volumeMounts"][0]["mountPath"], "/schema");
    const json sources = pod["volumes"][0]["projected"]["sources"];
    ASSERT_EQ(sources.size(), 8u);
    EXPECT_EQ(sources[7]["configMap"]["name"], "orders-db-7-schema");
    const std::string script = c["command"][2];
    const EngineProfile& p = engine_profile(engine);
    EXPECT_NE(script.find("while [ \"$db\" -lt 8 ]"), std::string::npos) << script;
    EXPECT_NE(script.find("host=orders-db-$db-rw"), std::string::npos) << script;
    EXPECT_NE(script.find(std::string("until ") + p.admin + " ping -h \"$host\" -uroot"),
              std::string::npos)
        << script;
    EXPECT_NE(
        script.find(std::string(p.client) + " -h \"$host\" -uroot < \"/schema/shard-$db.sql\""),
        std::string::npos)
        << script;
    // The SQL (and the user's columns) never reach the command line.
    EXPECT_EQ(script.find("CREATE"), std::string::npos);
    EXPECT_EQ(script.find("VARCHAR"), std::string::npos);
  }
}

TEST(RenderShards, ChildrenPerDatabase) {
  ShardSet s = shard_set();
  auto children = render_shard_children(s, kNov29);
  // routing ConfigMap + headless Service + 8 x (2 ConfigMaps, rw, ro, 2 StatefulSets, PDB)
  EXPECT_EQ(children.size(), 2u + 8u * 7u);
  EXPECT_EQ(children[0]["metadata"]["name"], "orders-db-routing");
  for (const auto& c : children) EXPECT_NE(c["kind"], "Job");  // the reconciler adds it
  // No replicas: no replica StatefulSet (the reconciler deletes one that exists).
  s.spec.replicas_per_shard = 0;
  children = render_shard_children(s, kNov29);
  EXPECT_EQ(children.size(), 2u + 8u * 6u);
  for (const auto& c : children) {
    EXPECT_EQ(std::string(c["metadata"]["name"]).find("-replica"), std::string::npos);
  }
}

}  // namespace
}  // namespace orderguard::op
