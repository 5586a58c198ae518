// Self-managed serving certificates (--cert-mode=self-managed): the webhook
// mints its own CA and serving certificate, keeps them in a Secret shared by
// every replica, publishes the CA in the caBundle of its
// ValidatingWebhookConfiguration, and rotates both before they expire.
//
// Contracts:
// - The Secret is the single source of truth. Replicas race through
//   resourceVersion: a create that meets AlreadyExists, or an update that
//   meets Conflict, re-reads and adopts what the winner wrote; nothing ever
//   overwrites a Secret newer than the one it was decided from.
// - The serving certificate is renewed `renew_before` ahead of its notAfter,
//   when its names no longer cover the wanted SANs, or when it does not chain
//   to the current CA. The CA is rotated `ca_renew_before` ahead of its
//   notAfter; the old CA stays in the Secret (ca-previous.crt) and in every
//   caBundle until it expires, so an API server that has not yet seen the new
//   bundle still trusts a replica already serving the new certificate, and
//   the other way round.
// - caBundle is written before the new certificate is installed in this
//   process, so a pass never serves a certificate the API server cannot
//   verify (the bundle always holds both CAs during an overlap). When the
//   certificate to install comes from a CA other than the one served so far,
//   the pass also waits bundle_propagation_delay after the bundle is written,
//   for the API server's view of the configuration to catch up.
// - Decisions (decide_cert_action, ca_bundle, with_ca_bundle) are pure and take
//   the time as an argument; the I/O lives in CertManager.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "kube/client.h"
#include "kube/informer.h"

namespace orderguard::webhook {

// Secret keys.
inline constexpr const char* kSecretCert = "tls.crt";
inline constexpr const char* kSecretKey = "tls.key";
inline constexpr const char* kSecretCaCert = "ca.crt";
inline constexpr const char* kSecretCaKey = "ca.key";
inline constexpr const char* kSecretPreviousCaCert = "ca-previous.crt";

struct ServingNames {
  std::vector<std::string> dns;
  std::vector<std::string> ips;
};

// <svc>.<ns>.svc (the name the API server dials), <svc>.<ns>.svc.cluster.local,
// <svc>.<ns>, <svc>, then `extra_sans` sorted into IP literals and DNS names.
ServingNames serving_names(const std::string& service, const std::string& ns,
                           const std::vector<std::string>& extra_sans);

struct RotationPolicy {
  std::chrono::seconds serving_validity{std::chrono::hours(24 * 365)};
  std::chrono::seconds renew_before{std::chrono::hours(24 * 30)};
  std::chrono::seconds ca_validity{std::chrono::hours(24 * 365 * 5)};
  std::chrono::seconds ca_renew_before{std::chrono::hours(24 * 30)};
};

// PEM texts as stored in the Secret.
struct CertMaterial {
  std::string ca_cert;
  std::string ca_key;
  std::string cert;
  std::string key;
  std::string previous_ca_cert;  // empty when not rotating

  bool operator==(const CertMaterial&) const = default;
};

// The material in a Secret object, or nullopt when a required key is missing
// or not base64 (previous CA is optional).
std::optional<CertMaterial> material_from_secret(const nlohmann::json& secret);
// `data` of a Secret holding `material`.
nlohmann::json secret_data(const CertMaterial& material);

enum class CertAction {
  kKeep,
  kRenewServing,  // same CA, new serving certificate
  kRotateCa,      // new CA (old one kept as previous) and a new serving certificate
  kRegenerate,    // nothing usable: new CA and serving certificate, no previous CA
};
const char* to_string(CertAction action);

// What `material` (nullptr: there is none) needs at `now` to serve `want`.
CertAction decide_cert_action(std::chrono::system_clock::time_point now,
                              const CertMaterial* material, const ServingNames& want,
                              const RotationPolicy& policy);

// Applies `action` to `material` (ignored for kRegenerate) and returns the new
// material. The previous CA is dropped once it has expired at `now`.
Result<CertMaterial> issue(CertAction action, const CertMaterial* material,
                           const std::string& common_name, const ServingNames& names,
                           const RotationPolicy& policy, std::chrono::system_clock::time_point now);

// The PEM bundle the API server should trust: the current CA, plus the previous
// one while it has not expired at `now`.
std::string ca_bundle(std::chrono::system_clock::time_point now, const std::string& ca_cert_pem,
                      const std::string& previous_ca_cert_pem);

// `config` (a ValidatingWebhookConfiguration) with clientConfig.caBundle of every
// webhook set to base64(`bundle_pem`); nullopt when every one already has it.
std::optional<nlohmann::json> with_ca_bundle(const nlohmann::json& config,
                                             const std::string& bundle_pem);

struct CertManagerOptions {
  std::string service_name;
  std::string ns;
  std::string webhook_config_name;
  std::string secret_name;
  std::vector<std::string> extra_sans;
  RotationPolicy rotation;
  // Full re-check period; Secret changes trigger one earlier.
  std::chrono::milliseconds check_interval{std::chrono::minutes(10)};
  // Retry period after a failed pass.
  std::chrono::milliseconds retry_interval{std::chrono::seconds(5)};
  // After publishing a bundle with a CA this process does not serve yet, how long
  // to wait before serving a leaf of that CA: the API server learns the new
  // bundle through its own watch, and serving first would fail admissions.
  std::chrono::milliseconds bundle_propagation_delay{std::chrono::seconds(3)};
};

// Installs a certificate chain and key into the serving process
// (Webhook::set_certificate).
using InstallCertificate = std::function<Status(const std::string& cert, const std::string& key)>;

class CertManager {
 public:
  // `client` and `clock` must outlive the manager.
  CertManager(kube::Client& client, CertManagerOptions options, InstallCertificate install,
              const Clock& clock);
  ~CertManager();
  CertManager(const CertManager&) = delete;
  CertManager& operator=(const CertManager&) = delete;

  // One pass: read or create the Secret, rotate what needs it, write caBundle,
  // install the serving certificate when it changed. Safe to call concurrently
  // from several replicas (see the contract above).
  Status sync();

  // Starts the loop (periodic sync, plus one on every change of the Secret).
  void start();
  void stop();

  // The material installed by the last successful sync.
  std::optional<CertMaterial> installed() const;

 private:
  Result<CertMaterial> ensure_secret();
  Status ensure_ca_bundle(const CertMaterial& material);
  void loop();

  kube::Client& client_;
  CertManagerOptions options_;
  InstallCertificate install_;
  const Clock& clock_;
  ServingNames names_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool kicked_ = false;
  std::optional<CertMaterial> installed_;
  std::unique_ptr<kube::Informer> secret_informer_;
  std::thread worker_;
};

}  // namespace orderguard::webhook
