// Desired children of a ShardSet (sharded MySQL or MariaDB) and the routing
// function, as pure functions: JSON in, JSON out, no client.
//
// Names, for ShardSet "s" and database shard i (0-based): StatefulSet "s-<i>"
// runs the primary (one pod, "s-<i>-0"), StatefulSet "s-<i>-replica" its
// read replicas ("s-<i>-replica-<n>"; none when replicasPerShard is 0);
// Services "s-<i>-rw" (the primary) and "s-<i>-ro" (the replicas, or the
// primary when there are none); PDB "s-<i>" over both; ConfigMap "s-<i>-mysql"
// (server settings and init scripts for both roles); one headless Service
// "s-headless" governs every shard's pods; ConfigMap "s-routing" holds
// routing.json; Secret "s-mysql" the passwords (render_credentials_secret).
//
// Schema: ConfigMap "s-<i>-schema" holds shard-<i>.sql, which creates on
// database shard i the database and the tables of the current and the next
// period (timeSplit none: the tables without suffix), every statement IF NOT
// EXISTS. Job "s-schema-<period>-<shape>" ("s-schema-v<shape>" for timeSplit
// none; <shape> hashes databases, tablesPerDatabase and tableColumns) mounts
// them all at /schema and, shard after shard, waits for the primary behind
// "s-<i>-rw" to answer and runs the file there as root. One ConfigMap per
// shard, not one for the set: 1024 databases of 64 tables would not fit the
// 1 MiB an object may hold, one shard's 2 x 1024 tables do.
//
// Pods carry tiers.orderguard.io/shardset, tiers.orderguard.io/shard (the
// database index) and tiers.orderguard.io/role (primary | replica): a Service
// selector cannot exclude a StatefulSet ordinal, so the roles live in separate
// StatefulSets and the Services select by role. server-id: the primary
// server_id_base(i), replica n server_id_base(i) + 1 + n.
//
// Engines (spec.engine): mysql (MySQL 8) and mariadb (MariaDB 10.11 or later)
// differ in server options (mariadbd refuses an option it does not know), in
// replication statements, in client programs and in the entrypoint's root
// password variable; engine_profile() names the last two. Either image must
// follow the docker-library entrypoint contract: the root password from the
// environment, *.sh files in /docker-entrypoint-initdb.d sourced on the first
// start (with "${mysql[@]}" running SQL as root), /etc/mysql/conf.d read.
//
// Routing contract (the same in route() and in routing.json, which states it
// for clients in other languages):
//   tables = databases x tablesPerDatabase
//   hash:  slot = fnv1a64(UTF-8 bytes of the key) mod tables
//   range: slot = min(key / kRangeKeysPerTable, tables - 1), key a decimal
//          unsigned integer; consecutive keys fill one table, then the next
//   database = slot / tablesPerDatabase, table = slot mod tablesPerDatabase
//   database name "<base>_<database>", table name "<base>_<database>_<table>"
//   plus "_yyyyMM" (monthly) or "_yyyyMMdd" (daily) of the time in UTC, where
//   <base> is the ShardSet name up to its first '-' ("orders-db" -> "orders").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash.h"
#include "base/result.h"
#include "operator/render.h"
#include "operator/types.h"

