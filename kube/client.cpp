#include "kube/client.h"

#include <openssl/ssl.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/system_error.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"
#include "kube/client_errors.h"
#include "kube/client_stream.h"
#include "kube/client_tls.h"
#include "kube/http_transport.h"
#include "kube/rate_limiter.h"
#include "kube/tcp_probe.h"
#include "kube/url.h"
#include "kube/watch_decode.h"

namespace orderguard::kube {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

Result<json> Client::list_each(const Resource& r, std::string_view ns, const ListOptions& opts,
                               const std::function<void(json&&)>& on_item) {
  auto listed = list_all(r, ns, opts);
  if (!listed.ok()) return listed.error();
  json& list = *listed;
  if (auto it = list.find("items"); it != list.end() && it->is_array()) {
    for (json& item : *it) on_item(std::move(item));
    list.erase(it);
  }
  return std::move(list);
}

// ---------------------------------------------------------------------------
// Canceller

// Callbacks registered by running watches close their connection from the
// cancelling thread. They run under `mu`, so once a watch has removed its
// callback none of it runs any more and the connection can go.
struct Canceller::State {
  std::mutex mu;
  std::condition_variable cv;
  bool cancelled = false;
  uint64_t next_id = 1;
  std::map<uint64_t, std::function<void()>> on_cancel;
};

Canceller::Canceller() : state_(std::make_shared<State>()) {}

void Canceller::cancel() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->cancelled) return;
    state_->cancelled = true;
    for (auto& [id, callback] : state_->on_cancel) callback();
  }
  state_->cv.notify_all();
}

bool Canceller::cancelled() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->cancelled;
}

bool Canceller::wait_for(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [this] { return state_->cancelled; });
}

// ---------------------------------------------------------------------------
// The REST client

namespace {

// client-go's REST client metrics (k8s.io/client-go/tools/metrics), with its names, labels and
// buckets, so dashboards and alerts written for Go controllers work unchanged. `host` is the
// API server's host:port. Watches count as GET requests, as in client-go.
struct Metrics {
  prometheus::Family<prometheus::Counter>* requests = nullptr;        // {code, method, host}
  prometheus::Family<prometheus::Histogram>* duration = nullptr;      // {verb, host}
  prometheus::Family<prometheus::Histogram>* rate_limiter = nullptr;  // {verb, host}
  prometheus::Family<prometheus::Counter>* retries = nullptr;         // {code, verb, host}
  std::string host;

  static const prometheus::Histogram::BucketBoundaries& buckets() {
    // client-go's buckets for rest_client_request_duration_seconds and
    // rest_client_rate_limiter_duration_seconds.
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0};
    return kBuckets;
  }

  void record(const std::string& method, const std::string& code,
              std::optional<std::chrono::duration<double>> elapsed) const {
    if (requests == nullptr) return;
    try {
      requests->Add({{"code", code}, {"method", method}, {"host", host}}).Increment();
      if (elapsed) {
        duration->Add({{"verb", method}, {"host", host}}, buckets()).Observe(elapsed->count());
      }
    } catch (const std::exception& e) {
      log::error("cannot record REST client metric", {{"error", e.what()}});
    }
  }

  // The time a request waited for the client-side rate limiter (zero included, as client-go).
  void record_throttle(const std::string& method, std::chrono::duration<double> waited) const {
    if (rate_limiter == nullptr) return;
    try {
      rate_limiter->Add({{"verb", method}, {"host", host}}, buckets()).Observe(waited.count());
    } catch (const std::exception& e) {
      log::error("cannot record REST client metric", {{"error", e.what()}});
    }
  }

  // A request sent again on a new connection after `code` ("<error>": no answer).
  void record_retry(const std::string& method, const std::string& code) const {
    if (retries == nullptr) return;
    try {
      retries->Add({{"code", code}, {"verb", method}, {"host", host}}).Increment();
    } catch (const std::exception& e) {
      log::error("cannot record REST client metric", {{"error", e.what()}});
    }
  }
};

// Answers held whole (everything but LIST pages and watches) are refused past
// this: the largest object etcd stores is 1.5 MiB by default, and discovery or
// OpenAPI documents stay well under it.
constexpr std::uint64_t kMaxBodyBytes = 64ull << 20;
// A LIST page is parsed item by item as it arrives, never held whole; the cap
// only bounds what a server that never ends its answer can make the client
// read (500 items of the largest size etcd stores, with room).
constexpr std::uint64_t kMaxListBodyBytes = 1ull << 30;

