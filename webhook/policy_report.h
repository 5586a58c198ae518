// The background audit's results as wgpolicyk8s.io/v1alpha2 PolicyReports, the format Kyverno
// writes and Policy Reporter and other dashboards read.
//
// Contracts:
// - One PolicyReport per namespace that holds a violating object, named after the webhook's
//   release (--policy-report-name, so two releases never write each other's), labelled
//   app.kubernetes.io/managed-by=orderguard. One result per finding: the policy (the
//   MinerPolicy's name, "Quarantine" for a Quarantine object), the rule id, the object as
//   `resources[0]` and the field path and container in `properties`; result fail, severity
//   high, source orderguard. An object refused without a finding (its spec cannot be read)
//   gets one result `error`, rule unreadable-object.
// - One ClusterPolicyReport of the same name for cluster-scoped results: MinerPolicies and
//   Quarantine objects that do not compile (result error, rule compile).
// - Each pass makes the reports say what that pass found: a report is created or replaced
//   when its results differ, and deleted when nothing is left in it; a violation gone is gone
//   from its report after the next pass. A result found before keeps its first timestamp, so
//   a pass that finds what the last one found writes nothing.
// - Messages quote the workload's own strings: they are escaped (escape_untrusted) and
//   cut to kMaxResultMessageBytes; a report holds at most kMaxReportResults results (then
//   the summary still counts them all, and annotation orderguard.io/results-omitted says how
//   many were left out), which keeps it well below etcd's object size limit.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/client.h"
#include "policy/finding.h"

namespace orderguard::webhook {

extern const kube::Resource kPolicyReports;
extern const kube::Resource kClusterPolicyReports;

inline constexpr size_t kMaxReportResults = 1000;
inline constexpr size_t kMaxResultMessageBytes = 1024;
inline constexpr const char* kReportManagedBy = "orderguard";

// One object found violating, as the reports need it.
struct ReportedObject {
  nlohmann::json regarding;               // apiVersion, kind, metadata (namespace, name, uid)
  std::vector<policy::Finding> findings;  // strong findings; empty: refused without one
  std::string cause;                      // the refusal message, when there is no finding
};

// A MinerPolicy or Quarantine object that does not compile.
struct InvalidObject {
  nlohmann::json regarding;  // apiVersion, kind, metadata (name, uid)
  std::string error;
};

// The PolicyReports a pass's violations make, by namespace (only namespaces with results).
std::map<std::string, nlohmann::json> build_policy_reports(
    const std::vector<ReportedObject>& objects, const std::string& report_name,
    std::chrono::system_clock::time_point now);

// The ClusterPolicyReport for `invalid`; null when there is nothing to report.
nlohmann::json build_cluster_policy_report(const std::vector<InvalidObject>& invalid,
                                           const std::string& report_name,
                                           std::chrono::system_clock::time_point now);

// `desired` with each result that `existing` already holds (same policy, rule, resource uid,
// properties) given the existing result's timestamp.
nlohmann::json carry_timestamps(nlohmann::json desired, const nlohmann::json& existing);

// Whether `existing` already says what `desired` says (results, summary, labels, annotations).
bool report_current(const nlohmann::json& existing, const nlohmann::json& desired);

struct ReportSyncResult {
  int created = 0;
  int updated = 0;
  int deleted = 0;
  std::vector<std::string> errors;
};

// Makes the cluster's reports named `report_name` of kind `r` (PolicyReports: by namespace;
// ClusterPolicyReports: "" as the key) what `desired` says: creates, replaces, deletes. Only
// reports labelled managed-by orderguard are replaced or deleted.
ReportSyncResult sync_reports(kube::Client& client, const kube::Resource& r,
                              const std::string& report_name,
                              const std::map<std::string, nlohmann::json>& desired);

}  // namespace orderguard::webhook
