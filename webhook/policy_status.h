// MinerPolicy status: what the webhook tells about each policy, and who writes which part.
//
// Fields (crds/minerpolicies.yaml):
//   observedGeneration, quarantineEntries, conditions[Valid]
//       the generation this webhook enforces (the one its MinerPolicy informer holds), the
//       entries left in the deprecated spec.quarantine, and whether it compiles. Written by
//       the Lease holder within one interval of the informer seeing a new generation.
//   auditViolations, conditions[Audited]
//       the existing objects the last audit pass found violating the policy, and that
//       pass's time and the generation it checked. Written by the Lease holder at the end of
//       each pass (webhook/audit.h).
//   admissionDenials
//       admission requests the policy refused, summed over every replica and restart since
//       the policy was created. Each replica adds the denials it made since its last write
//       (PolicyStatusWriter::add_denial, then one write per policy and interval).
//
// Concurrency: every write is a merge patch of the status subresource carrying the
// metadata.resourceVersion it was computed from, so the API server refuses it (Conflict)
// when another writer got in between; the writer then reads again and recomputes. Replicas
// adding denials at once therefore never lose or repeat each other's counts, and the Lease
// holder's writes never undo a count. One case is left: a write whose answer is lost (a
// timeout after the API server stored it) is sent again and counts twice; the error is
// logged.
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
#include "kube/informer.h"

namespace orderguard::webhook {

// The status patch (with metadata.resourceVersion of `current`) that makes observedGeneration,
// quarantineEntries and the Valid condition say what the webhook enforces of `observed`: the
// policy as its informer holds it (same object as `current`, possibly older). `compile_error`
// empty: it compiles. nullopt when the status already says so. Other conditions are carried
// over (a merge patch replaces the list); Valid's lastTransitionTime moves only when its status
// changes.
std::optional<nlohmann::json> spec_status_patch(const nlohmann::json& current,
                                                const nlohmann::json& observed,
                                                const std::string& compile_error,
                                                std::chrono::system_clock::time_point now);

// The status patch for an audit pass over generation `audited_generation` of the policy that
// found `violations` existing objects violating it: auditViolations and the Audited condition.
// A pass that could not list some kinds (`list_errors`) is incomplete: Audited turns False
// (reason AuditIncomplete, the errors in its message) and auditViolations is left as the
// last complete pass wrote it.
nlohmann::json audit_status_patch(const nlohmann::json& current, int64_t violations,
                                  int64_t audited_generation,
                                  std::chrono::system_clock::time_point now,
                                  const std::vector<std::string>& list_errors = {});

// The status patch adding `denials` to status.admissionDenials of `current`.
nlohmann::json admission_denials_patch(const nlohmann::json& current, int64_t denials);

// Reads MinerPolicy `name` and writes the status patch `make` computes from it (nullopt:
// nothing to write); on Conflict reads again, up to `attempts` reads.
Status patch_policy_status(
    kube::Client& client, const std::string& name,
    const std::function<std::optional<nlohmann::json>(const nlohmann::json&)>& make,
    int attempts = 5);

struct PolicyStatusOptions {
  // Between two rounds (denials written, stale status checked).
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  // Whether this replica writes the fields the Lease holder owns; empty: it does (one
  // replica, no leader election).
  std::function<bool()> leads;
  // The MinerPolicies as this replica enforces them (its informer's cache); empty or an
  // empty list: no spec status is written.
  std::function<std::vector<kube::ObjectPtr>()> policies;
  // Called (from the writer's thread) after a policy's new generation has been written, so
  // the audit can check it soon.
  std::function<void()> on_new_generation;
};

// The writer thread of one webhook replica: adds its admission denials to each policy's
// status and, while it leads, keeps observedGeneration, quarantineEntries and Valid current.
class PolicyStatusWriter {
 public:
  // `client` and `clock` must outlive the writer.
  PolicyStatusWriter(kube::Client& client, const Clock& clock, PolicyStatusOptions options);
  ~PolicyStatusWriter();

  void start();
  // Stops the thread, then writes the denials still pending once.
  void stop();

  // One admission denial by MinerPolicy `policy`; written within an interval. Thread-safe and
  // cheap (a map increment under a mutex).
  void add_denial(const std::string& policy);
  // Denials counted but not yet written, for `policy`.
  int64_t pending_denials(const std::string& policy) const;

  // One round (what the thread does every interval); exposed for tests.
  void sync_once();

 private:
  void flush_denials();
  void sync_spec_status();
  const std::string& compile_error(const nlohmann::json& policy);

  kube::Client& client_;
  const Clock& clock_;
  PolicyStatusOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> pending_;
  // Compile results by policy name, for the uid and generation they were computed for.
  struct Compiled {
    std::string uid;
    int64_t generation = -1;
    std::string error;
  };
  std::map<std::string, Compiled> compiled_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace orderguard::webhook
