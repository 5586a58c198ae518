#include "operator/render_shards.h"

#include <charconv>
#include <cstdio>
#include <utility>

#include "base/text.h"

namespace orderguard::op {
namespace {

json set_selector(const ShardSet& set) { return {{kShardSetLabel, set.meta.name}}; }

json shard_selector(const ShardSet& set, int32_t db) {
  return {{kShardSetLabel, set.meta.name}, {kShardLabel, std::to_string(db)}};
}

json set_labels(const ShardSet& set) {
  return {{"app.kubernetes.io/name", "shardset"},
          {"app.kubernetes.io/instance", set.meta.name},
          {"app.kubernetes.io/component", "mysql"},
          {"app.kubernetes.io/managed-by", kManagedBy},
          {kShardSetLabel, set.meta.name}};
}

json shard_labels(const ShardSet& set, int32_t db) {
  json labels = set_labels(set);
  labels[kShardLabel] = std::to_string(db);
  return labels;
}

json role_selector(const ShardSet& set, int32_t db, const std::string& role) {
  json selector = shard_selector(set, db);
  selector[kRoleLabel] = role;
  return selector;
}

json role_labels(const ShardSet& set, int32_t db, const std::string& role) {
  json labels = shard_labels(set, db);
  labels[kRoleLabel] = role;
  return labels;
}

json shard_metadata(const ShardSet& set, const std::string& name, json labels) {
  return {{"name", name},
          {"namespace", set.meta.ns},
          {"labels", std::move(labels)},
          {"ownerReferences", json::array({owner_reference(set.meta, "ShardSet")})}};
}

// `text` with every marker replaced by its value.
std::string fill(std::string text, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [marker, value] : values) {
    for (size_t at = text.find(marker); at != std::string::npos;
         at = text.find(marker, at + value.size())) {
      text.replace(at, marker.size(), value);
    }
  }
  return text;
}

std::string service_address(const ShardSet& set, const std::string& service) {
  return service + "." + set.meta.ns + ".svc:" + std::to_string(kMySqlPort);
}

}  // namespace

std::string shard_statefulset_name(const std::string& s, int32_t db) {
  return s + "-" + std::to_string(db);
}
std::string shard_replica_statefulset_name(const std::string& s, int32_t db) {
  return shard_statefulset_name(s, db) + "-replica";
}
std::string shard_rw_service_name(const std::string& s, int32_t db) {
  return shard_statefulset_name(s, db) + "-rw";
}
std::string shard_ro_service_name(const std::string& s, int32_t db) {
  return shard_statefulset_name(s, db) + "-ro";
}
std::string shard_config_map_name(const std::string& s, int32_t db) {
  return shard_statefulset_name(s, db) + "-mysql";
}
std::string shard_headless_service_name(const std::string& s) { return s + "-headless"; }
std::string credentials_secret_name(const std::string& s) { return s + "-mysql"; }
std::string shard_schema_config_map_name(const std::string& s, int32_t db) {
  return shard_statefulset_name(s, db) + "-schema";
}
std::string shard_schema_key(int32_t db) { return "shard-" + std::to_string(db) + ".sql"; }
std::string table_base_name(const std::string& s) {
  std::string base = s.substr(0, s.find('-'));
  return base.empty() ? s : base;
}

std::string database_name(const ShardSet& set, int32_t db) {
  return table_base_name(set.meta.name) + "_" + std::to_string(db);
}

std::string table_name(const ShardSet& set, int32_t db, int32_t table, const std::string& suffix) {
  std::string name = database_name(set, db) + "_" + std::to_string(table);
  if (!suffix.empty()) name += "_" + suffix;
  return name;
}

