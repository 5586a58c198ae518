// Background audit: what the admission webhook never saw (objects created
// before a policy existed, while the webhook was down with failurePolicy
// Ignore, or in exempted-then-unexempted namespaces) is found by re-checking
// every existing Pod and pod-template workload as if it were being created.
//
// Contracts:
// - One pass lists Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
//   Jobs, CronJobs and ReplicationControllers in every namespace and evaluates
//   each through webhook::decide as a CREATE with the PolicyStore's current
//   policies, Quarantines and namespace labels, so the audit and admission never
//   disagree.
// - A violation is an object that admission would refuse, or that an Audit-mode
//   policy would report (strong findings). Each gets a Warning Event
//   (reason MinerPolicyViolation) whose note lists the causes.
// - Each MinerPolicy the pass checked gets status.auditViolations (the objects it found
//   violating that policy) and the Audited condition (the pass time, the generation
//   checked) through webhook/policy_status.h; the rest of the status is the
//   PolicyStatusWriter's.
// - With a report name, the violations are written as PolicyReports (one per namespace) and
//   the MinerPolicies and Quarantines that do not compile as a ClusterPolicyReport
//   (webhook/policy_report.h); reports of namespaces with no violation left are deleted.
// - Quarantine objects are part of the decision (admission refuses what they name), and
//   those whose spec.expiresAt has passed (they refuse nothing any more) are deleted, with
//   their resourceVersion as a precondition so that one extended meanwhile is kept.
// - ConfigMaps and Secrets (policy/config_object.h) are checked the same way, listed
//   in pages of kConfigPageSize and evaluated one item at a time as the list streams in
//   (kube::Client::list_each): a pass holds one object of them at a time, not the
//   cluster's Secrets, and nothing of them is kept between passes.
// - A kind whose list fails (RBAC, not served) is skipped and reported in the
//   result; the pass goes on with the others.
// - Only one replica should audit: the caller runs passes only while it holds
//   the Lease (see main.cpp).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "kube/client.h"
#include "kube/events.h"
#include "webhook/admission.h"
#include "webhook/policy_report.h"
#include "webhook/policy_store.h"

namespace orderguard::webhook {

inline constexpr const char* kViolationReason = "MinerPolicyViolation";

// v1 ReplicationController (not among kube::resources).
extern const kube::Resource kReplicationControllers;

// The kinds a pass lists, in order.
const std::vector<kube::Resource>& audited_resources();
// Then these, streamed page by page.
const std::vector<kube::Resource>& audited_config_resources();
inline constexpr int64_t kConfigPageSize = 100;

struct Violation {
  nlohmann::json regarding;  // apiVersion, kind, metadata (namespace, name, uid)
  std::vector<std::string> causes;
  // The MinerPolicies it violates (policy::Decision::refused_by and reported_by).
  std::vector<std::string> policies;
  std::vector<policy::Finding> findings;  // the strong ones
};

// The AdmissionRequest admission would have seen when `object` of resource `r`
// was created (views into `r` and `object`'s document).
Request create_request(const kube::Resource& r, JsonRef object);

// The violation in `object`, or nullopt when admission would allow it cleanly
// (weak findings only, exempt, or nothing found). The object is serialized and indexed
// once (JsonDoc), and decided on refs into that copy: the only copy of it the audit
// makes, freed on return.
std::optional<Violation> audit_object(const kube::Resource& r, const nlohmann::json& object,
                                      const AdmissionContext& context);

// The Event note for `v` ("rule ...; rule ..."), within the 1 KiB Events allow, with the
// causes escaped for terminals (escape_untrusted).
std::string violation_note(const Violation& v);

struct AuditResult {
  size_t objects = 0;
  std::vector<Violation> violations;
  std::map<std::string, int64_t> violations_by_policy;
  std::vector<std::string> expired_quarantines;  // names of the expired ones deleted
  // PolicyReports and ClusterPolicyReports created, replaced and deleted.
  int reports_created = 0;
  int reports_updated = 0;
  int reports_deleted = 0;
  std::vector<std::string> errors;  // kinds that could not be listed, writes that failed
};

struct AuditOptions {
  // Whether passes list Secrets (the chart grants the RBAC for it only with
  // webhook.auditSecrets, i.e. --audit-secrets; without it they are left out, not reported
  // as errors).
  bool audit_secrets = false;
  // The name of the PolicyReports and the ClusterPolicyReport; empty: none are written.
  std::string report_name;
};

class Auditor {
 public:
  // Everything passed must outlive the auditor.
  Auditor(kube::Client& client, PolicyStore& store, kube::EventRecorder& events, const Clock& clock,
          AuditOptions options = {});

  // One pass (see the contract above).
  AuditResult run_once();

 private:
  void delete_expired_quarantines(std::chrono::system_clock::time_point now, AuditResult* result,
                                  std::vector<InvalidObject>* invalid);
  void write_policy_status(const AdmissionContext& context,
                           std::chrono::system_clock::time_point now,
                           const std::vector<std::string>& list_errors, AuditResult* result,
                           std::vector<InvalidObject>* invalid);
  void write_reports(const AuditResult& pass, const std::vector<InvalidObject>& invalid,
                     std::chrono::system_clock::time_point now, AuditResult* result);

  kube::Client& client_;
  PolicyStore& store_;
  kube::EventRecorder& events_;
  const Clock& clock_;
  AuditOptions options_;
};

// Runs `pass` as soon as `should_run()` first holds (the webhook is ready and,
// with leader election, this replica leads), then every `interval` while it
// holds, until stop(). `should_run` is polled every `poll` (at most `interval`),
// so a new leader audits within `poll` of taking over instead of an interval later.
//
// request_pass() asks for a pass before the interval is up (a policy's spec changed, so its
// violations may have); it runs once `min_spacing` has passed since the last pass, so
// that a run of edits costs one pass, not one each.
class AuditLoop {
 public:
  AuditLoop(std::chrono::milliseconds interval, std::function<bool()> should_run,
            std::function<void()> pass, std::chrono::milliseconds poll = std::chrono::seconds(5),
            std::chrono::milliseconds min_spacing = std::chrono::seconds(30));
  ~AuditLoop();
  void start();
  void stop();
  void request_pass();

 private:
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds poll_;
  std::chrono::milliseconds min_spacing_;
  std::function<bool()> should_run_;
  std::function<void()> pass_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool requested_ = false;
  std::thread worker_;
};

}  // namespace orderguard::webhook
