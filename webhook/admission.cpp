#include "webhook/admission.h"

#include <algorithm>
#include <iterator>

#include "base/json_doc.h"
#include "base/text.h"
#include "policy/finding.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

// What the webhook can be registered for (charts/orderguard/templates/webhook.yaml, plus
// podtemplates, which carry a pod spec too): each resource, and the kind the API server
// sends with it. An AdmissionReview names both; a request for anything else, or whose kind
// is not its resource's, was not meant for these checks (a hand-edited webhook rule, a
// newer API server, a forged body), and allowing it unchecked would let a miner through.
struct Route {
  std::string_view group;
  std::string_view resource;
  std::string_view sub_resource;
  std::string_view kind;
};

constexpr Route kRoutes[] = {
    {"", "pods", "", "Pod"},
    {"", "pods", "ephemeralcontainers", "Pod"},
    {"", "pods", "exec", "PodExecOptions"},
    {"", "replicationcontrollers", "", "ReplicationController"},
    {"", "podtemplates", "", "PodTemplate"},
    {"", "configmaps", "", "ConfigMap"},
    {"", "secrets", "", "Secret"},
    {"apps", "deployments", "", "Deployment"},
    {"apps", "statefulsets", "", "StatefulSet"},
    {"apps", "daemonsets", "", "DaemonSet"},
    {"apps", "replicasets", "", "ReplicaSet"},
    {"batch", "jobs", "", "Job"},
    {"batch", "cronjobs", "", "CronJob"},
    {"security.orderguard.io", "minerpolicies", "", policy::kMinerPolicyKind},
    {"security.orderguard.io", "quarantines", "", policy::kQuarantineKind},
    {"tiers.orderguard.io", "orderservices", "", "OrderService"},
    {"tiers.orderguard.io", "cachetiers", "", "CacheTier"},
    {"tiers.orderguard.io", "shardsets", "", "ShardSet"},
};

// The operations of admission.k8s.io/v1. CONNECT comes only with a connect subresource
// (pods/exec here), and nothing else comes with one.
constexpr std::string_view kOperations[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};

std::string in_quotes(std::string_view s) { return "'" + truncate_utf8(s, 64) + "'"; }

// Why `request` cannot be routed to a check ("" when it can): request.operation, .kind and
// .resource must be present, known and agree with each other.
std::string unroutable(JsonRef request) {
  const JsonRef operation = request.find("operation");
  if (!operation.is_string()) return "request.operation is missing";
  const std::string_view op = operation.string();
  if (std::find(std::begin(kOperations), std::end(kOperations), op) == std::end(kOperations)) {
    return "request.operation " + in_quotes(op) + " is not one of CREATE, UPDATE, DELETE, CONNECT";
  }
  // GroupVersionKind and GroupVersionResource: every field is always sent (the core
  // group as "").
  const JsonRef kind = request.find("kind");
  for (std::string_view field : {"group", "version", "kind"}) {
    if (!kind.find(field).is_string()) return "request.kind." + std::string(field) + " is missing";
  }
  const JsonRef resource = request.find("resource");
  for (std::string_view field : {"group", "version", "resource"}) {
    if (!resource.find(field).is_string()) {
      return "request.resource." + std::string(field) + " is missing";
    }
  }
  if (kind.string_member("version").empty() || kind.string_member("kind").empty()) {
    return "request.kind is incomplete";
  }
  if (resource.string_member("version").empty() || resource.string_member("resource").empty()) {
    return "request.resource is incomplete";
  }
  const JsonRef sub = request.find("subResource");  // omitted when empty
  if (sub.valid() && !sub.is_string()) return "request.subResource is not a string";
  const std::string_view group = resource.string_member("group");
  const std::string_view name = resource.string_member("resource");
  const std::string_view sub_resource = sub.string();
  const auto route = std::find_if(std::begin(kRoutes), std::end(kRoutes), [&](const Route& r) {
    return r.group == group && r.resource == name && r.sub_resource == sub_resource;
  });
  // group/resource[/subresource], for the messages only: a routable request never builds it.
  const auto full = [&] {
    std::string out(group);
    if (!out.empty()) out += '/';
    out += name;
    if (!sub_resource.empty()) (out += '/') += sub_resource;
    return out;
  };
  if (route == std::end(kRoutes)) {
    return "resource " + in_quotes(full()) + " is not one orderguard checks";
  }
  if (kind.string_member("group") != route->group || kind.string_member("kind") != route->kind) {
    return "kind " + in_quotes(kind.string_member("kind")) + " of group " +
           in_quotes(kind.string_member("group")) + " is not the kind of resource " +
           in_quotes(full());
  }
  if ((op == "CONNECT") != (route->sub_resource == "exec")) {
    return "operation " + std::string(op) + " does not apply to resource " + in_quotes(full());
  }
  return "";
}

