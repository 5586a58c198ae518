// The Kubernetes API client seam. `Client` is the narrow interface every
// component talks to the API server through; `make_client` returns the real
// implementation on Boost.Beast + OpenSSL (kube/client.cpp, kube/http_transport.h).
//
// Contract:
//  - No method throws. Failures come back as an Error carrying the Kubernetes
//    Status (http_status, reason, message, details) when the server sent one.
//  - Objects are nlohmann::json exactly as the API server returns them.
//  - `ns` is the namespace; "" means cluster-scoped or "all namespaces" for lists.
//  - Methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "kube/config.h"

namespace prometheus {
class Registry;
}

namespace orderguard::kube {

using nlohmann::json;

// A resource collection, e.g. {"apps", "v1", "deployments", true}.
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "deployments"
  bool namespaced = true;
  std::string kind;  // "Deployment"; used for apply bodies and messages

  // "/api/v1/namespaces/ns/pods/name/status" style paths; empty parts are omitted.
  std::string path(std::string_view ns, std::string_view name = {},
                   std::string_view subresource = {}) const;
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
};

// Well-known resources used across orderguard.
namespace resources {
extern const Resource kNamespaces;
extern const Resource kPods;
extern const Resource kConfigMaps;
extern const Resource kSecrets;
extern const Resource kServices;
extern const Resource kServiceAccounts;
extern const Resource kNodes;
extern const Resource kEvents;  // events.k8s.io/v1
extern const Resource kLeases;  // coordination.k8s.io/v1
extern const Resource kDeployments;
extern const Resource kStatefulSets;
extern const Resource kDaemonSets;
extern const Resource kReplicaSets;
extern const Resource kJobs;
extern const Resource kCronJobs;
extern const Resource kPodDisruptionBudgets;
extern const Resource kHorizontalPodAutoscalers;  // autoscaling/v2
extern const Resource kCustomResourceDefinitions;
extern const Resource kValidatingWebhookConfigurations;
}  // namespace resources

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // 0: no paging
  std::string continue_token;
  std::string resource_version;  // "0" lets the watch cache answer
  std::string resource_version_match;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  bool allow_bookmarks = true;
  // Server-side watch timeout; the client's inactivity timeout is set above it
  // so a quiet watch is ended by the server, not cut by the client.
  std::chrono::seconds timeout{300};
};

enum class PatchType { kMerge, kJson, kStrategicMerge };

struct DeleteOptions {
  std::string propagation_policy;  // "", "Foreground", "Background", "Orphan"
  std::optional<int64_t> grace_period_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

struct ApplyOptions {
  std::string field_manager;  // required
  bool force = true;          // controllers force ownership of the fields they manage
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  json object;
};

// Cancels in-flight watches and requests from another thread (shutdown).
// Cheap to copy; all copies share one state.
class Canceller {
 public:
  Canceller();
  void cancel();
  bool cancelled() const;
  // Blocks until cancel() is called or `timeout` passes; true when cancelled.
  // Lets retry loops sleep their backoff without delaying shutdown.
  bool wait_for(std::chrono::milliseconds timeout) const;
  struct State;
  std::shared_ptr<State> state() const { return state_; }

 private:
  std::shared_ptr<State> state_;
};

class Client {
 public:
  virtual ~Client() = default;

  virtual Result<json> get(const Resource& r, std::string_view ns, std::string_view name,
                           std::string_view subresource = {}) = 0;
  // One page; the List object as returned (items, metadata.continue, metadata.resourceVersion).
  virtual Result<json> list(const Resource& r, std::string_view ns, const ListOptions& opts) = 0;
  // Follows `continue` tokens (opts.limit per page, 500 when 0) and returns one List
  // holding every item and the resourceVersion of the first page.
  virtual Result<json> list_all(const Resource& r, std::string_view ns,
                                const ListOptions& opts) = 0;
  // list_all without collecting: each item goes to `on_item` as soon as it is
  // decoded, so a caller that keeps a slimmed copy never holds a page (let
  // alone the List) of whole objects. Returns the List without items
  // (metadata.resourceVersion of the first page). An error after some items
  // were delivered means the list is incomplete: discard them. The default
  // implementation calls list_all.
  virtual Result<json> list_each(const Resource& r, std::string_view ns, const ListOptions& opts,
                                 const std::function<void(json&&)>& on_item);
  virtual Result<json> create(const Resource& r, std::string_view ns, const json& obj,
                              std::string_view subresource = {}) = 0;
  // PUT of the whole object (metadata.name and resourceVersion from `obj`).
  virtual Result<json> update(const Resource& r, std::string_view ns, const json& obj,
                              std::string_view subresource = {}) = 0;
  virtual Status remove(const Resource& r, std::string_view ns, std::string_view name,
                        const DeleteOptions& opts = {}) = 0;
  virtual Result<json> patch(const Resource& r, std::string_view ns, std::string_view name,
                             PatchType type, const json& patch,
                             std::string_view subresource = {}) = 0;
  // Server-side apply of `obj` (must carry apiVersion, kind, metadata.name).
  virtual Result<json> apply(const Resource& r, std::string_view ns, const json& obj,
                             const ApplyOptions& opts, std::string_view subresource = {}) = 0;
  // policy/v1 Eviction. A PodDisruptionBudget refusal is kTooManyRequests.
  virtual Status evict(std::string_view ns, std::string_view pod,
                       const DeleteOptions& opts = {}) = 0;
  // Streams one watch, calling on_event for each decoded event, until the server
  // ends it (ok), an error ends it, or `cancel` fires (kCancelled). An ERROR event
  // carrying a Status (e.g. 410 Expired) is returned as that Status's Error.
  virtual Status watch(const Resource& r, std::string_view ns, const WatchOptions& opts,
                       const std::function<void(WatchEvent&&)>& on_event,
                       const Canceller& cancel) = 0;
  // Any request, for endpoints without a helper (TokenRequest, /readyz, discovery).
  virtual Result<json> raw(std::string_view method, std::string_view path_and_query,
                           const json* body = nullptr,
                           std::string_view content_type = "application/json") = 0;
};

struct ClientOptions {
  // client-go's REST metrics go here when set: rest_client_requests_total{code,method,host},
  // rest_client_request_duration_seconds{verb,host},
  // rest_client_rate_limiter_duration_seconds{verb,host} and
  // rest_client_request_retries_total{code,verb,host}.
  prometheus::Registry* metrics = nullptr;
};

Result<std::unique_ptr<Client>> make_client(const Config& config, const ClientOptions& opts = {});

// Maps an HTTP status and an optional metav1.Status body onto an Error.
// `status_body` is the decoded metav1.Status, or a JSON string holding a body
// that was not JSON (a proxy's HTML page), or null. The Status's reason decides
// when it is a known one (AlreadyExists vs Conflict share 409); otherwise the
// HTTP code does. When http_status is 0 the Status's own `code` is used (watch
// ERROR events).
Error error_from_status(int http_status, const json& status_body);

}  // namespace orderguard::kube
