// The fields of the security.orderguard.io kinds, as one function per kind over FieldReader
// of either node adapter (internal to api/: security.cpp instantiates them for JsonRefs,
// security_dom.cpp for nlohmann DOMs, so a binary that reads only one model links only its
// code).
#pragma once

#include <climits>
#include <utility>

#include "api/security.h"

namespace orderguard::api::detail {

// MinerPolicy's messages predate the reader; they are kept.
inline constexpr FieldWording kMinerPolicyWording{.not_array = "must be a list",
                                                  .not_boolean = "must be true or false"};

inline constexpr auto kSelectorFields = [](auto& r, LabelSelectorSpec& s) {
  r.string_map("matchLabels", s.match_labels);
  r.items(
      "matchExpressions", s.match_expressions,
      [](auto& e, LabelSelectorRequirementSpec& req) {
        e.string_into("key", req.key);
        e.string_into("operator", req.op);
        e.strings("values", req.values, kMaxListEntries);
      },
      kMaxListEntries);
};

// A selector field; `out` is set when the field is there (an empty selector too: policy/
// refuses it).
template <typename Reader>
void selector(Reader& r, std::string_view key, std::optional<LabelSelectorSpec>& out) {
  bool present = false;
  auto sel = r.object(key, &present);
  LabelSelectorSpec s;
  kSelectorFields(sel, s);
  sel.finish();
  if (present) out = std::move(s);
}

// What a Quarantine's spec and a MinerPolicy's spec.quarantine entry share.
inline constexpr auto kQuarantineCommonFields = [](auto& r, QuarantineSpec& q) {
  r.string_into("scope", q.scope);
  r.string_into("namespace", q.namespace_name);
  auto w = r.object("workload");
  w.string_into("kind", q.workload.kind);
  w.string_into("name", q.workload.name);
  w.finish();
  r.string_into("image", q.image);
  r.string_into("reason", q.reason);
};

inline constexpr auto kQuarantineFields = [](auto& r, QuarantineSpec& q) {
  kQuarantineCommonFields(r, q);
  r.string_into("nodeName", q.node_name);
  r.string_into("createdBy", q.created_by);
  r.string_into("expiresAt", q.expires_at);
};

inline constexpr auto kLegacyQuarantineEntryFields = [](auto& r, QuarantineSpec& q) {
  kQuarantineCommonFields(r, q);
  r.string_into("time", q.time);
};

inline constexpr auto kMinerPolicyFields = [](auto& r, MinerPolicySpec& s) {
  r.string_into("mode", s.mode);
  r.boolean_into("builtinIndicators", s.builtin_indicators);
  r.strings("blockedImages", s.blocked_images, kMaxListEntries);
  r.strings("blockedDigests", s.blocked_digests, kMaxListEntries);
  r.strings("allowedRegistries", s.allowed_registries, kMaxListEntries);
  r.items(
      "signatures", s.signatures,
      [](auto& e, SignatureSpec& sig) {
        e.string_into("name", sig.name);
        sig.literal = e.string("literal");
        sig.regex = e.string("regex");
        e.string_into("severity", sig.severity);
      },
      kMaxListEntries);
  r.strings("poolHosts", s.pool_hosts, kMaxListEntries);
  r.integers("minerPorts", s.miner_ports, 1, 65535, "must be a port number (1-65535)",
             kMaxListEntries);
  auto ex = r.object("exemptions");
  ex.strings("namespaces", s.exemptions.namespaces, kMaxListEntries);
  selector(ex, "namespaceSelector", s.exemptions.namespace_selector);
  ex.strings("serviceAccounts", s.exemptions.service_accounts, kMaxListEntries);
  ex.finish();
  r.items("quarantine", s.quarantine, kLegacyQuarantineEntryFields, kMaxQuarantineEntries);
  auto scoring = r.object("scoring");
  if (auto t = scoring.integer("threshold", 1, INT_MAX, "must be a positive integer")) {
    s.scoring.threshold = *t;
  }
  scoring.integer_map("weights", s.scoring.weights, 0, 1000000,
                      "must be an integer between 0 and 1000000");
  scoring.finish();
  auto agent = r.object("agent");
  auto exclusions = agent.object("exclusions");
  exclusions.strings("executables", s.agent_exclusions.executables, kMaxListEntries);
  exclusions.strings("namespaces", s.agent_exclusions.namespaces, kMaxListEntries);
  selector(exclusions, "podSelector", s.agent_exclusions.pod_selector);
  exclusions.finish();
  agent.finish();
};

// An absent or null spec is the defaults, silently; anything else is decoded.
template <typename Spec, typename Node, typename Fields>
Spec decode_spec(Node spec, std::vector<std::string>* problems, FieldTrace* trace,
                 const Fields& fields, const FieldWording* wording) {
  if (!spec.present() && trace == nullptr) return Spec{};
  // In trace mode an absent spec is walked as {} so that every field is traced.
  if (!spec.present()) {
    FieldReader<Node> r(Node(), "spec", trace, nullptr, wording);
    Spec out;
    fields(r, out);
    return out;
  }
  return decode_object<Spec>(spec, "spec", trace, problems, fields, wording);
}

}  // namespace orderguard::api::detail
