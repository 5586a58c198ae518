// The decoders over a JsonRef (the webhook's requests and the documents policy/ compiles);
// see security_fields.h.
#include "api/security.h"

#include "api/security_fields.h"

namespace orderguard::api {

using detail::decode_spec;

MinerPolicySpec decode_miner_policy(JsonRef spec, std::vector<std::string>* problems,
                                    FieldTrace* trace) {
  return decode_spec<MinerPolicySpec>(JsonRefNode(spec), problems, trace,
                                      detail::kMinerPolicyFields, &detail::kMinerPolicyWording);
}
QuarantineSpec decode_quarantine(JsonRef spec, std::vector<std::string>* problems,
                                 FieldTrace* trace) {
  return decode_spec<QuarantineSpec>(JsonRefNode(spec), problems, trace, detail::kQuarantineFields,
                                     &kDefaultWording);
}
MinerPolicySpec read_miner_policy(JsonRef spec) { return decode_miner_policy(spec, nullptr); }
QuarantineSpec read_quarantine(JsonRef spec) { return decode_quarantine(spec, nullptr); }

}  // namespace orderguard::api