// The parts of the server URL a connection needs.
struct ServerUrl {
  bool https = true;
  std::string host;  // as written: a name, an IPv4 literal or a bracketed IPv6 one
  int port = 0;
  std::string path_prefix;  // "" or "/prefix" (a proxy in front of the API server)
};

Result<ServerUrl> parse_server_url(const std::string& server) {
  ServerUrl url;
  std::string_view rest = server;
  const auto lower_starts = [&](std::string_view prefix) {
    if (rest.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(rest[i])) != prefix[i]) return false;
    }
    return true;
  };
  if (lower_starts("https://")) {
    rest.remove_prefix(8);
  } else if (lower_starts("http://")) {
    url.https = false;
    rest.remove_prefix(7);
  } else {
    return make_error(ErrorCode::kInvalid, "server must be an https or http URL: " + server);
  }
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  const auto invalid = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalid, "invalid server URL " + server + ": " + why);
  };
  if (authority.find('@') != std::string_view::npos) return invalid("credentials in the URL");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("unterminated IPv6 address");
    url.host = std::string(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty() || url.host == "[]") return invalid("no host");
  if (url.host.find_first_of(" \t\r\n") != std::string::npos) return invalid("space in the host");
  if (port_text.empty()) {
    url.port = url.https ? 443 : 80;
  } else {
    int port = 0;
    for (const char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return invalid("bad port");
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) return invalid("bad port");
    url.port = port;
  }
  if (path.find_first_of("?#") != std::string_view::npos) return invalid("query in the URL");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.path_prefix = std::string(path);
  return url;
}

