#include "webhook/audit.h"

#include <algorithm>
#include <optional>

#include "api/security.h"
#include "api/tiers.h"
#include "base/log.h"
#include "base/text.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"
#include "webhook/policy_status.h"
#include "webhook/server.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

// Event notes are limited to 1 KiB by the API server.
constexpr size_t kMaxNoteBytes = 1024;

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

// The items of a list response, in place: value("items", ...) would copy every object.
const json& items_of(const json& list) {
  static const json kNone = json::array();
  auto it = list.find("items");
  return it != list.end() && it->is_array() ? *it : kNone;
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

Request create_request(const kube::Resource& r, JsonRef object) {
  const JsonRef meta = object.find("metadata");
  Request request;
  request.group = r.group;
  request.kind = r.kind;
  request.operation = "CREATE";
  request.namespace_name = meta.string_member("namespace");
  request.name = meta.string_member("name");
  request.object = object;
  return request;
}

std::optional<Violation> audit_object(const kube::Resource& r, const json& object,
                                      const AdmissionContext& context) {
  const JsonDoc doc = JsonDoc::from_json(object);
  const policy::Decision d = decide(create_request(r, doc.root()), context);
  Violation v;
  for (const auto& f : d.findings) {
    if (f.severity != policy::Severity::kStrong) continue;
    add_unique(v.causes, policy::format_cause(f));
    v.findings.push_back(f);
  }
  if (d.allowed && v.causes.empty()) return std::nullopt;
  for (const auto* names : {&d.refused_by, &d.reported_by}) {
    for (const auto& p : *names) add_unique(v.policies, p);
  }
  if (v.causes.empty()) v.causes.push_back(d.message);  // refused without a finding
  json regarding_meta = json::object();
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    for (const char* key : {"namespace", "name", "uid", "resourceVersion"}) {
      if (auto it = meta->find(key); it != meta->end()) regarding_meta[key] = *it;
    }
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
    note += (i ? "; " : "") + escape_untrusted(v.causes[i]);
  }
  return truncate_utf8(note, kMaxNoteBytes);
}

Auditor::Auditor(kube::Client& client, PolicyStore& store, kube::EventRecorder& events,
                 const Clock& clock, AuditOptions options)
    : client_(client),
      store_(store),
      events_(events),
      clock_(clock),
      options_(std::move(options)) {}

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
    for (const auto& p : v->policies) result.violations_by_policy[p]++;
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
    for (const auto& item : items_of(*list)) check(r, item);
  }
  // ConfigMaps and Secrets are many and up to 1 MiB each: streamed in pages and checked one
  // at a time, never all held (nor cached between passes). Violations found before a list
  // fails half-way are still real, so they stay reported.
  for (const auto& r : audited_config_resources()) {
    if (r.kind == "Secret" && !options_.audit_secrets) continue;
    kube::ListOptions page;
    page.limit = kConfigPageSize;
    auto listed = client_.list_each(r, "", page, [&](json&& item) { check(r, item); });
    if (!listed.ok()) result.errors.push_back(r.plural + ": " + listed.error().describe());
  }

  // A kind that could not be listed leaves the pass incomplete: its counts and reports would
  // drop violations that are still there, so they are left as the last complete pass wrote
  // them (the Audited condition says why).
  const std::vector<std::string> list_errors = result.errors;
  std::vector<InvalidObject> invalid;
  delete_expired_quarantines(now, &result, &invalid);
  write_policy_status(context, now, list_errors, &result, &invalid);
  if (!options_.report_name.empty() && list_errors.empty()) {
    write_reports(result, invalid, now, &result);
  }
  log::info("audit pass done", {{"objects", result.objects},
                                {"violations", result.violations.size()},
                                {"reportsCreated", result.reports_created},
                                {"reportsUpdated", result.reports_updated},
                                {"reportsDeleted", result.reports_deleted},
                                {"errors", result.errors.size()}});
  for (const auto& e : result.errors) log::error("audit pass error", {{"error", e}});
  return result;
}

void Auditor::write_policy_status(const AdmissionContext& context,
                                  std::chrono::system_clock::time_point now,
                                  const std::vector<std::string>& list_errors, AuditResult* result,
                                  std::vector<InvalidObject>* invalid) {
  // The generation of each policy this pass checked; one created since is not written to.
  std::map<std::string, int64_t> audited;
  if (context.policies) {
    for (const auto& p : context.policies->policies) {
      if (!p.object_name.empty()) audited[p.object_name] = p.generation;
    }
  }
  auto policies = client_.list_all(kMinerPolicies, "", {});
  if (!policies.ok()) {
    result->errors.push_back("minerpolicies: " + policies.error().describe());
    return;
  }
  for (const auto& p : items_of(*policies)) {
    const json meta = p.value("metadata", json::object());
    const std::string name = meta.value("name", "");
    // One serialization per policy per pass: there are few, and compile() reads a JsonRef.
    if (auto compiled = policy::compile(JsonDoc::from_json(p).root()); !compiled.ok()) {
      invalid->push_back({{{"apiVersion", kMinerPolicies.api_version()},
                           {"kind", kMinerPolicies.kind},
                           {"metadata", {{"name", name}, {"uid", meta.value("uid", "")}}}},
                          compiled.error().message});
    }
    auto generation = audited.find(name);
    if (generation == audited.end()) continue;
    auto it = result->violations_by_policy.find(name);
    const int64_t violations = it == result->violations_by_policy.end() ? 0 : it->second;
    Status written =
        patch_policy_status(client_, name, [&](const json& current) -> std::optional<json> {
          return audit_status_patch(current, violations, generation->second, now, list_errors);
        });
    if (!written.ok() && written.error().code != ErrorCode::kNotFound) {
      result->errors.push_back("status of " + name + ": " + written.error().describe());
    }
  }
}

