// ConfigMaps and Secrets that carry a miner's configuration: xmrig's config.json (pools with
// stratum URLs or pool hosts, a wallet as the user, donate-level), XMRig-proxy, t-rex and
// lolMiner JSON, cpuminer/ccminer command files, the same in YAML or INI. A pod that mounts
// such a ConfigMap runs a miner whose command line is a bare `xmrig -c /cfg/config.json`:
// the pod rules (rules.h) see nothing there, so the configuration is checked where it is
// written.
//
// What is read, per value (field path `data["config.json"]`, `binaryData["x"]`,
// `stringData["x"]`):
// - ConfigMap data and stringData as text; binaryData and Secret data base64-decoded (a value
//   that is not base64 is read as it is written). Values are scanned whole, as one text.
// - A value that is JSON with \u escapes is also read with its strings decoded, so
//   "stratum\u002btcp://" is still a stratum URL.
//
// Scoring: a configuration file names a pool, a wallet or an option without being a miner
// (a Falco rules file lists pool domains; a DNS block list names them; a README mentions
// xmrig), so most signals are weak on their own and an object is refused (severity strong)
// when the distinct signals it carries reach kStrongWeight together:
//
//   signal        rule id           weight  what
//   stratum       stratum-url       100     stratum+tcp://... (strong alone, as in a pod)
//   signature     custom-signature  sig.    spec.signatures (Strong: 100, Weak: 30)
//   wallet        wallet-address    60      a Monero address
//   pool-host     pool-host         50      a host under a pool domain
//   pool-list     miner-flag        50      a `pools` list (JSON, YAML), `-o host:port -u x`
//   miner-option  miner-flag        50      donate-level, rig-id, cpu-priority, ... as an
//                                           option or a key (JSON, YAML, INI)
//   algorithm     miner-flag        50      -a rx/0, --coin monero
//   base64        miner-base64      50      base64 forms of miner indicators
//   dropper       dropper           50      curl ... | sh (installer scripts are common)
//   miner-binary  miner-binary      30      xmrig, kinsing, ... named in the text
//   miner-port    miner-port        30      an endpoint host:port on a miner port
//
// So: a stratum URL refuses; a pool host with a wallet refuses (110); donate-level with a
// pools list refuses (100); a pool host alone, a wallet alone, a port alone only warn. Each
// signal counts once per object, whichever keys carry it (a configuration split over keys
// is still one configuration). When the sum refuses, every finding is strong and its message
// names the signals it was combined with.
//
// Benign configurations get no finding: redis.conf `port 3333` (a listening port is not an
// endpoint), database pool settings (`maxPoolSize`, `pool.size`: only a key named exactly
// `pools` holding a list is a pool list), https URLs of applications, random base64.
//
// Secrets: findings never quote the value. Their message is the rule's summary and the key
// (`rule stratum-url: data["config.json"]: stratum mining URL (Secret value not shown)`)
// and their evidence is empty, so denials, warnings, audit annotations, Events and logs
// carry no secret.
//
// Contract: never throws on any object (any bytes in any value, invalid base64, deep JSON);
// linear in the size of the values (RE2 and single passes only; the quadratic cases of the
// indicators are bounded as for pods). Built-in signals need builtinIndicators; pool-host,
// miner-port and signatures follow the policy's sets as in rules.h. Quarantine does not
// apply (it names workloads and images). Findings are de-duplicated by (rule, field path)
// and capped at kMaxFindings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/json_doc.h"
#include "policy/finding.h"
#include "policy/indicators.h"
#include "policy/miner_policy.h"

namespace orderguard::policy {

inline constexpr int kConfigWalletWeight = 60;
inline constexpr int kConfigSignalWeight = 50;
inline constexpr int kConfigHintWeight = 30;

// "ConfigMap" and "Secret" (core v1).
bool is_config_kind(std::string_view kind);

// One value of the object, decoded, ready to scan.
struct ConfigValue {
  std::string field_path;     // data["config.json"]
  TokenLine line;             // the value as one token
  bool decoded_json = false;  // the strings of a JSON value with escapes, decoded
};

struct ConfigContext {
  std::string kind;
  std::string namespace_name;
  std::string name;
  bool secret = false;
  std::vector<ConfigValue> values;
};

// Reads data, binaryData and stringData of a ConfigMap or Secret. Malformed parts (a value
// that is not a string) are skipped: the API server validated the schema.
ConfigContext collect_config_context(JsonRef object, std::string_view kind);

// The findings of `policy` over the object (see the scoring above), each tagged with the
// policy's name.
std::vector<Finding> run_config_rules(const ConfigContext& config, const CompiledPolicy& policy);

// Whether an UPDATE leaves data, binaryData and stringData as they were (labels,
// annotations, finalizers changed only): then nothing new can be mounted.
bool config_data_unchanged(JsonRef before, JsonRef after);

}  // namespace orderguard::policy
