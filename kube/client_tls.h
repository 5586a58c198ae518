// The TLS material of a REST client, parsed once (internal to kube/).
#pragma once

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl.hpp>
#include <boost/system/system_error.hpp>
#include <memory>
#include <string>

#include "base/result.h"
#include "kube/config.h"

namespace orderguard::kube {

// The TLS material of one client (kubeconfig CA bundle, client certificate
// chain and key), parsed once when the client is made and set on its one
// SSL_CTX, which every connection of the client shares (kube/http_transport.h).
// Parsing the PEM (the CA bundle, the certificate, and the key through OpenSSL
// 3's decoders) costs about 0.5 ms of CPU, and loading the system trust store
// about 18 ms: neither is paid per connection.
class TlsMaterial {
 public:
  ~TlsMaterial() {
    X509_STORE_free(store_);
    X509_free(cert_);
    if (chain_ != nullptr) sk_X509_pop_free(chain_, X509_free);
    EVP_PKEY_free(key_);
  }

  // Parses `config`'s PEM material; the error says what is wrong with it.
  static Result<std::shared_ptr<const TlsMaterial>> parse(const Config& config) {
    auto tls = std::shared_ptr<TlsMaterial>(new TlsMaterial());
    ERR_clear_error();
    if (!config.ca_pem.empty()) {
      tls->store_ = X509_STORE_new();
      if (tls->store_ == nullptr) return openssl_error("cannot allocate a certificate store");
      BioPtr bio(BIO_new_mem_buf(config.ca_pem.data(), static_cast<int>(config.ca_pem.size())));
      int added = 0;
      while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        const int ok = X509_STORE_add_cert(tls->store_, cert);
        X509_free(cert);
        if (ok != 1) return openssl_error("cannot add a CA certificate");
        ++added;
      }
      ERR_clear_error();  // the end of the bundle reads as "no start line"
      if (added == 0) return make_error(ErrorCode::kInvalid, "no certificate in the CA bundle");
    }
    if (!config.client_cert_pem.empty()) {
      if (config.client_key_pem.empty()) {
        return make_error(ErrorCode::kInvalid, "a client certificate needs its client key");
      }
      BioPtr certs(BIO_new_mem_buf(config.client_cert_pem.data(),
                                   static_cast<int>(config.client_cert_pem.size())));
      tls->cert_ = PEM_read_bio_X509_AUX(certs.get(), nullptr, nullptr, nullptr);
      if (tls->cert_ == nullptr) return openssl_error("cannot read the client certificate");
      tls->chain_ = sk_X509_new_null();
      while (X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
        sk_X509_push(tls->chain_, extra);
      }
      ERR_clear_error();
      BioPtr key(BIO_new_mem_buf(config.client_key_pem.data(),
                                 static_cast<int>(config.client_key_pem.size())));
      tls->key_ = PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr);
      if (tls->key_ == nullptr) return openssl_error("cannot read the client key");
      if (X509_check_private_key(tls->cert_, tls->key_) != 1) {
        ERR_clear_error();
        return make_error(ErrorCode::kInvalid, "client key does not match the client certificate");
      }
    }
    return std::shared_ptr<const TlsMaterial>(std::move(tls));
  }

  // Sets the material on the client's context: references, no parsing. A
  // kubeconfig CA must be the only anchor, so the context's store is replaced.
  void configure(SSL_CTX* ctx) const {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (store_ != nullptr) SSL_CTX_set1_cert_store(ctx, store_);
    if (cert_ != nullptr) {
      if (SSL_CTX_use_certificate(ctx, cert_) != 1 || SSL_CTX_use_PrivateKey(ctx, key_) != 1) {
        throw_openssl("cannot use the client certificate");
      }
      for (int i = 0; i < sk_X509_num(chain_); ++i) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain_, i)) != 1) {
          throw_openssl("cannot use the client certificate chain");
        }
      }
    }
  }

 private:
  struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
  };
  using BioPtr = std::unique_ptr<BIO, BioFree>;

  TlsMaterial() = default;

  static Error openssl_error(const std::string& what) {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return make_error(ErrorCode::kInvalid, what);
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    return make_error(ErrorCode::kInvalid, what + " (" + buf + ")");
  }
  // make_client turns the exception into an error naming the config.
  [[noreturn]] static void throw_openssl(const std::string& what) {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    throw boost::system::system_error(
        boost::system::error_code(static_cast<int>(code), boost::asio::error::get_ssl_category()),
        what);
  }

  X509_STORE* store_ = nullptr;
  X509* cert_ = nullptr;
  STACK_OF(X509) * chain_ = nullptr;
  EVP_PKEY* key_ = nullptr;
};

}  // namespace orderguard::kube
