// The best-effort reads over an nlohmann DOM (the informer caches); see security_fields.h.
#include "api/security.h"
#include "api/security_fields.h"

namespace orderguard::api {

using detail::decode_spec;

MinerPolicySpec read_miner_policy(const nlohmann::json& spec) {
  return decode_spec<MinerPolicySpec>(NlohmannNode(spec), nullptr, nullptr,
                                      detail::kMinerPolicyFields, &detail::kMinerPolicyWording);
}
QuarantineSpec read_quarantine(const nlohmann::json& spec) {
  return decode_spec<QuarantineSpec>(NlohmannNode(spec), nullptr, nullptr,
                                     detail::kQuarantineFields, &kDefaultWording);
}

}  // namespace orderguard::api
