// CPU per connection attempt of the REST client while the API server is down:
// requests over https to a closed loopback port, the kubeconfig carrying a CA
// and a client certificate, as the operator's does. Each request is one
// refused connect.
//
//   kube client   make_client: one TLS context per client, built when the
//                 client is made; after the first refused connect, each
//                 request checks with a plain TCP connect (probe_tcp)
//   reference     what a client that builds a TLS context per connection pays
//                 (cpprestsdk, which the kube client used before, does): a new
//                 SSL_CTX per attempt with the system trust store loaded into
//                 it and the CA, certificate and key parsed into it, then the
//                 refused connect
//
// CPU is the process's user + system time (getrusage, all threads included)
// over --attempts requests, interleaved in --rounds rounds. Prints figures only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "kube/client.h"
#include "kube/pki.h"
#include "kube/signals.h"
#include "kube/tcp_probe.h"

using namespace orderguard;

namespace {

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// µs of CPU per call of `attempt`.
template <typename F>
double cpu_us_per(int attempts, F&& attempt) {
  const double before = cpu_seconds();
  for (int i = 0; i < attempts; ++i) attempt();
  return (cpu_seconds() - before) / attempts * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  kube::init_openssl_for_process();
  CLI::App app{"CPU per refused TLS connection attempt: kube client vs per-connection parsing"};
  int attempts = 300, rounds = 3;
  app.add_option("--attempts", attempts, "requests per measurement");
  app.add_option("--rounds", rounds, "interleaved rounds");
  CLI11_PARSE(app, argc, argv);

  auto ca = kube::generate_ca({.common_name = "bench-ca"});
  auto client_pair =
      ca.ok() ? kube::generate_signed({.common_name = "bench-client", .client_auth = true}, *ca)
              : Result<kube::KeyPair>(ca.error());
  if (!client_pair.ok()) return 1;
  kube::Config cfg;
  cfg.server = "https://127.0.0.1:" + std::to_string(closed_port());
  cfg.ca_pem = ca->cert_pem;
  cfg.client_cert_pem = client_pair->cert_pem;
  cfg.client_key_pem = client_pair->key_pem;
  cfg.qps = 0;
  auto client = kube::make_client(cfg);
  if (!client.ok()) return 1;

  const int port = std::stoi(cfg.server.substr(cfg.server.rfind(':') + 1));
  const auto kube_attempt = [&] { (void)(*client)->get(kube::resources::kConfigMaps, "x", "y"); };
  const auto ref_attempt = [&] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(ctx);
    BIO* ca_bio = BIO_new_mem_buf(cfg.ca_pem.data(), static_cast<int>(cfg.ca_pem.size()));
    X509* ca_cert = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca_cert);
    BIO* cert_bio =
        BIO_new_mem_buf(cfg.client_cert_pem.data(), static_cast<int>(cfg.client_cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx, cert);
    BIO* key_bio =
        BIO_new_mem_buf(cfg.client_key_pem.data(), static_cast<int>(cfg.client_key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    SSL_CTX_use_PrivateKey(ctx, key);
    (void)kube::probe_tcp("127.0.0.1", port, std::chrono::seconds(5));  // refused, as intended
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_free(ca_cert);
    BIO_free(key_bio);
    BIO_free(cert_bio);
    BIO_free(ca_bio);
    SSL_CTX_free(ctx);
  };
  kube_attempt();  // warm-up: first-use initialisation of OpenSSL
  ref_attempt();

  std::printf(
      "== %d requests per round to a closed loopback port over https (CA + client "
      "certificate); system trust store: %s\n",
      attempts, X509_get_default_cert_file());
  std::printf("| round | kube client µs CPU/attempt | reference µs CPU/attempt | ratio |\n");
  std::printf("|---|---|---|---|\n");
  for (int round = 1; round <= rounds; ++round) {
    const double ours = cpu_us_per(attempts, kube_attempt);
    const double ref = cpu_us_per(attempts, ref_attempt);
    std::printf("| %d | %.0f | %.0f | %.1fx |\n", round, ours, ref, ref / ours);
  }
  return 0;
}
