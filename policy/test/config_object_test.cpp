#include "policy/config_object.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "base/base64.h"
#include "policy/decision.h"
#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

// A PolicySet of one MinerPolicy (CompiledPolicy is move-only: no initializer list).
PolicySet one_policy(const nlohmann::json& policy) {
  std::vector<CompiledPolicy> compiled;
  compiled.push_back(testing::must_compile(policy));
  return combine(std::move(compiled));
}

using nlohmann::json;

constexpr std::string_view kWallet =
    "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGU"
    "icoD";

json config_map(json data, std::string field = "data") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "cfg"}, {"namespace", "shop"}}},
          {field, std::move(data)}};
}

// A Secret as the API server sends it: every value base64 in data.
json secret(const std::map<std::string, std::string>& values) {
  json data = json::object();
  for (const auto& [k, v] : values) data[k] = base64_encode(v);
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", "creds"}, {"namespace", "shop"}}},
          {"type", "Opaque"},
          {"data", data}};
}

std::vector<Finding> findings_of(const json& object,
                                 const CompiledPolicy& policy = built_in_default()) {
  const JsonDoc doc = JsonDoc::from_json(object);
  return run_config_rules(collect_config_context(doc.root(), object.value("kind", "")), policy);
}

Decision decide(const json& object, const PolicySet& policies = combine({}),
                std::string operation = "CREATE") {
  return evaluate(policies, testing::admission_for(object, std::move(operation)));
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string xmrig_config(std::string_view url) {
  return R"({
    "autosave": true,
    "cpu": {"enabled": true, "huge-pages": true, "priority": null, "max-threads-hint": 100},
    "donate-level": 1,
    "pools": [
      {"algo": null, "coin": "monero", "url": ")" +
         std::string(url) + R"(", "user": ")" + std::string(kWallet) +
         R"(", "pass": "x", "rig-id": null, "keepalive": true, "tls": true}
    ]
  })";
}

struct Case {
  std::string name;
  std::string key;
  std::string value;
};

// Real-looking miner configurations: each is refused under Enforce, as a ConfigMap and as
// a Secret.
std::vector<Case> miner_cases() {
  return {
      {"xmrig_stratum", "config.json", xmrig_config("stratum+tcp://xmr.example.net:3333")},
      // No stratum scheme: a pool host, a wallet, donate-level and the pools list.
      {"xmrig_pool_host", "config.json", xmrig_config("pool.supportxmr.com:443")},
      // A private pool: donate-level with the pools list and the wallet.
      {"xmrig_private_pool", "config.json", xmrig_config("10.0.0.7:3333")},
      {"xmrig_proxy", "config.json",
       R"({
        "access-log-file": null, "bind": ["0.0.0.0:3333"], "donate-level": 2,
        "mode": "nicehash",
        "pools": [{"url": "gulf.moneroocean.stream:10128", "user": ")" +
           std::string(kWallet) + R"(", "pass": "proxy"}]
      })"},
      {"cpuminer_cmdline", "miner.conf",
       "-a cryptonight -o stratum+tcp://xmr.pool.minergate.com:45560 -u me@example.com -p x -t "
       "2\n"},
      {"ccminer_cmdline", "run.sh",
       "#!/bin/sh\n./ccminer -a x16r -o rvn.example.org:6060 -u RVNwallet.worker -p c=RVN\n"},
      {"trex_json", "config.json", R"({
        "algo": "kawpow", "devices": "0",
        "pools": [{"user": "RHx.worker", "url": "stratum+tcp://rvn.2miners.com:6060", "pass": "x"}]
      })"},
      {"lolminer_json", "lolminer.json", R"({
        "DEFAULTS": {"DEVICES": "AUTO", "APIPORT": 0},
        "miner": {"COIN": "ETC", "POOLS": [{"POOL": "etc.2miners.com", "PORT": "1010",
                  "USER": "0x6f1c.worker"}]}
      })"},
      {"xmrig_yaml", "miner.yaml",
       "pools:\n  - url: pool.hashvault.pro:443\n    user: " + std::string(kWallet) +
           "\ndonate-level: 1\n"},
      {"xmrig_ini", "miner.ini",
       "[options]\ndonate_level = 1\nrig_id = r1\n[pool]\nuser = " + std::string(kWallet) + "\n"},
      // \u escapes do not hide the scheme.
      {"escaped_stratum", "config.json",
       R"({"pools": [{"url": "stratum\u002btcp://xmr.example.net:3333", "user": "w"}]})"},
  };
}

