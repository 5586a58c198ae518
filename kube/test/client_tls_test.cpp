// The REST client's TLS: one context per client built from material parsed
// once, the kubeconfig CA the only trust anchor (the system trust store is
// never read then), and the server's name or address checked. Its own binary because one test
// points OpenSSL's SSL_CERT_FILE at a file it watches.
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
// ConfigMap, on `port` (0: any free port).
class TlsServer {
 public:
  explicit TlsServer(const Pki& pki, int port = 0)
      : server_({.address = "127.0.0.1", .port = static_cast<uint16_t>(port), .threads = 1}) {
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
  // Gets and watches, each on whatever connection the client has or opens, all
  // with the TLS material it was made with.
  for (int i = 0; i < 3; ++i) {
    auto got = (*client)->get(resources::kConfigMaps, "x", "y");
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ((*got)["metadata"]["name"], "y");
    Canceller cancel;
    WatchOptions wo;
    wo.timeout = 1s;
    // The route has no watch path: the 404 fails the watch, read whole like any answer.
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

TEST(ClientTlsTest, UntrustedServerIsAClearError) {
  const Pki pki = make_pki("server");
  const Pki other = make_pki("other");
  TlsServer server(pki);
  auto client = make_client(tls_config(server.url(), other, other));
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto got = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("TLS handshake with 127.0.0.1:"));
  EXPECT_THAT(got.error().message, HasSubstr("certificate verify failed"));
}

// The certificate must name what the client was told to expect: the URL's host, or
// tls-server-name when set (the server's certificate is for 127.0.0.1 and
// "api.example" here).
TEST(ClientTlsTest, ServerNameIsVerified) {
  Pki pki = make_pki("one");
  auto named = generate_signed({.common_name = "server",
                                .dns_names = {"api.example"},
                                .ip_addresses = {"127.0.0.1"},
                                .server_auth = true},
                               pki.ca);
  ASSERT_TRUE(named.ok());
  pki.server = *named;
  TlsServer server(pki);
  Config cfg = tls_config(server.url(), pki, pki);
  cfg.tls_server_name = "api.example";
  auto client = make_client(cfg);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto got = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_TRUE(got.ok()) << got.error().message;

  cfg.tls_server_name = "other.example";
  client = make_client(cfg);
  ASSERT_TRUE(client.ok()) << client.error().message;
  got = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("certificate verify failed"));
  EXPECT_THAT(got.error().message, HasSubstr("hostname mismatch"));

  // An IP address the certificate does not carry.
  Pki other_ip = make_pki("two");
  auto wrong_ip = generate_signed(
      {.common_name = "server", .ip_addresses = {"127.0.0.2"}, .server_auth = true}, other_ip.ca);
  ASSERT_TRUE(wrong_ip.ok());
  other_ip.server = *wrong_ip;
  TlsServer wrong(other_ip);
  client = make_client(tls_config(wrong.url(), other_ip, other_ip));
  ASSERT_TRUE(client.ok()) << client.error().message;
  got = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("certificate verify failed"));
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

// Counts the times `path` is opened while `f` runs. inotify merges an event
// into an identical one still queued, so closes are watched too: each open
// then follows a close and stays a separate event.
template <typename F>
int opens_during(const std::string& path, F&& f) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_GE(inotify_add_watch(fd, path.c_str(), IN_OPEN | IN_CLOSE), 0);
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

// Loading the system trust store parses the whole bundle (about 18 ms of CPU
// with OpenSSL 3). A client whose kubeconfig has a CA never loads it: not when
// the client is made, nor for any connection attempt, refused or not.
TEST(ClientTlsTest, WithAKubeconfigCaTheSystemTrustStoreIsNeverRead) {
  const Pki pki = make_pki("one");
  const std::string bundle = ::testing::TempDir() + "/og-system-bundle.pem";
  std::ofstream(bundle) << pki.ca.cert_pem;
  // OpenSSL reads the variable each time it loads its default paths.
  ASSERT_EQ(::setenv("SSL_CERT_FILE", bundle.c_str(), 1), 0);
  const std::string server = "https://127.0.0.1:" + std::to_string(closed_port());

  std::unique_ptr<Client> client;
  const int opens = opens_during(bundle, [&] {
    auto made = make_client(tls_config(server, pki, pki));
    ASSERT_TRUE(made.ok()) << made.error().message;
    client = std::move(*made);
    for (int i = 0; i < 5; ++i) {
      auto got = client->get(resources::kConfigMaps, "x", "y");
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;
      EXPECT_THAT(got.error().message, HasSubstr("connection refused by 127.0.0.1:"));
      Canceller cancel;
      const Status watched = client->watch(
          resources::kConfigMaps, "x", {}, [](WatchEvent&&) {}, cancel);
      ASSERT_FALSE(watched.ok());
      EXPECT_EQ(watched.error().code, ErrorCode::kUnavailable) << watched.error().message;
    }
  });
  EXPECT_EQ(opens, 0);
  // A server to talk to changes nothing.
  TlsServer listening(pki);
  auto other = make_client(tls_config(listening.url(), pki, pki));
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(opens_during(bundle,
                         [&] {
                           for (int i = 0; i < 3; ++i) {
                             auto got = (*other)->get(resources::kConfigMaps, "x", "y");
                             ASSERT_TRUE(got.ok()) << got.error().message;
                           }
                         }),
            0);
  ::unsetenv("SSL_CERT_FILE");
  std::filesystem::remove(bundle);
}

// Once something listens again, the next request goes through: the check
// before each attempt only holds requests back while connections are refused.
TEST(ClientTlsTest, ServesAgainOnceTheServerListens) {
  const Pki pki = make_pki("one");
  const int port = closed_port();
  auto client = make_client(tls_config("https://127.0.0.1:" + std::to_string(port), pki, pki));
  ASSERT_TRUE(client.ok()) << client.error().message;
  for (int i = 0; i < 2; ++i) {
    auto got = (*client)->get(resources::kConfigMaps, "x", "y");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;
  }

  TlsServer server(pki, port);
  auto got = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ((*got)["metadata"]["name"], "y");
  auto again = (*client)->get(resources::kConfigMaps, "x", "y");
  ASSERT_TRUE(again.ok()) << again.error().message;
}

}  // namespace
}  // namespace orderguard::kube
