#include "webhook/certs.h"

#include <arpa/inet.h>

#include <algorithm>

#include "base/base64.h"
#include "base/log.h"
#include "kube/pki.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;
using std::chrono::system_clock;

bool is_ip_literal(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

bool contains_all(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  return std::all_of(want.begin(), want.end(), [&](const std::string& w) {
    return std::find(have.begin(), have.end(), w) != have.end();
  });
}

// Conflicts between replicas resolve in a pass or two; more means something
// keeps rewriting the object, and the loop's retry takes over.
constexpr int kMaxAttempts = 5;

}  // namespace

ServingNames serving_names(const std::string& service, const std::string& ns,
                           const std::vector<std::string>& extra_sans) {
  ServingNames names;
  names.dns = {service + "." + ns + ".svc", service + "." + ns + ".svc.cluster.local",
               service + "." + ns, service};
  for (const auto& san : extra_sans) {
    if (san.empty()) continue;
    auto& list = is_ip_literal(san) ? names.ips : names.dns;
    if (std::find(list.begin(), list.end(), san) == list.end()) list.push_back(san);
  }
  return names;
}

std::optional<CertMaterial> material_from_secret(const json& secret) {
  if (!secret.is_object()) return std::nullopt;
  auto data_it = secret.find("data");
  if (data_it == secret.end() || !data_it->is_object()) return std::nullopt;
  auto field = [&](const char* key) -> std::optional<std::string> {
    auto it = data_it->find(key);
    if (it == data_it->end() || !it->is_string()) return std::nullopt;
    auto decoded = base64_decode(it->get<std::string>());
    if (!decoded.ok()) return std::nullopt;
    return std::move(decoded).value();
  };
  CertMaterial m;
  for (auto [key, out] : {std::pair{kSecretCaCert, &m.ca_cert}, std::pair{kSecretCaKey, &m.ca_key},
                          std::pair{kSecretCert, &m.cert}, std::pair{kSecretKey, &m.key}}) {
    auto v = field(key);
    if (!v || v->empty()) return std::nullopt;
    *out = std::move(*v);
  }
  m.previous_ca_cert = field(kSecretPreviousCaCert).value_or("");
  return m;
}

json secret_data(const CertMaterial& m) {
  json data = {{kSecretCaCert, base64_encode(m.ca_cert)},
               {kSecretCaKey, base64_encode(m.ca_key)},
               {kSecretCert, base64_encode(m.cert)},
               {kSecretKey, base64_encode(m.key)}};
  if (!m.previous_ca_cert.empty()) {
    data[kSecretPreviousCaCert] = base64_encode(m.previous_ca_cert);
  }
  return data;
}

const char* to_string(CertAction action) {
  switch (action) {
    case CertAction::kKeep:
      return "keep";
    case CertAction::kRenewServing:
      return "renew-serving";
    case CertAction::kRotateCa:
      return "rotate-ca";
    case CertAction::kRegenerate:
      return "regenerate";
  }
  return "?";
}

CertAction decide_cert_action(system_clock::time_point now, const CertMaterial* material,
                              const ServingNames& want, const RotationPolicy& policy) {
  if (material == nullptr) return CertAction::kRegenerate;
  auto ca = kube::Certificate::from_pem(material->ca_cert);
  auto ca_key = kube::PrivateKey::from_pem(material->ca_key);
  if (!ca.ok() || !ca_key.ok() || !ca->is_ca() || !ca->matches_key(*ca_key) ||
      ca->not_after() <= now) {
    return CertAction::kRegenerate;
  }
  if (ca->not_after() - now <= policy.ca_renew_before) return CertAction::kRotateCa;
  auto cert = kube::Certificate::from_pem(material->cert);
  auto key = kube::PrivateKey::from_pem(material->key);
  if (!cert.ok() || !key.ok() || !cert->matches_key(*key)) return CertAction::kRenewServing;
  if (!kube::verify_certificate(*cert, {*ca}, /*server_auth=*/true, false, now).ok()) {
    return CertAction::kRenewServing;
  }
  if (cert->not_after() - now <= policy.renew_before) return CertAction::kRenewServing;
  if (!contains_all(cert->dns_names(), want.dns) || !contains_all(cert->ip_addresses(), want.ips)) {
    return CertAction::kRenewServing;
  }
  return CertAction::kKeep;
}

