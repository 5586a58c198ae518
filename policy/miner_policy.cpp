#include "policy/miner_policy.h"

#include <re2/re2.h>

#include <algorithm>

#include "api/security.h"
#include "base/field_reader.h"
#include "policy/rules.h"
#include "policy/workload.h"

namespace orderguard::policy {
namespace {

constexpr size_t kMaxSignatureNameLength = 128;

// Collects every problem of a policy, so that one failed apply shows all of them: first
// those of shape (api/'s decoder), then those of value found here, except on a field the
// decoder already refused (or inside one).
class Problems {
 public:
  explicit Problems(std::vector<std::string> shape) : shape_paths_(shape) {
    for (auto& m : shape) add_message(std::move(m));
  }
  void add(const std::string& path, std::string_view message) {
    if (shape_paths_.covers(path)) return;
    add_message(path + ": " + std::string(message));
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
  void add_message(std::string m) {
    if (messages_.size() < kMaxShown) messages_.push_back(std::move(m));
    ++count_;
  }

  static constexpr size_t kMaxShown = 20;
  ProblemPaths shape_paths_;
  std::vector<std::string> messages_;
  size_t count_ = 0;
};

std::string indexed(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
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

void compile_signatures(const std::vector<api::SignatureSpec>& specs, CompiledPolicy* policy,
                        Problems* problems) {
  for (size_t i = 0; i < specs.size(); ++i) {
    const api::SignatureSpec& spec = specs[i];
    const std::string path = indexed("spec.signatures", i);
    Signature sig;
    sig.field_path = path;
    sig.name = spec.name;
    if (sig.name.empty()) {
      problems->add(path + ".name", "required");
    } else if (sig.name.size() > kMaxSignatureNameLength) {
      problems->add(path + ".name", "at most 128 characters");
    }
    const std::string& severity = spec.severity;
    if (severity.empty() || severity == "Strong" || severity == "strong") {
      sig.severity = Severity::kStrong;
    } else if (severity == "Weak" || severity == "weak") {
      sig.severity = Severity::kWeak;
    } else {
      problems->add(path + ".severity", "must be Strong or Weak");
    }
    const bool has_literal = spec.literal.has_value();
    if (has_literal == spec.regex.has_value()) {
      problems->add(path, "exactly one of literal and regex is required");
      continue;
    }
    const std::string field = path + (has_literal ? ".literal" : ".regex");
    std::string pattern = has_literal ? *spec.literal : *spec.regex;
    if (pattern.empty()) {
      problems->add(field, "must not be empty");
      continue;
    }
    if (pattern.size() > kMaxSignaturePatternLength) {
      problems->add(field, "at most " + std::to_string(kMaxSignaturePatternLength) + " characters");
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
        problems->add(field, "invalid regex: " + re->error());
        continue;
      }
      if (re->ProgramSize() > kMaxRegexProgramSize) {
        problems->add(field, "regex too complex (program size " +
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
    const api::LabelSelectorSpec& spec, const std::string& path, Problems* problems,
    std::string_view empty_would = "exempt every namespace") {
  LabelSelector selector;
  selector.match_labels = spec.match_labels;
  const std::string exprs_path = path + ".matchExpressions";
  for (size_t i = 0; i < spec.match_expressions.size(); ++i) {
    const api::LabelSelectorRequirementSpec& e = spec.match_expressions[i];
    const std::string p = indexed(exprs_path, i);
    LabelRequirement req;
    req.key = e.key;
    if (req.key.empty()) problems->add(p + ".key", "required");
    req.values = e.values;
    const std::string& op = e.op;
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
  if (selector.match_labels.empty() && selector.match_expressions.empty()) {
    problems->add(path, "an empty selector would " + std::string(empty_would) +
                            "; remove it or add matchLabels or matchExpressions");
    return std::nullopt;
  }
  return selector;
}

void compile_exemptions(const api::MinerPolicyExemptionsSpec& spec, CompiledPolicy* policy,
                        Problems* problems) {
  for (size_t i = 0; i < spec.namespaces.size(); ++i) {
    const std::string& ns = spec.namespaces[i];
    if (ns.empty()) {
      problems->add(indexed("spec.exemptions.namespaces", i), "must not be empty");
      continue;
    }
    policy->exemptions.namespaces.insert(ns);
  }
  if (spec.namespace_selector) {
    policy->exemptions.namespace_selector =
        compile_selector(*spec.namespace_selector, "spec.exemptions.namespaceSelector", problems);
  }
  for (size_t i = 0; i < spec.service_accounts.size(); ++i) {
    const std::string& sa = spec.service_accounts[i];
    size_t colon = sa.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == sa.size() ||
        sa.find(':', colon + 1) != std::string::npos) {
      problems->add(indexed("spec.exemptions.serviceAccounts", i), "must be namespace:name");
      continue;
    }
    policy->exemptions.service_accounts.push_back({sa.substr(0, colon), sa.substr(colon + 1)});
  }
}

}  // namespace

bool plausible_namespace_name(std::string_view name) { return !name.empty() && name.size() <= 63; }

namespace {

void compile_agent(const api::AgentExclusionsSpec& spec, CompiledPolicy* policy,
                   Problems* problems) {
  AgentExclusions& out = policy->agent_exclusions;
  for (size_t i = 0; i < spec.executables.size(); ++i) {
    const std::string path = indexed("spec.agent.exclusions.executables", i);
    Result<ExeGlob> g = ExeGlob::compile(spec.executables[i]);
    if (!g) {
      problems->add(path, g.error().message);
      continue;
    }
    out.executables.push_back({std::move(g).value(), path});
  }
  for (size_t i = 0; i < spec.namespaces.size(); ++i) {
    const std::string path = indexed("spec.agent.exclusions.namespaces", i);
    const std::string& ns = spec.namespaces[i];
    if (!plausible_namespace_name(ns)) {
      problems->add(path, "must be a namespace name (1 to 63 characters)");
      continue;
    }
    out.namespaces.emplace(ns, path);
  }
  if (spec.pod_selector) {
    out.pod_selector = compile_selector(*spec.pod_selector, "spec.agent.exclusions.podSelector",
                                        problems, "exclude every Pod");
  }
}

void compile_quarantine(const std::vector<api::QuarantineSpec>& specs, CompiledPolicy* policy,
                        Problems* problems) {
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string path = indexed("spec.quarantine", i);
    QuarantineEntry entry;
    entry.field_path = path;
    auto found = compile_quarantine_spec(specs[i], path, &entry);
    for (auto& [where, message] : found) problems->add(where, message);
    if (found.empty()) policy->quarantine.push_back(std::move(entry));
  }
}

// A spec without a threshold and a policy without a spec score alike.
static_assert(api::kDefaultScoringThreshold == kDefaultThreshold);

void compile_scoring(const api::ScoringSpec& spec, CompiledPolicy* policy, Problems* problems) {
  policy->scoring.threshold = static_cast<int>(spec.threshold);  // 1 to INT_MAX: decoded so
  for (const auto& [rule, weight] : spec.weights) {
    if (find_rule(rule) == nullptr) {
      problems->add("spec.scoring.weights." + rule, "unknown rule id");
      continue;
    }
    policy->scoring.weights[rule] = static_cast<int>(weight);  // 0 to 1000000
  }
}

void add_builtins(CompiledPolicy* policy) {
  for (std::string_view d : builtin_pool_domains()) policy->pool_domains.add(d);
  for (int port : builtin_miner_ports()) policy->miner_ports.insert(port);
}

Result<CompiledPolicy> compile_unchecked(JsonRef object) {
  CompiledPolicy policy;
  if (!object.is_object()) {
    return make_error(ErrorCode::kInvalid, "MinerPolicy must be a JSON object");
  }
  // The spec's shape first: api/ decodes it strictly, every problem with its field path.
  std::vector<std::string> shape;
  const api::MinerPolicySpec spec = api::decode_miner_policy(object.find("spec"), &shape);
  Problems problems(std::move(shape));

  // A null field is an absent one.
  if (const JsonRef kind = object.find("kind");
      kind.valid() && !kind.is_null() && (!kind.is_string() || kind.string() != kMinerPolicyKind)) {
    problems.add("kind", "must be MinerPolicy");
  }
  if (const JsonRef api = object.find("apiVersion");
      api.valid() && !api.is_null() &&
      (!api.is_string() || api.string() != kMinerPolicyApiVersion)) {
    problems.add("apiVersion", "must be " + std::string(kMinerPolicyApiVersion));
  }
  if (const JsonRef md = object.find("metadata"); md.is_object()) {
    if (const JsonRef name = md.find("name"); name.is_string()) {
      policy.name = std::string(name.string());
      policy.object_name = policy.name;
    }
    if (const JsonRef gen = md.find("generation"); gen.is_number()) {
      policy.generation = detail::integer_from_text(gen.number_text()).value_or(0);
    }
  }

  if (spec.mode.empty() || spec.mode == "Enforce") {
    policy.mode = Mode::kEnforce;
  } else if (spec.mode == "Audit") {
    policy.mode = Mode::kAudit;
  } else {
    problems.add("spec.mode", "must be Enforce or Audit");
  }
  policy.builtin_indicators = spec.builtin_indicators;
  for (size_t i = 0; i < spec.blocked_images.size(); ++i) {
    Result<ImagePattern> p = ImagePattern::compile(spec.blocked_images[i]);
    if (!p.ok()) {
      problems.add(indexed("spec.blockedImages", i), p.error().message);
      continue;
    }
    policy.blocked_images.push_back(std::move(p).value());
  }
  for (size_t i = 0; i < spec.blocked_digests.size(); ++i) {
    const std::string& digest = spec.blocked_digests[i];
    if (Status s = validate_digest(digest); !s.ok()) {
      problems.add(indexed("spec.blockedDigests", i), s.error().message);
      continue;
    }
    policy.blocked_digests.insert(digest);
  }
  for (size_t i = 0; i < spec.allowed_registries.size(); ++i) {
    Result<RegistryPrefix> r = RegistryPrefix::parse(spec.allowed_registries[i]);
    if (!r.ok()) {
      problems.add(indexed("spec.allowedRegistries", i), r.error().message);
      continue;
    }
    policy.allowed_registries.push_back(std::move(r).value());
  }
  compile_signatures(spec.signatures, &policy, &problems);
  if (policy.builtin_indicators) add_builtins(&policy);
  for (size_t i = 0; i < spec.pool_hosts.size(); ++i) {
    const std::string& host = spec.pool_hosts[i];
    if (!valid_pool_domain(host)) {
      problems.add(indexed("spec.poolHosts", i), "must be a DNS name");
      continue;
    }
    policy.pool_domains.add(host);
  }
  for (int64_t port : spec.miner_ports) policy.miner_ports.insert(static_cast<int>(port));
  compile_exemptions(spec.exemptions, &policy, &problems);
  compile_quarantine(spec.quarantine, &policy, &problems);
  compile_scoring(spec.scoring, &policy, &problems);
  compile_agent(spec.agent_exclusions, &policy, &problems);

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
