#include "webhook/audit.h"

#include <algorithm>
#include <ctime>
#include <optional>

#include "kube/log.h"
#include "kube/text.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"
#include "webhook/server.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

// Event notes are limited to 1 KiB by the API server.
constexpr size_t kMaxNoteBytes = 1024;

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

// A metav1.Condition that keeps lastTransitionTime when its status is unchanged.
json condition(const json& existing, const std::string& type, bool ok, const std::string& reason,
               const std::string& message, int64_t generation, const std::string& now) {
  std::string since = now;
  const std::string status = ok ? "True" : "False";
  if (existing.is_array()) {
    for (const auto& c : existing) {
      if (c.is_object() && c.value("type", "") == type && c.value("status", "") == status &&
          c.contains("lastTransitionTime") && c["lastTransitionTime"].is_string()) {
        since = c["lastTransitionTime"].get<std::string>();
      }
    }
  }
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", policy::truncate_utf8(message, 32 * 1024)},
          {"observedGeneration", generation},
          {"lastTransitionTime", since}};
}

}  // namespace

const kube::Resource kReplicationControllers{"", "v1", "replicationcontrollers", true,
                                             "ReplicationController"};

const std::vector<kube::Resource>& audited_resources() {
  namespace res = kube::resources;
  static const std::vector<kube::Resource> kResources = {
      res::kPods,        res::kDeployments, res::kStatefulSets, res::kDaemonSets,
      res::kReplicaSets, res::kJobs,        res::kCronJobs,     kReplicationControllers};
  return kResources;
}

const std::vector<kube::Resource>& audited_config_resources() {
  static const std::vector<kube::Resource> kResources = {kube::resources::kConfigMaps,
                                                         kube::resources::kSecrets};
  return kResources;
}

json create_request(const kube::Resource& r, const json& object) {
  const json meta = object.is_object() ? object.value("metadata", json::object()) : json::object();
  return {{"uid", "audit"},
          {"kind", {{"group", r.group}, {"version", r.version}, {"kind", r.kind}}},
          {"resource", {{"group", r.group}, {"version", r.version}, {"resource", r.plural}}},
          {"operation", "CREATE"},
          {"namespace", meta.value("namespace", "")},
          {"name", meta.value("name", "")},
          {"userInfo", json::object()},
          {"object", object}};
}

std::optional<Violation> audit_object(const kube::Resource& r, const json& object,
                                      const AdmissionContext& context) {
  const policy::Decision d = decide(create_request(r, object), context);
  Violation v;
  for (const auto& f : d.findings) {
    if (f.severity != policy::Severity::kStrong) continue;
    add_unique(v.causes, policy::format_cause(f));
    if (!f.policy.empty()) add_unique(v.policies, f.policy);
  }
  if (d.allowed && v.causes.empty()) return std::nullopt;
  if (v.causes.empty()) v.causes.push_back(d.message);  // refused without a finding
  const json meta = object.value("metadata", json::object());
  json regarding_meta = json::object();
  for (const char* key : {"namespace", "name", "uid", "resourceVersion"}) {
    if (meta.contains(key)) regarding_meta[key] = meta[key];
  }
  v.regarding = {{"apiVersion", r.api_version()}, {"kind", r.kind}, {"metadata", regarding_meta}};
  return v;
}

std::string violation_note(const Violation& v) {
  // Causes quote the workload's own strings (args, env, image): whoever can create a pod
  // chooses them, and `kubectl describe` prints notes to an administrator's terminal as they
  // are.
  std::string note = "found by the background audit: ";
  for (size_t i = 0; i < v.causes.size(); ++i) {
    note += (i ? "; " : "") + kube::escape_untrusted(v.causes[i]);
  }
  return policy::truncate_utf8(note, kMaxNoteBytes);
}

json policy_status_patch(const json& policy, int64_t denials, const std::string& compile_error,
                         std::chrono::system_clock::time_point now) {
  const json meta = policy.value("metadata", json::object());
  const int64_t generation = meta.value("generation", int64_t{0});
  const json spec = policy.value("spec", json::object());
  const int64_t quarantined = spec.contains("quarantine") && spec["quarantine"].is_array()
                                  ? static_cast<int64_t>(spec["quarantine"].size())
                                  : 0;
  const json status = policy.value("status", json::object());
  const json existing = status.is_object() ? status.value("conditions", json::array()) : json();
  const std::string stamp = rfc3339(now);

  json conditions = json::array();
  // Conditions someone else owns are carried over: a merge patch replaces the list.
  if (existing.is_array()) {
    for (const auto& c : existing) {
      if (c.is_object() && c.value("type", "") != "Valid" && c.value("type", "") != "Audited") {
        conditions.push_back(c);
      }
    }
  }
  conditions.push_back(condition(
      existing, "Valid", compile_error.empty(),
      compile_error.empty() ? "Compiled" : "CompileFailed",
      compile_error.empty() ? "the policy compiles and is enforced"
                            : compile_error + " (the built-in default is enforced in its place)",
      generation, stamp));
  conditions.push_back(condition(existing, "Audited", true, "AuditCompleted",
                                 "last audit at " + stamp + ": " + std::to_string(denials) +
                                     " existing object(s) violate this policy",
                                 generation, stamp));
  return {{"status",
           {{"observedGeneration", generation},
            {"quarantineEntries", quarantined},
            {"denials", denials},
            {"conditions", conditions}}}};
}

Auditor::Auditor(kube::Client& client, PolicyStore& store, kube::EventRecorder& events,
                 const Clock& clock, bool audit_secrets)
    : client_(client),
      store_(store),
      events_(events),
      clock_(clock),
      audit_secrets_(audit_secrets) {}

