#include "policy/miner_policy.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "policy/rules.h"
#include "policy/workload.h"

namespace orderguard::policy {
namespace {

constexpr size_t kMaxSignatureNameLength = 128;

// Collects every problem of a policy, so that one failed apply shows all of them.
class Problems {
 public:
  void add(std::string path, std::string_view message) {
    if (messages_.size() < kMaxShown)
      messages_.push_back(std::move(path) + ": " + std::string(message));
    ++count_;
  }
  bool empty() const { return count_ == 0; }
  Error to_error(std::string_view policy_name) const {
    std::string message = "MinerPolicy";
    if (!policy_name.empty()) message += " \"" + std::string(policy_name) + "\"";
    message += " is invalid: ";
    for (size_t i = 0; i < messages_.size(); ++i) {
      if (i > 0) message += "; ";
      message += messages_[i];
    }
    if (count_ > messages_.size()) {
      message += "; and " + std::to_string(count_ - messages_.size()) + " more";
    }
    return make_error(ErrorCode::kInvalid, message);
  }

 private:
  static constexpr size_t kMaxShown = 20;
  std::vector<std::string> messages_;
  size_t count_ = 0;
};

std::string indexed(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// Member `key` of `object`; invalid when absent, null, or `object` is not an object (a null
// field is an absent one).
JsonRef member(JsonRef object, std::string_view key) {
  JsonRef v = object.find(key);
  return v.is_null() ? JsonRef() : v;
}

// The value of an integer number (no fraction, no exponent, as nlohmann's is_number_integer);
// nullopt for anything else, and for integers beyond int64, which every caller refuses as out
// of range anyway.
std::optional<int64_t> integer(JsonRef v) {
  if (!v.is_number()) return std::nullopt;
  const std::string_view text = v.number_text();
  if (text.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
  int64_t out = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return out;
}

// The members of an object ordered by key, the last of a repeated key only: the order (and
// so the order of problems) that reading it as a DOM gave.
std::vector<std::pair<std::string_view, JsonRef>> sorted_members(JsonRef object) {
  std::vector<std::pair<std::string_view, JsonRef>> out;
  for (auto it = object.begin(); it != object.end(); ++it) out.emplace_back(it.key(), *it);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // Of equal keys, stable_sort kept text order: keep the last of each run.
  std::vector<std::pair<std::string_view, JsonRef>> unique;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i + 1 < out.size() && out[i + 1].first == out[i].first) continue;
    unique.push_back(out[i]);
  }
  return unique;
}

// An optional array field; invalid (and a problem) when it is there but not an array.
JsonRef array_field(JsonRef object, std::string_view key, const std::string& path,
                    size_t max_entries, Problems* problems) {
  const JsonRef v = member(object, key);
  if (!v.valid()) return {};
  if (!v.is_array()) {
    problems->add(path, "must be a list");
    return {};
  }
  if (v.size() > max_entries) {
    problems->add(path, "at most " + std::to_string(max_entries) + " entries");
    return {};
  }
  return v;
}

std::vector<std::pair<std::string, std::string>> string_list(JsonRef object, std::string_view key,
                                                             const std::string& path,
                                                             Problems* problems) {
  std::vector<std::pair<std::string, std::string>> out;  // (value, field path)
  const JsonRef list = array_field(object, key, path, kMaxListEntries, problems);
  size_t i = 0;
  for (JsonRef item : list) {
    if (!item.is_string()) {
      problems->add(indexed(path, i++), "must be a string");
      continue;
    }
    out.emplace_back(std::string(item.string()), indexed(path, i++));
  }
  return out;
}

// An optional string field; empty when absent.
std::string string_field(JsonRef object, std::string_view key, const std::string& path,
                         Problems* problems) {
  const JsonRef v = member(object, key);
  if (!v.valid()) return "";
  if (!v.is_string()) {
    problems->add(path, "must be a string");
    return "";
  }
  return std::string(v.string());
}

JsonRef object_field(JsonRef object, std::string_view key, const std::string& path,
                     Problems* problems) {
  const JsonRef v = member(object, key);
  if (!v.valid()) return {};
  if (!v.is_object()) {
    problems->add(path, "must be an object");
    return {};
  }
  return v;
}

bool valid_pool_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' || d.front() == '-') {
    return false;
  }
  return std::all_of(d.begin(), d.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

void compile_signatures(JsonRef spec, CompiledPolicy* policy, Problems* problems) {
  const JsonRef list =
      array_field(spec, "signatures", "spec.signatures", kMaxListEntries, problems);
  size_t i = 0;
  for (JsonRef item : list) {
    std::string path = indexed("spec.signatures", i++);
    if (!item.is_object()) {
      problems->add(path, "must be an object");
      continue;
    }
    Signature sig;
    sig.field_path = path;
    sig.name = string_field(item, "name", path + ".name", problems);
    if (sig.name.empty()) {
      problems->add(path + ".name", "required");
    } else if (sig.name.size() > kMaxSignatureNameLength) {
      problems->add(path + ".name", "at most 128 characters");
    }
    std::string severity = string_field(item, "severity", path + ".severity", problems);
    if (severity.empty() || severity == "Strong" || severity == "strong") {
      sig.severity = Severity::kStrong;
    } else if (severity == "Weak" || severity == "weak") {
      sig.severity = Severity::kWeak;
    } else {
      problems->add(path + ".severity", "must be Strong or Weak");
    }
    bool has_literal = member(item, "literal").valid();
    bool has_regex = member(item, "regex").valid();
    if (has_literal == has_regex) {
      problems->add(path, "exactly one of literal and regex is required");
      continue;
    }
    std::string field = has_literal ? "literal" : "regex";
    std::string pattern = string_field(item, field, path + "." + field, problems);
    if (pattern.empty()) {
      problems->add(path + "." + field, "must not be empty");
      continue;
    }
    if (pattern.size() > kMaxSignaturePatternLength) {
      problems->add(path + "." + field,
                    "at most " + std::to_string(kMaxSignaturePatternLength) + " characters");
      continue;
    }
    if (has_literal) {
      sig.literal = std::move(pattern);
    } else {
      RE2::Options options;
      options.set_log_errors(false);
      options.set_max_mem(kRegexMaxMemory);
      auto re = std::make_unique<RE2>(pattern, options);
      if (!re->ok()) {
        problems->add(path + ".regex", "invalid regex: " + re->error());
        continue;
      }
      if (re->ProgramSize() > kMaxRegexProgramSize) {
        problems->add(path + ".regex", "regex too complex (program size " +
                                           std::to_string(re->ProgramSize()) + " > " +
                                           std::to_string(kMaxRegexProgramSize) + ")");
        continue;
      }
      sig.regex = std::move(re);
    }
    policy->signatures.push_back(std::move(sig));
  }
}

// `empty_would` says what an empty selector would do ("exempt every namespace").
std::optional<LabelSelector> compile_selector(
    JsonRef value, const std::string& path, Problems* problems,
    std::string_view empty_would = "exempt every namespace") {
  LabelSelector selector;
  const JsonRef labels = object_field(value, "matchLabels", path + ".matchLabels", problems);
  for (const auto& [key, v] : sorted_members(labels)) {
    if (!v.is_string()) {
      problems->add(path + ".matchLabels." + std::string(key), "must be a string");
      continue;
    }
    selector.match_labels[std::string(key)] = std::string(v.string());
  }
  std::string exprs_path = path + ".matchExpressions";
  {
    const JsonRef exprs =
        array_field(value, "matchExpressions", exprs_path, kMaxListEntries, problems);
    size_t i = 0;
    for (JsonRef e : exprs) {
      std::string p = indexed(exprs_path, i++);
      if (!e.is_object()) {
        problems->add(p, "must be an object");
        continue;
      }
      LabelRequirement req;
      req.key = string_field(e, "key", p + ".key", problems);
      if (req.key.empty()) problems->add(p + ".key", "required");
      std::string op = string_field(e, "operator", p + ".operator", problems);
      for (const auto& [v, vp] : string_list(e, "values", p + ".values", problems)) {
        req.values.push_back(v);
      }
      if (op == "In") {
        req.op = LabelRequirement::Operator::kIn;
      } else if (op == "NotIn") {
        req.op = LabelRequirement::Operator::kNotIn;
      } else if (op == "Exists") {
        req.op = LabelRequirement::Operator::kExists;
      } else if (op == "DoesNotExist") {
        req.op = LabelRequirement::Operator::kDoesNotExist;
      } else {
        problems->add(p + ".operator", "must be In, NotIn, Exists or DoesNotExist");
        continue;
      }
      bool needs_values =
          req.op == LabelRequirement::Operator::kIn || req.op == LabelRequirement::Operator::kNotIn;
      if (needs_values && req.values.empty()) {
        problems->add(p + ".values", "required for In and NotIn");
      } else if (!needs_values && !req.values.empty()) {
        problems->add(p + ".values", "must be empty for Exists and DoesNotExist");
      }
      selector.match_expressions.push_back(std::move(req));
    }
  }
  if (selector.match_labels.empty() && selector.match_expressions.empty()) {
    problems->add(path, "an empty selector would " + std::string(empty_would) +
                            "; remove it or add matchLabels or matchExpressions");
    return std::nullopt;
  }
  return selector;
}

void compile_exemptions(JsonRef spec, CompiledPolicy* policy, Problems* problems) {
  const JsonRef ex = object_field(spec, "exemptions", "spec.exemptions", problems);
  if (!ex.valid()) return;
  for (auto& [ns, path] : string_list(ex, "namespaces", "spec.exemptions.namespaces", problems)) {
    if (ns.empty()) {
      problems->add(path, "must not be empty");
      continue;
    }
    policy->exemptions.namespaces.insert(ns);
  }
  if (const JsonRef sel =
          object_field(ex, "namespaceSelector", "spec.exemptions.namespaceSelector", problems);
      sel.valid()) {
    policy->exemptions.namespace_selector =
        compile_selector(sel, "spec.exemptions.namespaceSelector", problems);
  }
  for (auto& [sa, path] :
       string_list(ex, "serviceAccounts", "spec.exemptions.serviceAccounts", problems)) {
    size_t colon = sa.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == sa.size() ||
        sa.find(':', colon + 1) != std::string::npos) {
      problems->add(path, "must be namespace:name");
      continue;
    }
    policy->exemptions.service_accounts.push_back({sa.substr(0, colon), sa.substr(colon + 1)});
  }
}

}  // namespace

