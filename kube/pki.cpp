#include "kube/pki.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>

namespace orderguard::kube {
namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct X509NameFree {
  void operator()(X509_NAME* p) const { X509_NAME_free(p); }
};
struct X509ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct ExtKeyUsageFree {
  void operator()(EXTENDED_KEY_USAGE* p) const { EXTENDED_KEY_USAGE_free(p); }
};
struct BasicConstraintsFree {
  void operator()(BASIC_CONSTRAINTS* p) const { BASIC_CONSTRAINTS_free(p); }
};
struct Asn1BitStringFree {
  void operator()(ASN1_BIT_STRING* p) const { ASN1_BIT_STRING_free(p); }
};
struct Asn1OctetStringFree {
  void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); }
};
struct BignumFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct X509StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Drains OpenSSL's thread-local error queue into one message, so that a later
// operation never reports an earlier failure.
Error openssl_error(std::string_view what, ErrorCode code = ErrorCode::kInternal) {
  std::string message(what);
  bool first = true;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    message += first ? ": " : "; ";
    message += buf;
    first = false;
  }
  return make_error(code, std::move(message));
}

BioPtr memory_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

Result<std::string> bio_contents(BIO* bio, std::string_view what) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  if (mem == nullptr) return openssl_error(what);
  return std::string(mem->data, mem->length);
}

// PEM password callback that refuses: decoding must never block on a prompt.
int no_passphrase(char*, int, int, void*) { return -1; }

std::chrono::system_clock::time_point asn1_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

Status add_extension(X509* cert, int nid, bool critical, void* value, std::string_view what) {
  std::unique_ptr<X509_EXTENSION, X509ExtensionFree> ext(
      X509V3_EXT_i2d(nid, critical ? 1 : 0, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return openssl_error(what);
  return {};
}

// Subject/Authority Key Identifiers through OpenSSL's "hash" / "keyid" methods;
// the value strings are fixed literals, never user input.
Status add_conf_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, X509ExtensionFree> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return openssl_error(std::string("add extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

Result<std::unique_ptr<X509_NAME, X509NameFree>> make_name(const CertificateSpec& spec) {
  std::unique_ptr<X509_NAME, X509NameFree> name(X509_NAME_new());
  if (!name) return openssl_error("allocate subject name");
  // Organizations first, then CN: the order Go's pkix.Name uses, which is what
  // kube-apiserver turns into groups and user name.
  for (const auto& org : spec.organizations) {
    if (X509_NAME_add_entry_by_NID(name.get(), NID_organizationName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(org.c_str()),
                                   static_cast<int>(org.size()), -1, 0) != 1) {
      return openssl_error("set subject O=" + org, ErrorCode::kInvalid);
    }
  }
  if (!spec.common_name.empty() &&
      X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                 static_cast<int>(spec.common_name.size()), -1, 0) != 1) {
    return openssl_error("set subject CN=" + spec.common_name, ErrorCode::kInvalid);
  }
  return name;
}

Status add_subject_alt_names(X509* cert, const CertificateSpec& spec) {
  if (spec.dns_names.empty() && spec.ip_addresses.empty()) return {};
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(sk_GENERAL_NAME_new_null());
  if (!names) return openssl_error("allocate subjectAltName");
  for (const auto& dns : spec.dns_names) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* str = ASN1_IA5STRING_new();
    if (gn == nullptr || str == nullptr ||
        ASN1_STRING_set(str, dns.data(), static_cast<int>(dns.size())) != 1) {
      GENERAL_NAME_free(gn);
      ASN1_IA5STRING_free(str);
      return openssl_error("add DNS name " + dns);
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, str);
    if (sk_GENERAL_NAME_push(names.get(), gn) == 0) {
      GENERAL_NAME_free(gn);
      return openssl_error("add DNS name " + dns);
    }
  }
  for (const auto& ip : spec.ip_addresses) {
    // a2i_IPADDRESS parses both IPv4 and IPv6 literals into their octets.
    std::unique_ptr<ASN1_OCTET_STRING, Asn1OctetStringFree> octets(a2i_IPADDRESS(ip.c_str()));
    if (!octets) {
      ERR_clear_error();
      return make_error(ErrorCode::kInvalid, "invalid IP address in certificate spec: " + ip);
    }
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr) return openssl_error("add IP address " + ip);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, octets.release());
    if (sk_GENERAL_NAME_push(names.get(), gn) == 0) {
      GENERAL_NAME_free(gn);
      return openssl_error("add IP address " + ip);
    }
  }
  return add_extension(cert, NID_subject_alt_name, false, names.get(), "add subjectAltName");
}

