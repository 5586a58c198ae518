// CPU per connection attempt of the REST client while the API server is down:
// requests over https to a closed loopback port, the kubeconfig carrying a CA
// and a client certificate, as the operator's does. Each request is one
// refused connect, for which cpprest builds a TLS context first.
//
//   kube client   make_client: after the first refused connect, each request
//                 checks with a plain TCP connect (probe_tcp) and builds no
//                 TLS context while the server still refuses
//   reference     cpprest as make_client used it before: a context per attempt,
//                 cpprest loading the system trust store into it, then a
//                 callback parsing the CA, certificate and key
//
// CPU is the process's user + system time (getrusage, I/O threads included)
// over --attempts requests, interleaved in --rounds rounds. Prints figures only.
#include <arpa/inet.h>
#include <cpprest/http_client.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <string>

#include "kube/client.h"
#include "kube/pki.h"
#include "kube/signals.h"

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

  web::http::client::http_client_config ref_config;
  ref_config.set_ssl_context_callback([cfg](boost::asio::ssl::context& ctx) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
    ctx.add_certificate_authority(boost::asio::buffer(cfg.ca_pem));
    ctx.use_certificate_chain(boost::asio::buffer(cfg.client_cert_pem));
    ctx.use_private_key(boost::asio::buffer(cfg.client_key_pem), boost::asio::ssl::context::pem);
  });
  web::http::client::http_client reference(cfg.server, ref_config);

  const auto kube_attempt = [&] { (void)(*client)->get(kube::resources::kConfigMaps, "x", "y"); };
  const auto ref_attempt = [&] {
    try {
      reference.request(web::http::methods::GET, "/api/v1/namespaces/x/configmaps/y").get();
    } catch (const std::exception&) {
      // refused, as intended
    }
  };
  kube_attempt();  // warm-up: first-use initialisation of OpenSSL and cpprest
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