std::string period_suffix(const std::string& time_split, std::chrono::sys_days day) {
  if (time_split == "none") return "";
  const std::chrono::year_month_day ymd(day);
  char buf[16];
  if (time_split == "daily") {
    std::snprintf(buf, sizeof(buf), "%04d%02u%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  } else {
    std::snprintf(buf, sizeof(buf), "%04d%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()));
  }
  return buf;
}

std::optional<std::chrono::sys_days> next_period_start(const std::string& time_split,
                                                       std::chrono::sys_days day) {
  using namespace std::chrono;
  if (time_split == "daily") return day + days(1);
  if (time_split == "monthly") {
    const year_month_day ymd(day);
    return sys_days((ymd.year() / ymd.month() + months(1)) / 1);
  }
  return std::nullopt;
}

int32_t server_id_base(int32_t database) { return 100 * (database + 1); }

Result<Route> route(std::string_view key, std::optional<std::chrono::sys_days> time,
                    const ShardSet& set) {
  const auto& s = set.spec;
  const uint64_t tables = static_cast<uint64_t>(s.databases) * s.tables_per_database;
  if (s.time_split != "none" && !time) {
    return make_error(ErrorCode::kInvalid, "timeSplit " + s.time_split + " needs a time");
  }
  uint64_t slot = 0;
  if (s.strategy == "range") {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), n);
    if (ec != std::errc() || end != key.data() + key.size() || key.empty()) {
      return make_error(
          ErrorCode::kInvalid,
          "range strategy needs a decimal unsigned integer key, got \"" + std::string(key) + "\"");
    }
    slot = std::min(n / kRangeKeysPerTable, tables - 1);
  } else {
    slot = fnv1a64(key) % tables;
  }
  Route r;
  r.slot = static_cast<int32_t>(slot);
  r.database = static_cast<int32_t>(slot / s.tables_per_database);
  r.table = static_cast<int32_t>(slot % s.tables_per_database);
  r.database_name = database_name(set, r.database);
  r.table_name = table_name(set, r.database, r.table,
                            s.time_split == "none" ? "" : period_suffix(s.time_split, *time));
  r.rw_service = shard_rw_service_name(set.meta.name, r.database);
  r.ro_service = shard_ro_service_name(set.meta.name, r.database);
  return r;
}

json render_credentials_secret(const ShardSet& set, const std::string& root_password,
                               const std::string& replication_password) {
  json meta = {{"name", credentials_secret_name(set.meta.name)},
               {"namespace", set.meta.ns},
               {"labels", set_labels(set)}};
  if (set.spec.deletion_policy == "Delete") {
    meta["ownerReferences"] = json::array({owner_reference(set.meta, "ShardSet")});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", meta},
          {"type", "Opaque"},
          {"stringData",
           {{kRootPasswordKey, root_password}, {kReplicationPasswordKey, replication_password}}}};
}

json render_shard_headless_service(const ShardSet& set) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       shard_metadata(set, shard_headless_service_name(set.meta.name), set_labels(set))},
      {"spec",
       {{"clusterIP", "None"},
        {"publishNotReadyAddresses", true},
        {"selector", set_selector(set)},
        {"ports", json::array({{{"name", "mysql"}, {"port", kMySqlPort}, {"protocol", "TCP"}}})}}}};
}

const EngineProfile& engine_profile(const std::string& engine) {
  static const EngineProfile kMySql{"mysql", "mysqladmin", "MYSQL_ROOT_PASSWORD"};
  static const EngineProfile kMariaDb{"mariadb", "mariadb-admin", "MARIADB_ROOT_PASSWORD"};
  return engine == kEngineMariaDb ? kMariaDb : kMySql;
}

