#include "policy/config_object.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "base/log.h"
#include "base/text.h"
#include "policy/rules.h"

namespace orderguard::policy {
namespace {

constexpr size_t kKeyMax = 64;
constexpr size_t kExcerptMax = 60;
constexpr size_t kEvidenceMax = 120;
// A JSON value nested deeper than this is scanned as text only (its strings not decoded).
constexpr size_t kJsonDepthMax = 64;

// What a finding of a config object says, and how much it weighs; see the table in the
// header.
struct Signal {
  std::string_view name;
  std::string_view rule;
  int weight;
  std::string_view summary;  // the message for a Secret, which never quotes the value
};

constexpr Signal kStratum{"stratum", kRuleStratumUrl, kStrongWeight, "stratum mining URL"};
constexpr Signal kWallet{"wallet", kRuleWalletAddress, kConfigWalletWeight,
                         "Monero wallet address"};
constexpr Signal kPoolHost{"pool-host", kRulePoolHost, kConfigSignalWeight, "mining pool host"};
constexpr Signal kPoolList{"pool-list", kRuleMinerFlag, kConfigSignalWeight,
                           "list of mining pools"};
constexpr Signal kMinerOption{"miner-option", kRuleMinerFlag, kConfigSignalWeight, "miner option"};
constexpr Signal kAlgorithm{"algorithm", kRuleMinerFlag, kConfigSignalWeight,
                            "mining algorithm or coin"};
constexpr Signal kBase64{"base64", kRuleMinerBase64, kConfigSignalWeight,
                         "base64-encoded miner indicator"};
constexpr Signal kDropper{"dropper", kRuleDropper, kConfigSignalWeight, "download-and-run dropper"};
constexpr Signal kMinerBinary{"miner-binary", kRuleMinerBinary, kConfigHintWeight,
                              "known miner binary"};
constexpr Signal kMinerPort{"miner-port", kRuleMinerPort, kConfigHintWeight,
                            "endpoint on a miner port"};

std::unique_ptr<RE2> compile_builtin(std::string_view pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) {
    // Constants: failing to compile one is a bug, not bad input.
    log::error("built-in config pattern does not compile",
               {{"pattern", std::string(pattern)}, {"error", re->error()}});
    std::abort();
  }
  return re;
}

// Patterns of config files that the command-line indicators do not cover, compiled once and
// never destroyed (shared by every thread).
struct ConfigPatterns {
  // xmrig's options as keys of a JSON, YAML or INI file, or as --options: `"donate-level":`,
  // `donate-level: 1`, `donate_level = 1`.
  std::unique_ptr<RE2> option_key = compile_builtin(
      R"re((?i)(?:^|[\s"'{,\[])((?:--)?(?:donate[-_]level|donate[-_]over[-_]proxy|)re"
      R"re(cpu[-_]priority|rig[-_]id|max[-_]threads[-_]hint|cpu[-_]max[-_]threads[-_]hint|)re"
      R"re(randomx[-_]1gb[-_]pages|randomx[-_]wrmsr|huge[-_]pages[-_]jit))["']?[ \t]*[:=])re");
  // A key named exactly `pools` holding a list: JSON `"pools": [`, YAML `pools:` at the end
  // of its line (the list follows) or `pools: [`. Not `maxPoolSize`, `pool.size`,
  // `address-pools`, `ipPools`.
  std::unique_ptr<RE2> pools =
      compile_builtin(R"re((?im)(?:^|[\s{,])("?pools"?)[ \t]*[:=][ \t]*(?:\[|$))re");

  static const ConfigPatterns& get() {
    static const ConfigPatterns* const kPatterns = new ConfigPatterns();
    return *kPatterns;
  }
};

template <typename F>
void for_each_group(const RE2& re, std::string_view text, F f) {
  std::array<re2::StringPiece, 2> groups;
  size_t pos = 0;
  while (pos <= text.size() &&
         re.Match(text, pos, text.size(), RE2::UNANCHORED, groups.data(), groups.size())) {
    const re2::StringPiece& m = groups[1];
    const size_t end = static_cast<size_t>(groups[0].data() - text.data()) + groups[0].size();
    if (m.data() != nullptr) f(std::string_view(m.data(), m.size()));
    pos = std::max(end, pos + 1);
  }
}

std::string key_path(std::string_view field, std::string_view key) {
  return std::string(field) + "[\"" + truncate_utf8(key, kKeyMax) + "\"]";
}

// The JSON value `v` as YAML-like lines (`key: value`, `- value`), strings decoded, so the
// text patterns see through \u escapes. Recursion is bounded by the parse depth.
void flatten_json(JsonRef v, std::string* out) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      *out += it.key();
      *out += ':';
      JsonRef member = *it;
      if (member.is_object() || member.is_array()) {
        *out += '\n';
        flatten_json(member, out);
      } else {
        *out += ' ';
        flatten_json(member, out);
      }
    }
  } else if (v.is_array()) {
    for (JsonRef e : v) {
      *out += "- ";
      if (e.is_object() || e.is_array()) *out += '\n';
      flatten_json(e, out);
    }
  } else if (v.is_string()) {
    *out += v.string();
    *out += '\n';
  } else {
    *out += v.raw();
    *out += '\n';
  }
}