namespace orderguard::op {

inline constexpr const char* kShardSetLabel = "tiers.orderguard.io/shardset";
inline constexpr const char* kShardLabel = "tiers.orderguard.io/shard";
// On shard pods: kRolePrimary or kRoleReplica, what the rw and ro Services select.
inline constexpr const char* kRoleLabel = "tiers.orderguard.io/role";
inline constexpr const char* kRolePrimary = "primary";
inline constexpr const char* kRoleReplica = "replica";
inline constexpr int32_t kMySqlPort = 3306;
// The CRD has no field for range widths yet: each table takes this many keys.
inline constexpr uint64_t kRangeKeysPerTable = 10'000'000;
inline constexpr const char* kRoutingKey = "routing.json";
// Keys of the credentials Secret.
inline constexpr const char* kRootPasswordKey = "root-password";
inline constexpr const char* kReplicationPasswordKey = "replication-password";
inline constexpr size_t kPasswordLength = 24;

// The primary's StatefulSet (and the shard's PDB).
std::string shard_statefulset_name(const std::string& shard_set, int32_t database);
std::string shard_replica_statefulset_name(const std::string& shard_set, int32_t database);
std::string shard_rw_service_name(const std::string& shard_set, int32_t database);
std::string shard_ro_service_name(const std::string& shard_set, int32_t database);
std::string shard_config_map_name(const std::string& shard_set, int32_t database);
std::string shard_headless_service_name(const std::string& shard_set);
std::string credentials_secret_name(const std::string& shard_set);
std::string shard_schema_config_map_name(const std::string& shard_set, int32_t database);
// The key of shard i's SQL in its schema ConfigMap and the file in /schema.
std::string shard_schema_key(int32_t database);
std::string table_base_name(const std::string& shard_set);

// "orders_3" and "orders_3_5" or "orders_3_5_202611" (`suffix` "" for none).
std::string database_name(const ShardSet& set, int32_t database);
std::string table_name(const ShardSet& set, int32_t database, int32_t table,
                       const std::string& suffix);
// The period `day` (UTC) falls in: "yyyyMM" (monthly), "yyyyMMdd" (daily),
// "" (none).
std::string period_suffix(const std::string& time_split, std::chrono::sys_days day);
// The first day of the period after `day`'s; nullopt for timeSplit none.
std::optional<std::chrono::sys_days> next_period_start(const std::string& time_split,
                                                       std::chrono::sys_days day);

struct Route {
  int32_t slot = 0;
  int32_t database = 0;
  int32_t table = 0;
  std::string database_name;  // "orders_3"
  std::string table_name;     // "orders_3_5_202611"
  std::string rw_service;     // "orders-db-3-rw"
  std::string ro_service;
};

// `time` is required when spec.timeSplit is not "none" (kInvalid otherwise);
// a range ShardSet refuses keys that are not decimal unsigned integers.
Result<Route> route(std::string_view key, std::optional<std::chrono::sys_days> time,
                    const ShardSet& set);

// First MySQL server-id of a database shard: its primary's. Replica n has
// base + 1 + n; ids stay unique across the ShardSet.
int32_t server_id_base(int32_t database);

// What differs between spec.engine values beyond the server configuration.
struct EngineProfile {
  const char* client;             // runs SQL: "mysql" | "mariadb"
  const char* admin;              // ping: "mysqladmin" | "mariadb-admin"
  const char* root_password_env;  // the entrypoint's: MYSQL_ROOT_PASSWORD | MARIADB_ROOT_PASSWORD
};
const EngineProfile& engine_profile(const std::string& engine);

// The Secret every shard's pods read their passwords from (root: the
// entrypoint's root password and the schema Job's login; replication: user
// repl). The reconciler creates it when absent and never updates it, so a user
// may create their own beforehand. Owned by the ShardSet (collected with it)
// only with deletionPolicy Delete: with Retain it stays with the volumes whose
// data it unlocks.
json render_credentials_secret(const ShardSet& set, const std::string& root_password,
                               const std::string& replication_password);
json render_shard_headless_service(const ShardSet& set);
json render_shard_config_map(const ShardSet& set, int32_t database);
// `role`: kRolePrimary (one pod) or kRoleReplica (replicasPerShard pods).
json render_shard_statefulset(const ShardSet& set, int32_t database, const std::string& role);
json render_shard_rw_service(const ShardSet& set, int32_t database);
json render_shard_ro_service(const ShardSet& set, int32_t database);
json render_shard_pdb(const ShardSet& set, int32_t database);
// routing.json: the rules above, every database's Services and test vectors.
json routing_document(const ShardSet& set);
json render_routing_config_map(const ShardSet& set);

// Shard `database`'s schema SQL for the periods of `today` and the next.
std::string shard_schema_sql(const ShardSet& set, int32_t database, std::chrono::sys_days today);
json render_shard_schema_config_map(const ShardSet& set, int32_t database,
                                    std::chrono::sys_days today);
std::string schema_job_name(const ShardSet& set, std::chrono::sys_days today);
json render_schema_job(const ShardSet& set, std::chrono::sys_days today);

// Every desired child but the schema Job (the reconciler adds it until status
// records it complete), in apply order (configuration first). `today`: UTC.
std::vector<json> render_shard_children(const ShardSet& set, std::chrono::sys_days today);

}  // namespace orderguard::op