AdmissionReply invalid(std::string message) {
  AdmissionReply reply;
  reply.http_status = 400;
  reply.decision = "invalid";
  reply.message = message;
  reply.body = "invalid AdmissionReview: " + std::move(message) + "\n";
  return reply;
}

policy::Decision deny(std::string message) {
  policy::Decision d;
  d.allowed = false;
  d.message = std::move(message);
  return d;
}

// What a request without an object is read as (an empty object, as when the request was a
// DOM and `value("object", json::object())` stood in for it).
JsonRef object_or_empty(JsonRef object) {
  static const JsonDoc kEmpty = JsonDoc::parse("{}").value();
  return object.valid() ? object : kEmpty.root();
}

// MinerPolicy objects are checked by compiling them: what cannot be compiled
// would otherwise be silently ignored by every webhook replica and agent.
policy::Decision decide_miner_policy(const Request& request) {
  policy::Decision d;
  if (request.operation != "CREATE" && request.operation != "UPDATE") return d;
  auto compiled = policy::compile(object_or_empty(request.object));
  if (!compiled.ok()) return deny("invalid MinerPolicy: " + compiled.error().message);
  if (!compiled->quarantine.empty()) {
    // Entries there make GitOps tools see drift; objects replace them (README, "Quarantine").
    d.warnings.push_back(
        "spec.quarantine is deprecated: its " + std::to_string(compiled->quarantine.size()) +
        " entries are still enforced; create Quarantine objects instead and remove them");
  }
  return d;
}

policy::Decision decide_quarantine(const Request& request) {
  policy::Decision d;
  if (request.operation != "CREATE" && request.operation != "UPDATE") return d;
  auto compiled = policy::compile_quarantine(object_or_empty(request.object));
  if (!compiled.ok()) return deny("invalid Quarantine: " + compiled.error().message);
  return d;
}

// The fields of an AdmissionRequest (an object), as views into its document.
Request read_request(JsonRef request) {
  Request r;
  const JsonRef kind = request.find("kind");
  r.group = kind.string_member("group");
  r.kind = kind.string_member("kind");
  r.sub_resource = request.string_member("subResource");
  r.operation = request.string_member("operation");
  r.namespace_name = request.string_member("namespace");
  r.name = request.string_member("name");
  r.user_info = request.find("userInfo");
  r.object = request.find("object");
  r.old_object = request.find("oldObject");
  return r;
}

}  // namespace

// The object and old object are handed to the policy as refs into the caller's document,
// uncopied.
policy::Decision decide(const Request& request, const AdmissionContext& context) {
  if (request.kind == policy::kMinerPolicyKind && request.group == "security.orderguard.io") {
    return decide_miner_policy(request);
  }
  if (request.kind == policy::kQuarantineKind && request.group == "security.orderguard.io") {
    return decide_quarantine(request);
  }
  if (request.group == "tiers.orderguard.io") {
    // The CRD schema refuses what is malformed; what depends on other objects
    // (references, zones) is only a warning: the other object may come next.
    policy::Decision d;
    const std::string_view op = request.operation;
    if (context.tier_warnings && (op == "CREATE" || op == "UPDATE")) {
      d.warnings = context.tier_warnings(std::string(request.kind), request.object);
    }
    return d;
  }

  policy::AdmissionInput input;
  input.kind = std::string(request.kind);
  input.sub_resource = std::string(request.sub_resource);
  input.operation = std::string(request.operation);
  input.namespace_name = std::string(request.namespace_name);
  input.name = std::string(request.name);
  if (const JsonRef user = request.user_info; user.is_object()) {
    input.user.username = std::string(user.string_member("username"));
    if (const JsonRef groups = user.find("groups"); groups.is_array()) {
      for (JsonRef g : groups) {
        if (g.is_string()) input.user.groups.emplace_back(g.string());
      }
    }
  }
  // A missing object or old object reads as null (policy/decision.h).
  input.object_ref = request.object;
  input.old_object_ref = request.old_object;
  if (context.namespace_labels && !input.namespace_name.empty()) {
    input.namespace_labels = context.namespace_labels(input.namespace_name);
  }
  input.quarantines = context.quarantines.get();
  input.now = context.now;
  static const auto kDefault = std::make_shared<const policy::PolicySet>(policy::combine({}));
  const auto& policies = context.policies ? *context.policies : *kDefault;
  return policy::evaluate(policies, input);
}