// Benign configurations: no finding at all.
std::vector<Case> benign_cases() {
  return {
      {"redis_conf", "redis.conf",
       "bind 0.0.0.0\nport 3333\nprotected-mode yes\nmaxmemory 64mb\n"
       "maxmemory-policy allkeys-lru\ncluster-enabled yes\ncluster-node-timeout 5000\n"},
      {"hikari", "application.properties",
       "spring.datasource.url=jdbc:mysql://orders-db-0-rw:3306/orders\n"
       "spring.datasource.username=app\nspring.datasource.hikari.maximumPoolSize=20\n"
       "spring.datasource.hikari.minimumIdle=5\npool.size=20\ndb.pool.max=50\n"},
      {"hikari_yaml", "application.yaml",
       "spring:\n  datasource:\n    url: jdbc:postgresql://pg:5432/app\n    hikari:\n"
       "      maxPoolSize: 10\n      pool-name: orders\n"},
      {"app_urls", "app.json",
       R"({"api": "https://api.example.com/v1", "auth": "https://login.example.com",
           "cdn": "https://cdn.example.com:443/static", "retries": 3})"},
      {"nginx_conf", "nginx.conf",
       "server {\n  listen 8080;\n  location / { proxy_pass http://backend:8080; }\n}\n"},
      {"pgbouncer", "pgbouncer.ini",
       "[databases]\norders = host=pg port=5432\n[pgbouncer]\npool_mode = transaction\n"
       "default_pool_size = 20\n"},
  };
}

TEST(ConfigObjectTest, MinerConfigMapsAreRefusedWithKeyAndRule) {
  for (const Case& c : miner_cases()) {
    SCOPED_TRACE(c.name);
    Decision d = decide(config_map({{c.key, c.value}}));
    EXPECT_FALSE(d.allowed) << d.message;
    EXPECT_TRUE(contains(d.message, "data[\"" + c.key + "\"]")) << d.message;
    EXPECT_TRUE(contains(d.message, "rule ")) << d.message;
    EXPECT_EQ(d.audit_annotations["miner-decision"], "denied");
  }
}

TEST(ConfigObjectTest, MinerSecretsAreRefusedWithoutShowingTheValue) {
  for (const Case& c : miner_cases()) {
    SCOPED_TRACE(c.name);
    Decision d = decide(secret({{c.key, c.value}}));
    EXPECT_FALSE(d.allowed) << d.message;
    EXPECT_TRUE(contains(d.message, "data[\"" + c.key + "\"]")) << d.message;
    EXPECT_TRUE(contains(d.message, "(Secret value not shown)")) << d.message;
    // Nothing of the value: no wallet, no host, no URL, in any output.
    for (std::string_view secret_part :
         {kWallet.substr(0, 12), std::string_view("example"), std::string_view("2miners"),
          std::string_view("supportxmr"), std::string_view("moneroocean"),
          std::string_view("stratum+tcp"), std::string_view("10.0.0.7")}) {
      EXPECT_FALSE(contains(d.message, secret_part)) << d.message;
      for (const auto& [k, v] : d.audit_annotations) EXPECT_FALSE(contains(v, secret_part)) << v;
      for (const Finding& f : d.findings) {
        EXPECT_TRUE(f.evidence.empty()) << f.evidence;
        EXPECT_FALSE(contains(f.message, secret_part)) << f.message;
      }
    }
  }
}

TEST(ConfigObjectTest, BenignConfigsGetNoFinding) {
  for (const Case& c : benign_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(findings_of(config_map({{c.key, c.value}})).empty());
    EXPECT_TRUE(findings_of(secret({{c.key, c.value}})).empty());
    Decision d = decide(config_map({{c.key, c.value}}));
    EXPECT_TRUE(d.allowed);
    EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
  }
}

TEST(ConfigObjectTest, RandomBase64BlobIsAdmitted) {
  std::mt19937 rng(7);
  std::string bytes(256 * 1024, '\0');
  for (char& b : bytes) b = static_cast<char>(rng() & 0xff);
  // As binaryData, as a Secret value and as base64 text in data.
  Decision a = decide(config_map({{"blob.bin", base64_encode(bytes)}}, "binaryData"));
  Decision b = decide(secret({{"blob.bin", bytes}}));
  EXPECT_TRUE(a.allowed) << a.message;
  EXPECT_TRUE(b.allowed) << b.message;
  EXPECT_TRUE(b.warnings.empty());
}

TEST(ConfigObjectTest, OneWeakSignalOnlyWarns) {
  // A DNS block list names pool hosts; a note names a wallet: admitted with a warning.
  Decision d = decide(config_map({{"blocklist.txt", "pool.supportxmr.com\nxmr.nanopool.org\n"}}));
  EXPECT_TRUE(d.allowed) << d.message;
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_TRUE(contains(d.warnings[0], "[warn] pool-host")) << d.warnings[0];
  Decision w = decide(config_map({{"tip.txt", "tips: " + std::string(kWallet)}}));
  EXPECT_TRUE(w.allowed) << w.message;
  EXPECT_EQ(w.audit_annotations["miner-decision"], "warned");
}

TEST(ConfigObjectTest, SignalsSpreadOverKeysCombine) {
  // The pool host in one key and the wallet in another are one configuration.
  Decision d = decide(
      config_map({{"pool.txt", "pool.supportxmr.com:443"}, {"wallet.txt", std::string(kWallet)}}));
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule pool-host: data[\"pool.txt\"]")) << d.message;
  EXPECT_TRUE(contains(d.message, "rule wallet-address: data[\"wallet.txt\"]")) << d.message;
  EXPECT_TRUE(contains(d.message, "(with ")) << d.message;
}

