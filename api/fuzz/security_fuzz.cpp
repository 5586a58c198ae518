// Fuzz target over the security.orderguard.io decoders (api/security.h) and the reader
// under them (base/field_reader.h): the input is a JSON text taken as the spec of a
// MinerPolicy and of a Quarantine.
//
// Oracle: nothing throws or crashes; the JsonRef and nlohmann adapters read the same
// values at best effort; a spec that decodes strictly reads the same at best effort;
// tracing changes nothing; every problem names a field under "spec". A violation aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/fuzz/oracle.h"
#include "api/security.h"

namespace {

namespace api = orderguard::api;

using orderguard::api::fuzz::check;
using orderguard::api::fuzz::join;

std::string summary(const api::LabelSelectorSpec& s) {
  std::string out;
  for (const auto& [k, v] : s.match_labels) out += k + "=" + v + ",";
  for (const auto& e : s.match_expressions) out += e.key + " " + e.op + " " + join(e.values) + ";";
  return out;
}
std::string summary(const std::optional<api::LabelSelectorSpec>& s) {
  return s ? "{" + summary(*s) + "}" : "-";
}
std::string summary(const api::QuarantineSpec& q) {
  return q.scope + "/" + q.namespace_name + "/" + q.workload.kind + "/" + q.workload.name + "/" +
         q.image + "/" + q.reason + "/" + q.time + "/" + q.node_name + "/" + q.created_by + "/" +
         q.expires_at;
}
std::string summary(const api::MinerPolicySpec& s) {
  std::string out = s.mode + "/" + std::to_string(s.builtin_indicators) + "/" +
                    join(s.blocked_images) + "/" + join(s.blocked_digests) + "/" +
                    join(s.allowed_registries) + "/" + join(s.pool_hosts) + "/";
  for (const auto& sig : s.signatures) {
    out += sig.name + ":" + sig.literal.value_or("-") + ":" + sig.regex.value_or("-") + ":" +
           sig.severity + ",";
  }
  for (int64_t p : s.miner_ports) out += std::to_string(p) + ",";
  out += join(s.exemptions.namespaces) + summary(s.exemptions.namespace_selector) +
         join(s.exemptions.service_accounts);
  for (const auto& q : s.quarantine) out += summary(q) + ";";
  out += std::to_string(s.scoring.threshold);
  for (const auto& [k, v] : s.scoring.weights) out += k + "=" + std::to_string(v) + ",";
  out += join(s.agent_exclusions.executables) + join(s.agent_exclusions.namespaces) +
         summary(s.agent_exclusions.pod_selector);
  return out;
}

template <typename Decode, typename ReadDom>
void one_kind(const nlohmann::json& dom, orderguard::JsonRef ref, Decode decode, ReadDom read_dom) {
  const auto best_effort = summary(decode(ref, nullptr, nullptr));
  check(summary(read_dom(dom)) == best_effort, "adapters read different values");
  std::vector<std::string> problems;
  const auto strict = summary(decode(ref, &problems, nullptr));
  std::vector<std::string> traced_problems;
  orderguard::FieldTrace trace;
  const auto traced = summary(decode(ref, &traced_problems, &trace));
  check(strict == traced && problems == traced_problems, "tracing changed the decoding");
  if (problems.empty()) check(strict == best_effort, "strict and best-effort reads differ");
  for (const auto& p : problems) {
    check(p.starts_with("spec") && p.find(": ") != std::string::npos,
          "a problem without its field path");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = orderguard::JsonDoc::parse(text, 64);
  if (!doc.ok()) return 0;
  const orderguard::JsonRef ref = doc->root();
  const nlohmann::json dom = ref.to_json();
  one_kind(
      dom, ref,
      [](orderguard::JsonRef r, std::vector<std::string>* p, orderguard::FieldTrace* t) {
        return api::decode_miner_policy(r, p, t);
      },
      [](const nlohmann::json& j) { return api::read_miner_policy(j); });
  one_kind(
      dom, ref,
      [](orderguard::JsonRef r, std::vector<std::string>* p, orderguard::FieldTrace* t) {
        return api::decode_quarantine(r, p, t);
      },
      [](const nlohmann::json& j) { return api::read_quarantine(j); });
  return 0;
}
