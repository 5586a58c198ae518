#include "policy/decision.h"

#include <algorithm>
#include <set>
#include <span>

#include "base/text.h"
#include "policy/config_object.h"
#include "policy/pod_context.h"
#include "policy/rules.h"
#include "policy/workload.h"

namespace orderguard::policy {
namespace {

constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";

// Why `policy` exempts the request, or nullopt.
std::optional<std::string> exemption(const CompiledPolicy& policy, const AdmissionInput& input,
                                     const PodContext& pod) {
  const Exemptions& ex = policy.exemptions;
  const std::string& ns = pod.namespace_name;
  // Built only when a request is exempt: most are not.
  auto prefix = [&policy] { return "MinerPolicy " + policy.name + ": "; };
  if (!ns.empty() && ex.namespaces.count(ns) > 0) {
    return prefix() + "namespace " + ns + " is exempt";
  }
  if (ex.namespace_selector && input.namespace_labels &&
      ex.namespace_selector->matches(*input.namespace_labels)) {
    return prefix() + "namespace " + ns + " matches the exempt namespaceSelector";
  }
  for (const ServiceAccountRef& sa : ex.service_accounts) {
    std::string account = sa.namespace_name + ":" + sa.name;
    if (input.user.username == std::string(kServiceAccountPrefix) + account) {
      return prefix() + "requester is exempt service account " + account;
    }
    if (pod.kind != "PodExecOptions" && ns == sa.namespace_name && pod.service_account == sa.name) {
      return prefix() + "pod runs as exempt service account " + account;
    }
  }
  return std::nullopt;
}

std::string warning_for(const Finding& f, bool audit) {
  std::string w = audit ? "[audit] " : "[warn] ";
  w += f.rule_id;
  w += ": ";
  if (!f.container.empty()) w += "container " + f.container + ": ";
  w += f.message;
  return truncate_utf8(w, kMaxWarningBytes);
}

std::string join_capped(const std::vector<std::string>& parts, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string next = (i > 0 ? "; " : "") + parts[i];
    if (out.size() + next.size() > max_bytes) {
      out += "; and " + std::to_string(parts.size() - i) + " more";
      break;
    }
    out += next;
  }
  return out;
}

// The pod spec of `object`, for comparing an UPDATE with its oldObject.
JsonRef pod_spec(JsonRef object, std::string_view kind) {
  Result<PodSpecView> view = pod_spec_of(object, kind);
  return view.ok() ? view->spec : JsonRef();
}

bool being_deleted(JsonRef object) {
  JsonRef ts = object.find("metadata").find("deletionTimestamp");
  return ts.valid() && !ts.is_null();
}

bool unchanged(JsonRef before, JsonRef after) {
  if (!before.valid() || !after.valid()) return false;
  // The API server writes both from the same structs: equal bytes are the common case.
  return before.raw() == after.raw() || before == after;
}

Decision allow(std::string reason) {
  Decision d;
  d.reason = std::move(reason);
  return d;
}

Decision evaluate_span(std::span<const CompiledPolicy* const> policies,
                       const AdmissionInput& input) {
  bool exec = input.kind == "PodExecOptions";
  if (exec ? input.operation != "CONNECT"
           : input.operation != "CREATE" && input.operation != "UPDATE") {
    return allow("operation " + input.operation + " of " + input.kind + " is not checked");
  }
  const bool config_kind = !exec && is_config_kind(input.kind);
  if (!exec && !config_kind && !has_pod_spec(input.kind)) {
    return allow("kind " + input.kind + " has no pod spec");
  }
  const JsonRef object = input.object_ref;
  if (being_deleted(object)) return allow("object is being deleted");
  const JsonRef old_object = input.old_object_ref;

  PodContext pod;
  std::optional<ConfigContext> config;
  if (exec) {
    pod = collect_exec_context(object);
  } else if (config_kind) {
    if (!object.is_object()) {
      Decision d;
      d.allowed = false;
      d.message = "cannot read the " + input.kind + ": the object is not a JSON object";
      return d;
    }
    if (input.operation == "UPDATE" && config_data_unchanged(old_object, object)) {
      return allow("data unchanged");
    }
    config = collect_config_context(object, input.kind);
    // What exemptions look at; a ConfigMap runs as no service account.
    pod.kind = config->kind;
    pod.namespace_name = config->namespace_name;
    pod.name = config->name;
  } else {
    Result<PodContext> collected = collect_pod_context(object, input.kind);
    if (!collected.ok()) {
      Decision d;
      d.allowed = false;
      d.message = "cannot read the pod spec: " + collected.error().message;
      return d;
    }
    pod = std::move(collected).value();
    if (input.operation == "UPDATE" && old_object.valid() && !old_object.is_null() &&
        unchanged(pod_spec(old_object, input.kind), pod_spec(object, input.kind))) {
      return allow("pod spec unchanged");
    }
  }
  // The request's namespace is authoritative (the API server has already made the object's
  // agree with it); the name may only be in one of the two (generateName).
  if (!input.namespace_name.empty()) pod.namespace_name = input.namespace_name;
  if (pod.name.empty()) pod.name = input.name;

  Decision d;
  std::vector<std::string> causes;
  std::set<std::string> seen_causes;
  std::vector<std::string> exempt_reasons;
  std::set<std::string> rules;
  std::set<std::string> policies_with_findings;
  bool any_audit_finding = false;
  if (input.quarantines != nullptr) {
    std::vector<Finding> found;
    find_quarantined_images(pod, input.quarantines->images, input.now, &found);
    find_quarantined_workloads(pod, input.quarantines->workloads_in(pod.namespace_name), input.now,
                               &found);
    if (!found.empty()) {
      d.allowed = false;
      policies_with_findings.insert(std::string(kQuarantineKind));  // miner-policies annotation
    }
    for (Finding& f : found) {
      rules.insert(f.rule_id);
      std::string cause = format_cause(f);
      if (seen_causes.insert(cause).second) causes.push_back(std::move(cause));
      d.findings.push_back(std::move(f));
    }
  }
  for (const CompiledPolicy* policy : policies) {
    if (std::optional<std::string> why = exemption(*policy, input, pod)) {
      exempt_reasons.push_back(std::move(*why));
      continue;
    }
    std::vector<Finding> findings =
        config ? run_config_rules(*config, *policy) : run_rules(pod, *policy);
    if (findings.empty()) continue;
    policies_with_findings.insert(policy->name);
    bool audit = policy->mode == Mode::kAudit;
    bool strong = std::any_of(findings.begin(), findings.end(),
                              [](const Finding& f) { return f.severity == Severity::kStrong; });
    bool refuse = !audit && strong;
    if (refuse) d.allowed = false;
    if (strong && !policy->object_name.empty()) {
      (refuse ? d.refused_by : d.reported_by).push_back(policy->object_name);
    }
    if (audit) any_audit_finding = true;
    for (Finding& f : findings) {
      rules.insert(f.rule_id);
      std::string cause = format_cause(f);
      if (refuse) {
        if (seen_causes.insert(cause).second) causes.push_back(std::move(cause));
      } else if (d.warnings.size() < kMaxWarnings) {
        std::string w = warning_for(f, audit);
        if (std::find(d.warnings.begin(), d.warnings.end(), w) == d.warnings.end()) {
          d.warnings.push_back(std::move(w));
        }
      }
      d.findings.push_back(std::move(f));
    }
  }

  if (!d.allowed) d.message = join_capped(causes, kMaxMessageBytes);
  if (d.findings.empty() && !exempt_reasons.empty()) {
    d.reason = join_capped(exempt_reasons, kMaxAnnotationBytes);
  }

  auto& a = d.audit_annotations;
  if (!d.findings.empty()) {
    a["miner-decision"] = !d.allowed ? "denied" : any_audit_finding ? "audit" : "warned";
    std::string list;
    for (const std::string& r : rules) list += (list.empty() ? "" : ",") + r;
    a["miner-rules"] = list;
    list.clear();
    for (const std::string& p : policies_with_findings) list += (list.empty() ? "" : ",") + p;
    a["miner-policies"] = list;
    std::vector<std::string> all;
    for (const Finding& f : d.findings) all.push_back(format_cause(f));
    a["miner-findings"] = join_capped(all, kMaxAnnotationBytes);
  } else if (!exempt_reasons.empty()) {
    a["miner-decision"] = "exempt";
  }
  if (!exempt_reasons.empty()) a["miner-exempt"] = join_capped(exempt_reasons, kMaxAnnotationBytes);
  return d;
}

}  // namespace

Decision evaluate(const PolicySet& policies, const AdmissionInput& input) {
  try {
    std::vector<const CompiledPolicy*> ptrs;
    if (policies.policies.empty()) {
      // combine() never yields an empty set; a hand-built one still gets the default.
      static const CompiledPolicy* const kDefault = new CompiledPolicy(built_in_default());
      ptrs.push_back(kDefault);
    }
    for (const CompiledPolicy& p : policies.policies) ptrs.push_back(&p);
    return evaluate_span(ptrs, input);
  } catch (const std::exception& e) {
    Decision d;
    d.allowed = false;
    d.message = std::string("cannot read the object: ") + e.what();
    return d;
  }
}

Decision evaluate(const CompiledPolicy& policy, const AdmissionInput& input) {
  try {
    const CompiledPolicy* ptr = &policy;
    return evaluate_span(std::span<const CompiledPolicy* const>(&ptr, 1), input);
  } catch (const std::exception& e) {
    Decision d;
    d.allowed = false;
    d.message = std::string("cannot read the object: ") + e.what();
    return d;
  }
}

}  // namespace orderguard::policy
