#include "webhook/admission.h"

#include "policy/finding.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

AdmissionReply invalid(std::string message) {
  AdmissionReply reply;
  reply.http_status = 400;
  reply.decision = "invalid";
  reply.message = message;
  reply.body = "invalid AdmissionReview: " + std::move(message) + "\n";
  return reply;
}

std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

policy::Decision deny(std::string message) {
  policy::Decision d;
  d.allowed = false;
  d.message = std::move(message);
  return d;
}

// MinerPolicy objects are checked by compiling them: what cannot be compiled
// would otherwise be silently ignored by every webhook replica and agent.
policy::Decision decide_miner_policy(const json& request) {
  const std::string op = string_at(request, "operation");
  policy::Decision d;
  if (op != "CREATE" && op != "UPDATE") return d;
  auto compiled = policy::compile(request.value("object", json::object()));
  if (!compiled.ok()) return deny("invalid MinerPolicy: " + compiled.error().message);
  return d;
}

}  // namespace

policy::Decision decide(const json& request, const AdmissionContext& context) {
  const json kind_obj = request.value("kind", json::object());
  const std::string kind = string_at(kind_obj, "kind");
  const std::string group = string_at(kind_obj, "group");
  if (kind == policy::kMinerPolicyKind && group == "security.orderguard.io") {
    return decide_miner_policy(request);
  }
  if (context.extra_validation && group == "tiers.orderguard.io") {
    const std::string op = string_at(request, "operation");
    if (op != "CREATE" && op != "UPDATE") return {};
    auto problems = context.extra_validation(kind, request.value("object", json::object()));
    if (problems.empty()) return {};
    std::string message = "invalid " + kind + ": ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    return deny(message);
  }

  policy::AdmissionInput input;
  input.kind = kind;
  input.sub_resource = string_at(request, "subResource");
  input.operation = string_at(request, "operation");
  input.namespace_name = string_at(request, "namespace");
  input.name = string_at(request, "name");
  const json user = request.value("userInfo", json::object());
  input.user.username = string_at(user, "username");
  if (user.is_object() && user.contains("groups") && user["groups"].is_array()) {
    for (const auto& g : user["groups"]) {
      if (g.is_string()) input.user.groups.push_back(g.get<std::string>());
    }
  }
  input.object = request.value("object", json());
  input.old_object = request.value("oldObject", json());
  if (context.namespace_labels && !input.namespace_name.empty()) {
    input.namespace_labels = context.namespace_labels(input.namespace_name);
  }
  static const auto kDefault = std::make_shared<const policy::PolicySet>(policy::combine({}));
  const auto& policies = context.policies ? *context.policies : *kDefault;
  return policy::evaluate(policies, input);
}

AdmissionReply review(std::string_view body, const AdmissionContext& context) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("body is not JSON");
  if (!doc.is_object()) return invalid("body is not a JSON object");
  if (string_at(doc, "apiVersion") != kAdmissionApiVersion) {
    return invalid("apiVersion must be admission.k8s.io/v1, got '" +
                   policy::truncate_utf8(string_at(doc, "apiVersion"), 64) + "'");
  }
  if (string_at(doc, "kind") != "AdmissionReview") {
    return invalid("kind must be AdmissionReview, got '" +
                   policy::truncate_utf8(string_at(doc, "kind"), 64) + "'");
  }
  auto req_it = doc.find("request");
  if (req_it == doc.end() || !req_it->is_object()) return invalid("request is missing");
  const json& request = *req_it;
  const std::string uid = string_at(request, "uid");
  if (uid.empty()) return invalid("request.uid is missing");

  AdmissionReply reply;
  reply.uid = uid;
  reply.kind = string_at(request.value("kind", json::object()), "kind");
  reply.operation = string_at(request, "operation");
  reply.namespace_name = string_at(request, "namespace");
  reply.name = string_at(request, "name");

  policy::Decision d;
  try {
    d = decide(request, context);
  } catch (const std::exception& e) {
    // A bug must not turn into an allow: refuse, and say why.
    d = deny(std::string("internal error while evaluating the request: ") + e.what());
  }

  json response = {{"uid", uid}, {"allowed", d.allowed}};
  if (!d.allowed) {
    response["status"] = {{"code", 403}, {"reason", "Forbidden"}, {"message", d.message}};
  }
  if (!d.warnings.empty()) response["warnings"] = d.warnings;
  if (!d.audit_annotations.empty()) response["auditAnnotations"] = d.audit_annotations;

  for (const auto& f : d.findings) {
    if (std::find(reply.rules.begin(), reply.rules.end(), f.rule_id) == reply.rules.end()) {
      reply.rules.push_back(f.rule_id);
    }
  }
  if (!d.allowed) {
    reply.decision = "denied";
  } else {
    auto it = d.audit_annotations.find("miner-decision");
    reply.decision = it != d.audit_annotations.end() && it->second != "denied"
                         ? it->second
                         : (d.warnings.empty() ? "allowed" : "warned");
  }
  reply.message = d.message;
  reply.body = json{{"apiVersion", kAdmissionApiVersion},
                    {"kind", "AdmissionReview"},
                    {"response", std::move(response)}}
                   .dump(-1, ' ', false, json::error_handler_t::replace);
  return reply;
}

}  // namespace orderguard::webhook