json render_shard_config_map(const ShardSet& set, int32_t db) {
  const bool mariadb = set.spec.engine == kEngineMariaDb;
  // Both engines: row-based binlog with GTIDs, so replicas (and a promoted
  // replica's new replicas) follow by GTID position, no binlog file
  // coordinates; and an order the primary acknowledged survives a kill -9 of
  // its Pod (binlog and redo log flushed at every commit). mariadbd refuses
  // options it does not know, so each engine gets only its own.
  const std::string durable = "sync_binlog=1\ninnodb_flush_log_at_trx_commit=1\n";
  const std::string common =
      mariadb ? "[mysqld]\nlog_bin=mysql-bin\nbinlog_format=ROW\nlog_slave_updates=ON\n"
                "gtid_strict_mode=ON\nskip_name_resolve=ON\n" +
                    durable
              : "[mysqld]\nlog_bin=mysql-bin\nbinlog_format=ROW\ngtid_mode=ON\n"
                "enforce_gtid_consistency=ON\nlog_replica_updates=ON\nskip_name_resolve=ON\n" +
                    durable;
  // read_only, not super_read_only, in the file: the entrypoint's first start
  // sets up root through the same configuration, and super_read_only would
  // refuse even root. The replica's init script turns it on afterwards.
  const std::string replica =
      mariadb ? "[mysqld]\nread_only=ON\nrelay_log=relay-bin\n"
              : "[mysqld]\nread_only=ON\nrelay_log=relay-bin\nreplica_preserve_commit_order=ON\n";
  const std::string primary = "[mysqld]\nread_only=OFF\n";
  // Run by the init container: ROLE (the StatefulSet's) picks the files, the
  // ordinal of a replica its server-id.
  const std::string init =
      "set -e\n"
      "case \"$ROLE\" in\n"
      "  primary) server_id=$SERVER_ID_BASE ;;\n"
      "  replica) server_id=$((SERVER_ID_BASE + 1 + ${HOSTNAME##*-})) ;;\n"
      "  *) echo \"ROLE must be primary or replica, not '$ROLE'\" >&2; exit 1 ;;\n"
      "esac\n"
      "printf '[mysqld]\\nserver-id=%d\\n' \"$server_id\" > /etc/mysql/conf.d/server-id.cnf\n"
      "cp /config/common.cnf \"/config/$ROLE.cnf\" /etc/mysql/conf.d/\n"
      "cp \"/config/$ROLE-init.sh\" /docker-entrypoint-initdb.d/\n";
  // Sourced by the entrypoint on the first start, whose "${mysql[@]}" runs SQL
  // as root over the local socket.
  const std::string primary_init =
      "\"${mysql[@]}\" -e \"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY "
      "'${REPLICATION_PASSWORD}'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';\"\n";
  const std::string source = shard_rw_service_name(set.meta.name, db);
  const std::string port = std::to_string(kMySqlPort);
  // Replicas start with their primary (separate StatefulSets): retry every 5 s
  // instead of the servers' default 60 s while the primary comes up.
  const std::string replica_init =
      mariadb ? "\"${mysql[@]}\" -e \"CHANGE MASTER TO MASTER_HOST='" + source +
                    "', MASTER_PORT=" + port +
                    ", MASTER_USER='repl', MASTER_PASSWORD='${REPLICATION_PASSWORD}', "
                    "MASTER_CONNECT_RETRY=5, MASTER_USE_GTID=slave_pos; START SLAVE;\"\n"
              : "\"${mysql[@]}\" -e \"CHANGE REPLICATION SOURCE TO SOURCE_HOST='" + source +
                    "', SOURCE_PORT=" + port +
                    ", SOURCE_USER='repl', SOURCE_PASSWORD='${REPLICATION_PASSWORD}', "
                    "SOURCE_CONNECT_RETRY=5, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1; "
                    "START REPLICA;\"\n"
                    "\"${mysql[@]}\" -e \"SET PERSIST super_read_only=ON;\"\n";
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           shard_metadata(set, shard_config_map_name(set.meta.name, db), shard_labels(set, db))},
          {"data",
           {{"server-id-base", std::to_string(server_id_base(db))},
            {"common.cnf", common},
            {"primary.cnf", primary},
            {"replica.cnf", replica},
            {"init-config.sh", init},
            {"primary-init.sh", primary_init},
            {"replica-init.sh", replica_init}}}};
}