Status add_basic_constraints(X509* cert, bool is_ca) {
  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsFree> bc(BASIC_CONSTRAINTS_new());
  if (!bc) return openssl_error("allocate basicConstraints");
  bc->ca = is_ca ? 0xFF : 0;
  return add_extension(cert, NID_basic_constraints, true, bc.get(), "add basicConstraints");
}

Status add_key_usage(X509* cert, bool is_ca, bool rsa_subject) {
  std::unique_ptr<ASN1_BIT_STRING, Asn1BitStringFree> usage(ASN1_BIT_STRING_new());
  if (!usage) return openssl_error("allocate keyUsage");
  // Bit numbers from RFC 5280 4.2.1.3.
  constexpr int kDigitalSignature = 0;
  constexpr int kKeyEncipherment = 2;
  constexpr int kKeyCertSign = 5;
  constexpr int kCrlSign = 6;
  bool ok = ASN1_BIT_STRING_set_bit(usage.get(), kDigitalSignature, 1) == 1;
  if (is_ca) {
    ok = ok && ASN1_BIT_STRING_set_bit(usage.get(), kKeyCertSign, 1) == 1;
    ok = ok && ASN1_BIT_STRING_set_bit(usage.get(), kCrlSign, 1) == 1;
  } else if (rsa_subject) {
    // RSA key exchange in TLS 1.2 encrypts with the certificate's key.
    ok = ok && ASN1_BIT_STRING_set_bit(usage.get(), kKeyEncipherment, 1) == 1;
  }
  if (!ok) return openssl_error("set keyUsage bits");
  return add_extension(cert, NID_key_usage, true, usage.get(), "add keyUsage");
}

Status add_extended_key_usage(X509* cert, const CertificateSpec& spec) {
  if (!spec.server_auth && !spec.client_auth) return {};
  std::unique_ptr<EXTENDED_KEY_USAGE, ExtKeyUsageFree> eku(sk_ASN1_OBJECT_new_null());
  if (!eku) return openssl_error("allocate extendedKeyUsage");
  // The objects returned by OBJ_nid2obj for built-in NIDs are static.
  if (spec.server_auth && sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth)) == 0) {
    return openssl_error("add serverAuth");
  }
  if (spec.client_auth && sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth)) == 0) {
    return openssl_error("add clientAuth");
  }
  return add_extension(cert, NID_ext_key_usage, false, eku.get(), "add extendedKeyUsage");
}

Status set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return openssl_error("random serial number");
  bytes[0] &= 0x7F;  // positive
  bytes[0] |= 0x40;  // and never shorter than 127 bits, so never zero
  std::unique_ptr<BIGNUM, BignumFree> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return openssl_error("set serial number");
  }
  return {};
}

Status set_validity(X509* cert, const CertificateSpec& spec) {
  using std::chrono::system_clock;
  const auto start = spec.not_before.value_or(system_clock::now() - std::chrono::minutes(1));
  const auto end = start + spec.validity;
  if (spec.validity.count() <= 0) {
    return make_error(ErrorCode::kInvalid, "certificate validity must be positive");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert), system_clock::to_time_t(start)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), system_clock::to_time_t(end)) == nullptr) {
    return openssl_error("set validity");
  }
  return {};
}

// The shared body of CA and leaf issuance. `issuer` null means self-signed.
Result<Certificate> issue(const CertificateSpec& spec, const PrivateKey& subject_key,
                          const Certificate* issuer, const PrivateKey& signing_key, bool is_ca) {
  ERR_clear_error();
  X509Ptr cert(X509_new());
  if (!cert) return openssl_error("allocate certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return openssl_error("set version");
  if (auto s = set_random_serial(cert.get()); !s) return s.error();
  if (auto s = set_validity(cert.get(), spec); !s) return s.error();
  auto name = make_name(spec);
  if (!name) return name.error();
  if (X509_set_subject_name(cert.get(), name->get()) != 1) return openssl_error("set subject");
  X509_NAME* issuer_name = issuer ? X509_get_subject_name(issuer->get()) : name->get();
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) return openssl_error("set issuer");
  if (X509_set_pubkey(cert.get(), subject_key.get()) != 1) return openssl_error("set public key");

  X509* issuer_cert = issuer ? issuer->get() : cert.get();
  if (auto s = add_basic_constraints(cert.get(), is_ca); !s) return s.error();
  if (auto s = add_key_usage(cert.get(), is_ca, subject_key.is_rsa()); !s) return s.error();
  if (!is_ca) {
    if (auto s = add_extended_key_usage(cert.get(), spec); !s) return s.error();
  }
  if (auto s = add_subject_alt_names(cert.get(), spec); !s) return s.error();
  if (auto s = add_conf_extension(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
      !s) {
    return s.error();
  }
  if (issuer != nullptr) {
    if (auto s = add_conf_extension(cert.get(), issuer_cert, NID_authority_key_identifier,
                                    "keyid:always");
        !s) {
      return s.error();
    }
  }
  if (X509_sign(cert.get(), signing_key.get(), EVP_sha256()) <= 0) {
    return openssl_error("sign certificate");
  }
  return Certificate(std::move(cert));
}

std::vector<std::string> name_entries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

template <typename Fn>
void for_each_san(X509* cert, Fn fn) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    fn(sk_GENERAL_NAME_value(names.get(), i));
  }
}

}  // namespace

