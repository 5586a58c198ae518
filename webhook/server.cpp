#include "webhook/server.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <mutex>
#include <set>
#include <unordered_map>

#include "base/files.h"
#include "base/log.h"
#include "kube/pki.h"
#include "webhook/tier_checks.h"

namespace orderguard::webhook {

const kube::Resource kMinerPolicies{"security.orderguard.io", "v1alpha1", "minerpolicies", false,
                                    "MinerPolicy"};
const kube::Resource kQuarantines{"security.orderguard.io", "v1alpha1", "quarantines", false,
                                  "Quarantine"};
const kube::Resource kCacheTiers{"tiers.orderguard.io", "v1alpha1", "cachetiers", true,
                                 "CacheTier"};
const kube::Resource kShardSets{"tiers.orderguard.io", "v1alpha1", "shardsets", true, "ShardSet"};
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";

// The tier checks read names and Nodes' zone labels only: cache nothing else
// (a large cluster's Nodes are big objects).
void keep_identity_and_zone(nlohmann::json& object) {
  nlohmann::json meta = nlohmann::json::object();
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    for (const char* key : {"name", "namespace", "uid", "resourceVersion"}) {
      if (auto v = m->find(key); v != m->end()) meta[key] = std::move(*v);
    }
    if (auto labels = m->find("labels"); labels != m->end() && labels->is_object()) {
      if (auto zone = labels->find(kZoneLabel); zone != labels->end()) {
        meta["labels"] = {{kZoneLabel, std::move(*zone)}};
      }
    }
  }
  object = {{"metadata", std::move(meta)}};
}

// Whether `informer` holds ns/name; nullopt until it has synced.
std::optional<bool> holds(const kube::Informer* informer, const std::string& ns,
                          const std::string& name) {
  if (informer == nullptr || !informer->has_synced()) return std::nullopt;
  return informer->get(ns, name) != nullptr;
}

struct Webhook::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : requests(prometheus::BuildCounter()
                     .Name("orderguard_webhook_requests_total")
                     .Help("Admission requests by kind, operation and decision")
                     .Register(r)),
        findings(prometheus::BuildCounter()
                     .Name("orderguard_webhook_rule_hits_total")
                     .Help("Admission requests in which a rule found something, by rule and "
                           "decision")
                     .Register(r)),
        latency(prometheus::BuildHistogram()
                    .Name("orderguard_webhook_request_duration_seconds")
                    .Help("Time to decide one admission request, decode to encode")
                    .Register(r)),
        cert_expiry(prometheus::BuildGauge()
                        .Name("orderguard_webhook_certificate_expiry_timestamp_seconds")
                        .Help("notAfter of the serving certificate, Unix seconds")
                        .Register(r)
                        .Add({})),
        reloads(prometheus::BuildCounter()
                    .Name("orderguard_webhook_policy_reloads_total")
                    .Help("MinerPolicy set recompilations, by result")
                    .Register(r)),
        policy_denials(prometheus::BuildCounter()
                           .Name("orderguard_webhook_policy_denials_total")
                           .Help("Admission requests refused, by the MinerPolicy that refused "
                                 "them (a request refused by two counts for both)")
                           .Register(r)),
        latency_all(latency.Add({}, prometheus::Histogram::BucketBoundaries{
                                        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01, 0.025, 0.05, 0.1, 0.25, 1})) {}

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& findings;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Gauge& cert_expiry;
  prometheus::Family<prometheus::Counter>& reloads;
  prometheus::Family<prometheus::Counter>& policy_denials;
  prometheus::Histogram& latency_all;

  // Counter handles by label values ("kind\0operation\0decision", "rule\0decision"):
  // Family::Add builds and hashes a label map under the family's lock on every call.
  prometheus::Counter& request_counter(const AdmissionReply& reply) {
    std::string key = reply.kind;
    key += '\0';
    key += reply.operation;
    key += '\0';
    key += reply.decision;
    return cached(request_counters, std::move(key), [&]() -> prometheus::Counter& {
      return requests.Add(
          {{"kind", reply.kind}, {"operation", reply.operation}, {"decision", reply.decision}});
    });
  }
  prometheus::Counter& finding_counter(const std::string& rule, const std::string& decision) {
    return cached(finding_counters, rule + '\0' + decision, [&]() -> prometheus::Counter& {
      return findings.Add({{"rule", rule}, {"decision", decision}});
    });
  }
  prometheus::Counter& policy_denial_counter(const std::string& policy) {
    return cached(policy_denial_counters, policy, [&]() -> prometheus::Counter& {
      return policy_denials.Add({{"policy", policy}});
    });
  }

 private:
  template <typename Make>
  prometheus::Counter& cached(std::unordered_map<std::string, prometheus::Counter*>& cache,
                              std::string key, Make make) {
    std::lock_guard<std::mutex> lock(cache_mu);
    auto it = cache.find(key);
    if (it != cache.end()) return *it->second;
    prometheus::Counter& counter = make();
    cache.emplace(std::move(key), &counter);
    return counter;
  }

  std::mutex cache_mu;
  std::unordered_map<std::string, prometheus::Counter*> request_counters;
  std::unordered_map<std::string, prometheus::Counter*> finding_counters;
  std::unordered_map<std::string, prometheus::Counter*> policy_denial_counters;
};

