// Wires the tier reconcilers (OrderService, CacheTier, ShardSet) to their
// informers and one Controller per root kind: what controller-runtime's
// Manager + builder do. The informers are shared between the controllers.
//
// CacheTier and ShardSet controllers: For their kind, Owns StatefulSets,
// Services, ConfigMaps, PDBs and Jobs, so an edited or deleted child is
// restored and a Job's progress reaches status.
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
#include "operator/tier_reconciler.h"

namespace prometheus {
class Registry;
}

namespace orderguard::op {

struct ManagerOptions {
  int workers = 2;
  prometheus::Registry* metrics = nullptr;
  std::string instance = "orderguard-operator";  // Events' reportingInstance
  std::chrono::seconds sync_timeout{120};
  // Every informer replays its cache as updates this often, so every root
  // object is reconciled again (controller-runtime's SyncPeriod); a converged
  // resync sends no write. Zero disables it.
  std::chrono::seconds resync_period{0};
  // Caches hold objects encoded and decode them on each read
  // (kube::InformerOptions::compact): less memory, a little CPU per read.
  bool compact_caches = true;
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
  CacheTierReconciler& cache_tier_reconciler() { return *cache_reconciler_; }
  ShardSetReconciler& shard_set_reconciler() { return *shard_reconciler_; }
  kube::EventRecorder& events() { return *events_; }

 private:
  void enqueue_for_zone(const kube::ObjectPtr& node);
  void enqueue_referencing(const kube::ObjectPtr& tier, bool cache);

  kube::Client& client_;
  const Clock& clock_;
  ManagerOptions options_;
  std::unique_ptr<kube::Informer> order_services_, deployments_, hpas_, pdbs_, services_,
      config_maps_, nodes_, cache_tiers_, shard_sets_, stateful_sets_, jobs_;
  std::unique_ptr<kube::EventRecorder> events_;
  std::unique_ptr<OrderServiceReconciler> reconciler_;
  std::unique_ptr<kube::Controller> controller_;
  std::unique_ptr<CacheTierReconciler> cache_reconciler_;
  std::unique_ptr<ShardSetReconciler> shard_reconciler_;
  std::unique_ptr<kube::Controller> cache_controller_;
  std::unique_ptr<kube::Controller> shard_controller_;
  bool stopped_ = false;
};

}  // namespace orderguard::op