namespace {

// {"allowed":true,"uid":...}: the answer to most requests, without building a DOM.
std::string plain_allow_body(std::string_view uid) {
  std::string body = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
                     R"("response":{"allowed":true,"uid":)";
  body += dump_for_wire(json(uid));
  body += "}}";
  return body;
}

}  // namespace

AdmissionReply review(std::string_view body, const AdmissionContext& context) {
  Result<JsonDoc> parsed = JsonDoc::parse(body);
  if (!parsed.ok()) return invalid("body is not JSON: " + parsed.error().message);
  // The API server's serializer never repeats a key; a body that does was not written by
  // it, and readers that keep the first and the last of two keys would see two requests.
  if (Status unique = parsed->check_unique_keys(); !unique.ok()) {
    return invalid("body has a " + unique.error().message);
  }
  const JsonRef doc = parsed->root();
  if (!doc.is_object()) return invalid("body is not a JSON object");
  if (doc.string_member("apiVersion") != kAdmissionApiVersion) {
    return invalid("apiVersion must be admission.k8s.io/v1, got '" +
                   truncate_utf8(doc.string_member("apiVersion"), 64) + "'");
  }
  if (doc.string_member("kind") != "AdmissionReview") {
    return invalid("kind must be AdmissionReview, got '" +
                   truncate_utf8(doc.string_member("kind"), 64) + "'");
  }
  const JsonRef request = doc.find("request");
  if (!request.is_object()) return invalid("request is missing");
  const std::string uid(request.string_member("uid"));
  if (uid.empty()) return invalid("request.uid is missing");

  AdmissionReply reply;
  reply.uid = uid;
  reply.kind = std::string(request.find("kind").string_member("kind"));
  reply.operation = std::string(request.string_member("operation"));
  reply.namespace_name = std::string(request.string_member("namespace"));
  reply.name = std::string(request.string_member("name"));

  if (std::string why = unroutable(request); !why.empty()) {
    // Refused outright rather than answered with HTTP 400: with failurePolicy Ignore the
    // API server would admit what a 400 answers.
    reply.decision = "invalid";
    reply.message = "invalid AdmissionReview: " + why;
    reply.body = dump_for_wire(json{
        {"apiVersion", kAdmissionApiVersion},
        {"kind", "AdmissionReview"},
        {"response",
         {{"uid", uid},
          {"allowed", false},
          {"status", {{"code", 400}, {"reason", "BadRequest"}, {"message", reply.message}}}}}});
    return reply;
  }

  policy::Decision d;
  try {
    d = decide(read_request(request), context);
  } catch (const std::exception& e) {
    // A bug must not turn into an allow: refuse, and say why.
    d = deny(std::string("internal error while evaluating the request: ") + e.what());
  }

  if (d.allowed && d.warnings.empty() && d.audit_annotations.empty()) {
    reply.decision = "allowed";
    reply.body = plain_allow_body(uid);
    return reply;
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
  reply.refused_by = std::move(d.refused_by);
  reply.body = dump_for_wire(json{{"apiVersion", kAdmissionApiVersion},
                                  {"kind", "AdmissionReview"},
                                  {"response", std::move(response)}});
  return reply;
}

}  // namespace orderguard::webhook