Webhook::Webhook(WebhookOptions options, kube::Client* client,
                 std::shared_ptr<prometheus::Registry> metrics)
    : options_(std::move(options)),
      client_(client),
      registry_(std::move(metrics)),
      metrics_(std::make_unique<Metrics>(*registry_)),
      health_(std::make_shared<kube::HealthChecks>()) {
  context_.namespace_labels = [this](const std::string& ns) { return store_.namespace_labels(ns); };
  tls_server_ = std::make_unique<kube::HttpServer>(
      kube::HttpServerOptions{.address = options_.address,
                              .port = options_.port,
                              .threads = options_.threads,
                              .handshake_timeout = options_.handshake_timeout,
                              .first_byte_timeout = options_.first_byte_timeout,
                              .read_timeout = options_.read_timeout,
                              .idle_timeout = options_.idle_timeout,
                              .max_connections = options_.max_connections,
                              .max_body_bytes = 4 * 1024 * 1024});
  tls_server_->route("/validate", [this](const kube::HttpRequest& req) { return handle(req); });
  metrics_server_ = std::make_unique<kube::HttpServer>(
      kube::HttpServerOptions{.address = options_.metrics_address, .port = options_.metrics_port});
  kube::add_observability_routes(*metrics_server_, registry_, health_);
  health_->add_readiness("certificate",
                         [this] { return have_cert_ ? "" : std::string("no certificate yet"); });
  health_->add_readiness("policies", [this]() -> std::string {
    if (policy_informer_ && !policy_informer_->has_synced()) return "MinerPolicy cache not synced";
    if (quarantine_informer_ && !quarantine_informer_->has_synced()) {
      return "Quarantine cache not synced";
    }
    if (namespace_informer_ && !namespace_informer_->has_synced()) {
      return "Namespace cache not synced";
    }
    return "";
  });
}

Webhook::~Webhook() { stop(); }

kube::HttpResponse Webhook::handle(const kube::HttpRequest& req) {
  if (req.method != "POST") {
    return {405, "text/plain; charset=utf-8", "only POST is allowed\n", {{"Allow", "POST"}}};
  }
  const auto start = std::chrono::steady_clock::now();
  AdmissionContext ctx = context_;
  ctx.policies = store_.policies();
  ctx.quarantines = store_.quarantines();
  ctx.now = clock_.wall_now();
  AdmissionReply reply = review(req.body, ctx);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_->latency_all.Observe(seconds);
  metrics_->request_counter(reply).Increment();
  for (const auto& rule : reply.rules) {
    metrics_->finding_counter(rule, reply.decision).Increment();
  }
  for (const auto& policy : reply.refused_by) {
    metrics_->policy_denial_counter(policy).Increment();
    if (status_writer_) status_writer_->add_denial(policy);
  }
  if ((reply.decision == "denied" || reply.decision == "invalid") &&
      log::enabled(log::Level::kInfo)) {
    log::info(reply.decision == "denied" ? "denied admission" : "invalid admission request",
              {{"uid", reply.uid},
               {"kind", reply.kind},
               {"operation", reply.operation},
               {"object", reply.namespace_name + "/" + reply.name},
               {"message", reply.message}});
  }
  kube::HttpResponse res;
  res.status = reply.http_status;
  res.content_type = reply.http_status == 200 ? "application/json" : "text/plain; charset=utf-8";
  res.body = std::move(reply.body);
  return res;
}

Status Webhook::set_certificate(const std::string& cert_chain_pem, const std::string& key_pem) {
  auto ctx = kube::make_tls_server_context(cert_chain_pem, key_pem);
  if (!ctx.ok()) return ctx.error();
  tls_server_->set_tls_context(std::move(ctx).value());
  if (auto not_after = kube::certificate_not_after(cert_chain_pem); not_after.ok()) {
    metrics_->cert_expiry.Set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(not_after->time_since_epoch()).count()));
  }
  have_cert_ = true;
  log::info("serving certificate installed");
  return {};
}