AuditResult Auditor::run_once() {
  AuditResult result;
  AdmissionContext context;
  context.policies = store_.policies();
  context.namespace_labels = [this](const std::string& ns) { return store_.namespace_labels(ns); };
  context.quarantines = store_.quarantines();
  const auto now = clock_.wall_now();
  context.now = now;

  auto check = [&](const kube::Resource& r, const json& item) {
    ++result.objects;
    auto v = audit_object(r, item, context);
    if (!v) return;
    events_.record(v->regarding, kube::EventType::kWarning, kViolationReason, "Audit",
                   violation_note(*v));
    for (const auto& p : v->policies) result.denials_by_policy[p]++;
    log::info("audit found a violation",
              {{"kind", r.kind},
               {"object", v->regarding["metadata"].value("namespace", "") + "/" +
                              v->regarding["metadata"].value("name", "")},
               {"causes", violation_note(*v)}});
    result.violations.push_back(std::move(*v));
  };
  for (const auto& r : audited_resources()) {
    auto list = client_.list_all(r, "", {});
    if (!list.ok()) {
      result.errors.push_back(r.plural + ": " + list.error().describe());
      continue;
    }
    for (const auto& item : list->value("items", json::array())) check(r, item);
  }
  // ConfigMaps and Secrets are many and up to 1 MiB each: streamed in pages and checked one
  // at a time, never all held (nor cached between passes). Violations found before a list
  // fails half-way are still real, so they stay reported.
  for (const auto& r : audited_config_resources()) {
    if (r.kind == "Secret" && !audit_secrets_) continue;
    kube::ListOptions page;
    page.limit = kConfigPageSize;
    auto listed = client_.list_each(r, "", page, [&](json&& item) { check(r, item); });
    if (!listed.ok()) result.errors.push_back(r.plural + ": " + listed.error().describe());
  }

  delete_expired_quarantines(now, &result);

  auto policies = client_.list_all(kMinerPolicies, "", {});
  if (!policies.ok()) {
    result.errors.push_back("minerpolicies: " + policies.error().describe());
    return result;
  }
  for (const auto& p : policies->value("items", json::array())) {
    const std::string name = p.value("metadata", json::object()).value("name", "");
    auto compiled = policy::compile(p);
    const std::string error = compiled.ok() ? "" : compiled.error().message;
    auto it = result.denials_by_policy.find(name);
    const int64_t denials = it == result.denials_by_policy.end() ? 0 : it->second;
    auto patched = client_.patch(kMinerPolicies, "", name, kube::PatchType::kMerge,
                                 policy_status_patch(p, denials, error, now), "status");
    if (!patched.ok())
      result.errors.push_back("status of " + name + ": " + patched.error().describe());
  }
  log::info("audit pass done", {{"objects", result.objects},
                                {"violations", result.violations.size()},
                                {"errors", result.errors.size()}});
  return result;
}

void Auditor::delete_expired_quarantines(std::chrono::system_clock::time_point now,
                                         AuditResult* result) {
  auto list = client_.list_all(kQuarantines, "", {});
  if (!list.ok()) {
    result->errors.push_back("quarantines: " + list.error().describe());
    return;
  }
  for (const auto& q : list->value("items", json::array())) {
    auto entry = policy::compile_quarantine(q);
    if (!entry.ok() || entry->in_force(now)) continue;
    const json meta = q.value("metadata", json::object());
    const std::string name = meta.value("name", "");
    // The resourceVersion precondition spares one whose expiresAt was moved since the list.
    kube::DeleteOptions options;
    options.precondition_resource_version = meta.value("resourceVersion", "");
    Status removed = client_.remove(kQuarantines, "", name, options);
    if (removed.ok() || removed.error().code == ErrorCode::kNotFound) {
      log::info("deleted expired quarantine",
                {{"quarantine", name}, {"expiresAt", q["spec"].value("expiresAt", "")}});
      result->expired_quarantines.push_back(name);
    } else if (removed.error().code != ErrorCode::kConflict) {
      result->errors.push_back("delete quarantine " + name + ": " + removed.error().describe());
    }
  }
}

AuditLoop::AuditLoop(std::chrono::milliseconds interval, std::function<bool()> should_run,
                     std::function<void()> pass, std::chrono::milliseconds poll)
    : interval_(interval),
      poll_(std::min(poll, interval)),
      should_run_(std::move(should_run)),
      pass_(std::move(pass)) {}

AuditLoop::~AuditLoop() { stop(); }

void AuditLoop::start() {
  worker_ = std::thread([this] {
    using Steady = std::chrono::steady_clock;
    std::optional<Steady::time_point> last_pass;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      // Due: never ran, or ran an interval ago. Leadership lost and regained
      // does not reset this: the interval is between passes of this replica.
      const auto now = Steady::now();
      if (!last_pass || now - *last_pass >= interval_) {
        lock.unlock();
        const bool ran = should_run_();
        if (ran) pass_();
        lock.lock();
        if (ran) last_pass = Steady::now();
      }
      // Sleep until the next pass is due; when it is due but should_run() said
      // no (not ready, not the leader), ask again after `poll_`.
      auto wait = poll_;
      if (last_pass && Steady::now() - *last_pass < interval_) {
        wait = std::chrono::duration_cast<std::chrono::milliseconds>(*last_pass + interval_ -
                                                                     Steady::now()) +
               std::chrono::milliseconds(1);
      }
      if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
  });
}

void AuditLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

}  // namespace orderguard::webhook
