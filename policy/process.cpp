#include "policy/process.h"

#include <map>
#include <set>
#include <tuple>

#include "base/text.h"
#include "policy/indicators.h"
#include "policy/rules.h"

namespace orderguard::policy {
namespace {

constexpr size_t kEvidenceMax = 120;
constexpr size_t kExcerptMax = 60;
constexpr std::string_view kDeletedSuffix = " (deleted)";

std::string basename(std::string_view path) {
  if (path.size() >= kDeletedSuffix.size() &&
      path.substr(path.size() - kDeletedSuffix.size()) == kDeletedSuffix) {
    path.remove_suffix(kDeletedSuffix.size());
  }
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

class Collector {
 public:
  explicit Collector(const Scoring& scoring) : scoring_(scoring) {}

  void add(std::string_view rule_id, std::string field_path, std::string message,
           std::string evidence, std::optional<Severity> severity = std::nullopt) {
    if (out_.findings.size() >= kMaxFindings) return;
    if (!seen_.emplace(std::string(rule_id), field_path).second) return;
    const Rule* rule = find_rule(rule_id);
    Finding f;
    f.rule_id = std::string(rule_id);
    f.severity = severity.value_or(rule != nullptr ? rule->severity : Severity::kStrong);
    int table_weight = f.severity == Severity::kStrong ? kStrongWeight : kWeakSignatureWeight;
    if (rule != nullptr && !severity) table_weight = rule->weight;
    f.weight = scoring_.weight(rule_id, table_weight);
    f.field_path = std::move(field_path);
    f.message = std::move(message);
    f.evidence = std::move(evidence);
    if (f.severity == Severity::kStrong) out_.strong = true;
    out_.findings.push_back(std::move(f));
  }

  ProcessFindings finish() {
    out_.score = score_findings(out_.findings, scoring_);
    return std::move(out_);
  }

 private:
  const Scoring& scoring_;
  ProcessFindings out_;
  std::set<std::pair<std::string, std::string>> seen_;
};

template <typename Find>
void scan_line(const TokenLine& line, std::string_view rule_id, std::string_view prefix,
               size_t token_base, Find find, Collector* c) {
  std::vector<IndicatorHit> hits;
  find(line, &hits);
  for (IndicatorHit& h : hits) {
    c->add(rule_id, std::string(prefix) + "[" + std::to_string(token_base + h.token) + "]",
           std::move(h.message), std::move(h.evidence));
  }
}

void scan_text_sources(const TokenLine& line, std::string_view prefix, size_t token_base, bool argv,
                       const CompiledPolicy& policy, Collector* c) {
  const Indicators& ind = Indicators::built_in();
  if (policy.builtin_indicators) {
    scan_line(
        line, kRuleStratumUrl, prefix, token_base,
        [&](const TokenLine& l, auto* h) { ind.find_stratum_urls(l, h); }, c);
    scan_line(
        line, kRuleMinerFlag, prefix, token_base,
        [&](const TokenLine& l, auto* h) { ind.find_miner_flags(l, h); }, c);
    if (argv) {
      // In environ, PATH and friends name directories; only argv words are run.
      scan_line(
          line, kRuleMinerBinary, prefix, token_base,
          [&](const TokenLine& l, auto* h) { ind.find_miner_binaries(l, h); }, c);
    }
    scan_line(
        line, kRuleMinerBase64, prefix, token_base,
        [&](const TokenLine& l, auto* h) { ind.find_base64(l, policy.pool_domains, h); }, c);
    scan_line(
        line, kRuleDropper, prefix, token_base,
        [&](const TokenLine& l, auto* h) { ind.find_droppers(l, h); }, c);
    scan_line(
        line, kRuleWalletAddress, prefix, token_base,
        [&](const TokenLine& l, auto* h) { ind.find_wallet_addresses(l, h); }, c);
  }
  scan_line(
      line, kRulePoolHost, prefix, token_base,
      [&](const TokenLine& l, auto* h) { ind.find_pool_hosts(l, policy.pool_domains, h); }, c);
  for (const Signature& sig : policy.signatures) {
    std::optional<std::pair<size_t, size_t>> m = sig.find(line.text());
    if (!m) continue;
    std::string_view matched = std::string_view(line.text()).substr(m->first, m->second);
    c->add(kRuleCustomSignature,
           std::string(prefix) + "[" + std::to_string(token_base + line.token_at(m->first)) + "]",
           "signature \"" + sig.name + "\" matched \"" + truncate_utf8(matched, kExcerptMax) + "\"",
           truncate_utf8(matched, kEvidenceMax), sig.severity);
  }
}

ProcessFindings scan(const ProcessInfo& p, const CompiledPolicy& policy) {
  const Indicators& ind = Indicators::built_in();
  Collector c(policy.scoring);
  if (policy.builtin_indicators) {
    if (auto name = ind.miner_binary_from_comm(p.comm)) {
      c.add(kRuleMinerBinary, "comm",
            "process name is known miner binary \"" + std::string(*name) + "\"", p.comm);
    }
    if (auto name = ind.miner_binary(basename(p.exe)); name && !p.exe.empty()) {
      c.add(kRuleMinerBinary, "exe",
            "executable is known miner binary \"" + std::string(*name) + "\"",
            truncate_utf8(p.exe, kEvidenceMax));
    }
  }
  if (!p.cmdline.empty()) {
    scan_text_sources(TokenLine(p.cmdline), "cmdline", 0, true, policy, &c);
  }
  if (p.environ) {
    for (size_t i = 0; i < p.environ->size(); ++i) {
      scan_text_sources(TokenLine({(*p.environ)[i]}), "environ", i, false, policy, &c);
    }
  }
  return c.finish();
}

}  // namespace

int score_findings(const std::vector<Finding>& findings, const Scoring& scoring) {
  std::map<std::string, int, std::less<>> best;
  for (const Finding& f : findings) {
    int w = scoring.weight(f.rule_id, f.weight);
    auto [it, inserted] = best.emplace(f.rule_id, w);
    if (!inserted) it->second = std::max(it->second, w);
  }
  int score = 0;
  for (const auto& [rule, w] : best) score += w;
  return score;
}

ProcessFindings scan_process(const ProcessInfo& process) {
  // Built once: the default policy only carries the built-in sets.
  static const CompiledPolicy* const kDefault = new CompiledPolicy(built_in_default());
  return scan(process, *kDefault);
}

ProcessFindings scan_process(const ProcessInfo& process, const CompiledPolicy& policy) {
  return scan(process, policy);
}

}  // namespace orderguard::policy
