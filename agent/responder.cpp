#include "agent/responder.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <map>

#include "base/log.h"
#include "base/text.h"
#include "base/time_format.h"
#include "policy/finding.h"
#include "policy/indicators.h"

namespace orderguard::agent {

using nlohmann::json;
namespace res = kube::resources;

const kube::Resource kMinerPoliciesResource{"security.orderguard.io", "v1alpha1", "minerpolicies",
                                            false, "MinerPolicy"};
const kube::Resource kQuarantinesResource{"security.orderguard.io", "v1alpha1", "quarantines",
                                          false, "Quarantine"};

namespace {

// Read-modify-write retries on a resourceVersion conflict: each retry re-reads, so more than a
// few means another writer is hot-looping, not that we lost a race.
constexpr int kConflictRetries = 5;
constexpr size_t kNoteMaxBytes = 1000;  // events.k8s.io/v1 note limit is 1 kB
constexpr size_t kExcerptBytes = 120;

std::string_view basename(std::string_view path) {
  // "/tmp/x (deleted)" names the file that was deleted.
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.ends_with(kDeleted)) {
    path.remove_suffix(kDeleted.size());
  }
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string str(const json& j, std::string_view key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json* controller_ref(const json& object) {
  const json* meta =
      object.is_object() && object.contains("metadata") ? &object["metadata"] : nullptr;
  if (!meta || !meta->contains("ownerReferences") || !(*meta)["ownerReferences"].is_array()) {
    return nullptr;
  }
  for (const json& ref : (*meta)["ownerReferences"]) {
    if (ref.is_object() && ref.value("controller", false)) return &ref;
  }
  return nullptr;
}

const json* find_container(const json& pod, std::string_view name) {
  if (!pod.is_object() || !pod.contains("spec")) return nullptr;
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
    auto it = pod["spec"].find(list);
    if (it == pod["spec"].end() || !it->is_array()) continue;
    for (const json& c : *it) {
      if (str(c, "name") == name) return &c;
    }
  }
  return nullptr;
}

std::string digest_of(std::string_view image) {
  if (image.starts_with("sha256:")) return std::string(image);
  size_t at = image.find("@sha256:");
  return at == std::string_view::npos ? std::string() : std::string(image.substr(at + 1));
}

std::string pod_key(std::string_view ns, std::string_view name) {
  return std::string(ns) + "/" + std::string(name);
}

// Runs the response to one process (or the Node mark). An exception (a library meeting bytes
// of the host or the API nobody planned for) is reported in the summary and logged, and the
// response carries on with the next one: respond() never fails.
template <typename Fn>
void guarded(const std::string& what, ResponseSummary* summary, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    summary->errors.push_back(what + ": " + e.what());
    log::error("response failed; carrying on", {{"target", what}, {"error", e.what()}});
  }
}

json pods_array(const json& pods) {
  if (pods.is_object() && pods.contains("items")) return pods["items"];
  return pods.is_array() ? pods : json::array();
}

const json* find_pod(const json& pods, const PodMatch& match) {
  for (const json& p : pods) {
    const json& meta = p.is_object() && p.contains("metadata") ? p["metadata"] : json();
    if (str(meta, "namespace") == match.namespace_name && str(meta, "name") == match.name) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace

bool pod_terminating(const json& pod) {
  if (!pod.is_object()) return false;
  auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->is_object()) return false;
  auto ts = meta->find("deletionTimestamp");
  return ts != meta->end() && !ts->is_null();
}

bool is_kernel_thread(const ProcessReport& process) {
  if (process.pid == 2 || process.ppid == 2) return true;
  return process.exe.empty() && process.cmdline.empty();
}

std::optional<std::string> process_exclusion(const ProcessReport& process, int self_pid) {
  if (process.pid == 1) return "pid-1";
  if (self_pid > 0 && process.pid == self_pid) return "self";
  if (is_kernel_thread(process)) return "kernel-thread";
  return std::nullopt;
}

policy::WorkloadRef resolve_workload(const json& pod, const ObjectFetcher& fetch) {
  std::string ns = str(pod.value("metadata", json::object()), "namespace");
  const json* owner = controller_ref(pod);
  if (!owner) return {"Pod", str(pod.value("metadata", json::object()), "name")};
  policy::WorkloadRef ref{str(*owner, "kind"), str(*owner, "name")};
  const kube::Resource* parent = nullptr;
  std::string_view top_kind;
  if (ref.kind == "ReplicaSet") {
    parent = &res::kReplicaSets;
    top_kind = "Deployment";
  } else if (ref.kind == "Job") {
    parent = &res::kJobs;
    top_kind = "CronJob";
  }
  if (!parent || !fetch) return ref;
  std::optional<json> intermediate = fetch(*parent, ns, ref.name);
  if (!intermediate) return ref;
  const json* top = controller_ref(*intermediate);
  if (top && str(*top, "kind") == top_kind) return {std::string(top_kind), str(*top, "name")};
  return ref;
}

bool image_is_miner(const policy::ImageRef& image, const policy::PolicySet& policies) {
  const policy::Indicators& ind = policy::Indicators::built_in();
  if (ind.builtin_image_match(image) || ind.miner_binary(image.repository())) return true;
  for (const policy::CompiledPolicy& p : policies.policies) {
    for (const policy::ImagePattern& pattern : p.blocked_images) {
      if (pattern.matches(image)) return true;
    }
    if (!image.digest.empty() && p.blocked_digests.contains(image.digest)) return true;
  }
  return false;
}

bool process_is_entrypoint(const ProcessReport& process, const json& container_spec,
                           const policy::ImageRef& image) {
  std::string_view entry;
  std::string command0;
  if (container_spec.is_object() && container_spec.contains("command") &&
      container_spec["command"].is_array() && !container_spec["command"].empty() &&
      container_spec["command"][0].is_string()) {
    command0 = container_spec["command"][0].get<std::string>();
    entry = basename(command0);
  } else {
    entry = image.repository();
  }
  if (entry.empty()) return false;
  std::string_view exe = basename(process.exe);
  // comm is cut to 15 characters by the kernel.
  std::string_view comm = process.comm;
  return exe == entry || (!comm.empty() && entry.substr(0, 15) == comm);
}

policy::QuarantineScope decide_scope(const ProcessReport& process, const json& pod,
                                     const PodMatch& match, const policy::PolicySet& policies) {
  for (const policy::Finding& f : process.findings) {
    if (f.rule_id == policy::kRuleBlockedImage || f.rule_id == policy::kRuleBlockedDigest) {
      return policy::QuarantineScope::kImage;
    }
  }
  Result<policy::ImageRef> image = policy::parse_image_ref(match.image);
  if (!image) return policy::QuarantineScope::kWorkload;
  std::string digest = digest_of(quarantine_image(match));
  if (image->digest.empty() && !digest.empty()) image->digest = digest;
  if (!image_is_miner(*image, policies)) return policy::QuarantineScope::kWorkload;
  const json* container = find_container(pod, match.container_name);
  if (!process_is_entrypoint(process, container ? *container : json::object(), *image)) {
    return policy::QuarantineScope::kWorkload;
  }
  return policy::QuarantineScope::kImage;
}

std::string quarantine_image(const PodMatch& match) {
  std::string_view id = match.image_id;
  for (std::string_view prefix : {"docker-pullable://", "docker://"}) {
    if (id.starts_with(prefix)) id.remove_prefix(prefix.size());
  }
  if (!id.empty()) {
    if (id.starts_with("sha256:") && policy::validate_digest(id).ok()) return std::string(id);
    if (policy::parse_image_ref(id).ok()) return std::string(id);
  }
  return match.image;
}

std::vector<std::string> rule_ids(const ProcessReport& process) {
  std::set<std::string> ids;
  for (const policy::Finding& f : process.findings) ids.insert(f.rule_id);
  return {ids.begin(), ids.end()};
}

std::string evidence_note(const ProcessReport& process, const PodMatch& match) {
  std::string rules;
  for (const std::string& id : rule_ids(process)) rules += (rules.empty() ? "" : ",") + id;
  // comm and the evidence are the process's own bytes, and kubectl prints notes as they are.
  std::string note = "miner process pid " + std::to_string(process.pid) + " (" +
                     escape_untrusted(process.comm) + ") in container " + match.container_name +
                     ", score " + std::to_string(process.score) + ", rules " + rules;
  for (const policy::Finding& f : process.findings) {
    std::string excerpt = f.evidence.empty() ? f.message : f.evidence;
    note += "; " + f.rule_id + ": " + truncate_utf8(escape_untrusted(excerpt), kExcerptBytes);
  }
  return truncate_utf8(note, kNoteMaxBytes);
}

bool set_node_condition(json& node, std::string_view type, std::string_view status,
                        std::string_view reason, std::string_view message, std::string_view now) {
  json& st = node["status"];
  if (!st.is_object()) st = json::object();
  json& conditions = st["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  json wanted = {{"type", type},       {"status", status},         {"reason", reason},
                 {"message", message}, {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
  for (json& c : conditions) {
    if (str(c, "type") != type) continue;
    if (str(c, "status") == status && str(c, "reason") == reason) return false;
    if (str(c, "status") == status)
      wanted["lastTransitionTime"] = c.value("lastTransitionTime", "");
    c = wanted;
    return true;
  }
  conditions.push_back(wanted);
  return true;
}

bool add_no_schedule_taint(json& node, std::string_view key, std::string_view now) {
  json& spec = node["spec"];
  if (!spec.is_object()) spec = json::object();
  json& taints = spec["taints"];
  if (!taints.is_array()) taints = json::array();
  for (const json& t : taints) {
    if (str(t, "key") == key && str(t, "effect") == "NoSchedule") return false;
  }
  taints.push_back({{"key", key}, {"value", "true"}, {"effect", "NoSchedule"}, {"timeAdded", now}});
  return true;
}

EvictionBudget::EvictionBudget(const Clock& clock, int per_minute)
    : clock_(clock), capacity_(std::max(per_minute, 0)), tokens_(capacity_), last_(clock.now()) {}

bool EvictionBudget::try_acquire() {
  Clock::time_point now = clock_.now();
  double minutes = std::chrono::duration<double, std::ratio<60>>(now - last_).count();
  last_ = now;
  tokens_ = std::min(capacity_, tokens_ + minutes * capacity_);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

Status RealProcessKiller::kill(int pid) {
  if (pid <= 1)
    return make_error(ErrorCode::kInvalid, "refusing to kill pid " + std::to_string(pid));
  if (::kill(pid, SIGKILL) != 0) {
    return make_error(errno == ESRCH ? ErrorCode::kNotFound : ErrorCode::kForbidden,
                      "kill " + std::to_string(pid) + ": " + std::strerror(errno));
  }
  return {};
}

Responder::Responder(kube::Client& client, kube::EventRecorder& events, const Clock& clock,
                     ProcessKiller* killer, ResponderOptions options)
    : client_(client),
      events_(events),
      clock_(clock),
      killer_(killer),
      options_(std::move(options)),
      budget_(clock, options_.evictions_per_minute) {}

ResponseSummary Responder::respond(const ScanReport& report, const json& pods_in,
                                   const policy::PolicySet& policies) {
  ResponseSummary summary;
  json pods = pods_array(pods_in);
  {
    std::set<std::string> present;
    for (const json& p : pods) {
      if (p.is_object() && p.contains("metadata")) present.insert(str(p["metadata"], "uid"));
    }
    std::erase_if(acted_on_, [&](const std::string& uid) { return !present.contains(uid); });
  }
  std::set<std::string> handled;  // pods acted on in this call
  std::vector<const ProcessReport*> unowned;
  // One miner process: skipped (and why), or its pod acted on.
  auto respond_to = [&](const ProcessReport& p) {
    if (auto why = process_exclusion(p, options_.self_pid)) {
      summary.skipped.push_back({p.pid, p.comm, *why});
      return;
    }
    if (p.container.empty()) {
      unowned.push_back(&p);
      return;
    }
    std::optional<PodMatch> match = match_pod(pods, p.container);
    const json* pod = match ? find_pod(pods, *match) : nullptr;
    if (!match || !pod) {
      // A container of no pod of this node (static or not yet in the cache): nothing to evict.
      log::info("miner in unknown container",
                {{"pid", p.pid}, {"comm", p.comm}, {"container", p.container.container_id}});
      summary.skipped.push_back({p.pid, p.comm, "no-pod"});
      return;
    }
    if (options_.protected_namespaces.contains(match->namespace_name)) {
      log::info("miner in protected namespace not acted on",
                {{"pod", pod_key(match->namespace_name, match->name)}, {"pid", p.pid}});
      summary.skipped.push_back({p.pid, p.comm, "protected-namespace"});
      return;
    }
    if (!handled.insert(pod_key(match->namespace_name, match->name)).second) return;
    PodAction action;
    action.ns = match->namespace_name;
    action.name = match->name;
    action.pid = p.pid;
    action.comm = p.comm;
    const std::string uid = str(pod->value("metadata", json::object()), "uid");
    if (pod_terminating(*pod) || (!uid.empty() && acted_on_.contains(uid))) {
      // Evicted already (by us or anyone): acting again would only spend the eviction budget
      // and repeat the Event while the pod's grace period runs.
      action.outcome = "terminating";
      log::info("miner pod already terminating, not acted on again",
                {{"pod", pod_key(action.ns, action.name)},
                 {"pid", p.pid},
                 {"comm", p.comm},
                 {"outcome", action.outcome}});
      summary.pods.push_back(std::move(action));
      return;
    }
    act_on_pod(p, *pod, *match, policies, &action);
    if ((action.outcome == "evicted" || action.outcome == "deleted") && !uid.empty()) {
      acted_on_.insert(uid);
    }
    if (!action.error.empty()) summary.errors.push_back(action.error);
    summary.pods.push_back(std::move(action));
  };
  for (const ProcessReport& p : report.processes) {
    if (!p.miner) continue;
    guarded("pid " + std::to_string(p.pid), &summary, [&] { respond_to(p); });
  }
  bool strong_host =
      std::any_of(report.host_findings.begin(), report.host_findings.end(),
                  [](const policy::Finding& f) { return f.severity == policy::Severity::kStrong; });
  if (strong_host || !unowned.empty()) {
    guarded("node", &summary, [&] { mark_node(report, unowned, &summary); });
  }
  if (options_.kill_unowned && !options_.dry_run && killer_) {
    for (const ProcessReport* p : unowned) {
      guarded("kill pid " + std::to_string(p->pid), &summary, [&] {
        Status s = killer_->kill(p->pid);
        if (s.ok()) {
          log::info("killed miner process", {{"pid", p->pid}, {"comm", p->comm}});
          summary.killed.push_back(p->pid);
        } else {
          summary.errors.push_back(s.error().describe());
        }
      });
    }
  }
  return summary;
}

void Responder::act_on_pod(const ProcessReport& process, const json& pod, const PodMatch& match,
                           const policy::PolicySet& policies, PodAction* action) {
  policy::QuarantineEntry entry;
  entry.scope = decide_scope(process, pod, match, policies);
  entry.image = quarantine_image(match);
  entry.digest = digest_of(entry.image);
  if (entry.scope == policy::QuarantineScope::kWorkload) {
    entry.namespace_name = match.namespace_name;
    entry.workload = resolve_workload(pod,
                                      [this](const kube::Resource& r, std::string_view ns,
                                             std::string_view name) -> std::optional<json> {
                                        Result<json> obj = client_.get(r, ns, name);
                                        if (!obj) return std::nullopt;
                                        return std::move(obj).value();
                                      });
  } else {
    // The CRD requires a namespace; for an Image entry it records where the miner was seen.
    entry.namespace_name = match.namespace_name;
  }
  std::string rules;
  for (const std::string& id : rule_ids(process)) rules += (rules.empty() ? "" : ",") + id;
  // The reason reaches the webhook's denial messages: the process's comm goes in escaped.
  entry.reason =
      truncate_utf8(rules + " in pod " + pod_key(match.namespace_name, match.name) + " on node " +
                        options_.node_name + " (pid " + std::to_string(process.pid) + " " +
                        escape_untrusted(process.comm) + ")",
                    1000);
  entry.node_name = options_.node_name;
  entry.created_by = options_.pod_name;
  if (options_.quarantine_expiry) {
    entry.expires_at = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        clock_.wall_now() + *options_.quarantine_expiry);
  }
  action->quarantine = entry;
  action->quarantine_name = policy::quarantine_name(entry);
  json fields = {{"pod", pod_key(match.namespace_name, match.name)},
                 {"pid", process.pid},
                 {"comm", process.comm},
                 {"rules", rules},
                 {"scope", policy::to_string(entry.scope)},
                 {"quarantine", action->quarantine_name}};
  if (options_.dry_run) {
    action->outcome = "dry-run";
    log::info("dry-run: would evict pod", fields);
    return;
  }
  if (!budget_.try_acquire()) {
    action->outcome = "rate-limited";
    log::info("eviction rate limit reached, pod not acted on", fields);
    return;
  }
  // Quarantine first: the controller replaces an evicted pod at once, and the replacement
  // must already be refused.
  Result<bool> added = create_quarantine(entry);
  if (added) {
    action->quarantine_added = *added;
  } else {
    action->error = "quarantine: " + added.error().describe();
    log::error("quarantine failed", {{"pod", fields["pod"]}, {"error", action->error}});
  }
  Status evicted = evict(match, action);
  if (!evicted) {
    action->error += (action->error.empty() ? "" : "; ") + evicted.error().describe();
  }
  fields["outcome"] = action->outcome;
  log::info("responded to miner pod", fields);
  events_.record(pod, kube::EventType::kWarning, "MinerDetected",
                 action->outcome == "evicted" || action->outcome == "deleted" ? "Evict" : "Detect",
                 evidence_note(process, match));
}

Status Responder::evict(const PodMatch& match, PodAction* action) {
  Status s = client_.evict(match.namespace_name, match.name);
  if (s.ok()) {
    action->outcome = "evicted";
    return s;
  }
  if (s.error().code == ErrorCode::kNotFound) {
    action->outcome = "gone";
    return {};
  }
  if (s.error().code == ErrorCode::kTooManyRequests) {
    if (!options_.delete_on_pdb_block) {
      action->outcome = "pdb-blocked";
      return {};
    }
    Status d = client_.remove(res::kPods, match.namespace_name, match.name);
    if (d.ok() || d.error().code == ErrorCode::kNotFound) {
      action->outcome = "deleted";
      return {};
    }
    action->outcome = "failed";
    return d;
  }
  action->outcome = "failed";
  return s;
}

Result<bool> Responder::create_quarantine(const policy::QuarantineEntry& entry) {
  Result<json> created =
      client_.create(kQuarantinesResource, "", policy::to_quarantine_object(entry));
  if (created) return true;
  // The name says what it quarantines: one of that name already does.
  if (created.error().code == ErrorCode::kAlreadyExists) return false;
  return created.error();
}

Result<bool> Responder::update_node(bool status_subresource,
                                    const std::function<bool(json&)>& edit) {
  for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
    Result<json> node = client_.get(res::kNodes, "", options_.node_name);
    if (!node) return node.error();
    json obj = std::move(node).value();
    if (!edit(obj)) return false;
    Result<json> updated =
        client_.update(res::kNodes, "", obj, status_subresource ? "status" : std::string_view());
    if (updated) return true;
    if (updated.error().code != ErrorCode::kConflict) return updated.error();
  }
  return make_error(ErrorCode::kConflict,
                    "node " + options_.node_name + ": still conflicting after retries");
}

void Responder::mark_node(const ScanReport& report,
                          const std::vector<const ProcessReport*>& unowned,
                          ResponseSummary* summary) {
  summary->node_compromised = true;
  std::set<std::string> rules;
  for (const policy::Finding& f : report.host_findings) {
    if (f.severity == policy::Severity::kStrong) rules.insert(f.rule_id);
  }
  if (!unowned.empty()) rules.insert("miner-outside-pod");
  std::string rule_list;
  for (const std::string& r : rules) rule_list += (rule_list.empty() ? "" : ",") + r;
  std::string message = "host compromised (" + rule_list + "); rebuild this node";
  std::string note = message;
  for (const policy::Finding& f : report.host_findings) {
    if (f.severity != policy::Severity::kStrong) continue;
    // Host findings quote file contents and names (ld.so.preload, crontabs): escaped.
    note +=
        "; " + f.rule_id + ": " +
        truncate_utf8(escape_untrusted(f.evidence.empty() ? f.message : f.evidence), kExcerptBytes);
  }
  for (const ProcessReport* p : unowned) {
    note += "; miner pid " + std::to_string(p->pid) + " (" + escape_untrusted(p->comm) + ")";
  }
  // What made the node compromised, for whoever reads the log: each miner process outside any
  // Pod with its pid, comm and rules, and each strong host finding with its rule and where.
  json causes = json::array();
  for (const ProcessReport* p : unowned) {
    json rules_of = json::array();
    for (const policy::Finding& f : p->findings) rules_of.push_back(f.rule_id);
    causes.push_back({{"rule", "miner-outside-pod"},
                      {"pid", p->pid},
                      {"comm", escape_untrusted(p->comm)},
                      {"processRules", std::move(rules_of)}});
  }
  for (const policy::Finding& f : report.host_findings) {
    if (f.severity != policy::Severity::kStrong) continue;
    causes.push_back({{"rule", f.rule_id}, {"field", escape_untrusted(f.field_path)}});
  }
  json fields = {{"node", options_.node_name}, {"rules", rule_list}, {"causes", causes}};
  if (options_.dry_run) {
    log::info("dry-run: would mark node compromised", fields);
    return;
  }
  std::string now = format_rfc3339(clock_.wall_now());
  Result<bool> cond = update_node(true, [&](json& node) {
    return set_node_condition(node, kConditionMinerCompromised, "True", "MinerFindings", message,
                              now);
  });
  if (!cond) {
    summary->errors.push_back("node condition: " + cond.error().describe());
    log::error("node condition failed",
               {{"node", options_.node_name}, {"error", cond.error().describe()}});
  }
  bool changed = cond.ok() && *cond;
  if (options_.taint_node) {
    Result<bool> taint = update_node(false, [&](json& node) {
      return add_no_schedule_taint(node, kTaintMinerCompromised, now);
    });
    if (!taint) {
      summary->errors.push_back("node taint: " + taint.error().describe());
      log::error("node taint failed",
                 {{"node", options_.node_name}, {"error", taint.error().describe()}});
    }
    changed = changed || (taint.ok() && *taint);
  }
  summary->node_marked = changed;
  if (changed) {
    log::info("marked node compromised", fields);
    json regarding = {
        {"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", options_.node_name}}}};
    events_.record(regarding, kube::EventType::kWarning, "MinerCompromised", "MarkNode",
                   truncate_utf8(note, kNoteMaxBytes));
  }
}

}  // namespace orderguard::agent
