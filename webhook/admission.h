// The admission endpoint's logic, without any I/O: an AdmissionReview body in,
// an HTTP status and an AdmissionReview body out. The server (server.h) only
// moves bytes; everything the API server can send, including garbage, is
// handled here and covered by unit tests and a fuzz target.
//
// Contract:
// - A well-formed admission.k8s.io/v1 AdmissionReview always gets HTTP 200 with
//   apiVersion, kind and response.uid echoed; a denial is `allowed: false` with
//   status code 403, reason Forbidden, and a message naming every rule, container
//   and field path (policy/decision.h).
// - Anything else (not JSON, a key repeated in any object, another apiVersion or
//   kind, no request, no uid) gets HTTP 400 with a message saying what is wrong.
//   The API server treats that as a call error and applies the webhook's
//   failurePolicy, so a broken request can never be silently allowed by this code.
// - A request with a uid whose operation, kind or resource is missing or unknown, or
//   whose kind is not the kind of its resource, is refused: HTTP 200, `allowed: false`,
//   status code 400, reason BadRequest. A refusal, not HTTP 400, because the entries
//   with failurePolicy Ignore would admit it otherwise. Operations: CREATE, UPDATE,
//   DELETE, CONNECT (only with pods/exec); resources: those the chart registers.
// - MinerPolicy objects are themselves validated: a policy that does not compile
//   (bad regex, bad image pattern, ...) is refused with every problem listed. One that still
//   carries spec.quarantine entries is admitted with a warning that they are deprecated.
// - Quarantine objects are validated the same way (policy/quarantine.h), for what the CRD's
//   schema cannot check (image references).
// - Never throws.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_doc.h"
#include "policy/decision.h"
#include "policy/miner_policy.h"
#include "policy/quarantine.h"

namespace orderguard::webhook {

// What the decision needs besides the request: the policies in force and the
// labels of namespaces (for namespaceSelector exemptions).
struct AdmissionContext {
  std::shared_ptr<const policy::PolicySet> policies;
  // The Quarantine objects in force (null: none) and the wall time their expiry is compared
  // with (policy/decision.h).
  std::shared_ptr<const policy::QuarantineSet> quarantines;
  WallTime now{};
  // Labels of a namespace by name; nullopt when unknown.
  std::function<std::optional<std::map<std::string, std::string>>(const std::string&)>
      namespace_labels;
  // Cross-resource checks of the tier resources (tiers.orderguard.io): warnings
  // as "field: message", never denials (webhook/tier_checks.h). Empty function: none.
  std::function<std::vector<std::string>(const std::string& kind, JsonRef object)> tier_warnings;
};

struct AdmissionReply {
  int http_status = 200;
  std::string body;  // JSON; for 400 a plain-text message
  // For metrics and logs.
  std::string kind;                // request.kind.kind, or "" when unreadable
  std::string operation;           // request.operation
  std::string decision;            // "allowed", "denied", "warned", "audit", "exempt", "invalid"
  std::vector<std::string> rules;  // rule ids found
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::string message;  // denial or error message
  // The MinerPolicies that refused the request (policy::Decision::refused_by): the
  // admission denials counted per policy (metric and MinerPolicy status).
  std::vector<std::string> refused_by;
};

AdmissionReply review(std::string_view body, const AdmissionContext& context);

// An AdmissionRequest's fields as decide() reads them: views into a request's document
// (review), or made up by the audit for an object it lists. Every view and ref must outlive
// the decide() call; an invalid object or old object reads as null.
struct Request {
  std::string_view group;         // request.kind.group
  std::string_view kind;          // request.kind.kind
  std::string_view sub_resource;  // request.subResource
  std::string_view operation;     // CREATE, UPDATE, DELETE, CONNECT
  std::string_view namespace_name;
  std::string_view name;
  JsonRef user_info;  // request.userInfo; invalid: no requester (the audit)
  JsonRef object;
  JsonRef old_object;
};

// The decision for a request already read; exposed for tests and the audit.
policy::Decision decide(const Request& request, const AdmissionContext& context);

}  // namespace orderguard::webhook