bool plausible_namespace_name(std::string_view name) { return !name.empty() && name.size() <= 63; }

namespace {

void compile_agent(JsonRef spec, CompiledPolicy* policy, Problems* problems) {
  const JsonRef agent = object_field(spec, "agent", "spec.agent", problems);
  if (!agent.valid()) return;
  const JsonRef ex = object_field(agent, "exclusions", "spec.agent.exclusions", problems);
  if (!ex.valid()) return;
  AgentExclusions& out = policy->agent_exclusions;
  for (auto& [glob, path] :
       string_list(ex, "executables", "spec.agent.exclusions.executables", problems)) {
    Result<ExeGlob> g = ExeGlob::compile(glob);
    if (!g) {
      problems->add(path, g.error().message);
      continue;
    }
    out.executables.push_back({std::move(g).value(), path});
  }
  for (auto& [ns, path] :
       string_list(ex, "namespaces", "spec.agent.exclusions.namespaces", problems)) {
    if (!plausible_namespace_name(ns)) {
      problems->add(path, "must be a namespace name (1 to 63 characters)");
      continue;
    }
    out.namespaces.emplace(ns, path);
  }
  if (const JsonRef sel =
          object_field(ex, "podSelector", "spec.agent.exclusions.podSelector", problems);
      sel.valid()) {
    out.pod_selector =
        compile_selector(sel, "spec.agent.exclusions.podSelector", problems, "exclude every Pod");
  }
}

void compile_quarantine(JsonRef spec, CompiledPolicy* policy, Problems* problems) {
  const JsonRef list =
      array_field(spec, "quarantine", "spec.quarantine", kMaxQuarantineEntries, problems);
  size_t i = 0;
  for (JsonRef item : list) {
    std::string path = indexed("spec.quarantine", i++);
    if (!item.is_object()) {
      problems->add(path, "must be an object");
      continue;
    }
    QuarantineEntry entry;
    entry.field_path = path;
    auto found = read_quarantine_fields(item, path, &entry);
    for (auto& [where, message] : found) problems->add(std::move(where), message);
    if (found.empty()) policy->quarantine.push_back(std::move(entry));
  }
}

void compile_scoring(JsonRef spec, CompiledPolicy* policy, Problems* problems) {
  const JsonRef scoring = object_field(spec, "scoring", "spec.scoring", problems);
  if (!scoring.valid()) return;
  if (const JsonRef t = member(scoring, "threshold"); t.valid()) {
    const std::optional<int64_t> v = integer(t);
    if (!v || *v < 1 || *v > std::numeric_limits<int>::max()) {
      problems->add("spec.scoring.threshold", "must be a positive integer");
    } else {
      policy->scoring.threshold = static_cast<int>(*v);
    }
  }
  const JsonRef w = object_field(scoring, "weights", "spec.scoring.weights", problems);
  for (const auto& [rule, weight] : sorted_members(w)) {
    std::string path = "spec.scoring.weights." + std::string(rule);
    if (find_rule(rule) == nullptr) {
      problems->add(path, "unknown rule id");
      continue;
    }
    const std::optional<int64_t> v = integer(weight);
    if (!v || *v < 0 || *v > 1000000) {
      problems->add(path, "must be an integer between 0 and 1000000");
      continue;
    }
    policy->scoring.weights[std::string(rule)] = static_cast<int>(*v);
  }
}

void add_builtins(CompiledPolicy* policy) {
  for (std::string_view d : builtin_pool_domains()) policy->pool_domains.add(d);
  for (int port : builtin_miner_ports()) policy->miner_ports.insert(port);
}

Result<CompiledPolicy> compile_unchecked(JsonRef object) {
  Problems problems;
  CompiledPolicy policy;
  if (!object.is_object()) {
    return make_error(ErrorCode::kInvalid, "MinerPolicy must be a JSON object");
  }
  if (const JsonRef kind = member(object, "kind");
      kind.valid() && (!kind.is_string() || kind.string() != kMinerPolicyKind)) {
    problems.add("kind", "must be MinerPolicy");
  }
  if (const JsonRef api = member(object, "apiVersion");
      api.valid() && (!api.is_string() || api.string() != kMinerPolicyApiVersion)) {
    problems.add("apiVersion", "must be " + std::string(kMinerPolicyApiVersion));
  }
  if (const JsonRef md = member(object, "metadata"); md.is_object()) {
    if (const JsonRef name = member(md, "name"); name.is_string()) {
      policy.name = std::string(name.string());
      policy.object_name = policy.name;
    }
    if (const std::optional<int64_t> gen = integer(member(md, "generation"))) {
      policy.generation = *gen;
    }
  }
  // An absent spec reads as an empty one: every lookup below finds nothing in an invalid ref.
  JsonRef spec = member(object, "spec");
  if (spec.valid() && !spec.is_object()) {
    problems.add("spec", "must be an object");
    spec = JsonRef();
  }

  std::string mode = string_field(spec, "mode", "spec.mode", &problems);
  if (mode.empty() || mode == "Enforce") {
    policy.mode = Mode::kEnforce;
  } else if (mode == "Audit") {
    policy.mode = Mode::kAudit;
  } else {
    problems.add("spec.mode", "must be Enforce or Audit");
  }
  if (const JsonRef b = member(spec, "builtinIndicators"); b.valid()) {
    if (!b.is_boolean()) {
      problems.add("spec.builtinIndicators", "must be true or false");
    } else {
      policy.builtin_indicators = b.boolean();
    }
  }
  for (auto& [glob, path] : string_list(spec, "blockedImages", "spec.blockedImages", &problems)) {
    Result<ImagePattern> p = ImagePattern::compile(glob);
    if (!p.ok()) {
      problems.add(path, p.error().message);
      continue;
    }
    policy.blocked_images.push_back(std::move(p).value());
  }
  for (auto& [digest, path] :
       string_list(spec, "blockedDigests", "spec.blockedDigests", &problems)) {
    if (Status s = validate_digest(digest); !s.ok()) {
      problems.add(path, s.error().message);
      continue;
    }
    policy.blocked_digests.insert(digest);
  }
  for (auto& [entry, path] :
       string_list(spec, "allowedRegistries", "spec.allowedRegistries", &problems)) {
    Result<RegistryPrefix> r = RegistryPrefix::parse(entry);
    if (!r.ok()) {
      problems.add(path, r.error().message);
      continue;
    }
    policy.allowed_registries.push_back(std::move(r).value());
  }
  compile_signatures(spec, &policy, &problems);
  if (policy.builtin_indicators) add_builtins(&policy);
  for (auto& [host, path] : string_list(spec, "poolHosts", "spec.poolHosts", &problems)) {
    if (!valid_pool_domain(host)) {
      problems.add(path, "must be a DNS name");
      continue;
    }
    policy.pool_domains.add(host);
  }
  {
    const JsonRef ports =
        array_field(spec, "minerPorts", "spec.minerPorts", kMaxListEntries, &problems);
    size_t i = 0;
    for (JsonRef p : ports) {
      const size_t at = i++;
      const std::optional<int64_t> port = integer(p);
      if (!port || *port < 1 || *port > 65535) {
        problems.add(indexed("spec.minerPorts", at), "must be a port number (1-65535)");
        continue;
      }
      policy.miner_ports.insert(static_cast<int>(*port));
    }
  }
  compile_exemptions(spec, &policy, &problems);
  compile_quarantine(spec, &policy, &problems);
  compile_scoring(spec, &policy, &problems);
  compile_agent(spec, &policy, &problems);

  if (!problems.empty()) return problems.to_error(policy.name);
  return policy;
}

bool contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::kEnforce:
      return "Enforce";
    case Mode::kAudit:
      return "Audit";
  }
  return "Unknown";
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const LabelRequirement& req : match_expressions) {
    auto it = labels.find(req.key);
    bool present = it != labels.end();
    switch (req.op) {
      case LabelRequirement::Operator::kIn:
        if (!present || !contains(req.values, it->second)) return false;
        break;
      case LabelRequirement::Operator::kNotIn:
        if (present && contains(req.values, it->second)) return false;
        break;
      case LabelRequirement::Operator::kExists:
        if (!present) return false;
        break;
      case LabelRequirement::Operator::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

Signature::Signature() = default;
Signature::Signature(Signature&&) noexcept = default;
Signature& Signature::operator=(Signature&&) noexcept = default;
Signature::~Signature() = default;

std::optional<std::pair<size_t, size_t>> Signature::find(std::string_view text) const {
  if (regex != nullptr) {
    re2::StringPiece match;
    if (!regex->Match(text, 0, text.size(), RE2::UNANCHORED, &match, 1)) return std::nullopt;
    return std::make_pair(static_cast<size_t>(match.data() - text.data()), match.size());
  }
  size_t at = text.find(literal);
  if (at == std::string_view::npos) return std::nullopt;
  return std::make_pair(at, literal.size());
}

int Scoring::weight(std::string_view rule_id, int default_weight) const {
  auto it = weights.find(rule_id);
  return it == weights.end() ? default_weight : it->second;
}

Result<CompiledPolicy> compile(JsonRef miner_policy) {
  // JsonRef reads never throw; what can (allocation) is no input's doing.
  return compile_unchecked(miner_policy);
}

CompiledPolicy built_in_default() {
  CompiledPolicy policy;
  policy.name = std::string(kBuiltInPolicyName);
  add_builtins(&policy);
  return policy;
}

Scoring PolicySet::scoring() const {
  Scoring out;
  bool first = true;
  for (const CompiledPolicy& p : policies) {
    out.threshold = first ? p.scoring.threshold : std::min(out.threshold, p.scoring.threshold);
    first = false;
    for (const auto& [rule, weight] : p.scoring.weights) out.weights[rule] = 0;
  }
  // A rule overridden in one policy keeps the highest weight any policy gives it, counting
  // the table default for policies that leave it alone.
  for (auto& [rule, weight] : out.weights) {
    const Rule* r = find_rule(rule);
    int table_default = r == nullptr ? 0 : r->weight;
    for (const CompiledPolicy& p : policies) {
      weight = std::max(weight, p.scoring.weight(rule, table_default));
    }
  }
  return out;
}

PolicySet combine(std::vector<CompiledPolicy> policies) {
  PolicySet set;
  set.policies = std::move(policies);
  if (set.policies.empty()) set.policies.push_back(built_in_default());
  return set;
}

}  // namespace orderguard::policy