Result<CertMaterial> issue(CertAction action, const CertMaterial* material,
                           const std::string& common_name, const ServingNames& names,
                           const RotationPolicy& policy, system_clock::time_point now) {
  // Backdated a minute: an API server whose clock is slightly behind must not
  // see a certificate that is not valid yet.
  const auto backdate = std::chrono::minutes(1);
  const auto not_before = now - backdate;
  // Lifetimes count from `now`: the backdated minute is added, not taken off, or a
  // short lifetime would be spent (and renewed at once) before it began.
  CertMaterial next;
  if (material != nullptr) next = *material;
  if (action == CertAction::kKeep) return next;
  if (action == CertAction::kRegenerate || action == CertAction::kRotateCa) {
    const std::string old_ca = material != nullptr ? material->ca_cert : "";
    const auto stamp =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    auto ca = kube::generate_ca({.common_name = common_name + "-ca@" + std::to_string(stamp),
                                 .not_before = not_before,
                                 .validity = policy.ca_validity + backdate});
    if (!ca.ok()) return ca.error();
    next.ca_cert = ca->cert_pem;
    next.ca_key = ca->key_pem;
    next.previous_ca_cert = action == CertAction::kRotateCa ? old_ca : "";
  }
  auto ca_cert = kube::Certificate::from_pem(next.ca_cert);
  if (!ca_cert.ok()) return ca_cert.error();
  auto ca_key = kube::PrivateKey::from_pem(next.ca_key);
  if (!ca_key.ok()) return ca_key.error();
  kube::KeyPair ca{*ca_key, *ca_cert, next.ca_key, next.ca_cert};
  auto leaf = kube::generate_signed({.common_name = common_name,
                                     .dns_names = names.dns,
                                     .ip_addresses = names.ips,
                                     .server_auth = true,
                                     .not_before = not_before,
                                     .validity = policy.serving_validity + backdate},
                                    ca);
  if (!leaf.ok()) return leaf.error();
  next.cert = leaf->cert_pem;
  next.key = leaf->key_pem;
  if (!next.previous_ca_cert.empty()) {
    auto prev = kube::certificate_not_after(next.previous_ca_cert);
    if (!prev.ok() || *prev <= now) next.previous_ca_cert.clear();
  }
  return next;
}

std::string ca_bundle(system_clock::time_point now, const std::string& ca_cert_pem,
                      const std::string& previous_ca_cert_pem) {
  std::string bundle = ca_cert_pem;
  if (!previous_ca_cert_pem.empty() && previous_ca_cert_pem != ca_cert_pem) {
    auto not_after = kube::certificate_not_after(previous_ca_cert_pem);
    if (not_after.ok() && *not_after > now) {
      if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
      bundle += previous_ca_cert_pem;
    }
  }
  return bundle;
}

