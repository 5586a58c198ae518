// The agent's response to a ScanReport: evict miner pods, record the evidence, quarantine the
// workload (or image) with a Quarantine object so the webhook refuses it from then on, and mark
// the Node when the host itself is compromised.
//
// Split in two: pure decisions (exclusions, owner resolution, quarantine scope,
// node condition/taint edits, the eviction budget) that unit tests cover without a server, and
// Responder, which does the I/O through kube::Client (tested against the real API server).
//
// Contract of Responder::respond():
// - Never acts on kernel threads, PID 1, the agent's own pid, or pods in protected namespaces.
// - Per miner pod (once per pod per call, however many miner processes it holds), in order:
//   Quarantine object (so the controller's replacement pod is already refused), eviction
//   (policy/v1; on a PodDisruptionBudget refusal, a delete when delete_on_pdb_block), then a
//   Warning Event on the pod with the evidence.
// - The Quarantine object (policy/quarantine.h) records the node, the agent Pod (pod_name) and,
//   with quarantine_expiry, when it expires. Its name is deterministic, so the responder only
//   creates: AlreadyExists means the workload or image is quarantined already (nothing is
//   added twice, and the agent needs no right but create on Quarantines).
// - A pod already terminating (metadata.deletionTimestamp set, as after an eviction during the
//   grace period), or one this responder evicted or deleted and still sees (the pod cache may
//   lag the eviction by a scan), is not acted on again: outcome "terminating", logged, no
//   eviction, no Event, no Quarantine created, no eviction budget used.
// - At most evictions_per_minute pods are acted on per node per minute (a token bucket over the
//   injected Clock); the excess is logged and reported as "rate-limited", nothing else is done.
// - Host findings of strong severity, and miner processes outside any container, mark the
//   Node: a Warning Event, condition MinerCompromised=True (status subresource, other
//   conditions preserved), and the NoSchedule taint orderguard.io/miner-compromised when
//   taint_node. With kill_unowned, miner processes outside any container get SIGKILL through
//   the ProcessKiller seam.
// - dry_run: decisions are made and reported, nothing is written and nothing is killed.
// - API failures are reported in the summary and logged; respond() itself never fails.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cgroup.h"
#include "agent/scanner.h"
#include "base/clock.h"
#include "base/result.h"
#include "kube/client.h"
#include "kube/events.h"
#include "policy/image_ref.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

// security.orderguard.io/v1alpha1 minerpolicies and quarantines (both cluster-scoped).
extern const kube::Resource kMinerPoliciesResource;
extern const kube::Resource kQuarantinesResource;

inline constexpr std::string_view kConditionMinerCompromised = "MinerCompromised";
inline constexpr std::string_view kTaintMinerCompromised = "orderguard.io/miner-compromised";

struct ResponderOptions {
  std::string node_name;
  bool dry_run = false;
  bool delete_on_pdb_block = false;
  // The agent's own Pod, recorded as the Quarantine's spec.createdBy; empty: not recorded.
  std::string pod_name;
  // How long a Quarantine it creates lasts (spec.expiresAt); nullopt: until deleted.
  std::optional<std::chrono::seconds> quarantine_expiry;
  std::set<std::string, std::less<>> protected_namespaces = {"kube-system"};
  int evictions_per_minute = 5;
  bool taint_node = false;
  bool kill_unowned = false;
  int self_pid = 0;  // the agent: never acted on
};

// --- Pure decisions -------------------------------------------------------------------------

// Whether the pod is being deleted: metadata.deletionTimestamp is set.
bool pod_terminating(const nlohmann::json& pod);

// A kernel thread: kthreadd (pid 2) or its children, or a process without exe and cmdline.
// A process that only names itself like one ([kworker/0:1] with an exe) is not.
bool is_kernel_thread(const ProcessReport& process);

// Why the process must never be acted on ("kernel-thread", "pid-1", "self"), or nullopt.
std::optional<std::string> process_exclusion(const ProcessReport& process, int self_pid);

// Fetches one object for owner resolution; nullopt when it cannot be read.
using ObjectFetcher = std::function<std::optional<nlohmann::json>(
    const kube::Resource& resource, std::string_view ns, std::string_view name)>;

// The top-level owner of `pod`: its controller owner reference, followed from a ReplicaSet to
// its Deployment and from a Job to its CronJob through `fetch`. When the intermediate object
// cannot be read, the intermediate owner itself; a pod without a controller is {Pod, name}.
policy::WorkloadRef resolve_workload(const nlohmann::json& pod, const ObjectFetcher& fetch);

// Whether the image is itself a miner: a built-in miner image or miner binary name, or a
// blockedImages / blockedDigests entry of any policy in `policies`.
bool image_is_miner(const policy::ImageRef& image, const policy::PolicySet& policies);