// One request's use of a pooled connection: the connection goes back to the
// pool when finish() was called and its answer was read whole, and is closed
// otherwise (an error or an early return left unread bytes on it).
class Exchange {
 public:
  Exchange(ConnectionPool& pool, std::unique_ptr<Connection> conn)
      : pool_(pool), conn_(std::move(conn)) {}
  ~Exchange() {
    if (finished_) pool_.release(std::move(conn_));
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  ResponseReader& reader() { return conn_->reader(); }
  Connection& connection() { return *conn_; }
  BodyRead body_read() {
    return [this](std::string& out, size_t max) { return conn_->reader().read_body(out, max); };
  }
  void finish() { finished_ = true; }

 private:
  ConnectionPool& pool_;
  std::unique_ptr<Connection> conn_;
  bool finished_ = false;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// Parses a response body: a JSON document, or (when it is not JSON) the text
// as a JSON string so error messages keep it.
json parse_body(const std::string& body) {
  if (body.empty()) return json();
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return json(body);
  return doc;
}

std::string object_name(const json& obj) {
  if (!obj.is_object()) return {};
  const auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return {};
  const auto name = meta->find("name");
  return name != meta->end() && name->is_string() ? name->get<std::string>() : std::string();
}

std::string object_namespace(const json& obj) {
  if (!obj.is_object()) return {};
  const auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return {};
  const auto ns = meta->find("namespace");
  return ns != meta->end() && ns->is_string() ? ns->get<std::string>() : std::string();
}

json delete_options_body(const DeleteOptions& opts, bool with_type_meta) {
  json body = json::object();
  if (with_type_meta) {
    body["apiVersion"] = "v1";
    body["kind"] = "DeleteOptions";
  }
  if (!opts.propagation_policy.empty()) body["propagationPolicy"] = opts.propagation_policy;
  if (opts.grace_period_seconds) body["gracePeriodSeconds"] = *opts.grace_period_seconds;
  if (!opts.precondition_uid.empty() || !opts.precondition_resource_version.empty()) {
    json pre = json::object();
    if (!opts.precondition_uid.empty()) pre["uid"] = opts.precondition_uid;
    if (!opts.precondition_resource_version.empty()) {
      pre["resourceVersion"] = opts.precondition_resource_version;
    }
    body["preconditions"] = std::move(pre);
  }
  if (opts.dry_run) body["dryRun"] = json::array({"All"});
  return body;
}

std::string_view patch_content_type(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

class RestClient final : public Client {
 public:
  RestClient(Config config, const ServerUrl& url, std::shared_ptr<const Endpoint> endpoint,
             Metrics metrics)
      : config_(std::move(config)),
        host_(url.host),
        port_(url.port),
        path_prefix_(url.path_prefix),
        pool_(std::move(endpoint)),
        metrics_(metrics) {
    address_ = host_port(host_, port_);
    if (config_.qps > 0) {
      limiter_ =
          std::make_unique<TokenBucketLimiter>(clock_, config_.qps, std::max(1, config_.burst));
    }
    if (!config_.token_file.empty()) {
      token_file_ = std::make_unique<TokenFileCache>(config_.token_file);
    }
  }

  Result<json> get(const Resource& r, std::string_view ns, std::string_view name,
                   std::string_view subresource) override {
    auto nsr = require_namespace(r, ns, nullptr);
    if (!nsr.ok()) return nsr.error();
    if (name.empty()) return make_error(ErrorCode::kInvalid, "get " + r.plural + ": empty name");
    return call("GET", r.path(*nsr, name, subresource));
  }

  Result<json> list(const Resource& r, std::string_view ns, const ListOptions& opts) override {
    return call("GET", list_target(r, ns, opts));
  }

  Result<json> list_all(const Resource& r, std::string_view ns, const ListOptions& opts) override {
    json items = json::array();
    auto result = list_each(r, ns, opts, [&](json&& item) { items.push_back(std::move(item)); });
    if (!result.ok()) return result.error();
    (*result)["items"] = std::move(items);
    return result;
  }

  Result<json> list_each(const Resource& r, std::string_view ns, const ListOptions& opts,
                         const std::function<void(json&&)>& on_item) override {
    ListOptions page = opts;
    if (page.limit <= 0) page.limit = 500;  // client-go pager's default page size
    json result;
    for (bool first = true;; first = false) {
      auto answer = list_page(r, ns, page, on_item);
      if (!answer.ok()) {
        if (!page.continue_token.empty() && answer.error().code == ErrorCode::kGone) {
          Error e = answer.error();
          e.message =
              "list " + r.plural + ": continue token expired, relist from the start: " + e.message;
          return e;
        }
        return answer.error();
      }
      json& list_page = *answer;
      std::string next;
      if (auto meta = list_page.find("metadata"); meta != list_page.end() && meta->is_object()) {
        next = meta->value("continue", "");
      }
      if (first) {
        result = std::move(list_page);
      }
      if (next.empty()) break;
      page.continue_token = next;
      // The continue token pins the snapshot; the API server refuses both together.
      page.resource_version.clear();
      page.resource_version_match.clear();
    }
    if (auto meta = result.find("metadata"); meta != result.end() && meta->is_object()) {
      meta->erase("continue");
      meta->erase("remainingItemCount");
    }
    return result;
  }

  Result<json> create(const Resource& r, std::string_view ns, const json& obj,
                      std::string_view subresource) override {
    auto nsr = require_namespace(r, ns, &obj);
    if (!nsr.ok()) return nsr.error();
    std::string path = r.path(*nsr);
    if (!subresource.empty()) {
      const std::string name = object_name(obj);
      if (name.empty()) {
        return make_error(
            ErrorCode::kInvalid,
            "create " + r.plural + "/" + std::string(subresource) + ": metadata.name is required");
      }
      path = r.path(*nsr, name, subresource);
    }
    return call("POST", path, dump_for_wire(obj));
  }

  Result<json> update(const Resource& r, std::string_view ns, const json& obj,
                      std::string_view subresource) override {
    auto nsr = require_namespace(r, ns, &obj);
    if (!nsr.ok()) return nsr.error();
    const std::string name = object_name(obj);
    if (name.empty()) {
      return make_error(ErrorCode::kInvalid, "update " + r.plural + ": metadata.name is required");
    }
    return call("PUT", r.path(*nsr, name, subresource), dump_for_wire(obj));
  }

  Status remove(const Resource& r, std::string_view ns, std::string_view name,
                const DeleteOptions& opts) override {
    auto nsr = require_namespace(r, ns, nullptr);
    if (!nsr.ok()) return nsr.error();
    if (name.empty()) return make_error(ErrorCode::kInvalid, "delete " + r.plural + ": empty name");
    auto answer = call("DELETE", r.path(*nsr, name),
                       dump_for_wire(delete_options_body(opts, /*with_type_meta=*/true)));
    if (!answer.ok()) return answer.error();
    return {};
  }

  Result<json> patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                     const json& patch, std::string_view subresource) override {
    auto nsr = require_namespace(r, ns, nullptr);
    if (!nsr.ok()) return nsr.error();
    if (name.empty()) return make_error(ErrorCode::kInvalid, "patch " + r.plural + ": empty name");
    return call("PATCH", r.path(*nsr, name, subresource), dump_for_wire(patch),
                patch_content_type(type));
  }

  Result<json> apply(const Resource& r, std::string_view ns, const json& obj,
                     const ApplyOptions& opts, std::string_view subresource) override {
    if (opts.field_manager.empty()) {
      return make_error(ErrorCode::kInvalid, "apply " + r.plural + ": field manager is required");
    }
    if (!obj.is_object()) {
      return make_error(ErrorCode::kInvalid,
                        "apply " + r.plural + ": object must be a JSON object");
    }
    auto nsr = require_namespace(r, ns, &obj);
    if (!nsr.ok()) return nsr.error();
    const std::string name = object_name(obj);
    if (name.empty()) {
      return make_error(ErrorCode::kInvalid, "apply " + r.plural + ": metadata.name is required");
    }
    // Server-side apply needs the type meta in the body; fill it from the Resource.
    json body = obj;
    if (!body.contains("apiVersion")) body["apiVersion"] = r.api_version();
    if (!body.contains("kind") && !r.kind.empty()) body["kind"] = r.kind;
    Query q;
    q.add("fieldManager", opts.field_manager).add("force", opts.force ? "true" : "");
    // JSON is valid YAML, so the apply content type takes the JSON dump as is.
    return call("PATCH", r.path(*nsr, name, subresource) + q.str(), dump_for_wire(body),
                "application/apply-patch+yaml");
  }

  Status evict(std::string_view ns, std::string_view pod, const DeleteOptions& opts) override {
    if (ns.empty() || pod.empty()) {
      return make_error(ErrorCode::kInvalid, "evict: namespace and pod name are required");
    }
    json body = {{"apiVersion", "policy/v1"},
                 {"kind", "Eviction"},
                 {"metadata", {{"name", pod}, {"namespace", ns}}}};
    json delete_options = delete_options_body(opts, /*with_type_meta=*/false);
    if (!delete_options.empty()) body["deleteOptions"] = std::move(delete_options);
    auto answer = call("POST", resources::kPods.path(ns, pod, "eviction"), dump_for_wire(body));
    if (!answer.ok()) return answer.error();
    return {};
  }

  Result<json> raw(std::string_view method, std::string_view path_and_query, const json* body,
                   std::string_view content_type) override {
    if (path_and_query.empty() || path_and_query.front() != '/') {
      return make_error(ErrorCode::kInvalid,
                        "raw request: path must start with '/': " + std::string(path_and_query));
    }
    std::optional<std::string> text;
    if (body != nullptr) text = dump_for_wire(*body);
    return call(std::string(method), std::string(path_and_query), std::move(text), content_type,
                /*text_ok=*/true);
  }

  Status watch(const Resource& r, std::string_view ns, const WatchOptions& opts,
               const std::function<void(WatchEvent&&)>& on_event, const Canceller& cancel) override;

 private:
  // The namespace a request goes to: `ns`, else the object's own, else an
  // error for namespaced resources (an empty namespace would silently address
  // the all-namespaces collection).
  Result<std::string> require_namespace(const Resource& r, std::string_view ns,
                                        const json* obj) const {
    if (!r.namespaced) return std::string();
    if (!ns.empty()) return std::string(ns);
    if (obj != nullptr) {
      std::string own = object_namespace(*obj);
      if (!own.empty()) return own;
    }
    return make_error(ErrorCode::kInvalid, r.plural + " are namespaced: a namespace is required");
  }

  std::string url_for(const std::string& target) const { return config_.server + target; }

  // The path and query of a LIST of `r` in `ns` with `opts`.
  static std::string list_target(const Resource& r, std::string_view ns, const ListOptions& opts) {
    Query q;
    q.add("labelSelector", opts.label_selector)
        .add("fieldSelector", opts.field_selector)
        .add("limit", opts.limit > 0 ? std::to_string(opts.limit) : "")
        .add("continue", opts.continue_token)
        .add("resourceVersion", opts.resource_version)
        .add("resourceVersionMatch", opts.resource_version_match);
    return r.path(ns) + q.str();
  }

  // One page of a list, parsed as its body arrives (never held whole as text).
  // Each element of "items" goes to `on_item` as soon as the parser completes
  // it and is dropped from the page: at most one whole item is held at a time.
  // Returns the List without items. A transport failure before any item was
  // delivered is retried on a fresh connection, as in send() (not a connection
  // that could not be opened).
  Result<json> list_page(const Resource& r, std::string_view ns, const ListOptions& opts,
                         const std::function<void(json&&)>& on_item) {
    const std::string target = list_target(r, ns, opts);
    bool delivered = false;
    const auto counting = [&](json&& item) {
      delivered = true;
      on_item(std::move(item));
    };
    bool final = false;
    auto page = list_page_once(target, counting, &final);
    for (int attempt = 1; attempt <= 3 && !page.ok() && !delivered && !final &&
                          page.error().code == ErrorCode::kUnavailable;
         ++attempt) {
      log::info("retrying api request on a new connection", {{"verb", "GET"},
                                                             {"path", target},
                                                             {"attempt", attempt},
                                                             {"error", page.error().message}});
      metrics_.record_retry("GET", "<error>");
      page = list_page_once(target, counting, &final);
    }
    return page;
  }

  // `final` is set when a new connection would not change the outcome (nothing listens,
  // or a failure that is not a broken connection).
  Result<json> list_page_once(const std::string& target, const std::function<void(json&&)>& on_item,
                              bool* final) {
    const std::string verb = "GET";
    throttle(verb);
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    };
    if (auto refused = still_refused(verb, target, {})) {
      *final = true;
      metrics_.record(verb, "<error>", elapsed());
      log::debug("api request failed",
                 {{"verb", verb}, {"path", target}, {"error", refused->message}});
      return *refused;
    }
    bool retryable = false;
    try {
      auto req = make_request(verb, target);
      if (!req.ok()) return req.error();
      Exchange ex(pool_, exchange(pool_, *req, request_timeout(), kMaxListBodyBytes));
      const int status = ex.reader().status();
      if (status < 200 || status >= 300) {
        const std::string body = ex.reader().read_all(kMaxBodyBytes);
        metrics_.record(verb, std::to_string(status), elapsed());
        return error_from_status(status, parse_body(body));
      }
      json page = parse_list_stream(ex.body_read(), on_item);
      if (!page.is_discarded()) ex.finish();
      metrics_.record(verb, std::to_string(status), elapsed());
      log::debug("api request", {{"verb", verb},
                                 {"path", target},
                                 {"code", status},
                                 {"ms", static_cast<int64_t>(elapsed().count() * 1000)}});
      if (!page.is_object()) {
        return make_error(ErrorCode::kInternal,
                          verb + " " + url_for(target) + ": answer is not a JSON object");
      }
      page.erase("items");
      return page;
    } catch (...) {
      // The transport or on_item; the parser itself does not throw here.
      Error e = error_from_exception(verb, target, /*cancelled=*/false, &retryable);
      if (!retryable) *final = true;  // not worth a new connection
      metrics_.record(verb, "<error>", elapsed());
      log::debug("api request failed", {{"verb", verb}, {"path", target}, {"error", e.message}});
      return e;
    }
  }

  // While the server refuses connections, a request first checks with a plain
  // TCP connect whether anything listens again, and fails with that answer if
  // not (`verb` and `target` name the request in the error): no connection
  // object, io_context or TLS state is set up for an attempt that cannot succeed,
  // and the error says the same as the first refusal did. When the probe is
  // accepted the request goes ahead, and requests stop probing until a
  // connection is refused again.
  std::optional<Error> still_refused(const std::string& verb, const std::string& target,
                                     const std::function<bool()>& cancelled) {
    if (!refusing_.load(std::memory_order_relaxed)) return std::nullopt;
    const Status probed = probe_tcp(host_, port_, request_timeout(), cancelled);
    if (probed.ok()) {
      refusing_.store(false, std::memory_order_relaxed);
      return std::nullopt;
    }
    // A server that answers slowly is not refusing: the next request connects
    // as usual, within its own timeout.
    if (probed.error().code == ErrorCode::kTimeout) {
      refusing_.store(false, std::memory_order_relaxed);
    }
    Error e = probed.error();
    e.message = verb + " " + url_for(target) + ": " + e.message;
    return e;
  }

  // The longest each step of a request (connect, TLS handshake, write, each
  // read) may take.
  std::chrono::milliseconds request_timeout() const {
    return config_.request_timeout.count() > 0 ? config_.request_timeout
                                               : std::chrono::milliseconds(30s);
  }

  // Builds a request with the headers every call carries.
  Result<http::request<http::string_body>> make_request(const std::string& method,
                                                        const std::string& target) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(path_prefix_ + target);
    req.version(11);
    req.set(http::field::host, pool_.endpoint().authority());
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, config_.user_agent);
    // As in client-go, the file's last good content wins over a static token,
    // which only stands in while the file cannot be read.
    std::string token = config_.token;
    if (token_file_) {
      auto fresh = token_file_->get();
      if (fresh.ok()) {
        token = std::move(*fresh);
      } else if (token.empty()) {
        return fresh.error();
      }
    }
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    return req;
  }

  // Converts an exception thrown by the transport, OpenSSL or JSON code into
  // an Error naming the request. Called from inside a catch block only.
  // `retryable` (when given) is set when the connection broke and a new one
  // may do. A connection refused (or with no route, or a
  // name that does not resolve) makes the next requests probe first
  // (still_refused()).
  Error error_from_exception(const std::string& verb, const std::string& target, bool cancelled,
                             bool* retryable = nullptr) {
    const std::string where = verb + " " + url_for(target) + ": ";
    try {
      throw;
    } catch (const TransportError& e) {
      TransportFailure f = describe_transport_failure(e, address_);
      if (cancelled) f.code = ErrorCode::kCancelled;
      if (f.code == ErrorCode::kCancelled)
        return make_error(ErrorCode::kCancelled, where + "cancelled");
      if (retryable != nullptr) *retryable = f.retryable;
      if (f.refused) refusing_.store(true, std::memory_order_relaxed);
      return make_error(f.code, where + f.text);
    } catch (const boost::system::system_error& e) {
      std::string msg = where + e.what();
      return make_error(ErrorCode::kUnavailable, msg);
    } catch (const json::exception& e) {
      return make_error(ErrorCode::kInternal, where + "JSON error: " + e.what());
    } catch (const std::exception& e) {
      return make_error(cancelled ? ErrorCode::kCancelled : ErrorCode::kInternal, where + e.what());
    } catch (...) {
      return make_error(ErrorCode::kInternal, where + "unknown exception");
    }
  }

  // Client-side rate limit (client-go's QPS/burst): reserve a token, then sleep
  // outside any lock until it is ours.
  void throttle(const std::string& method) {
    if (!limiter_) return;
    const Clock::duration delay = limiter_->when("");
    metrics_.record_throttle(method, std::max(delay, Clock::duration::zero()));
    if (delay <= Clock::duration::zero()) return;
    // Like client-go, a long client-side wait is worth an info line: it
    // explains slow reconciles that API server metrics do not show.
    if (delay > 1s) {
      log::info("waiting for client-side throttling",
                {{"seconds", std::chrono::duration<double>(delay).count()}});
    }
    std::this_thread::sleep_for(delay);
  }

  // One rate-limited request. Answers with any HTTP status; only transport
  // failures are errors here.
  //
  // A request whose connection broke (closed, reset) is retried, up to three
  // times, on a fresh connection: after the API server restarts, every pooled
  // keep-alive connection is dead and the first write on each fails before the
  // server sees the request (Go's transport retries the same case; a pooled
  // connection the server closed while idle is already retried once by
  // exchange()). A request that did reach the server and is retried shows up
  // as an ordinary answer (AlreadyExists for a create, NotFound for a delete),
  // never as a silent double effect on a resourceVersion-guarded write. A
  // connection that could not be opened at all (refused, unreachable), a
  // certificate refused, an answer that is not HTTP or a timeout is not
  // retried: a new connection would get the same, and the caller's backoff
  // (informer, work queue) decides when to try again, as in client-go.
  Result<HttpAnswer> send(const std::string& method, const std::string& target,
                          std::optional<std::string> body, std::string_view content_type) {
    bool retryable = false;
    auto answer = send_once(method, target, body, content_type, &retryable);
    for (int attempt = 1; attempt <= 3 && !answer.ok() &&
                          answer.error().code == ErrorCode::kUnavailable && retryable;
         ++attempt) {
      log::info("retrying api request on a new connection", {{"verb", method},
                                                             {"path", target},
                                                             {"attempt", attempt},
                                                             {"error", answer.error().message}});
      metrics_.record_retry(method, "<error>");
      answer = send_once(method, target, body, content_type, &retryable);
    }
    return answer;
  }

  Result<HttpAnswer> send_once(const std::string& method, const std::string& target,
                               const std::optional<std::string>& body,
                               std::string_view content_type, bool* retryable) {
    *retryable = false;
    throttle(method);
    const auto start = std::chrono::steady_clock::now();
    if (auto refused = still_refused(method, target, {})) {
      metrics_.record(method, "<error>", std::chrono::steady_clock::now() - start);
      log::debug("api request failed",
                 {{"verb", method}, {"path", target}, {"error", refused->message}});
      return *refused;
    }
    try {
      auto req = make_request(method, target);
      if (!req.ok()) return req.error();
      if (body) {
        req->set(http::field::content_type,
                 boost::beast::string_view(content_type.data(), content_type.size()));
        req->body() = *body;
      }
      req->prepare_payload();
      Exchange ex(pool_, exchange(pool_, *req, request_timeout(), kMaxBodyBytes));
      HttpAnswer answer;
      answer.status = ex.reader().status();
      answer.body = ex.reader().read_all();
      ex.finish();
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      metrics_.record(method, std::to_string(answer.status), elapsed);
      log::debug("api request", {{"verb", method},
                                 {"path", target},
                                 {"code", answer.status},
                                 {"ms", static_cast<int64_t>(elapsed.count() * 1000)}});
      return answer;
    } catch (...) {
      Error e = error_from_exception(method, target, /*cancelled=*/false, retryable);
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      metrics_.record(method, "<error>", elapsed);
      log::debug("api request failed", {{"verb", method}, {"path", target}, {"error", e.message}});
      return e;
    }
  }

  // A request whose 2xx answer is JSON. `text_ok` lets raw() return a body that
  // is not JSON (/readyz answers "ok") as a JSON string.
  Result<json> call(const std::string& method, const std::string& target,
                    std::optional<std::string> body = std::nullopt,
                    std::string_view content_type = "application/json", bool text_ok = false) {
    auto answer = send(method, target, std::move(body), content_type);
    if (!answer.ok()) return answer.error();
    json doc = parse_body(answer->body);
    if (answer->status < 200 || answer->status >= 300) {
      return error_from_status(answer->status, doc);
    }
    if (doc.is_null()) return json::object();
    if (doc.is_string() && !text_ok) {
      return make_error(
          ErrorCode::kInternal,
          method + " " + url_for(target) + ": answer is not JSON: " + trim_body(answer->body));
    }
    return doc;
  }

  Config config_;
  std::string host_;  // as in the URL
  int port_ = 0;
  std::string path_prefix_;
  std::string address_;  // "host:port" of the server, for transport errors
  // The last connection attempt was refused; see still_refused().
  std::atomic<bool> refusing_{false};
  ConnectionPool pool_;
  std::unique_ptr<TokenFileCache> token_file_;
  RealClock clock_;
  std::unique_ptr<TokenBucketLimiter> limiter_;  // null when qps <= 0
  Metrics metrics_;
};