std::optional<json> with_ca_bundle(const json& config, const std::string& bundle_pem) {
  if (!config.is_object() || !config.contains("webhooks") || !config["webhooks"].is_array()) {
    return std::nullopt;
  }
  const std::string encoded = base64_encode(bundle_pem);
  json next = config;
  bool changed = false;
  for (auto& hook : next["webhooks"]) {
    if (!hook.is_object()) continue;
    json& client_config = hook["clientConfig"];
    if (!client_config.is_object()) client_config = json::object();
    if (client_config.value("caBundle", "") != encoded) {
      client_config["caBundle"] = encoded;
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  return next;
}

CertManager::CertManager(kube::Client& client, CertManagerOptions options,
                         InstallCertificate install, const Clock& clock)
    : client_(client),
      options_(std::move(options)),
      install_(std::move(install)),
      clock_(clock),
      names_(serving_names(options_.service_name, options_.ns, options_.extra_sans)) {}

CertManager::~CertManager() { stop(); }

Result<CertMaterial> CertManager::ensure_secret() {
  const std::string common_name = options_.service_name + "." + options_.ns + ".svc";
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    const auto now = clock_.wall_now();
    auto secret = client_.get(kube::resources::kSecrets, options_.ns, options_.secret_name);
    if (!secret.ok() && secret.error().code != ErrorCode::kNotFound) return secret.error();
    std::optional<CertMaterial> current;
    if (secret.ok()) current = material_from_secret(*secret);
    const CertAction action =
        decide_cert_action(now, current ? &*current : nullptr, names_, options_.rotation);
    if (action == CertAction::kKeep) return *current;

    auto next =
        issue(action, current ? &*current : nullptr, common_name, names_, options_.rotation, now);
    if (!next.ok()) return next.error();
    log::info(
        "serving certificate needs work",
        {{"action", to_string(action)}, {"secret", options_.ns + "/" + options_.secret_name}});
    if (!secret.ok()) {
      json obj = {{"apiVersion", "v1"},
                  {"kind", "Secret"},
                  {"metadata",
                   {{"name", options_.secret_name},
                    {"namespace", options_.ns},
                    {"labels", {{"app.kubernetes.io/managed-by", "orderguard-webhook"}}}}},
                  {"type", "Opaque"},
                  {"data", secret_data(*next)}};
      auto created = client_.create(kube::resources::kSecrets, options_.ns, obj);
      if (created.ok()) return std::move(next).value();
      // Another replica created it first: adopt theirs on the next round.
      if (created.error().code == ErrorCode::kAlreadyExists) continue;
      return created.error();
    }
    json obj = *secret;
    obj["data"] = secret_data(*next);  // keeps metadata.resourceVersion: optimistic
    auto updated = client_.update(kube::resources::kSecrets, options_.ns, obj);
    if (updated.ok()) return std::move(next).value();
    // Someone wrote a newer Secret since we read it; decide again from theirs.
    if (updated.error().code == ErrorCode::kConflict) continue;
    return updated.error();
  }
  return make_error(ErrorCode::kConflict, "Secret " + options_.ns + "/" + options_.secret_name +
                                              " kept changing while being written");
}

Status CertManager::ensure_ca_bundle(const CertMaterial& material) {
  const std::string bundle =
      ca_bundle(clock_.wall_now(), material.ca_cert, material.previous_ca_cert);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto config = client_.get(kube::resources::kValidatingWebhookConfigurations, "",
                              options_.webhook_config_name);
    if (!config.ok()) return config.error();
    auto next = with_ca_bundle(*config, bundle);
    if (!next) return {};
    auto updated = client_.update(kube::resources::kValidatingWebhookConfigurations, "", *next);
    if (updated.ok()) {
      log::info("caBundle updated", {{"config", options_.webhook_config_name}});
      return {};
    }
    if (updated.error().code != ErrorCode::kConflict) return updated.error();
  }
  return make_error(ErrorCode::kConflict, "ValidatingWebhookConfiguration " +
                                              options_.webhook_config_name +
                                              " kept changing while being written");
}

Status CertManager::sync() {
  auto material = ensure_secret();
  if (!material.ok()) return material.error();
  // The bundle first: the API server must trust the CA before we serve its leaf.
  if (auto st = ensure_ca_bundle(*material); !st.ok()) return st;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (installed_ && installed_->cert == material->cert && installed_->key == material->key) {
      installed_ = *material;
      return {};
    }
    // A live CA rotation (here or by another replica): the API server may not
    // have seen the new bundle yet, and until it has, only the old leaf verifies.
    if (installed_ && installed_->ca_cert != material->ca_cert &&
        cv_.wait_for(lock, options_.bundle_propagation_delay, [this] { return stopping_; })) {
      return make_error(ErrorCode::kCancelled, "stopping before installing the new certificate");
    }
  }
  if (auto st = install_(material->cert, material->key); !st.ok()) return st;
  std::lock_guard<std::mutex> lock(mu_);
  installed_ = std::move(material).value();
  return {};
}

std::optional<CertMaterial> CertManager::installed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return installed_;
}

void CertManager::start() {
  secret_informer_ = std::make_unique<kube::Informer>(
      client_, kube::resources::kSecrets, clock_,
      kube::InformerOptions{.ns = options_.ns,
                            .field_selector = "metadata.name=" + options_.secret_name});
  auto kick = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = true;
    cv_.notify_all();
  };
  secret_informer_->add_handlers(
      {.on_add = [kick](const kube::ObjectPtr&) { kick(); },
       .on_update = [kick](const kube::ObjectPtr&, const kube::ObjectPtr&) { kick(); },
       .on_delete = [kick](const kube::ObjectPtr&) { kick(); }});
  secret_informer_->start();
  worker_ = std::thread([this] { loop(); });
}

void CertManager::loop() {
  std::chrono::milliseconds wait{0};
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, wait, [this] { return stopping_ || kicked_; });
      if (stopping_) return;
      kicked_ = false;
    }
    if (auto st = sync(); !st.ok()) {
      log::error("certificate sync failed", {{"error", st.error().describe()}});
      wait = options_.retry_interval;
    } else {
      wait = options_.check_interval;
    }
  }
}

void CertManager::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (secret_informer_) secret_informer_->stop();
}

}  // namespace orderguard::webhook