json render_shard_statefulset(const ShardSet& set, int32_t db, const std::string& role) {
  const auto& s = set.spec;
  const bool primary = role == kRolePrimary;
  const std::string name = primary ? shard_statefulset_name(set.meta.name, db)
                                   : shard_replica_statefulset_name(set.meta.name, db);
  const EngineProfile& engine = engine_profile(s.engine);
  auto secret_env = [&](const char* env, const char* key) {
    return json{
        {"name", env},
        {"valueFrom",
         {{"secretKeyRef", {{"name", credentials_secret_name(set.meta.name)}, {"key", key}}}}}};
  };
  json init = {
      {"name", "config"},
      {"image", s.image},
      {"command", json::array({"sh", "/config/init-config.sh"})},
      {"env",
       json::array({{{"name", "ROLE"}, {"value", role}},
                    {{"name", "SERVER_ID_BASE"}, {"value", std::to_string(server_id_base(db))}}})},
      {"volumeMounts",
       json::array({{{"name", "config"}, {"mountPath", "/config"}},
                    {{"name", "conf"}, {"mountPath", "/etc/mysql/conf.d"}},
                    {{"name", "initdb"}, {"mountPath", "/docker-entrypoint-initdb.d"}}})}};
  json mysql = {
      {"name", "mysql"},
      {"image", s.image},
      {"env", json::array({secret_env(engine.root_password_env, kRootPasswordKey),
                           secret_env("REPLICATION_PASSWORD", kReplicationPasswordKey)})},
      {"ports", json::array({{{"name", "mysql"}, {"containerPort", kMySqlPort}}})},
      // ping answers 0 once the server accepts connections, even when it
      // refuses the (absent) credentials: no password in the probe.
      {"readinessProbe",
       {{"exec", {{"command", json::array({engine.admin, "ping", "-h", "127.0.0.1"})}}},
        {"periodSeconds", 5}}},
      {"volumeMounts",
       json::array({{{"name", "data"}, {"mountPath", "/var/lib/mysql"}},
                    {{"name", "conf"}, {"mountPath", "/etc/mysql/conf.d"}},
                    {{"name", "initdb"}, {"mountPath", "/docker-entrypoint-initdb.d"}}})}};
  json pod_spec = {
      {"initContainers", json::array({init})},
      {"containers", json::array({mysql})},
      {"volumes",
       json::array({{{"name", "config"},
                     {"configMap", {{"name", shard_config_map_name(set.meta.name, db)}}}},
                    {{"name", "conf"}, {"emptyDir", json::object()}},
                    {{"name", "initdb"}, {"emptyDir", json::object()}}})}};
  // The primary and its replicas (both StatefulSets: the shard's labels) on
  // different nodes, and (when zones are listed) different zones, so one
  // failure leaves a copy to promote.
  json spread = json::array();
  if (!s.zones.empty()) {
    spread.push_back({{"maxSkew", 1},
                      {"topologyKey", kZoneLabel},
                      {"whenUnsatisfiable", "DoNotSchedule"},
                      {"labelSelector", {{"matchLabels", shard_selector(set, db)}}}});
    pod_spec["affinity"]["nodeAffinity"] = {
        {"requiredDuringSchedulingIgnoredDuringExecution",
         {{"nodeSelectorTerms",
           json::array({{{"matchExpressions", json::array({{{"key", kZoneLabel},
                                                            {"operator", "In"},
                                                            {"values", s.zones}}})}}})}}}};
  }
  spread.push_back({{"maxSkew", 1},
                    {"topologyKey", "kubernetes.io/hostname"},
                    {"whenUnsatisfiable", "ScheduleAnyway"},
                    {"labelSelector", {{"matchLabels", shard_selector(set, db)}}}});
  pod_spec["topologySpreadConstraints"] = spread;
  json pvc_spec = {{"accessModes", json::array({"ReadWriteOnce"})},
                   {"resources", {{"requests", {{"storage", s.storage_size}}}}}};
  if (!s.storage_class_name.empty()) pvc_spec["storageClassName"] = s.storage_class_name;
  const json labels = role_labels(set, db, role);
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "StatefulSet"},
      {"metadata", shard_metadata(set, name, labels)},
      {"spec",
       {{"replicas", primary ? 1 : s.replicas_per_shard},
        {"serviceName", shard_headless_service_name(set.meta.name)},
        // Replicas need not wait for each other: each retries its
        // connection to the source until the primary answers.
        {"podManagementPolicy", primary ? "OrderedReady" : "Parallel"},
        {"selector", {{"matchLabels", role_selector(set, db, role)}}},
        {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod_spec}}},
        {"volumeClaimTemplates",
         json::array({{{"metadata", {{"name", "data"}, {"labels", labels}}}, {"spec", pvc_spec}}})},
        // deletionPolicy Retain keeps the data when the ShardSet goes.
        {"persistentVolumeClaimRetentionPolicy",
         {{"whenDeleted", s.deletion_policy}, {"whenScaled", "Retain"}}}}}};
}

