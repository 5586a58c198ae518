#include "kube/http_server.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "e2e/support/wait.h"
#include "kube/pki.h"

namespace orderguard::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A blocking HTTP/1.1 client on one keep-alive connection.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : stream_(io_) {
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> send(http::verb verb, const std::string& target,
                                         const std::string& body = "") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

TEST(HttpServerTest, RoutesKeepAliveAndNotFound) {
  HttpServer server({.address = "127.0.0.1", .port = 0});
  server.route("/echo", [](const HttpRequest& req) {
    return HttpResponse{200, "text/plain", req.method + " " + req.target + " " + req.body, {}};
  });
  ASSERT_TRUE(server.start().ok());
  ASSERT_NE(server.port(), 0);

  TestClient client(server.port());
  auto res = client.send(http::verb::post, "/echo?x=1", "hello");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "POST /echo?x=1 hello");
  // Same connection, second request: keep-alive works.
  res = client.send(http::verb::get, "/missing");
  EXPECT_EQ(res.result_int(), 404);
  server.stop();
}

TEST(HttpServerTest, HeadersInBothDirectionsAndConnectionClose) {
  HttpServer server({.address = "127.0.0.1", .port = 0});
  server.route("/h", [](const HttpRequest& req) {
    HttpResponse res{200, "application/json", std::string(req.header("x-probe")), {}};
    res.headers["Allow"] = "POST";
    res.headers["Content-Length"] = "999";  // the server's own; dropped
    return res;
  });
  ASSERT_TRUE(server.start().ok());
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  beast::flat_buffer buffer;
  for (const bool close : {false, true}) {
    http::request<http::string_body> req{http::verb::get, "/h?q=1", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set("X-Probe", close ? "last" : "first");
    req.keep_alive(!close);
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), close ? "last" : "first");
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_EQ(res[http::field::allow], "POST");
    EXPECT_EQ(res[http::field::content_length], close ? "4" : "5");
    EXPECT_EQ(res.keep_alive(), !close);
  }
  // The server closes the connection after answering "Connection: close".
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(stream, buffer, res, ec);
  EXPECT_EQ(ec, http::error::end_of_stream);
}

TEST(HttpServerTest, OversizedBodyIsRefused) {
  HttpServer server({.address = "127.0.0.1", .port = 0, .max_body_bytes = 16});
  server.route("/echo", [](const HttpRequest& req) { return HttpResponse{200, "", req.body, {}}; });
  ASSERT_TRUE(server.start().ok());
  TestClient client(server.port());
  auto res = client.send(http::verb::post, "/echo", std::string(1000, 'x'));
  EXPECT_EQ(res.result_int(), 413);
}

// A 100 KB header: answered 431 before the connection is closed, though the client has
// sent far more than the server read.
TEST(HttpServerTest, OversizedHeaderAnswers431BeforeClosing) {
  HttpServer server({.address = "127.0.0.1", .port = 0});
  server.route("/echo", [](const HttpRequest& req) { return HttpResponse{200, "", req.body, {}}; });
  ASSERT_TRUE(server.start().ok());
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  const std::string request =
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(100 * 1024, 'a') +
      "\r\nContent-Length: 2\r\n\r\n{}";
  asio::write(socket, asio::buffer(request));
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(socket, buffer, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_FALSE(res.keep_alive());
  http::read(socket, buffer, res, ec);
  EXPECT_EQ(ec, http::error::end_of_stream);
  // A header under the limit is served.
  TestClient client(server.port());
  EXPECT_EQ(client.send(http::verb::post, "/echo", "x").result_int(), 200);
}

TEST(HttpServerTest, ThrowingHandlerAnswers500) {
  HttpServer server({.address = "127.0.0.1", .port = 0});
  server.route("/boom",
               [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("bug"); });
  ASSERT_TRUE(server.start().ok());
  TestClient client(server.port());
  EXPECT_EQ(client.send(http::verb::get, "/boom").result_int(), 500);
  // The server is still serving afterwards.
  EXPECT_EQ(client.send(http::verb::get, "/other").result_int(), 404);
}

TEST(HttpServerTest, BindFailureIsAClearError) {
  HttpServer first({.address = "127.0.0.1", .port = 0});
  ASSERT_TRUE(first.start().ok());
  HttpServer second({.address = "127.0.0.1", .port = first.port()});
  auto st = second.start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos);
  HttpServer bad({.address = "not-an-ip"});
  EXPECT_EQ(bad.start().error().code, ErrorCode::kInvalid);
}