// Registers `conn`'s cancel with a Canceller while a watch uses it: cancel()
// from another thread then ends the connection's operation under way.
class WatchCancelHook {
 public:
  explicit WatchCancelHook(const Canceller& cancel) : state_(cancel.state()) {
    std::lock_guard<std::mutex> lock(state_->mu);
    id_ = state_->next_id++;
    state_->on_cancel.emplace(id_, [this] {
      std::lock_guard<std::mutex> conn_lock(mu_);
      if (conn_ != nullptr) conn_->cancel();
    });
  }
  ~WatchCancelHook() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->on_cancel.erase(id_);
  }
  WatchCancelHook(const WatchCancelHook&) = delete;
  WatchCancelHook& operator=(const WatchCancelHook&) = delete;

  // The connection in use (null: none). Cancelled at once when the Canceller already fired.
  // Lock order: the Canceller's mutex, then this one (cancel() calls the callback under its
  // mutex), so the Canceller's state is never read under mu_.
  void use(Connection* conn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn_ = conn;
    }
    if (conn != nullptr && cancelled()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (conn_ != nullptr) conn_->cancel();
    }
  }

 private:
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->cancelled;
  }
  std::shared_ptr<Canceller::State> state_;
  uint64_t id_ = 0;
  std::mutex mu_;
  Connection* conn_ = nullptr;
};