// Whether the process runs the container's entrypoint: its exe or comm basename equals that of
// the container's command[0], or (no command in the spec, so the image's ENTRYPOINT runs) that
// of the image's repository name.
bool process_is_entrypoint(const ProcessReport& process, const nlohmann::json& container_spec,
                           const policy::ImageRef& image);

// Image scope only when the image itself is the miner: a blocked-image / blocked-digest
// finding, or a miner image whose entrypoint is the miner process. Otherwise Workload, so a
// miner fetched at run time into a common base image does not quarantine the base image.
policy::QuarantineScope decide_scope(const ProcessReport& process, const nlohmann::json& pod,
                                     const PodMatch& match, const policy::PolicySet& policies);

// The image to record: the container status imageID (digest reference, runtime prefixes such
// as docker-pullable:// stripped) when it parses, else the spec image.
std::string quarantine_image(const PodMatch& match);

// The rule ids of the process findings, sorted and unique.
std::vector<std::string> rule_ids(const ProcessReport& process);

// The Event note for a miner process in a pod: rule ids, pid, comm, an evidence excerpt.
std::string evidence_note(const ProcessReport& process, const PodMatch& match);

// Sets the condition `type` in node.status.conditions (others kept). Returns whether it
// changed anything: an existing condition with the same status and reason is left alone, so a
// rescan does not rewrite the Node every interval.
bool set_node_condition(nlohmann::json& node, std::string_view type, std::string_view status,
                        std::string_view reason, std::string_view message, std::string_view now);

// Adds the taint key:NoSchedule to node.spec.taints unless present; returns whether it did.
bool add_no_schedule_taint(nlohmann::json& node, std::string_view key, std::string_view now);

// At most `per_minute` acquisitions in any minute, refilled continuously; the bucket starts
// full. Not thread-safe (one scan loop owns it).
class EvictionBudget {
 public:
  EvictionBudget(const Clock& clock, int per_minute);
  bool try_acquire();

 private:
  const Clock& clock_;
  double capacity_;
  double tokens_;
  Clock::time_point last_;
};

// --- I/O ------------------------------------------------------------------------------------

// SIGKILL, behind a seam so tests never kill real processes.
class ProcessKiller {
 public:
  virtual ~ProcessKiller() = default;
  virtual Status kill(int pid) = 0;
};

class RealProcessKiller final : public ProcessKiller {
 public:
  Status kill(int pid) override;
};

struct PodAction {
  std::string ns;
  std::string name;
  int pid = 0;
  std::string comm;
  // evicted, deleted, gone, pdb-blocked, dry-run, rate-limited, failed, terminating
  std::string outcome;
  std::optional<policy::QuarantineEntry> quarantine;
  std::string quarantine_name;    // the Quarantine object's name
  bool quarantine_added = false;  // false also when that object existed already
  std::string error;
};

struct ProcessSkip {
  int pid = 0;
  std::string comm;
  // kernel-thread, pid-1, self, protected-namespace, no-pod
  std::string reason;
};

struct ResponseSummary {
  std::vector<PodAction> pods;
  std::vector<ProcessSkip> skipped;
  std::vector<int> killed;
  bool node_compromised = false;  // host findings or miners outside pods were seen
  bool node_marked = false;       // the Node was written (false in dry-run or when unchanged)
  std::vector<std::string> errors;
};

class Responder {
 public:
  // `client`, `events`, `clock` and `killer` (may be null when !kill_unowned) must outlive it.
  Responder(kube::Client& client, kube::EventRecorder& events, const Clock& clock,
            ProcessKiller* killer, ResponderOptions options);

  // `pods`: this node's pods (a JSON array or a PodList). `policies`: those in force.
  ResponseSummary respond(const ScanReport& report, const nlohmann::json& pods,
                          const policy::PolicySet& policies);

  const ResponderOptions& options() const { return options_; }

 private:
  void act_on_pod(const ProcessReport& process, const nlohmann::json& pod, const PodMatch& match,
                  const policy::PolicySet& policies, PodAction* action);
  // Creates the Quarantine object for `entry`; false when it exists already.
  Result<bool> create_quarantine(const policy::QuarantineEntry& entry);
  Status evict(const PodMatch& match, PodAction* action);
  void mark_node(const ScanReport& report, const std::vector<const ProcessReport*>& unowned,
                 ResponseSummary* summary);
  Result<bool> update_node(bool status_subresource,
                           const std::function<bool(nlohmann::json&)>& edit);

  kube::Client& client_;
  kube::EventRecorder& events_;
  const Clock& clock_;
  ProcessKiller* killer_;
  ResponderOptions options_;
  EvictionBudget budget_;
  // UIDs of the pods evicted or deleted, forgotten once they leave the pod list.
  std::set<std::string> acted_on_;
};

}  // namespace orderguard::agent