TEST(ConfigObjectTest, StringDataAndBinaryDataAreRead) {
  EXPECT_FALSE(
      decide(config_map({{"c", xmrig_config("stratum+ssl://p.example:443")}}, "binaryData"))
          .allowed);
  json s = secret({});
  s["stringData"] = {{"c", xmrig_config("stratum+tcp://p.example:3333")}};
  Decision d = decide(s);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "stringData[\"c\"]")) << d.message;
}

TEST(ConfigObjectTest, AuditModeAllowsWithWarnings) {
  PolicySet audit = one_policy({{"metadata", {{"name", "watch"}}}, {"spec", {{"mode", "Audit"}}}});
  Decision d =
      decide(config_map({{"config.json", xmrig_config("stratum+tcp://x.example:1")}}), audit);
  EXPECT_TRUE(d.allowed);
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_TRUE(contains(d.warnings[0], "[audit] ")) << d.warnings[0];
  EXPECT_EQ(d.audit_annotations["miner-decision"], "audit");
}

TEST(ConfigObjectTest, ExemptNamespaceAndUnchangedUpdateAreAllowed) {
  PolicySet exempt = one_policy(
      {{"metadata", {{"name", "p"}}}, {"spec", {{"exemptions", {{"namespaces", {"shop"}}}}}}});
  json miner = config_map({{"config.json", xmrig_config("stratum+tcp://x.example:1")}});
  Decision d = decide(miner, exempt);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.audit_annotations["miner-decision"], "exempt");

  // A label change of an existing ConfigMap: its data did not change.
  testing::Input in = testing::admission_for(miner, "UPDATE");
  in.old_object = miner;
  in.object["metadata"]["labels"] = {{"a", "b"}};
  Decision u = evaluate(combine({}), in);
  EXPECT_TRUE(u.allowed);
  EXPECT_EQ(u.reason, "data unchanged");
  // A changed value is checked.
  in.old_object["data"]["config.json"] = "{}";
  EXPECT_FALSE(evaluate(combine({}), in).allowed);
  // DELETE is not checked.
  EXPECT_TRUE(decide(miner, combine({}), "DELETE").allowed);
}

TEST(ConfigObjectTest, CustomSignaturesAndBuiltinsOff) {
  PolicySet custom = one_policy(
      {{"metadata", {{"name", "corp"}}},
       {"spec",
        {{"builtinIndicators", false},
         {"signatures", {{{"name", "corp-pool"}, {"literal", "pool.corp-evil.example"}}}}}}});
  Decision d = decide(config_map({{"x", "url = pool.corp-evil.example:1"}}), custom);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule custom-signature: data[\"x\"]")) << d.message;
  // Built-ins off: a stratum URL is not a finding of this policy.
  EXPECT_TRUE(decide(config_map({{"x", "stratum+tcp://a.example:1"}}), custom).allowed);
}

TEST(ConfigObjectTest, HostileInputNeverCrashes) {
  std::string deep(100000, '[');
  std::string bad_utf8 = "\xff\xfe\xc0\x80stratum+tcp://\xed\xa0\x80";
  std::string huge(1 << 20, 'a');
  for (size_t i = 0; i < huge.size(); i += 97) huge[i] = ' ';
  json objects[] = {
      config_map({{"deep", deep}}),
      config_map({{"deep2", "{\"\\u0061\":" + deep}}),
      config_map({{"deep3", std::string(60, '[') + "\"\\u0061\"" + std::string(60, ']')}}),
      config_map({{"huge", huge}}),
      config_map(json::array({1, 2}), "data"),
      config_map({{"num", 1}, {"null", nullptr}, {"obj", json::object()}}),
      config_map({{"x", "not base64 !!!"}}, "binaryData"),
      {{"kind", "Secret"}, {"data", {{"k", "%%%==="}}}},
  };
  for (const json& o : objects) (void)findings_of(o);
  // Bytes outside UTF-8 only come through binaryData and Secret data (JSON cannot carry
  // them).
  Decision d = decide(secret({{"b", bad_utf8}}));
  EXPECT_FALSE(d.allowed) << d.message;
  // Not an object: refused, not allowed unchecked.
  testing::Input in = testing::admission_for(config_map({}));
  in.object = "a string";
  in.kind = "ConfigMap";
  EXPECT_FALSE(evaluate(combine({}), in).allowed);
}

TEST(ConfigObjectTest, MebibyteValuesAreScannedWhole) {
  // The stratum URL at the very end of a 1 MiB value is found.
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 80) big[i] = '\n';
  big += "\nurl = stratum+tcp://xmr.example.net:3333\n";
  Decision d = decide(config_map({{"big.conf", big}}));
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(contains(d.message, "rule stratum-url: data[\"big.conf\"]")) << d.message;
}

}  // namespace
}  // namespace orderguard::policy
