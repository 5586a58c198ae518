// The MinerPolicies in force, compiled, swapped atomically whenever one changes
// (informer events), so each admission request reads one consistent snapshot
// without locks held during evaluation.
//
// A stored MinerPolicy that does not compile (it could only get in while the
// webhook was down or bypassed) is not dropped: it is replaced by the built-in
// default in Enforce mode, so a broken policy errs towards refusing miners
// instead of silently allowing everything it meant to block.
//
// Quarantine objects are kept next to them, in a snapshot of their own (an informer event on
// one does not recompile the policies). One that does not compile (the CRD's schema and CEL
// rules make that unlikely; a bad image reference is the case left) is logged, reported and
// left out: it could not say what to refuse.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/miner_policy.h"
#include "policy/quarantine.h"

namespace orderguard::webhook {

class PolicyStore {
 public:
  PolicyStore();

  // Recompiles the set from every MinerPolicy object. Returns the names of
  // policies that failed to compile, with their errors.
  std::map<std::string, std::string> update(const std::vector<nlohmann::json>& miner_policies);
  std::shared_ptr<const policy::PolicySet> policies() const;
  uint64_t generation() const { return generation_.load(); }

  // Replaces the Quarantine objects in force. Returns the names of those that failed to
  // compile, with their errors.
  std::map<std::string, std::string> update_quarantines(
      const std::vector<nlohmann::json>& quarantines);
  std::shared_ptr<const policy::QuarantineSet> quarantines() const;

  void set_namespace_labels(const std::string& ns, std::map<std::string, std::string> labels);
  void remove_namespace(const std::string& ns);
  std::optional<std::map<std::string, std::string>> namespace_labels(const std::string& ns) const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const policy::PolicySet> policies_;
  std::shared_ptr<const policy::QuarantineSet> quarantines_;
  std::map<std::string, std::map<std::string, std::string>> namespace_labels_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace orderguard::webhook
