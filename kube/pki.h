// X.509 building blocks on the OpenSSL 3 C API: key generation (RSA 2048, EC
// P-256), a self-signed CA, CA-signed leaf certificates with SANs and
// (extended) key usages, PEM encoding and decoding, chain verification and the
// validity window (for rotation).
//
// Contracts:
// - Nothing here throws. Every operation that OpenSSL can refuse returns a
//   Result whose message names the operation and carries OpenSSL's decoded
//   error queue ("sign certificate: error:...:EVP routines::...").
// - PrivateKey and Certificate own one reference to their OpenSSL object;
//   copies share it (OpenSSL's own reference counting). Both are immutable
//   after construction, so they are safe to share between threads.
// - Decoding never prompts for a passphrase: an encrypted PEM key is an error.
// - Signatures use SHA-256. Serial numbers are random 127-bit positives.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace orderguard::kube {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

enum class KeyType { kRsa2048, kEcP256 };

class PrivateKey {
 public:
  static Result<PrivateKey> generate(KeyType type);
  // Accepts PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY").
  static Result<PrivateKey> from_pem(std::string_view pem);
  // Takes ownership of `key`, which must not be null.
  explicit PrivateKey(EvpPkeyPtr key);

  PrivateKey(const PrivateKey& other);
  PrivateKey& operator=(const PrivateKey& other);
  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;

  // Unencrypted PKCS#8 "PRIVATE KEY" PEM.
  Result<std::string> to_pem() const;
  // SubjectPublicKeyInfo "PUBLIC KEY" PEM (e.g. kube-apiserver --service-account-key-file).
  Result<std::string> public_key_pem() const;
  bool is_rsa() const;
  bool is_ec() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  EvpPkeyPtr key_;
};

class Certificate {
 public:
  // Decodes the first "CERTIFICATE" block of `pem`.
  static Result<Certificate> from_pem(std::string_view pem);
  // Decodes every "CERTIFICATE" block (a CA bundle); an error when there is none.
  static Result<std::vector<Certificate>> all_from_pem(std::string_view pem);
  // Takes ownership of `cert`, which must not be null.
  explicit Certificate(X509Ptr cert);

  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;

  Result<std::string> to_pem() const;
  std::chrono::system_clock::time_point not_before() const;
  std::chrono::system_clock::time_point not_after() const;
  std::string common_name() const;
  std::vector<std::string> organizations() const;
  std::vector<std::string> dns_names() const;
  // Textual form: "127.0.0.1", "::1".
  std::vector<std::string> ip_addresses() const;
  bool is_ca() const;
  // True when `key` is the private half of this certificate's public key.
  bool matches_key(const PrivateKey& key) const;
  X509* get() const { return cert_.get(); }

 private:
  X509Ptr cert_;
};

// What to put into a certificate. Names are taken literally (never parsed as
// OpenSSL config strings), so commas or colons in them cannot inject fields.
struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // IPv4 or IPv6 literals
  bool server_auth = false;               // extendedKeyUsage serverAuth
  bool client_auth = false;               // extendedKeyUsage clientAuth
  // Unset: now minus one minute, so that a peer whose clock is slightly behind
  // does not reject a certificate minted a moment ago.
  std::optional<std::chrono::system_clock::time_point> not_before;
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign|cRLSign)
// for `key`. Extended key usages in `spec` are ignored; SANs are kept.
Result<Certificate> make_self_signed_ca(const CertificateSpec& spec, const PrivateKey& key);

// A leaf certificate (CA:FALSE) for `subject_key`, signed by `ca_key`, issued
// by `ca_cert`. Fails when `ca_key` does not match `ca_cert` or when an IP
// address does not parse.
Result<Certificate> sign_certificate(const CertificateSpec& spec, const PrivateKey& subject_key,
                                     const Certificate& ca_cert, const PrivateKey& ca_key);

// A certificate and its key, with both PEM encodings at hand (what files,
// kubeconfigs and Secrets hold).
struct KeyPair {
  PrivateKey key;
  Certificate cert;
  std::string key_pem;
  std::string cert_pem;
};

// Generates a key of `type` and a self-signed CA for it.
Result<KeyPair> generate_ca(const CertificateSpec& spec, KeyType type = KeyType::kEcP256);
// Generates a key of `type` and a leaf certificate for it signed by `ca`.
Result<KeyPair> generate_signed(const CertificateSpec& spec, const KeyPair& ca,
                                KeyType type = KeyType::kEcP256);

// Verifies `leaf` against `roots` with X509_verify_cert at `at` (default: now).
// `server_auth`/`client_auth` additionally require that purpose. The error
// message is OpenSSL's verify reason ("certificate has expired").
Status verify_certificate(const Certificate& leaf, const std::vector<Certificate>& roots,
                          bool server_auth = false, bool client_auth = false,
                          std::optional<std::chrono::system_clock::time_point> at = std::nullopt);

// notAfter of the first certificate in `pem`, the input of rotation decisions.
Result<std::chrono::system_clock::time_point> certificate_not_after(std::string_view pem);

// `length` characters drawn uniformly from [A-Za-z0-9] with OpenSSL's CSPRNG:
// passwords that need no quoting in SQL, shell or YAML.
Result<std::string> random_alphanumeric(size_t length);

}  // namespace orderguard::kube
