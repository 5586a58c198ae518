// The reconcile contract as types, and the Controller that drives a reconciler
// from a WorkQueue the way controller-runtime's internal controller does.
//
// Contract of a reconciler:
//  - It receives a Request (namespace/name only) and reads the whole state it
//    needs each pass; it is never told what changed.
//  - It returns a ReconcileOutcome: ReconcileResult::done(), requeue_after(d),
//    or an Error. An Error is retried with per-key exponential backoff when it
//    is transient (Error::transient(): conflicts, 5xx, timeouts, throttling)
//    or Forbidden; any other code (Invalid, NotFound, BadRequest, ...) is
//    terminal, and so is an error wrapped with terminal(). Terminal errors are
//    logged and counted, never retried: the key is reconciled again only when an
//    event re-queues it. Forbidden is retried because what refuses it changes
//    without any event on the object: an admin fixes RBAC, or the API server's
//    OwnerReferencesPermissionEnforcement learns a CRD's kind (its RESTMapper is
//    refreshed only every 30 s, so children of a kind created in the same
//    `helm install` are refused at first).
//  - It may throw; the Controller catches the exception, logs it and treats it
//    as a transient error, so one bad reconcile cannot kill the process.
//
// Handling (controller-runtime reconcileHandler):
//   transient error -> add_rate_limited(key)       result="error"
//   terminal error  -> forget(key)                 result="error"
//   requeue_after d -> forget(key), add_after(d)   result="requeue_after"
//   done            -> forget(key)                 result="success"
//
// Metrics (when a registry is given), label controller=<name>:
// controller_runtime_reconcile_total{controller,result},
// controller_runtime_reconcile_errors_total, controller_runtime_terminal_reconcile_errors_total,
// controller_runtime_reconcile_panics_total (exceptions),
// controller_runtime_reconcile_time_seconds, controller_runtime_active_workers,
// controller_runtime_max_concurrent_reconciles, plus the workqueue_* metrics of its queue
// (name=<controller name>).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "kube/informer.h"
#include "kube/rate_limiter.h"
#include "kube/work_queue.h"

namespace prometheus {
class Registry;
}

namespace orderguard::kube {

struct Request {
  std::string ns;  // "" for cluster-scoped objects
  std::string name;

  // "ns/name", or "name" when cluster-scoped; the work queue key.
  std::string key() const { return ns.empty() ? name : ns + "/" + name; }
  static Request from_key(std::string_view key);
  bool operator==(const Request&) const = default;
};

class ReconcileResult {
 public:
  static ReconcileResult done() { return ReconcileResult(std::nullopt); }
  // Reconcile the same request again after `delay` (e.g. to poll an external
  // condition); the key's error backoff is reset.
  static ReconcileResult requeue_after(Clock::duration delay) { return ReconcileResult(delay); }

  bool requeue() const { return after_.has_value(); }
  Clock::duration after() const { return after_.value_or(Clock::duration::zero()); }

 private:
  explicit ReconcileResult(std::optional<Clock::duration> after) : after_(after) {}
  std::optional<Clock::duration> after_;
};

// What a reconciler returns: a ReconcileResult or an Error (implicitly
// converted from either, so `return client_result.error();` works).
class [[nodiscard]] ReconcileOutcome {
 public:
  ReconcileOutcome(ReconcileResult result) : result_(result) {}  // NOLINT: implicit by design
  ReconcileOutcome(Error error)                                  // NOLINT: implicit by design
      : error_(std::move(error)),
        terminal_(!error_->transient() && error_->code != ErrorCode::kForbidden) {}

  // Marks an error as not worth retrying whatever its code (a spec that can
  // only be fixed by the user, an unsupported configuration).
  static ReconcileOutcome terminal(Error error) {
    ReconcileOutcome o(std::move(error));
    o.terminal_ = true;
    return o;
  }

  bool ok() const { return !error_.has_value(); }
  const ReconcileResult& result() const { return result_; }
  const Error& error() const { return *error_; }
  // True for an error that must not be retried.
  bool is_terminal() const { return terminal_; }

 private:
  ReconcileResult result_ = ReconcileResult::done();
  std::optional<Error> error_;
  bool terminal_ = false;
};

inline ReconcileOutcome terminal(Error error) {
  return ReconcileOutcome::terminal(std::move(error));
}

using Reconciler = std::function<ReconcileOutcome(const Request&)>;

struct ControllerOptions {
  int workers = 1;  // controller-runtime MaxConcurrentReconciles
  // Null: default_controller_rate_limiter(clock).
  std::unique_ptr<RateLimiter> rate_limiter;
  prometheus::Registry* metrics = nullptr;  // must outlive the controller
};

class Controller {
 public:
  // `clock` must outlive the controller.
  Controller(std::string name, Reconciler reconcile, const Clock& clock,
             ControllerOptions options = {});
  // Stops the controller.
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const std::string& name() const { return name_; }
  // Requests may be queued before start(); they are processed once it runs.
  void enqueue(const Request& request) { queue_.add(request.key()); }
  WorkQueue& queue() { return queue_; }

  // Starts the workers. Calling it twice, or after stop(), does nothing.
  void start();
  // Stops taking work, lets in-flight reconciles finish and joins the workers.
  // Queued requests are dropped. Idempotent; a controller cannot restart.
  void stop();

 private:
  struct Metrics;

  void worker_loop();
  void process(const std::string& key);
  ReconcileOutcome run_reconcile(const Request& request);

  const std::string name_;
  const Reconciler reconcile_;
  const Clock& clock_;
  const int workers_;
  std::unique_ptr<Metrics> metrics_;
  WorkQueue queue_;

  std::mutex lifecycle_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

// Informer event handlers that enqueue a Request for the object itself
// (the root kind a controller reconciles, controller-runtime's For()).
// The handlers hold a reference to `controller`: stop the informers first.
EventHandlers enqueue_request_for_object(Controller& controller);

// Informer event handlers that enqueue the owner of an object: the
// ownerReference with controller=true whose kind is `owner.kind` and whose
// apiVersion is in `owner.group` (controller-runtime's Owns()). The owner is
// looked up in the object's namespace, or cluster-scoped when
// `owner.namespaced` is false. On update both the old and the new owner are
// enqueued, so a changed ownerReference reconciles both.
EventHandlers enqueue_request_for_owner(Controller& controller, const Resource& owner);

// The Request for the controller owner of `object` of the given kind, if any.
std::optional<Request> controller_owner_request(const json& object, const Resource& owner);

}  // namespace orderguard::kube
