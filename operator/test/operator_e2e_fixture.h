// The fixture shared by the operator's e2e tests: installs the CRDs into the
// real control plane and runs the operator's manager (every reconciler)
// in-process, with a client whose request metrics let tests count writes.
#pragma once

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>

#include "e2e/environment.h"
#include "kube/client.h"
#include "kube/clock.h"
#include "operator/manager.h"

namespace orderguard::op::testing {

class OperatorE2EBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
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
    manager_ = new OrderServiceManager(*client_, *clock_);
    Status st = manager_->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }

  static void TearDownTestSuite() {
    if (manager_ != nullptr) manager_->stop();
    delete manager_;
    delete client_;
    delete clock_;
    delete registry_;
  }

  // Requests other than GET (watches are GETs too) the client has sent.
  static double writes() {
    double n = 0;
    for (const auto& family : registry_->Collect()) {
      if (family.name != "rest_client_requests_total") continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "verb" && l.value != "GET") n += m.counter.value;
        }
      }
    }
    return n;
  }

  static inline prometheus::Registry* registry_ = nullptr;
  static inline kube::Client* client_ = nullptr;
  static inline RealClock* clock_ = nullptr;
  static inline OrderServiceManager* manager_ = nullptr;
};

}  // namespace orderguard::op::testing