json render_shard_rw_service(const ShardSet& set, int32_t db) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           shard_metadata(set, shard_rw_service_name(set.meta.name, db), shard_labels(set, db))},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", role_selector(set, db, kRolePrimary)},
            {"ports", json::array({{{"name", "mysql"},
                                    {"port", kMySqlPort},
                                    {"targetPort", "mysql"},
                                    {"protocol", "TCP"}}})}}}};
}

json render_shard_ro_service(const ShardSet& set, int32_t db) {
  // Reads go to the replicas only, so they never load the primary; a shard
  // without replicas reads from its primary.
  const char* role = set.spec.replicas_per_shard > 0 ? kRoleReplica : kRolePrimary;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           shard_metadata(set, shard_ro_service_name(set.meta.name, db), shard_labels(set, db))},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", role_selector(set, db, role)},
            {"ports", json::array({{{"name", "mysql"},
                                    {"port", kMySqlPort},
                                    {"targetPort", "mysql"},
                                    {"protocol", "TCP"}}})}}}};
}

json render_shard_pdb(const ShardSet& set, int32_t db) {
  // The shard's labels select both StatefulSets' pods; the disruption
  // controller adds up the scale of each pod's controller.
  return {{"apiVersion", "policy/v1"},
          {"kind", "PodDisruptionBudget"},
          {"metadata",
           shard_metadata(set, shard_statefulset_name(set.meta.name, db), shard_labels(set, db))},
          {"spec",
           {{"maxUnavailable", 1},
            {"selector", {{"matchLabels", shard_selector(set, db)}}},
            {"unhealthyPodEvictionPolicy", "AlwaysAllow"}}}};
}