// ---- PrivateKey ----

PrivateKey::PrivateKey(EvpPkeyPtr key) : key_(std::move(key)) {}

PrivateKey::PrivateKey(const PrivateKey& other) : key_(other.key_.get()) {
  if (key_) EVP_PKEY_up_ref(key_.get());
}

PrivateKey& PrivateKey::operator=(const PrivateKey& other) {
  if (this != &other) {
    if (other.key_) EVP_PKEY_up_ref(other.key_.get());
    key_.reset(other.key_.get());
  }
  return *this;
}

Result<PrivateKey> PrivateKey::generate(KeyType type) {
  ERR_clear_error();
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kRsa2048:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case KeyType::kEcP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
  }
  if (key == nullptr) return openssl_error("generate private key");
  return PrivateKey(EvpPkeyPtr(key));
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  ERR_clear_error();
  auto bio = memory_bio(pem);
  if (!bio) return openssl_error("read private key PEM");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  if (key == nullptr) return openssl_error("decode private key PEM", ErrorCode::kInvalid);
  return PrivateKey(EvpPkeyPtr(key));
}

Result<std::string> PrivateKey::to_pem() const {
  ERR_clear_error();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("encode private key PEM");
  }
  return bio_contents(bio.get(), "encode private key PEM");
}

Result<std::string> PrivateKey::public_key_pem() const {
  ERR_clear_error();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return openssl_error("encode public key PEM");
  }
  return bio_contents(bio.get(), "encode public key PEM");
}

bool PrivateKey::is_rsa() const { return EVP_PKEY_is_a(key_.get(), "RSA") == 1; }
bool PrivateKey::is_ec() const { return EVP_PKEY_is_a(key_.get(), "EC") == 1; }

// ---- Certificate ----

Certificate::Certificate(X509Ptr cert) : cert_(std::move(cert)) {}

Certificate::Certificate(const Certificate& other) : cert_(other.cert_.get()) {
  if (cert_) X509_up_ref(cert_.get());
}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    if (other.cert_) X509_up_ref(other.cert_.get());
    cert_.reset(other.cert_.get());
  }
  return *this;
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  ERR_clear_error();
  auto bio = memory_bio(pem);
  if (!bio) return openssl_error("read certificate PEM");
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr);
  if (cert == nullptr) return openssl_error("decode certificate PEM", ErrorCode::kInvalid);
  return Certificate(X509Ptr(cert));
}

Result<std::vector<Certificate>> Certificate::all_from_pem(std::string_view pem) {
  ERR_clear_error();
  auto bio = memory_bio(pem);
  if (!bio) return openssl_error("read certificate PEM");
  std::vector<Certificate> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) {
    out.emplace_back(X509Ptr(cert));
  }
  // The loop always ends with "no start line" at the end of input; that is
  // only an error when nothing at all was decoded.
  if (out.empty()) return openssl_error("decode certificate PEM bundle", ErrorCode::kInvalid);
  ERR_clear_error();
  return out;
}

Result<std::string> Certificate::to_pem() const {
  ERR_clear_error();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
    return openssl_error("encode certificate PEM");
  }
  return bio_contents(bio.get(), "encode certificate PEM");
}

std::chrono::system_clock::time_point Certificate::not_before() const {
  return asn1_time_point(X509_get0_notBefore(cert_.get()));
}

std::chrono::system_clock::time_point Certificate::not_after() const {
  return asn1_time_point(X509_get0_notAfter(cert_.get()));
}

std::string Certificate::common_name() const {
  auto cns = name_entries(X509_get_subject_name(cert_.get()), NID_commonName);
  return cns.empty() ? std::string() : cns.front();
}

std::vector<std::string> Certificate::organizations() const {
  return name_entries(X509_get_subject_name(cert_.get()), NID_organizationName);
}

std::vector<std::string> Certificate::dns_names() const {
  std::vector<std::string> out;
  for_each_san(cert_.get(), [&](GENERAL_NAME* gn) {
    int type = 0;
    auto* value = static_cast<ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    if (type != GEN_DNS) return;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<size_t>(ASN1_STRING_length(value)));
  });
  return out;
}