Status Webhook::reload_cert_files() {
  auto cert_id = file_identity(options_.tls_cert_file);
  auto key_id = file_identity(options_.tls_key_file);
  std::optional<std::pair<FileIdentity, FileIdentity>> stamp;
  if (cert_id.ok() && key_id.ok()) stamp.emplace(*cert_id, *key_id);
  if (stamp && stamp == cert_stamp_) return {};
  auto cert = read_file(options_.tls_cert_file);
  if (!cert.ok()) {
    return make_error(ErrorCode::kInvalid,
                      "cannot read " + options_.tls_cert_file + ": " + cert.error().message);
  }
  auto key = read_file(options_.tls_key_file);
  if (!key.ok()) {
    return make_error(ErrorCode::kInvalid,
                      "cannot read " + options_.tls_key_file + ": " + key.error().message);
  }
  if (auto st = set_certificate(*cert, *key); !st.ok()) {
    // Half-written files during a rotation: keep serving the old certificate
    // and try again on the next check.
    return make_error(st.error().code, options_.tls_cert_file + ": " + st.error().message);
  }
  cert_stamp_ = stamp;
  return {};
}

void Webhook::cert_watch_loop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (
      !stop_cv_.wait_for(lock, options_.cert_check_interval, [this] { return stopping_.load(); })) {
    lock.unlock();
    if (auto st = reload_cert_files(); !st.ok()) {
      log::error("reloading serving certificate failed", {{"error", st.error().message}});
    }
    lock.lock();
  }
}

void Webhook::refresh_policies() {
  std::vector<nlohmann::json> objects;
  for (const auto& p : policy_informer_->list()) objects.push_back(*p);
  auto failures = store_.update(objects);
  metrics_->reloads.Add({{"result", failures.empty() ? "ok" : "invalid_policy"}}).Increment();
  log::info("miner policies loaded", {{"policies", objects.size()},
                                      {"invalid", failures.size()},
                                      {"generation", store_.generation()}});
}

void Webhook::refresh_quarantines() {
  std::vector<nlohmann::json> objects;
  for (const auto& q : quarantine_informer_->list()) objects.push_back(*q);
  auto failures = store_.update_quarantines(objects);
  log::debug("quarantines loaded", {{"quarantines", objects.size()}, {"invalid", failures.size()}});
}

Status Webhook::start() {
  if (!options_.tls_cert_file.empty()) {
    if (auto st = reload_cert_files(); !st.ok()) {
      return make_error(ErrorCode::kInvalid, "serving certificate: " + st.error().message);
    }
    cert_watcher_ = std::thread([this] { cert_watch_loop(); });
  }
  if (client_ != nullptr) {
    policy_informer_ =
        std::make_unique<kube::Informer>(*client_, kMinerPolicies, clock_, kube::InformerOptions{});
    auto refresh = [this](const kube::ObjectPtr&) { refresh_policies(); };
    policy_informer_->add_handlers(
        {.on_add = refresh,
         .on_update =
             [this](const kube::ObjectPtr& old_obj, const kube::ObjectPtr& new_obj) {
               // Status writes (denial counts, every second under a burst) change nothing
               // that is compiled: only the spec and the generation are.
               auto compiled_part = [](const nlohmann::json& p) {
                 const auto meta = p.find("metadata");
                 const auto spec = p.find("spec");
                 return std::make_pair(meta != p.end() && meta->is_object()
                                           ? meta->value("generation", nlohmann::json())
                                           : nlohmann::json(),
                                       spec != p.end() ? *spec : nlohmann::json());
               };
               if (compiled_part(*old_obj) == compiled_part(*new_obj)) return;
               refresh_policies();
             },
         .on_delete = refresh});
    quarantine_informer_ = std::make_unique<kube::Informer>(
        *client_, kQuarantines, clock_,
        kube::InformerOptions{.transform = kube::strip_managed_fields});
    auto refresh_q = [this](const kube::ObjectPtr&) { refresh_quarantines(); };
    quarantine_informer_->add_handlers(
        {.on_add = refresh_q,
         .on_update = [this](const kube::ObjectPtr&,
                             const kube::ObjectPtr&) { refresh_quarantines(); },
         .on_delete = refresh_q});
    namespace_informer_ = std::make_unique<kube::Informer>(
        *client_, kube::resources::kNamespaces, clock_,
        kube::InformerOptions{.transform = kube::strip_managed_fields});
    auto set_labels = [this](const kube::ObjectPtr& ns) {
      std::map<std::string, std::string> labels;
      const auto& meta = (*ns)["metadata"];
      if (meta.contains("labels") && meta["labels"].is_object()) {
        for (const auto& [k, v] : meta["labels"].items()) {
          if (v.is_string()) labels[k] = v.get<std::string>();
        }
      }
      store_.set_namespace_labels(meta.value("name", ""), std::move(labels));
    };
    namespace_informer_->add_handlers(
        {.on_add = set_labels,
         .on_update = [set_labels](const kube::ObjectPtr&,
                                   const kube::ObjectPtr& n) { set_labels(n); },
         .on_delete =
             [this](const kube::ObjectPtr& ns) {
               store_.remove_namespace((*ns)["metadata"].value("name", ""));
             }});
    policy_informer_->start();
    quarantine_informer_->start();
    namespace_informer_->start();
    status_writer_ = std::make_unique<PolicyStatusWriter>(
        *client_, clock_,
        PolicyStatusOptions{.interval = options_.policy_status_interval,
                            .leads = options_.leads_policy_status,
                            .policies = [this]() -> std::vector<kube::ObjectPtr> {
                              // Until the cache has synced it could say a policy is missing or old.
                              if (!policy_informer_->has_synced()) return {};
                              return policy_informer_->list();
                            },
                            .on_new_generation = options_.on_policy_generation});
    status_writer_->start();
    if (options_.tier_checks) start_tier_informers();
  }
  if (auto st = metrics_server_->start(); !st.ok()) return st;
  if (auto st = tls_server_->start(); !st.ok()) return st;
  log::info("webhook serving", {{"port", port()}, {"metrics_port", metrics_port()}});
  return {};
}

