#include "operator/manager.h"

#include "base/log.h"

namespace orderguard::op {
namespace {

constexpr const char* kManagedSelector = "app.kubernetes.io/managed-by=orderguard-operator";

// Nodes are cached for their zone label and Ready condition only.
void slim_node(json& node) {
  json slim = {{"apiVersion", "v1"}, {"kind", "Node"}};
  slim["metadata"] = {{"name", node["metadata"].value("name", "")},
                      {"resourceVersion", node["metadata"].value("resourceVersion", "")},
                      {"labels", node["metadata"].value("labels", json::object())}};
  json conditions = json::array();
  if (node.contains("status")) {
    for (const auto& c : node["status"].value("conditions", json::array())) {
      if (c.value("type", "") == "Ready") {
        conditions.push_back({{"type", "Ready"}, {"status", c.value("status", "")}});
      }
    }
  }
  slim["status"] = {{"conditions", conditions}};
  node = std::move(slim);
}

std::string node_zone(const kube::ObjectPtr& node) {
  const json& labels = (*node)["metadata"].value("labels", json::object());
  return labels.value(kZoneLabel, "");
}

}  // namespace

OrderServiceManager::OrderServiceManager(kube::Client& client, const Clock& clock,
                                         ManagerOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  namespace res = kube::resources;
  // Reconcilers read a few objects per pass, so the large caches keep their
  // objects encoded (about a seventh of the memory) and decode on each read.
  kube::InformerOptions owned;
  owned.label_selector = kManagedSelector;
  owned.transform = kube::strip_managed_fields;
  owned.resync_period = options_.resync_period;
  owned.compact = options_.compact_caches;
  kube::InformerOptions plain;
  plain.transform = kube::strip_managed_fields;
  plain.resync_period = options_.resync_period;
  plain.compact = options_.compact_caches;
  kube::InformerOptions node_options;
  node_options.transform = slim_node;
  node_options.resync_period = options_.resync_period;
  order_services_ =
      std::make_unique<kube::Informer>(client, order_services_resource(), clock, plain);
  deployments_ = std::make_unique<kube::Informer>(client, res::kDeployments, clock, owned);
  hpas_ = std::make_unique<kube::Informer>(client, res::kHorizontalPodAutoscalers, clock, owned);
  pdbs_ = std::make_unique<kube::Informer>(client, res::kPodDisruptionBudgets, clock, owned);
  services_ = std::make_unique<kube::Informer>(client, res::kServices, clock, owned);
  config_maps_ = std::make_unique<kube::Informer>(client, res::kConfigMaps, clock, owned);
  nodes_ = std::make_unique<kube::Informer>(client, res::kNodes, clock, node_options);
  cache_tiers_ = std::make_unique<kube::Informer>(client, cache_tiers_resource(), clock, plain);
  shard_sets_ = std::make_unique<kube::Informer>(client, shard_sets_resource(), clock, plain);
  stateful_sets_ = std::make_unique<kube::Informer>(client, res::kStatefulSets, clock, owned);
  jobs_ = std::make_unique<kube::Informer>(client, res::kJobs, clock, owned);
  events_ = std::make_unique<kube::EventRecorder>(client, "tiers.orderguard.io/operator",
                                                  options_.instance, clock);
  OrderServiceCaches caches{order_services_.get(), deployments_.get(), hpas_.get(),
                            pdbs_.get(),           services_.get(),    config_maps_.get(),
                            nodes_.get(),          cache_tiers_.get(), shard_sets_.get()};
  reconciler_ = std::make_unique<OrderServiceReconciler>(client, caches, events_.get(), clock);
  kube::ControllerOptions copts;
  copts.workers = options_.workers;
  copts.metrics = options_.metrics;
  controller_ = std::make_unique<kube::Controller>(
      "orderservice", [this](const kube::Request& r) { return reconciler_->reconcile(r); }, clock,
      std::move(copts));

  TierCaches tier_caches{cache_tiers_.get(), shard_sets_.get(),  stateful_sets_.get(),
                         services_.get(),    config_maps_.get(), pdbs_.get(),
                         jobs_.get()};
  cache_reconciler_ = std::make_unique<CacheTierReconciler>(client, tier_caches, clock);
  shard_reconciler_ = std::make_unique<ShardSetReconciler>(client, tier_caches, clock);
  kube::ControllerOptions cache_opts;
  cache_opts.workers = options_.workers;
  cache_opts.metrics = options_.metrics;
  cache_controller_ = std::make_unique<kube::Controller>(
      "cachetier", [this](const kube::Request& r) { return cache_reconciler_->reconcile(r); },
      clock, std::move(cache_opts));
  kube::ControllerOptions shard_opts;
  shard_opts.workers = options_.workers;
  shard_opts.metrics = options_.metrics;
  shard_controller_ = std::make_unique<kube::Controller>(
      "shardset", [this](const kube::Request& r) { return shard_reconciler_->reconcile(r); }, clock,
      std::move(shard_opts));

  order_services_->add_handlers(kube::enqueue_request_for_object(*controller_));
  cache_tiers_->add_handlers(kube::enqueue_request_for_object(*cache_controller_));
  shard_sets_->add_handlers(kube::enqueue_request_for_object(*shard_controller_));
  for (auto* inf :
       {stateful_sets_.get(), services_.get(), config_maps_.get(), pdbs_.get(), jobs_.get()}) {
    inf->add_handlers(kube::enqueue_request_for_owner(*cache_controller_, cache_tiers_resource()));
    inf->add_handlers(kube::enqueue_request_for_owner(*shard_controller_, shard_sets_resource()));
  }
  for (auto* inf :
       {deployments_.get(), hpas_.get(), pdbs_.get(), services_.get(), config_maps_.get()}) {
    inf->add_handlers(kube::enqueue_request_for_owner(*controller_, order_services_resource()));
  }
  nodes_->add_handlers({
      .on_add = [this](const kube::ObjectPtr& n) { enqueue_for_zone(n); },
      .on_update =
          [this](const kube::ObjectPtr& old_n, const kube::ObjectPtr& new_n) {
            // The cache holds only zone and readiness, so any change matters.
            if (*old_n == *new_n) return;
            enqueue_for_zone(old_n);
            enqueue_for_zone(new_n);
          },
      .on_delete = [this](const kube::ObjectPtr& n) { enqueue_for_zone(n); },
  });
  for (bool cache : {true, false}) {
    kube::Informer* inf = cache ? cache_tiers_.get() : shard_sets_.get();
    inf->add_handlers({
        .on_add = [this, cache](const kube::ObjectPtr& o) { enqueue_referencing(o, cache); },
        .on_update = [this, cache](const kube::ObjectPtr&,
                                   const kube::ObjectPtr& o) { enqueue_referencing(o, cache); },
        .on_delete = [this, cache](const kube::ObjectPtr& o) { enqueue_referencing(o, cache); },
    });
  }
}

OrderServiceManager::~OrderServiceManager() { stop(); }

void OrderServiceManager::enqueue_for_zone(const kube::ObjectPtr& node) {
  const std::string zone = node_zone(node);
  if (zone.empty()) return;
  order_services_->for_each([&](const kube::ObjectPtr& obj) {
    // Best effort: an OrderService that does not decode is still routed to its
    // reconciler, which reports why.
    for (const auto& z : read_order_service(spec_of(*obj)).zones) {
      if (z.name == zone) {
        controller_->enqueue(
            {(*obj)["metadata"].value("namespace", ""), (*obj)["metadata"].value("name", "")});
        break;
      }
    }
  });
}

void OrderServiceManager::enqueue_referencing(const kube::ObjectPtr& tier, bool cache) {
  const std::string ns = (*tier)["metadata"].value("namespace", "");
  const std::string name = (*tier)["metadata"].value("name", "");
  for (const auto& obj : order_services_->by_namespace(ns)) {
    const OrderServiceSpec spec = read_order_service(spec_of(*obj));
    if ((cache ? spec.cache_ref : spec.shard_set_ref) == name) {
      controller_->enqueue({ns, (*obj)["metadata"].value("name", "")});
    }
  }
}

Status OrderServiceManager::start() {
  std::vector<kube::Informer*> all = {order_services_.get(), deployments_.get(), hpas_.get(),
                                      pdbs_.get(),           services_.get(),    config_maps_.get(),
                                      nodes_.get(),          cache_tiers_.get(), shard_sets_.get(),
                                      stateful_sets_.get(),  jobs_.get()};
  for (auto* inf : all) inf->start();
  for (auto* inf : all) {
    if (!inf->wait_for_sync(options_.sync_timeout)) {
      return make_error(ErrorCode::kTimeout,
                        "cache of " + inf->resource().plural + " did not sync");
    }
  }
  controller_->start();
  cache_controller_->start();
  shard_controller_->start();
  log::info("tier controllers started", {{"workers", options_.workers}});
  return {};
}

bool OrderServiceManager::synced() const {
  for (auto* inf : {order_services_.get(), deployments_.get(), nodes_.get(), cache_tiers_.get(),
                    shard_sets_.get(), stateful_sets_.get(), jobs_.get()}) {
    if (!inf->has_synced()) return false;
  }
  return true;
}

void OrderServiceManager::stop() {
  if (stopped_) return;
  stopped_ = true;
  controller_->stop();
  cache_controller_->stop();
  shard_controller_->stop();
  for (auto* inf : {order_services_.get(), deployments_.get(), hpas_.get(), pdbs_.get(),
                    services_.get(), config_maps_.get(), nodes_.get(), cache_tiers_.get(),
                    shard_sets_.get(), stateful_sets_.get(), jobs_.get()}) {
    inf->stop();
  }
  events_->flush();
  events_->stop();
}

}  // namespace orderguard::op
