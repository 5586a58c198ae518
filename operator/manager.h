// Wires the OrderService reconciler to its informers and a Controller: what
// controller-runtime's Manager + builder do for one root kind.
//
// Watches: OrderServices (For), owned Deployments/HPAs/PDBs/Services/
// ConfigMaps (Owns: enqueue the controller owner; only objects labelled
// app.kubernetes.io/managed-by=orderguard-operator are cached), Nodes (a
// change of a node's zone or readiness enqueues every OrderService with that
// zone), CacheTiers and ShardSets (enqueue the OrderServices referencing them).
//
// start() starts the informers, waits for their first lists and then starts
// the workers; stop() stops the controller first, then the informers.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kube/controller.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "operator/reconciler.h"

namespace prometheus {
class Registry;
}

namespace orderguard::op {

struct ManagerOptions {
  int workers = 2;
  prometheus::Registry* metrics = nullptr;
  std::string instance = "orderguard-operator";  // Events' reportingInstance
  std::chrono::seconds sync_timeout{120};
};

class OrderServiceManager {
 public:
  // `client` and `clock` must outlive the manager.
  OrderServiceManager(kube::Client& client, const Clock& clock, ManagerOptions options = {});
  ~OrderServiceManager();
  OrderServiceManager(const OrderServiceManager&) = delete;
  OrderServiceManager& operator=(const OrderServiceManager&) = delete;

  // Error (kTimeout) when the caches did not sync within options.sync_timeout.
  Status start();
  void stop();
  bool synced() const;

  OrderServiceReconciler& reconciler() { return *reconciler_; }
  kube::EventRecorder& events() { return *events_; }

 private:
  void enqueue_for_zone(const kube::ObjectPtr& node);
  void enqueue_referencing(const kube::ObjectPtr& tier, bool cache);

  kube::Client& client_;
  const Clock& clock_;
  ManagerOptions options_;
  std::unique_ptr<kube::Informer> order_services_, deployments_, hpas_, pdbs_, services_,
      config_maps_, nodes_, cache_tiers_, shard_sets_;
  std::unique_ptr<kube::EventRecorder> events_;
  std::unique_ptr<OrderServiceReconciler> reconciler_;
  std::unique_ptr<kube::Controller> controller_;
  bool stopped_ = false;
};

}  // namespace orderguard::op