Status RestClient::watch(const Resource& r, std::string_view ns, const WatchOptions& opts,
                         const std::function<void(WatchEvent&&)>& on_event,
                         const Canceller& cancel) {
  const std::string verb = "WATCH";
  if (cancel.cancelled())
    return make_error(ErrorCode::kCancelled, "watch " + r.plural + ": cancelled");
  Query q;
  q.add("watch", "1")
      .add("allowWatchBookmarks", opts.allow_bookmarks ? "true" : "")
      .add("resourceVersion", opts.resource_version)
      .add("labelSelector", opts.label_selector)
      .add("fieldSelector", opts.field_selector)
      .add("timeoutSeconds", opts.timeout.count() > 0 ? std::to_string(opts.timeout.count()) : "");
  const std::string target = r.path(ns) + q.str();
  if (auto refused = still_refused(verb, target, [&cancel] { return cancel.cancelled(); })) {
    return *refused;
  }

  WatchCancelHook hook(cancel);
  try {
    auto req = make_request("GET", target);
    if (!req.ok()) return req.error();
    req->prepare_payload();
    Exchange ex(pool_, exchange(pool_, *req, request_timeout(), std::nullopt,
                                [&hook](Connection* conn) { hook.use(conn); }));
    // Declared after ex, so destroyed first: a cancel never reaches a connection that is
    // being released or destroyed, whether this block returns or throws.
    struct Unhook {
      WatchCancelHook& hook;
      ~Unhook() { hook.use(nullptr); }
    } unhook{hook};
    // The watch's reads wait for events as long as the server may stay quiet: past its
    // server-side timeout, so a quiet watch is ended by the server, not cut here.
    ex.connection().set_read_timeout(std::max(opts.timeout, std::chrono::seconds(0)) + 30s);
    const int status = ex.reader().status();
    if (status != 200) {
      const std::string body = ex.reader().read_all(kMaxBodyBytes);
      ex.finish();
      metrics_.record("GET", std::to_string(status), std::nullopt);
      return error_from_status(status, parse_body(body));
    }
    metrics_.record("GET", "200", std::nullopt);
    log::debug("watch started", {{"path", target}});

    Status ended = read_watch_stream(ex.body_read(), "watch " + r.plural, target, on_event, cancel);
    if (ended.ok()) ex.finish();
    return ended;
  } catch (...) {
    return error_from_exception(verb, target, cancel.cancelled());
  }
}

}  // namespace