void Auditor::write_reports(const AuditResult& pass, const std::vector<InvalidObject>& invalid,
                            std::chrono::system_clock::time_point now, AuditResult* result) {
  std::vector<ReportedObject> objects;
  objects.reserve(pass.violations.size());
  for (const auto& v : pass.violations) {
    objects.push_back({v.regarding, v.findings, v.causes.empty() ? "" : v.causes.front()});
  }
  auto tally = [result](const ReportSyncResult& r) {
    result->reports_created += r.created;
    result->reports_updated += r.updated;
    result->reports_deleted += r.deleted;
    result->errors.insert(result->errors.end(), r.errors.begin(), r.errors.end());
  };
  tally(sync_reports(client_, kPolicyReports, options_.report_name,
                     build_policy_reports(objects, options_.report_name, now)));
  std::map<std::string, json> cluster;
  if (json report = build_cluster_policy_report(invalid, options_.report_name, now);
      !report.is_null()) {
    cluster[""] = std::move(report);
  }
  tally(sync_reports(client_, kClusterPolicyReports, options_.report_name, cluster));
}

void Auditor::delete_expired_quarantines(std::chrono::system_clock::time_point now,
                                         AuditResult* result, std::vector<InvalidObject>* invalid) {
  auto list = client_.list_all(kQuarantines, "", {});
  if (!list.ok()) {
    result->errors.push_back("quarantines: " + list.error().describe());
    return;
  }
  for (const auto& q : items_of(*list)) {
    // One serialization per Quarantine per pass, as for the policies above.
    auto entry = policy::compile_quarantine(JsonDoc::from_json(q).root());
    const json meta = q.value("metadata", json::object());
    if (!entry.ok()) {
      invalid->push_back(
          {{{"apiVersion", kQuarantines.api_version()},
            {"kind", kQuarantines.kind},
            {"metadata", {{"name", meta.value("name", "")}, {"uid", meta.value("uid", "")}}}},
           entry.error().message});
      continue;
    }
    if (entry->in_force(now)) continue;
    const std::string name = meta.value("name", "");
    // The resourceVersion precondition spares one whose expiresAt was moved since the list.
    kube::DeleteOptions options;
    options.precondition_resource_version = meta.value("resourceVersion", "");
    Status removed = client_.remove(kQuarantines, "", name, options);
    if (removed.ok() || removed.error().code == ErrorCode::kNotFound) {
      log::info(
          "deleted expired quarantine",
          {{"quarantine", name}, {"expiresAt", api::read_quarantine(api::spec_of(q)).expires_at}});
      result->expired_quarantines.push_back(name);
    } else if (removed.error().code != ErrorCode::kConflict) {
      result->errors.push_back("delete quarantine " + name + ": " + removed.error().describe());
    }
  }
}

AuditLoop::AuditLoop(std::chrono::milliseconds interval, std::function<bool()> should_run,
                     std::function<void()> pass, std::chrono::milliseconds poll,
                     std::chrono::milliseconds min_spacing)
    : interval_(interval),
      poll_(std::min(poll, interval)),
      min_spacing_(std::min(min_spacing, interval)),
      should_run_(std::move(should_run)),
      pass_(std::move(pass)) {}

void AuditLoop::request_pass() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requested_ = true;
  }
  cv_.notify_all();
}

AuditLoop::~AuditLoop() { stop(); }

void AuditLoop::start() {
  worker_ = std::thread([this] {
    using Steady = std::chrono::steady_clock;
    std::optional<Steady::time_point> last_pass;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      // Due: never ran, or ran an interval ago, or asked for and min_spacing_ after the
      // last. Leadership lost and regained does not reset this: the interval is between
      // passes of this replica.
      auto next_due = [&]() -> std::optional<Steady::time_point> {
        if (!last_pass) return std::nullopt;  // now
        return *last_pass + (requested_ ? min_spacing_ : interval_);
      };
      if (auto due = next_due(); !due || Steady::now() >= *due) {
        lock.unlock();
        const bool ran = should_run_();
        if (ran) pass_();
        lock.lock();
        if (ran) {
          last_pass = Steady::now();
          requested_ = false;
        }
      }
      // Sleep until the next pass is due; when it is due but should_run() said
      // no (not ready, not the leader), ask again after `poll_`.
      auto wait = poll_;
      if (auto due = next_due(); due && Steady::now() < *due) {
        wait = std::chrono::duration_cast<std::chrono::milliseconds>(*due - Steady::now()) +
               std::chrono::milliseconds(1);
      }
      const bool was_requested = requested_;
      cv_.wait_for(lock, wait, [&] { return stopping_ || requested_ != was_requested; });
      if (stopping_) return;
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