void add_value(std::string path, std::string text, std::vector<ConfigValue>* out) {
  // A JSON text with \u escapes is read twice: as written, and with its strings decoded.
  std::optional<std::string> decoded;
  if (text.find("\\u") != std::string::npos) {
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) {
      Result<JsonDoc> doc = JsonDoc::parse(text, kJsonDepthMax);
      if (doc.ok()) {
        decoded.emplace();
        decoded->reserve(text.size());
        flatten_json(doc->root(), &*decoded);
      }
    }
  }
  std::vector<std::string> one;
  one.push_back(std::move(text));
  out->push_back(ConfigValue{path, TokenLine(std::move(one)), false});
  if (decoded) {
    std::vector<std::string> d;
    d.push_back(std::move(*decoded));
    out->push_back(ConfigValue{std::move(path), TokenLine(std::move(d)), true});
  }
}

struct Hit {
  const Signal* signal;
  size_t value = 0;  // index in ConfigContext::values
  std::string message;
  std::string evidence;
  // Custom signatures carry their own severity and name.
  bool strong_alone = false;
  int weight = 0;
  std::string signal_name;
  std::string secret_message;
};

const Signal& classify_flag(std::string_view message) {
  if (message.rfind("pool ", 0) == 0) return kPoolList;
  if (message.rfind("mining algorithm", 0) == 0 || message.rfind("mined coin", 0) == 0) {
    return kAlgorithm;
  }
  return kMinerOption;
}

}  // namespace

bool is_config_kind(std::string_view kind) { return kind == "ConfigMap" || kind == "Secret"; }

ConfigContext collect_config_context(JsonRef object, std::string_view kind) {
  ConfigContext c;
  c.kind = std::string(kind);
  c.secret = kind == "Secret";
  const JsonRef meta = object.find("metadata");
  c.namespace_name = std::string(meta.string_member("namespace"));
  c.name = std::string(meta.string_member("name"));
  // Secret data and ConfigMap binaryData are base64 on the wire; what a pod reads is the
  // decoded bytes. A value that does not decode (the API server would refuse it) is read as
  // written rather than skipped.
  auto read = [&](std::string_view field, bool base64) {
    const JsonRef map = object.find(field);
    if (!map.is_object()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const JsonRef value = *it;
      if (!value.is_string()) continue;
      std::string text;
      if (base64) {
        std::optional<std::string> decoded = decode_base64(value.string());
        text = decoded ? std::move(*decoded) : std::string(value.string());
      } else {
        text = std::string(value.string());
      }
      add_value(key_path(field, it.key()), std::move(text), &c.values);
    }
  };
  read("data", c.secret);
  read("binaryData", true);
  read("stringData", false);
  return c;
}