void Webhook::start_tier_informers() {
  const kube::InformerOptions slim{.transform = keep_identity_and_zone};
  node_informer_ =
      std::make_unique<kube::Informer>(*client_, kube::resources::kNodes, clock_, slim);
  cache_tier_informer_ = std::make_unique<kube::Informer>(*client_, kCacheTiers, clock_, slim);
  shard_set_informer_ = std::make_unique<kube::Informer>(*client_, kShardSets, clock_, slim);
  TierLookup lookup{
      .cache_tier_exists =
          [this](const std::string& ns, const std::string& name) {
            return holds(cache_tier_informer_.get(), ns, name);
          },
      .shard_set_exists =
          [this](const std::string& ns, const std::string& name) {
            return holds(shard_set_informer_.get(), ns, name);
          },
      .node_zones = [this]() -> std::optional<std::set<std::string>> {
        if (!node_informer_->has_synced()) return std::nullopt;
        std::set<std::string> zones;
        for (const auto& node : node_informer_->list()) {
          const auto& labels = (*node)["metadata"].value("labels", nlohmann::json::object());
          if (auto zone = labels.find(kZoneLabel); zone != labels.end() && zone->is_string()) {
            zones.insert(zone->get<std::string>());
          }
        }
        return zones;
      }};
  context_.tier_warnings = [lookup](const std::string& kind, JsonRef object) {
    return tier_warnings(kind, object, lookup);
  };
  // Not part of readiness: until they sync, the checks stay silent.
  node_informer_->start();
  cache_tier_informer_->start();
  shard_set_informer_->start();
}

bool Webhook::ready() const {
  if (!have_cert_) return false;
  if (policy_informer_ && !policy_informer_->has_synced()) return false;
  if (quarantine_informer_ && !quarantine_informer_->has_synced()) return false;
  if (namespace_informer_ && !namespace_informer_->has_synced()) return false;
  return true;
}

void Webhook::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_.exchange(true)) return;
  }
  stop_cv_.notify_all();
  if (cert_watcher_.joinable()) cert_watcher_.join();
  if (policy_informer_) policy_informer_->stop();
  if (quarantine_informer_) quarantine_informer_->stop();
  if (namespace_informer_) namespace_informer_->stop();
  for (auto* informer : {&node_informer_, &cache_tier_informer_, &shard_set_informer_}) {
    if (*informer) (*informer)->stop();
  }
  tls_server_->stop();
  // Once no request can add one: its last round writes the denials still pending.
  if (status_writer_) status_writer_->stop();
  metrics_server_->stop();
}

}  // namespace orderguard::webhook
