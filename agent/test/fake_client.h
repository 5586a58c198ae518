// A tiny kube::Client for the responder's pure-logic tests: evictions succeed and are counted,
// created objects (Events, Quarantines) are kept, and one Node can be read and replaced (so a
// Node mark is written and its Event recorded). Every other call is unavailable (owner
// resolution then falls back to the pod's own owner). throw_on() makes the eviction of one
// pod, or the creation of one resource, throw, as a third-party library can. Behaviour that
// involves the API server is tested against the real one (agent_e2e_test).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kube/client.h"

namespace orderguard::agent::testing {

class EvictingClient final : public kube::Client {
 public:
  using json = nlohmann::json;

  // The Node that get/update on nodes serve; none: unavailable like the rest.
  void set_node(json node) {
    std::lock_guard<std::mutex> lock(mu_);
    node_ = std::move(node);
  }
  // "namespace/pod" (its eviction) or a resource plural (its creation) that throws.
  void throw_on(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    throws_.insert(what);
  }
  int evictions(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = evictions_.find(key);
    return it == evictions_.end() ? 0 : it->second;
  }
  size_t created(const std::string& plural) const { return created_bodies(plural).size(); }
  // The bodies created in `plural`, in order, as the client was handed them.
  std::vector<json> created_bodies(const std::string& plural) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<json> out;
    for (const auto& [r, obj] : created_) {
      if (r == plural) out.push_back(obj);
    }
    return out;
  }

  Status evict(std::string_view ns, std::string_view pod, const kube::DeleteOptions&) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key = std::string(ns) + "/" + std::string(pod);
    if (throws_.contains(key)) throw std::runtime_error("evict " + key + " threw");
    ++evictions_[key];
    return {};
  }
  Result<json> create(const kube::Resource& r, std::string_view, const json& obj,
                      std::string_view) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (throws_.contains(r.plural)) throw std::runtime_error("create " + r.plural + " threw");
    created_.emplace_back(r.plural, obj);
    return obj;
  }
  Result<json> get(const kube::Resource& r, std::string_view, std::string_view,
                   std::string_view) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.plural == "nodes" && node_) return *node_;
    return unavailable();
  }
  Result<json> list(const kube::Resource&, std::string_view, const kube::ListOptions&) override {
    return unavailable();
  }
  Result<json> list_all(const kube::Resource&, std::string_view,
                        const kube::ListOptions&) override {
    return unavailable();
  }
  Result<json> update(const kube::Resource& r, std::string_view, const json& obj,
                      std::string_view) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.plural == "nodes" && node_) {
      node_ = obj;
      return obj;
    }
    return unavailable();
  }
  Status remove(const kube::Resource&, std::string_view, std::string_view,
                const kube::DeleteOptions&) override {
    return unavailable();
  }
  Result<json> patch(const kube::Resource&, std::string_view, std::string_view, kube::PatchType,
                     const json&, std::string_view) override {
    return unavailable();
  }
  Result<json> apply(const kube::Resource&, std::string_view, const json&,
                     const kube::ApplyOptions&, std::string_view) override {
    return unavailable();
  }
  Status watch(const kube::Resource&, std::string_view, const kube::WatchOptions&,
               const std::function<void(kube::WatchEvent&&)>&, const kube::Canceller&) override {
    return unavailable();
  }
  Result<json> raw(std::string_view, std::string_view, const json*, std::string_view) override {
    return unavailable();
  }

 private:
  static Error unavailable() { return Error{ErrorCode::kUnavailable, "not in this fake"}; }
  mutable std::mutex mu_;
  std::optional<json> node_;
  std::set<std::string> throws_;
  std::map<std::string, int> evictions_;
  std::vector<std::pair<std::string, json>> created_;
};

}  // namespace orderguard::agent::testing