std::vector<Finding> run_config_rules(const ConfigContext& config, const CompiledPolicy& policy) {
  const Indicators& ind = Indicators::built_in();
  const ConfigPatterns& patterns = ConfigPatterns::get();
  std::vector<Hit> hits;
  auto take = [&](const Signal& s, size_t value, std::vector<IndicatorHit>* found) {
    for (IndicatorHit& h : *found) {
      Hit hit{&s, value, std::move(h.message), std::move(h.evidence)};
      hit.weight = s.weight;
      hit.strong_alone = s.weight >= kStrongWeight;
      hit.signal_name = std::string(s.name);
      hit.secret_message = std::string(s.summary);
      hits.push_back(std::move(hit));
    }
    found->clear();
  };

  std::vector<IndicatorHit> found;
  for (size_t i = 0; i < config.values.size(); ++i) {
    const TokenLine& line = config.values[i].line;
    const std::string& text = line.text();
    if (policy.builtin_indicators) {
      ind.find_stratum_urls(line, &found);
      take(kStratum, i, &found);
      ind.find_miner_flags(line, &found);
      for (IndicatorHit& h : found) {
        std::vector<IndicatorHit> one{std::move(h)};
        take(classify_flag(one.front().message), i, &one);
      }
      found.clear();
      for_each_group(*patterns.option_key, text, [&](std::string_view m) {
        std::string name(m);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
          return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        });
        found.push_back({0, "miner option \"" + truncate_utf8(name, kExcerptMax) + "\"",
                         truncate_utf8(m, kEvidenceMax)});
      });
      take(kMinerOption, i, &found);
      for_each_group(*patterns.pools, text, [&](std::string_view m) {
        found.push_back(
            {0, "list of mining pools (" + truncate_utf8(m, kExcerptMax) + ")", std::string(m)});
      });
      take(kPoolList, i, &found);
      ind.find_wallet_addresses(line, &found);
      take(kWallet, i, &found);
      ind.find_base64(line, policy.pool_domains, &found);
      take(kBase64, i, &found);
      ind.find_droppers(line, &found);
      take(kDropper, i, &found);
      ind.find_miner_binaries(line, &found);
      take(kMinerBinary, i, &found);
    }
    ind.find_pool_hosts(line, policy.pool_domains, &found);
    take(kPoolHost, i, &found);
    ind.find_miner_ports(line, policy.miner_ports, &found);
    take(kMinerPort, i, &found);
    for (const Signature& sig : policy.signatures) {
      std::optional<std::pair<size_t, size_t>> m = sig.find(text);
      if (!m) continue;
      std::string_view matched = std::string_view(text).substr(m->first, m->second);
      Hit hit{nullptr, i,
              "signature \"" + sig.name + "\" (" + sig.field_path + ") matched \"" +
                  truncate_utf8(matched, kExcerptMax) + "\"",
              truncate_utf8(matched, kEvidenceMax)};
      hit.strong_alone = sig.severity == Severity::kStrong;
      hit.weight = hit.strong_alone ? kStrongWeight : kWeakSignatureWeight;
      hit.signal_name = "signature " + sig.name;
      hit.secret_message = "signature \"" + sig.name + "\" matched";
      hits.push_back(std::move(hit));
    }
  }

  // Each signal counts once per object, with its weight.
  std::map<std::string, int> signals;
  bool refuse = false;
  for (const Hit& h : hits) {
    signals.emplace(h.signal_name, h.weight);
    refuse = refuse || h.strong_alone;
  }
  int total = 0;
  for (const auto& [name, weight] : signals) total += weight;
  refuse = refuse || total >= kStrongWeight;

  std::vector<Finding> out;
  std::set<std::pair<std::string_view, std::string>> seen;
  for (Hit& h : hits) {
    if (out.size() >= kMaxFindings) break;
    const ConfigValue& v = config.values[h.value];
    const std::string_view rule = h.signal ? h.signal->rule : kRuleCustomSignature;
    if (!seen.emplace(rule, v.field_path).second) continue;
    Finding f;
    f.rule_id = std::string(rule);
    f.severity = refuse ? Severity::kStrong : Severity::kWeak;
    f.weight = h.weight;
    f.field_path = v.field_path;
    f.policy = policy.name;
    if (config.secret) {
      // Whoever reads the denial, the warning, the Event or the log may not read the Secret.
      f.message = h.secret_message + " (Secret value not shown)";
    } else {
      f.message = std::move(h.message);
      f.evidence = std::move(h.evidence);
      if (v.decoded_json) f.message += " (JSON escapes decoded)";
    }
    if (refuse && !h.strong_alone) {
      std::string with;
      for (const auto& [name, weight] : signals) {
        if (name == h.signal_name) continue;
        with += (with.empty() ? "" : ", ") + name;
      }
      if (!with.empty()) f.message += " (with " + with + " in this " + config.kind + ")";
    }
    out.push_back(std::move(f));
  }
  return out;
}

bool config_data_unchanged(JsonRef before, JsonRef after) {
  if (!before.is_object() || !after.is_object()) return false;
  for (std::string_view field : {"data", "binaryData", "stringData"}) {
    const JsonRef a = before.find(field);
    const JsonRef b = after.find(field);
    if (a.valid() != b.valid()) return false;
    if (!a.valid()) continue;
    // The API server writes both from the same structs: equal bytes are the common case.
    if (a.raw() != b.raw() && !(a == b)) return false;
  }
  return true;
}

}  // namespace orderguard::policy
