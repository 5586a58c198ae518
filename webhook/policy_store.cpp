#include "webhook/policy_store.h"

#include "base/json_doc.h"
#include "base/log.h"

namespace orderguard::webhook {

PolicyStore::PolicyStore()
    : policies_(std::make_shared<const policy::PolicySet>(policy::combine({}))),
      quarantines_(std::make_shared<const policy::QuarantineSet>()) {}

std::map<std::string, std::string> PolicyStore::update(
    const std::vector<nlohmann::json>& miner_policies) {
  std::vector<policy::CompiledPolicy> compiled;
  std::map<std::string, std::string> failures;
  for (const auto& obj : miner_policies) {
    // The informer caches DOMs and compile() reads a JsonRef: one serialization per policy,
    // only when the policies change.
    auto p = policy::compile(JsonDoc::from_json(obj).root());
    if (p.ok()) {
      compiled.push_back(std::move(p).value());
      continue;
    }
    const std::string name = obj.value("metadata", nlohmann::json::object()).value("name", "?");
    failures[name] = p.error().message;
    log::error("MinerPolicy does not compile; enforcing the built-in default in its place",
               {{"policy", name}, {"error", p.error().message}});
    policy::CompiledPolicy fallback = policy::built_in_default();
    fallback.name = name + " (invalid; built-in default applied)";
    fallback.object_name = name;
    compiled.push_back(std::move(fallback));
  }
  auto next = std::make_shared<const policy::PolicySet>(policy::combine(std::move(compiled)));
  {
    std::lock_guard<std::mutex> lock(mu_);
    policies_ = std::move(next);
  }
  generation_++;
  return failures;
}

std::map<std::string, std::string> PolicyStore::update_quarantines(
    const std::vector<nlohmann::json>& quarantines) {
  std::vector<policy::QuarantineEntry> entries;
  std::map<std::string, std::string> failures;
  for (const auto& obj : quarantines) {
    // As for the policies: one serialization per object, only when the objects change.
    auto e = policy::compile_quarantine(JsonDoc::from_json(obj).root());
    if (e.ok()) {
      entries.push_back(std::move(e).value());
      continue;
    }
    const std::string name = obj.value("metadata", nlohmann::json::object()).value("name", "?");
    failures[name] = e.error().message;
    log::error("Quarantine does not compile; it refuses nothing",
               {{"quarantine", name}, {"error", e.error().message}});
  }
  auto next =
      std::make_shared<const policy::QuarantineSet>(policy::index_quarantines(std::move(entries)));
  std::lock_guard<std::mutex> lock(mu_);
  quarantines_ = std::move(next);
  return failures;
}

std::shared_ptr<const policy::QuarantineSet> PolicyStore::quarantines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return quarantines_;
}

std::shared_ptr<const policy::PolicySet> PolicyStore::policies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policies_;
}

void PolicyStore::set_namespace_labels(const std::string& ns,
                                       std::map<std::string, std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  namespace_labels_[ns] = std::move(labels);
}

void PolicyStore::remove_namespace(const std::string& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  namespace_labels_.erase(ns);
}

std::optional<std::map<std::string, std::string>> PolicyStore::namespace_labels(
    const std::string& ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = namespace_labels_.find(ns);
  if (it == namespace_labels_.end()) return std::nullopt;
  return it->second;
}

}  // namespace orderguard::webhook