Result<std::unique_ptr<Client>> make_client(const Config& config, const ClientOptions& opts) {
  const std::string source = config.source.empty() ? "kube client" : config.source;
  if (config.server.empty()) return make_error(ErrorCode::kInvalid, source + ": server is empty");
  try {
    auto url = parse_server_url(config.server);
    if (!url.ok()) {
      return make_error(ErrorCode::kInvalid, source + ": " + url.error().message);
    }

    std::shared_ptr<boost::asio::ssl::context> tls;
    if (url->https) {
      // Parsed now, so bad material fails here with the config's name rather
      // than at the first connection.
      auto material = TlsMaterial::parse(config);
      if (!material.ok()) {
        return make_error(ErrorCode::kInvalid,
                          source + ": TLS material rejected: " + material.error().message);
      }
      // One context for every connection of this client. A kubeconfig CA is
      // the only trust anchor, so the system trust store is loaded only when
      // there is none (and certificates are checked at all).
      tls = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
      if (config.ca_pem.empty() && !config.insecure_skip_tls_verify) {
        tls->set_default_verify_paths();
      }
      (*material)->configure(tls->native_handle());
    }
    auto endpoint = std::make_shared<const Endpoint>(
        url->host, url->port, tls, config.tls_server_name, !config.insecure_skip_tls_verify);

    Metrics metrics;
    if (opts.metrics != nullptr) {
      metrics.host = host_port(url->host, url->port);
      metrics.requests =
          &prometheus::BuildCounter()
               .Name("rest_client_requests_total")
               .Help("Number of HTTP requests, partitioned by status code, method, and host.")
               .Register(*opts.metrics);
      metrics.duration = &prometheus::BuildHistogram()
                              .Name("rest_client_request_duration_seconds")
                              .Help("Request latency in seconds. Broken down by verb, and host.")
                              .Register(*opts.metrics);
      metrics.rate_limiter =
          &prometheus::BuildHistogram()
               .Name("rest_client_rate_limiter_duration_seconds")
               .Help("Client side rate limiter latency in seconds. Broken down by verb, and host.")
               .Register(*opts.metrics);
      metrics.retries =
          &prometheus::BuildCounter()
               .Name("rest_client_request_retries_total")
               .Help("Number of request retries, partitioned by status code, verb, and host.")
               .Register(*opts.metrics);
    }
    return std::unique_ptr<Client>(
        std::make_unique<RestClient>(config, *url, std::move(endpoint), metrics));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalid, source + ": cannot create client: " + e.what());
  }
}

}  // namespace orderguard::kube