json routing_document(const ShardSet& set) {
  const auto& s = set.spec;
  const int64_t tables = static_cast<int64_t>(s.databases) * s.tables_per_database;
  const std::string base = table_base_name(set.meta.name);
  std::string suffix_pattern;
  if (s.time_split == "monthly") suffix_pattern = "_{yyyyMM}";
  if (s.time_split == "daily") suffix_pattern = "_{yyyyMMdd}";
  json doc = {
      {"version", 1},
      {"shardSet", set.meta.name},
      {"shardKey", s.shard_key},
      {"strategy", s.strategy},
      {"databases", s.databases},
      {"tablesPerDatabase", s.tables_per_database},
      {"tables", tables},
      {"database", "slot / tablesPerDatabase (integer division)"},
      {"table", "slot mod tablesPerDatabase"},
      {"databaseNamePattern", base + "_{database}"},
      {"tableNamePattern", base + "_{database}_{table}" + suffix_pattern},
      {"timeSplit", {{"mode", s.time_split}, {"timeZone", "UTC"}, {"suffix", suffix_pattern}}},
  };
  if (s.strategy == "hash") {
    doc["hash"] = {{"function", "FNV-1a 64-bit"},
                   {"offsetBasis", "14695981039346656037"},
                   {"prime", "1099511628211"},
                   {"input", "the UTF-8 bytes of the key as written (decimal for numbers)"},
                   {"slot", "fnv1a64(key) mod tables (unsigned 64-bit arithmetic)"}};
  } else {
    doc["range"] = {{"keysPerTable", kRangeKeysPerTable},
                    {"slot", "min(key / keysPerTable, tables - 1), key an unsigned integer"}};
  }
  json dbs = json::array();
  for (int32_t db = 0; db < s.databases; ++db) {
    dbs.push_back({{"index", db},
                   {"name", base + "_" + std::to_string(db)},
                   {"readWrite", service_address(set, shard_rw_service_name(set.meta.name, db))},
                   {"readOnly", service_address(set, shard_ro_service_name(set.meta.name, db))}});
  }
  doc["shards"] = dbs;
  // Vectors a client implementation checks itself against.
  const std::optional<std::chrono::sys_days> day =
      s.time_split == "none"
          ? std::nullopt
          : std::optional(std::chrono::sys_days(std::chrono::year(2026) / 11 / 29));
  json vectors = json::array();
  for (const char* key : {"0", "1", "12345", "10000000", "987654321", "18446744073709551615"}) {
    auto r = route(key, day, set);
    if (!r.ok()) continue;
    json v = {{"key", key},
              {"slot", r->slot},
              {"database", r->database},
              {"table", r->table},
              {"tableName", r->table_name}};
    if (day) v["time"] = "2026-11-29";
    vectors.push_back(v);
  }
  doc["testVectors"] = vectors;
  return doc;
}

json render_routing_config_map(const ShardSet& set) {
  return {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", shard_metadata(set, routing_config_map_name(set.meta.name), set_labels(set))},
      {"data", {{kRoutingKey, dump_for_wire(routing_document(set), 2)}}}};
}

std::string shard_schema_sql(const ShardSet& set, int32_t db, std::chrono::sys_days today) {
  const auto& s = set.spec;
  std::vector<std::string> suffixes = {period_suffix(s.time_split, today)};
  if (auto next = next_period_start(s.time_split, today)) {
    suffixes.push_back(period_suffix(s.time_split, *next));
  }
  auto quoted = [](const std::string& name) { return "`" + name + "`"; };
  const std::string database = quoted(database_name(set, db));
  std::string sql = "-- ShardSet " + set.meta.ns + "/" + set.meta.name + ", database shard " +
                    std::to_string(db) + "; every statement is idempotent.\n";
  sql += "CREATE DATABASE IF NOT EXISTS " + database + ";\n";
  for (const auto& suffix : suffixes) {
    // The period's first table carries the columns, the others copy it: a
    // period's tables are alike even if the columns change while it is
    // being created, and the file stays small (the columns once per period).
    const std::string first = database + "." + quoted(table_name(set, db, 0, suffix));
    sql += "CREATE TABLE IF NOT EXISTS " + first + " (" + s.table_columns + ");\n";
    for (int32_t t = 1; t < s.tables_per_database; ++t) {
      sql += "CREATE TABLE IF NOT EXISTS " + database + "." +
             quoted(table_name(set, db, t, suffix)) + " LIKE " + first + ";\n";
    }
  }
  return sql;
}

json render_shard_schema_config_map(const ShardSet& set, int32_t db, std::chrono::sys_days today) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", shard_metadata(set, shard_schema_config_map_name(set.meta.name, db),
                                      shard_labels(set, db))},
          {"data", {{shard_schema_key(db), shard_schema_sql(set, db, today)}}}};
}

std::string schema_job_name(const ShardSet& set, std::chrono::sys_days today) {
  const auto& s = set.spec;
  // Everything the SQL depends on besides the day: a new shard or new columns
  // make a new Job within the period (Jobs are never updated).
  char shape[9];
  std::snprintf(shape, sizeof(shape), "%08llx",
                static_cast<unsigned long long>(fnv1a64(std::to_string(s.databases) + "/" +
                                                        std::to_string(s.tables_per_database) +
                                                        "/" + s.table_columns) &
                                                0xffffffffULL));
  const std::string prefix = set.meta.name + "-schema-";
  if (s.time_split == "none") return prefix + "v" + shape;
  return prefix + period_suffix(s.time_split, today) + "-" + shape;
}