std::vector<std::string> Certificate::ip_addresses() const {
  std::vector<std::string> out;
  for_each_san(cert_.get(), [&](GENERAL_NAME* gn) {
    int type = 0;
    auto* value = static_cast<ASN1_OCTET_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    if (type != GEN_IPADD) return;
    const int len = ASN1_STRING_length(value);
    const unsigned char* data = ASN1_STRING_get0_data(value);
    char buf[INET6_ADDRSTRLEN] = {};
    if (len == 4 && inet_ntop(AF_INET, data, buf, sizeof buf) != nullptr) {
      out.emplace_back(buf);
    } else if (len == 16 && inet_ntop(AF_INET6, data, buf, sizeof buf) != nullptr) {
      out.emplace_back(buf);
    }
  });
  return out;
}

bool Certificate::is_ca() const { return X509_check_ca(cert_.get()) != 0; }

bool Certificate::matches_key(const PrivateKey& key) const {
  const bool match = X509_check_private_key(cert_.get(), key.get()) == 1;
  ERR_clear_error();
  return match;
}

// ---- issuance ----

Result<Certificate> make_self_signed_ca(const CertificateSpec& spec, const PrivateKey& key) {
  return issue(spec, key, nullptr, key, /*is_ca=*/true);
}

Result<Certificate> sign_certificate(const CertificateSpec& spec, const PrivateKey& subject_key,
                                     const Certificate& ca_cert, const PrivateKey& ca_key) {
  if (!ca_cert.matches_key(ca_key)) {
    return make_error(ErrorCode::kInvalid,
                      "sign certificate: CA key does not match CA certificate");
  }
  return issue(spec, subject_key, &ca_cert, ca_key, /*is_ca=*/false);
}

namespace {

Result<KeyPair> pair_up(PrivateKey key, Result<Certificate> cert) {
  if (!cert) return cert.error();
  auto key_pem = key.to_pem();
  if (!key_pem) return key_pem.error();
  auto cert_pem = cert->to_pem();
  if (!cert_pem) return cert_pem.error();
  return KeyPair{std::move(key), std::move(*cert), std::move(*key_pem), std::move(*cert_pem)};
}

}  // namespace

Result<KeyPair> generate_ca(const CertificateSpec& spec, KeyType type) {
  auto key = PrivateKey::generate(type);
  if (!key) return key.error();
  auto cert = make_self_signed_ca(spec, *key);
  return pair_up(std::move(*key), std::move(cert));
}

Result<KeyPair> generate_signed(const CertificateSpec& spec, const KeyPair& ca, KeyType type) {
  auto key = PrivateKey::generate(type);
  if (!key) return key.error();
  auto cert = sign_certificate(spec, *key, ca.cert, ca.key);
  return pair_up(std::move(*key), std::move(cert));
}

Status verify_certificate(const Certificate& leaf, const std::vector<Certificate>& roots,
                          bool server_auth, bool client_auth,
                          std::optional<std::chrono::system_clock::time_point> at) {
  ERR_clear_error();
  std::unique_ptr<X509_STORE, X509StoreFree> store(X509_STORE_new());
  if (!store) return openssl_error("allocate certificate store");
  for (const auto& root : roots) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) return openssl_error("add trust root");
  }
  // Purposes are checked one at a time: X509_verify_cert takes a single one.
  std::vector<int> purposes;
  if (server_auth) purposes.push_back(X509_PURPOSE_SSL_SERVER);
  if (client_auth) purposes.push_back(X509_PURPOSE_SSL_CLIENT);
  if (purposes.empty()) purposes.push_back(0);
  for (int purpose : purposes) {
    std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree> ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1) {
      return openssl_error("initialise verification");
    }
    if (purpose != 0 && X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
      return openssl_error("set verification purpose");
    }
    if (at) {
      X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(*at));
    }
    if (X509_verify_cert(ctx.get()) != 1) {
      const int err = X509_STORE_CTX_get_error(ctx.get());
      ERR_clear_error();
      return make_error(ErrorCode::kInvalid,
                        std::string("verify certificate: ") + X509_verify_cert_error_string(err));
    }
  }
  return {};
}

Result<std::chrono::system_clock::time_point> certificate_not_after(std::string_view pem) {
  auto cert = Certificate::from_pem(pem);
  if (!cert) return cert.error();
  return cert->not_after();
}

Result<std::string> random_alphanumeric(size_t length) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 248 = 4 x 62: bytes from 248 up are dropped, so no character is likelier
  // than another.
  constexpr unsigned kUnbiased = 4 * kAlphabet.size();
  std::string out;
  out.reserve(length);
  unsigned char bytes[64];
  while (out.size() < length) {
    if (RAND_bytes(bytes, sizeof bytes) != 1) return openssl_error("random bytes");
    for (unsigned char b : bytes) {
      if (b >= kUnbiased) continue;
      out.push_back(kAlphabet[b % kAlphabet.size()]);
      if (out.size() == length) break;
    }
  }
  return out;
}

}  // namespace orderguard::kube