TEST(HttpServerTest, ObservabilityRoutes) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter().Name("things_total").Help("t").Register(*registry);
  family.Add({{"kind", "a"}}).Increment(3);
  auto health = std::make_shared<HealthChecks>();
  bool synced = false;
  health->add_liveness("ping", [] { return std::string(); });
  health->add_readiness("informers", [&] { return synced ? "" : std::string("not synced"); });

  HttpServer server({.address = "127.0.0.1", .port = 0});
  add_observability_routes(server, registry, health);
  ASSERT_TRUE(server.start().ok());
  TestClient client(server.port());

  auto metrics = client.send(http::verb::get, "/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_NE(metrics.body().find("things_total{kind=\"a\"} 3"), std::string::npos) << metrics.body();
  // The process_* metrics of this process come with every registry.
  EXPECT_NE(metrics.body().find("# TYPE process_resident_memory_bytes gauge"), std::string::npos)
      << metrics.body();
  EXPECT_NE(metrics.body().find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
  EXPECT_EQ(client.send(http::verb::get, "/healthz").result_int(), 200);
  auto not_ready = client.send(http::verb::get, "/readyz");
  EXPECT_EQ(not_ready.result_int(), 503);
  EXPECT_NE(not_ready.body().find("[-]informers failed: not synced"), std::string::npos);
  synced = true;
  EXPECT_EQ(client.send(http::verb::get, "/readyz").result_int(), 200);
}

TEST(HttpServerTest, ConnectionsClosedWithoutBytesAreReleased) {
  // The defect that ruled out cpprestsdk's listener: TCP connect-then-close
  // (kubelet tcpSocket probes) leaked a socket each time.
  HttpServer server({.address = "127.0.0.1", .port = 0});
  ASSERT_TRUE(server.start().ok());
  for (int i = 0; i < 50; ++i) {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    s.close();
  }
  // Poll until the server has noticed every close (no fixed sleep).
  for (int i = 0; i < 500 && server.open_connections() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.open_connections(), 0u);
}

// ---- TLS: memory ----

std::shared_ptr<asio::ssl::context> test_tls_context() {
  auto ca = generate_ca({.common_name = "test-ca"});
  if (!ca.ok()) return nullptr;
  auto leaf = generate_signed(
      {.common_name = "server", .ip_addresses = {"127.0.0.1"}, .server_auth = true}, *ca);
  if (!leaf.ok()) return nullptr;
  auto ctx = make_tls_server_context(leaf->cert_pem, leaf->key_pem);
  return ctx.ok() ? std::move(ctx).value() : nullptr;
}

// A blocking TLS client on one keep-alive connection; it does not verify the server
// (these tests are about the server's resources, pki_test about certificates).
class TlsTestClient {
 public:
  TlsTestClient(asio::io_context& io, asio::ssl::context& ctx, uint16_t port) : stream_(io, ctx) {
    beast::get_lowest_layer(stream_).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream_.handshake(asio::ssl::stream_base::client);
  }
  const char* cipher() { return SSL_get_cipher_name(stream_.native_handle()); }
  int post(const std::string& target, const std::string& body) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res.result_int();
  }

 private:
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

// Resident memory of a process, KiB.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A TLS HttpServer (two I/O threads, POST /r answering 200) in a child process, so that
// its memory is measured apart from the clients'. The child serves until destruction.
class ChildTlsServer {
 public:
  ChildTlsServer() {
    int port_pipe[2], stop_pipe[2];
    if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(port_pipe[0]);
      close(stop_pipe[1]);
      HttpServer server({.address = "127.0.0.1", .port = 0, .threads = 2});
      server.route("/r", [](const HttpRequest&) { return HttpResponse{200, "", "ok", {}}; });
      auto ctx = test_tls_context();
      if (!ctx) _exit(2);
      server.set_tls_context(ctx);
      if (!server.start().ok()) _exit(3);
      const uint16_t port = server.port();
      if (write(port_pipe[1], &port, sizeof port) != sizeof port) _exit(4);
      char c;
      (void)!read(stop_pipe[0], &c, 1);  // until the parent closes its end
      server.stop();
      _exit(0);
    }
    close(port_pipe[1]);
    close(stop_pipe[0]);
    stop_ = stop_pipe[1];
    if (read(port_pipe[0], &port_, sizeof port_) != sizeof port_) port_ = 0;
    close(port_pipe[0]);
  }
  ~ChildTlsServer() {
    if (pid_ <= 0) return;
    close(stop_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int stop_ = -1;
  uint16_t port_ = 0;
};

// What an idle keep-alive TLS connection costs the server, and that a burst's memory is
// given back once it closes. With asio::ssl::stream a connection cost ~75 KiB for its whole
// life, and the heap kept a closed burst's memory.
TEST(HttpServerTlsTest, IdleConnectionsAreSmallAndTheirMemoryIsGivenBack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under AddressSanitizer, its allocator (redzones, quarantine) is what RSS shows";
#endif
  constexpr int kConnections = 300;
  ChildTlsServer child;
  ASSERT_GT(child.pid(), 0);
  ASSERT_NE(child.port(), 0);
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  {
    TlsTestClient warm_up(io, ctx, child.port());  // the server's first-request allocations
    ASSERT_EQ(warm_up.post("/r", "{}"), 200);
  }
  const long before = rss_kib(child.pid());
  std::vector<std::unique_ptr<TlsTestClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<TlsTestClient>(io, ctx, child.port()));
    ASSERT_EQ(clients.back()->post("/r", std::string(3000, 'x')), 200);
  }
  const long open = rss_kib(child.pid());
  const long per_connection = (open - before) / kConnections;
  EXPECT_LT(per_connection, 32) << "KiB per idle connection; RSS " << before << " KiB before, "
                                << open << " KiB with " << kConnections << " connections";
  clients.clear();
  long now = open;
  EXPECT_TRUE(e2e::eventually([&] {
    now = rss_kib(child.pid());
    return now - before <= (open - before) * 2 / 3;
  })) << "RSS "
      << before << " KiB before, " << open << " KiB with the connections, " << now
      << " KiB after they closed";
}