json render_schema_job(const ShardSet& set, std::chrono::sys_days today) {
  const auto& s = set.spec;
  const EngineProfile& engine = engine_profile(s.engine);
  // The SQL stays in the ConfigMaps: the script only names Services and files.
  // ping answers as soon as the primary listens (whatever the credentials);
  // a refused login fails the pod, and the Job retries.
  const std::string script = fill(R"(set -e
db=0
while [ "$db" -lt @DATABASES@ ]; do
  host=@SHARDSET@-$db-rw
  until @ADMIN@ ping -h "$host" -uroot --connect-timeout=5 >/dev/null 2>&1; do
    echo "waiting for $host"; sleep 5
  done
  @CLIENT@ -h "$host" -uroot < "/schema/shard-$db.sql"
  echo "schema applied on $host"
  db=$((db + 1))
done
)",
                                  {{"@DATABASES@", std::to_string(s.databases)},
                                   {"@SHARDSET@", set.meta.name},
                                   {"@ADMIN@", engine.admin},
                                   {"@CLIENT@", engine.client}});
  json sources = json::array();
  for (int32_t db = 0; db < s.databases; ++db) {
    sources.push_back({{"configMap", {{"name", shard_schema_config_map_name(set.meta.name, db)}}}});
  }
  json container = {
      {"name", "schema"},
      {"image", s.image},
      {"command", json::array({"sh", "-c", script})},
      // The clients of both engines read the password from MYSQL_PWD.
      {"env", json::array({{{"name", "MYSQL_PWD"},
                            {"valueFrom",
                             {{"secretKeyRef",
                               {{"name", credentials_secret_name(set.meta.name)},
                                {"key", kRootPasswordKey}}}}}}})},
      {"volumeMounts",
       json::array({{{"name", "schema"}, {"mountPath", "/schema"}, {"readOnly", true}}})}};
  // Not the shard labels: the headless Service and the PDBs select those.
  const json pod_labels = {{"app.kubernetes.io/name", "shardset"},
                           {"app.kubernetes.io/instance", set.meta.name},
                           {"app.kubernetes.io/component", "schema"}};
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", shard_metadata(set, schema_job_name(set, today), set_labels(set))},
          {"spec",
           {{"backoffLimit", 10},
            // Finished Jobs of past periods go away a day later.
            {"ttlSecondsAfterFinished", 86400},
            {"template",
             {{"metadata", {{"labels", pod_labels}}},
              {"spec",
               {{"restartPolicy", "OnFailure"},
                {"containers", json::array({container})},
                {"volumes",
                 json::array({{{"name", "schema"}, {"projected", {{"sources", sources}}}}})}}}}}}}};
}

std::vector<json> render_shard_children(const ShardSet& set, std::chrono::sys_days today) {
  std::vector<json> out;
  out.push_back(render_routing_config_map(set));
  out.push_back(render_shard_headless_service(set));
  for (int32_t db = 0; db < set.spec.databases; ++db) {
    out.push_back(render_shard_config_map(set, db));
    out.push_back(render_shard_schema_config_map(set, db, today));
    out.push_back(render_shard_rw_service(set, db));
    out.push_back(render_shard_ro_service(set, db));
    out.push_back(render_shard_statefulset(set, db, kRolePrimary));
    // Scaled to 0 replicas, the replica StatefulSet is no longer desired and
    // converge_children deletes it; its volumes follow deletionPolicy.
    if (set.spec.replicas_per_shard > 0) {
      out.push_back(render_shard_statefulset(set, db, kRoleReplica));
    }
    out.push_back(render_shard_pdb(set, db));
  }
  return out;
}

}  // namespace orderguard::op
