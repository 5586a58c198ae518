// The REST client's TLS material: parsed once per client, shared by every
// connection, and the kubeconfig CA the only trust anchor; the system trust
// store is not read for each connection. Its own binary because one test points
// OpenSSL's SSL_CERT_FILE at a file it watches.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "kube/client.h"
#include "kube/http_server.h"
#include "kube/pki.h"

namespace orderguard::kube {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

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

struct Pki {
  KeyPair ca;
  KeyPair server;
  KeyPair client;
};

Pki make_pki(const std::string& name) {
  auto ca = generate_ca({.common_name = name + "-ca"});
  EXPECT_TRUE(ca.ok());
  auto server = generate_signed(
      {.common_name = "server", .ip_addresses = {"127.0.0.1"}, .server_auth = true}, *ca);
  EXPECT_TRUE(server.ok());
  auto client = generate_signed({.common_name = "client", .client_auth = true}, *ca);
  EXPECT_TRUE(client.ok());
  return {*ca, *server, *client};
}

// A TLS server answering every GET of /api/v1/namespaces/x/configmaps/y with a
// ConfigMap.
class TlsServer {
 public:
  explicit TlsServer(const Pki& pki) : server_({.address = "127.0.0.1", .threads = 1}) {
    auto ctx = make_tls_server_context(pki.server.cert_pem, pki.server.key_pem);
    EXPECT_TRUE(ctx.ok());
    server_.set_tls_context(*ctx);
    server_.route("/api/v1/namespaces/x/configmaps/y", [](const HttpRequest&) {
      return HttpResponse{.status = 200,
                          .content_type = "application/json",
                          .body = R"({"kind":"ConfigMap","metadata":{"name":"y"}})"};
    });
    EXPECT_TRUE(server_.start().ok());
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_.port()); }

 private:
  HttpServer server_;
};

Config tls_config(const std::string& server, const Pki& trusted, const Pki& identity) {
  Config cfg;
  cfg.server = server;
  cfg.ca_pem = trusted.ca.cert_pem;
  cfg.client_cert_pem = identity.client.cert_pem;
  cfg.client_key_pem = identity.client.key_pem;
  cfg.request_timeout = 10s;
  return cfg;
}

TEST(ClientTlsTest, SharedMaterialServesEveryConnection) {
  const Pki pki = make_pki("one");
  TlsServer server(pki);
  auto client = make_client(tls_config(server.url(), pki, pki));
  ASSERT_TRUE(client.ok()) << client.error().message;
  // A watch opens a connection of its own each time, so these are several
  // connections built from the one parsed material.
  for (int i = 0; i < 3; ++i) {
    auto got = (*client)->get(resources::kConfigMaps, "x", "y");
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ((*got)["metadata"]["name"], "y");
    Canceller cancel;
    WatchOptions wo;
    wo.timeout = 1s;
    // The route answers a watch with one object, which is not a watch event.
    (void)(*client)->watch(
        resources::kConfigMaps, "x", wo, [](WatchEvent&&) {}, cancel);
  }
}

TEST(ClientTlsTest, TheKubeconfigCaIsTheOnlyAnchor) {
  const Pki pki = make_pki("server");
  const Pki other = make_pki("other");
  TlsServer server(pki);
  auto client = make_client(tls_config(server.url(), other, other));
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto got = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
}

TEST(ClientTlsTest, MismatchedClientKeyIsRejectedUpFront) {
  const Pki pki = make_pki("one");
  const Pki other = make_pki("other");
  Config cfg = tls_config("https://127.0.0.1:1", pki, pki);
  cfg.client_key_pem = other.client.key_pem;
  auto client = make_client(cfg);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.error().message, HasSubstr("does not match"));
}

// Counts the times `path` is opened while `f` runs (inotify IN_OPEN).
template <typename F>
int opens_during(const std::string& path, F&& f) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_GE(inotify_add_watch(fd, path.c_str(), IN_OPEN), 0);
  f();
  int opens = 0;
  alignas(inotify_event) char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      if ((ev->mask & IN_OPEN) != 0) ++opens;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  ::close(fd);
  return opens;
}

// cpprest loads the system trust store into every connection's new SSL_CTX;
// with OpenSSL 3 that parses the whole bundle, per connection attempt. A client
// with a kubeconfig CA has no use for it, so it is never read.
TEST(ClientTlsTest, AClientWithACaNeverReadsTheSystemTrustStore) {
  const Pki pki = make_pki("one");
  const std::string bundle = ::testing::TempDir() + "/og-system-bundle.pem";
  std::ofstream(bundle) << pki.ca.cert_pem;
  // OpenSSL reads the variable each time it loads its default paths.
  ASSERT_EQ(::setenv("SSL_CERT_FILE", bundle.c_str(), 1), 0);
  const std::string server = "https://127.0.0.1:" + std::to_string(closed_port());

  auto with_ca = make_client(tls_config(server, pki, pki));
  ASSERT_TRUE(with_ca.ok()) << with_ca.error().message;
  const int opens = opens_during(bundle, [&] {
    for (int i = 0; i < 5; ++i) {
      auto got = (*with_ca)->get(resources::kConfigMaps, "x", "y");
      EXPECT_FALSE(got.ok());
      Canceller cancel;
      EXPECT_FALSE((*with_ca)->watch(
          resources::kConfigMaps, "x", {}, [](WatchEvent&&) {}, cancel));
    }
  });
  EXPECT_EQ(opens, 0);

  // A client that trusts the system store still gets it: the watch above sees opens.
  Config system = tls_config(server, pki, pki);
  system.ca_pem.clear();
  auto without_ca = make_client(system);
  ASSERT_TRUE(without_ca.ok()) << without_ca.error().message;
  const int system_opens = opens_during(bundle, [&] {
    auto got = (*without_ca)->get(resources::kConfigMaps, "x", "y");
    EXPECT_FALSE(got.ok());
  });
  EXPECT_GE(system_opens, 1);
  ::unsetenv("SSL_CERT_FILE");
  std::filesystem::remove(bundle);
}

}  // namespace
}  // namespace orderguard::kube