// ---- TLS: cipher choice and session tickets ----

// A TLS HttpServer in this process (POST /r answering 200).
struct TlsServer {
  HttpServer server{{.address = "127.0.0.1", .port = 0, .threads = 1}};
  bool start() {
    server.route("/r", [](const HttpRequest&) { return HttpResponse{200, "", "ok", {}}; });
    auto ctx = test_tls_context();
    if (!ctx) return false;
    server.set_tls_context(ctx);
    return server.start().ok();
  }
};

// The cipher the server settles on with a client that offers `suites` (TLS 1.3) or `ciphers`
// (TLS 1.2), in that order of preference.
std::string negotiated_cipher(uint16_t port, const char* suites, const char* ciphers) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  if (suites != nullptr) SSL_CTX_set_ciphersuites(ctx.native_handle(), suites);
  if (ciphers != nullptr) {
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx.native_handle(), ciphers);
  }
  TlsTestClient client(io, ctx, port);
  if (client.post("/r", "{}") != 200) return "no answer";
  return client.cipher();
}

// The server chooses AES-128-GCM over the AES-256-GCM that OpenSSL clients list first
// (fewer AES rounds per record), and ChaCha20 for a client that prefers it (one without AES
// hardware). Every suite stays allowed.
TEST(HttpServerTlsTest, ServerPrefersAes128UnlessTheClientPrefersChaCha20) {
  TlsServer tls;
  ASSERT_TRUE(tls.start());
  const uint16_t port = tls.server.port();
  EXPECT_EQ(negotiated_cipher(port,
                              "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
                              "TLS_AES_128_GCM_SHA256",
                              nullptr),
            "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(negotiated_cipher(port, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", nullptr),
            "TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(negotiated_cipher(port, "TLS_AES_256_GCM_SHA384", nullptr), "TLS_AES_256_GCM_SHA384");
  // TLS 1.2 (ECDSA or RSA, whichever the test certificate's key is).
  const std::string tls12 =
      negotiated_cipher(port, nullptr,
                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_NE(tls12.find("-AES128-GCM-SHA256"), std::string::npos) << tls12;
  tls.server.stop();
}

int g_tickets = 0;

// One TLS 1.3 session ticket per full handshake (OpenSSL sends two by default): a client
// resumes with one, and each costs the server an encryption and a record.
TEST(HttpServerTlsTest, OneSessionTicketPerHandshake) {
  TlsServer tls;
  ASSERT_TRUE(tls.start());
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT);
  g_tickets = 0;
  SSL_CTX_sess_set_new_cb(ctx.native_handle(), [](SSL*, SSL_SESSION*) {
    ++g_tickets;
    return 0;  // not kept
  });
  {
    TlsTestClient client(io, ctx, tls.server.port());
    // Tickets arrive after the handshake; an answer read means they were read before it.
    ASSERT_EQ(client.post("/r", "{}"), 200);
    ASSERT_EQ(client.post("/r", "{}"), 200);
  }
  EXPECT_EQ(g_tickets, 1);
  tls.server.stop();
}

}  // namespace
}  // namespace orderguard::kube

namespace orderguard::kube {
namespace {

TEST(ParseListenAddressTest, AcceptsHostPortAndBarePort) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(parse_listen_address(":8080", &host, &port));
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(parse_listen_address("127.0.0.1:0", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  for (const char* bad : {"8080", ":", ":http", ":70000", "host:-1", ":123456"}) {
    EXPECT_FALSE(parse_listen_address(bad, &host, &port)) << bad;
  }
}

}  // namespace
}  // namespace orderguard::kube
