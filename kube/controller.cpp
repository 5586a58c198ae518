#include "kube/controller.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <exception>
#include <utility>

#include "base/log.h"

namespace orderguard::kube {
namespace {

// controller-runtime's controller_runtime_reconcile_time_seconds buckets.
prometheus::Histogram::BucketBoundaries reconcile_time_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
          0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
          6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};
}

std::string group_of(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string()
                                         : std::string(api_version.substr(0, slash));
}

std::string string_field(const json& object, const char* field) {
  if (!object.is_object()) return {};
  auto v = object.find(field);
  return v != object.end() && v->is_string() ? v->get<std::string>() : std::string();
}

std::string meta_string(const json& object, const char* field) {
  if (!object.is_object()) return {};
  auto meta = object.find("metadata");
  return meta == object.end() ? std::string() : string_field(*meta, field);
}

std::optional<Request> request_for(const json& object) {
  Request r{meta_string(object, "namespace"), meta_string(object, "name")};
  if (r.name.empty()) return std::nullopt;
  return r;
}

}  // namespace

Request Request::from_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return Request{"", std::string(key)};
  return Request{std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

struct Controller::Metrics {
  prometheus::Counter& success;
  prometheus::Counter& error;
  prometheus::Counter& requeue_after;
  prometheus::Counter& errors;
  prometheus::Counter& terminal_errors;
  prometheus::Counter& panics;
  prometheus::Histogram& reconcile_time;
  prometheus::Gauge& active_workers;
  prometheus::Gauge& max_concurrent;
};

Controller::Controller(std::string name, Reconciler reconcile, const Clock& clock,
                       ControllerOptions options)
    : name_(std::move(name)),
      reconcile_(std::move(reconcile)),
      clock_(clock),
      workers_(options.workers > 0 ? options.workers : 1),
      queue_(name_, clock, std::move(options.rate_limiter), options.metrics) {
  if (options.metrics != nullptr) {
    auto& registry = *options.metrics;
    const prometheus::Labels labels{{"controller", name_}};
    auto& total = prometheus::BuildCounter()
                      .Name("controller_runtime_reconcile_total")
                      .Help("Total number of reconciliations per controller")
                      .Register(registry);
    auto with_result = [&](const char* result) {
      prometheus::Labels l = labels;
      l["result"] = result;
      return l;
    };
    // controller-runtime also exports the deprecated "requeue" result; it
    // stays at zero here because the contract has no bare requeue.
    total.Add(with_result("requeue"));
    metrics_ = std::make_unique<Metrics>(Metrics{
        total.Add(with_result("success")),
        total.Add(with_result("error")),
        total.Add(with_result("requeue_after")),
        prometheus::BuildCounter()
            .Name("controller_runtime_reconcile_errors_total")
            .Help("Total number of reconciliation errors per controller")
            .Register(registry)
            .Add(labels),
        prometheus::BuildCounter()
            .Name("controller_runtime_terminal_reconcile_errors_total")
            .Help("Total number of terminal reconciliation errors per controller")
            .Register(registry)
            .Add(labels),
        prometheus::BuildCounter()
            .Name("controller_runtime_reconcile_panics_total")
            .Help("Total number of reconciliation panics (exceptions) per controller")
            .Register(registry)
            .Add(labels),
        prometheus::BuildHistogram()
            .Name("controller_runtime_reconcile_time_seconds")
            .Help("Length of time per reconciliation per controller")
            .Register(registry)
            .Add(labels, reconcile_time_buckets()),
        prometheus::BuildGauge()
            .Name("controller_runtime_active_workers")
            .Help("Number of currently used workers per controller")
            .Register(registry)
            .Add(labels),
        prometheus::BuildGauge()
            .Name("controller_runtime_max_concurrent_reconciles")
            .Help("Maximum number of concurrent reconciles per controller")
            .Register(registry)
            .Add(labels),
    });
    metrics_->max_concurrent.Set(workers_);
  }
}

Controller::~Controller() { stop(); }

void Controller::start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_ || stopped_) return;
  started_ = true;
  log::info("starting controller", {{"controller", name_}, {"workers", workers_}});
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void Controller::stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  queue_.shut_down();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (started_) log::info("stopped controller", {{"controller", name_}});
}

void Controller::worker_loop() {
  while (std::optional<std::string> key = queue_.get()) process(*key);
}

ReconcileOutcome Controller::run_reconcile(const Request& request) {
  // A bug in one reconcile must not take the process down; it is retried
  // with backoff like any transient failure, and counted.
  std::string what;
  try {
    return reconcile_(request);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  if (metrics_) metrics_->panics.Increment();
  return make_error(ErrorCode::kInternal, "reconciler threw: " + what);
}

void Controller::process(const std::string& key) {
  const Request request = Request::from_key(key);
  if (metrics_) metrics_->active_workers.Increment();
  const Clock::time_point started = clock_.now();
  const ReconcileOutcome outcome = run_reconcile(request);
  if (metrics_) {
    metrics_->reconcile_time.Observe(std::chrono::duration<double>(clock_.now() - started).count());
    metrics_->active_workers.Decrement();
  }

  if (!outcome.ok()) {
    json fields = {{"controller", name_},
                   {"request", key},
                   {"error", outcome.error().describe()},
                   {"terminal", outcome.is_terminal()}};
    if (outcome.is_terminal()) {
      queue_.forget(key);
      log::error("reconcile failed", fields);
    } else {
      queue_.add_rate_limited(key);
      fields["retries"] = queue_.num_requeues(key);
      log::error("reconcile failed", fields);
    }
    if (metrics_) {
      metrics_->error.Increment();
      metrics_->errors.Increment();
      if (outcome.is_terminal()) metrics_->terminal_errors.Increment();
    }
  } else if (outcome.result().requeue()) {
    queue_.forget(key);
    queue_.add_after(key, outcome.result().after());
    if (metrics_) metrics_->requeue_after.Increment();
  } else {
    queue_.forget(key);
    if (metrics_) metrics_->success.Increment();
  }
  queue_.done(key);
}

std::optional<Request> controller_owner_request(const json& object, const Resource& owner) {
  if (!object.is_object()) return std::nullopt;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return std::nullopt;
  auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return std::nullopt;
  for (const json& ref : *refs) {
    if (!ref.is_object()) continue;
    auto controller = ref.find("controller");
    if (controller == ref.end() || !controller->is_boolean() || !controller->get<bool>()) continue;
    const std::string kind = string_field(ref, "kind");
    const std::string api_version = string_field(ref, "apiVersion");
    const std::string name = string_field(ref, "name");
    if (kind != owner.kind || group_of(api_version) != owner.group || name.empty()) continue;
    return Request{owner.namespaced ? meta_string(object, "namespace") : "", name};
  }
  return std::nullopt;
}

EventHandlers enqueue_request_for_object(Controller& controller) {
  auto enqueue = [&controller](const ObjectPtr& obj) {
    if (auto r = request_for(*obj)) controller.enqueue(*r);
  };
  return EventHandlers{
      enqueue,
      [enqueue](const ObjectPtr&, const ObjectPtr& new_obj) { enqueue(new_obj); },
      enqueue,
  };
}

EventHandlers enqueue_request_for_owner(Controller& controller, const Resource& owner) {
  auto enqueue = [&controller, owner](const ObjectPtr& obj) {
    if (auto r = controller_owner_request(*obj, owner)) controller.enqueue(*r);
  };
  return EventHandlers{
      enqueue,
      [enqueue](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
        enqueue(old_obj);
        enqueue(new_obj);
      },
      enqueue,
  };
}

}  // namespace orderguard::kube
