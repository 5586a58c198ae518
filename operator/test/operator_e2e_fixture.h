// The fixture shared by the operator's e2e tests: installs the CRDs into the
// real control plane and runs the operator's manager (every reconciler)
// in-process, with a client whose request metrics let tests count writes and
// controllers whose metrics let them count reconciles.
#pragma once

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>

#include "base/clock.h"
#include "e2e/environment.h"
#include "kube/client.h"
#include "operator/manager.h"
#include "operator/render.h"

namespace orderguard::op::testing {

class OperatorE2EBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start_operator({}); }

  // Installs the CRDs and starts the manager with `options` (metrics: the
  // fixture's registry). A derived fixture's SetUpTestSuite may call it with
  // its own options.
  static void start_operator(ManagerOptions options) {
    const std::string source = ORDERGUARD_SOURCE_DIR;
    auto applied = e2e::cluster().kubectl({"apply", "-f", source + "/crds/"});
    ASSERT_TRUE(applied.ok()) << applied.err;
    auto established = e2e::cluster().kubectl(
        {"wait", "--for=condition=Established", "--timeout=60s",
         "crd/orderservices.tiers.orderguard.io", "crd/cachetiers.tiers.orderguard.io",
         "crd/shardsets.tiers.orderguard.io"});
    ASSERT_TRUE(established.ok()) << established.err;
    registry_ = new prometheus::Registry();
    auto c = kube::make_client(e2e::cluster().admin_config(), {.metrics = registry_});
    ASSERT_TRUE(c.ok()) << c.error().describe();
    client_ = std::move(c).value().release();
    clock_ = new RealClock();
    options_ = options;
    restart_manager();
  }

  // Stops the running manager (if any) and starts a new one with the same
  // options: a fresh list of every resource, as after an operator restart.
  static void restart_manager() {
    if (manager_ != nullptr) manager_->stop();
    delete manager_;
    ManagerOptions options = options_;
    options.metrics = registry_;
    manager_ = new OrderServiceManager(*client_, *clock_, options);
    Status st = manager_->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }

  static void TearDownTestSuite() {
    if (manager_ != nullptr) manager_->stop();
    // Null as well: the next suite of the same binary starts from scratch.
    delete manager_;
    manager_ = nullptr;
    delete client_;
    client_ = nullptr;
    delete clock_;
    clock_ = nullptr;
    delete registry_;
    registry_ = nullptr;
  }

  // Write requests (POST, PUT, PATCH, DELETE) the client has sent. Reads and
  // watches are labelled GET.
  static double writes() {
    double n = 0;
    for (const auto& family : registry_->Collect()) {
      if (family.name != "rest_client_requests_total") continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "method" && (l.value == "POST" || l.value == "PUT" || l.value == "PATCH" ||
                                     l.value == "DELETE")) {
            n += m.counter.value;
          }
        }
      }
    }
    return n;
  }

  // Reconciles the controller `name` ("orderservice", "cachetier",
  // "shardset") has finished, whatever their result.
  static double reconciles(const std::string& name) {
    double n = 0;
    for (const auto& family : registry_->Collect()) {
      if (family.name != "controller_runtime_reconcile_total") continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "controller" && l.value == name) n += m.counter.value;
        }
      }
    }
    return n;
  }

  // Sets a Node's Ready condition, as its kubelet would.
  static void set_node_ready(const std::string& name, bool ready) {
    json status = {{"status",
                    {{"conditions", json::array({{{"type", "Ready"},
                                                  {"status", ready ? "True" : "False"},
                                                  {"reason", "E2E"},
                                                  {"message", "set by the test"}}})}}}};
    auto r = client_->patch(kube::resources::kNodes, "", name, kube::PatchType::kMerge, status,
                            "status");
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }

  // A Node labelled with `zone`, Ready.
  static void create_ready_node(const std::string& name, const std::string& zone) {
    auto r = client_->create(kube::resources::kNodes, "",
                             {{"apiVersion", "v1"},
                              {"kind", "Node"},
                              {"metadata", {{"name", name}, {"labels", {{kZoneLabel, zone}}}}}});
    ASSERT_TRUE(r.ok() || r.error().code == ErrorCode::kAlreadyExists) << r.error().describe();
    set_node_ready(name, true);
  }

  // Plays the kubelets' part for Pods (there are none here): sets phase Running
  // and the Ready condition of every Pod in `ns` matching `selector` whose
  // readiness differs, so the ReplicaSet and Deployment controllers count them
  // ready and available. Returns false when a list or patch failed.
  static bool set_pods_ready(const std::string& ns, const std::string& selector, bool ready) {
    kube::ListOptions opts;
    opts.label_selector = selector;
    auto pods = client_->list(kube::resources::kPods, ns, opts);
    if (!pods.ok()) return false;
    const std::string want = ready ? "True" : "False";
    bool ok = true;
    for (const auto& pod : (*pods)["items"]) {
      if (pod["metadata"].contains("deletionTimestamp")) continue;
      std::string is;
      for (const auto& c : pod.value("status", json::object()).value("conditions", json::array()))
        if (c.value("type", "") == "Ready") is = c.value("status", "");
      if (is == want) continue;
      json status = {{"status",
                      {{"phase", "Running"},
                       {"conditions", json::array({{{"type", "Ready"}, {"status", want}}})}}}};
      auto r =
          client_->patch(kube::resources::kPods, ns, pod["metadata"]["name"].get<std::string>(),
                         kube::PatchType::kMerge, status, "status");
      // A pod deleted meanwhile (scale down) is not a failure.
      if (!r.ok() && r.error().code != ErrorCode::kNotFound) ok = false;
    }
    return ok;
  }

  static inline prometheus::Registry* registry_ = nullptr;
  static inline kube::Client* client_ = nullptr;
  static inline RealClock* clock_ = nullptr;
  static inline OrderServiceManager* manager_ = nullptr;
  static inline ManagerOptions options_;
};

}  // namespace orderguard::op::testing
