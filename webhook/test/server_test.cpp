// The admission server's transport behaviour over real TLS sockets on
// loopback: what the cpprestsdk listener got wrong when it was measured (sockets left open
// after clients disconnect, no read or idle timeouts), checked here for our server.
#include "webhook/server.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <thread>

#include "e2e/support/wait.h"
#include "kube/pki.h"

namespace orderguard::webhook {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using e2e::eventually;

size_t open_fds() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

class WebhookServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_.emplace(std::move(kube::generate_ca({.common_name = "test-ca"})).value());
    auto leaf = kube::generate_signed(
        {.common_name = "webhook", .ip_addresses = {"127.0.0.1"}, .server_auth = true}, *ca_);
    ASSERT_TRUE(leaf.ok());
    leaf_.emplace(std::move(leaf).value());
  }

  void start(WebhookOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    options.metrics_address = "127.0.0.1";
    options.metrics_port = 0;
    hook_ = std::make_unique<Webhook>(options, nullptr, std::make_shared<prometheus::Registry>());
    ASSERT_TRUE(hook_->set_certificate(leaf_->cert_pem, leaf_->key_pem).ok());
    ASSERT_TRUE(hook_->start().ok());
  }

  tcp::endpoint endpoint() const {
    return tcp::endpoint(asio::ip::make_address("127.0.0.1"), hook_->port());
  }

  // A TLS client that trusts only the test CA.
  struct TlsClient {
    asio::io_context io;
    asio::ssl::context ctx{asio::ssl::context::tls_client};
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
    beast::flat_buffer buffer;
  };

  std::unique_ptr<TlsClient> connect_tls() {
    auto c = std::make_unique<TlsClient>();
    c->ctx.add_certificate_authority(asio::buffer(ca_->cert_pem));
    c->ctx.set_verify_mode(asio::ssl::verify_peer);
    c->stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(c->io, c->ctx);
    beast::get_lowest_layer(*c->stream).connect(endpoint());
    c->stream->handshake(asio::ssl::stream_base::client);
    return c;
  }

  http::response<http::string_body> send(TlsClient& c, http::verb verb, const std::string& target,
                                         std::string body) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(*c.stream, req);
    http::response<http::string_body> res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(*c.stream, c.buffer, parser);
    return parser.release();
  }

  std::optional<kube::KeyPair> ca_, leaf_;
  std::unique_ptr<Webhook> hook_;
};

std::string admission_body() {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",
    "kind":{"group":"","version":"v1","kind":"Pod"},
    "resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","namespace":"shop",
    "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
    "spec":{"containers":[{"name":"c","image":"xmrig"}]}}}})";
}

TEST_F(WebhookServerTest, ServesAdmissionOverTlsWithKeepAlive) {
  start();
  auto c = connect_tls();
  for (int i = 0; i < 3; ++i) {
    auto res = send(*c, http::verb::post, "/validate", admission_body());
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_NE(res.body().find("\"allowed\":false"), std::string::npos) << res.body();
  }
  EXPECT_EQ(hook_->tls_server().open_connections(), 1u);
}

TEST_F(WebhookServerTest, WrongPathMethodAndOversizedBody) {
  start();
  auto c = connect_tls();
  EXPECT_EQ(send(*c, http::verb::post, "/nope", "{}").result_int(), 404);
  EXPECT_EQ(send(*c, http::verb::get, "/validate", "").result_int(), 405);
  EXPECT_EQ(send(*c, http::verb::post, "/validate", "not json").result_int(), 400);
  // A body over 4 MiB is refused from its Content-Length, before it is read.
  auto big = connect_tls();
  const std::string head =
      "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5242880\r\n\r\n";
  asio::write(*big->stream, asio::buffer(head));
  http::response<http::string_body> res;
  http::read(*big->stream, big->buffer, res);
  EXPECT_EQ(res.result_int(), 413);
}

// A request with a 100 KB header over TLS: 431 (Request Header Fields Too Large), then the
// connection closes.
TEST_F(WebhookServerTest, HugeHeaderAnswers431BeforeClosing) {
  start();
  auto c = connect_tls();
  const std::string body = admission_body();
  const std::string head =
      "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(100 * 1024, 'a') +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  asio::write(*c->stream, asio::buffer(head + body));
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(*c->stream, c->buffer, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_FALSE(res.keep_alive());
  http::read(*c->stream, c->buffer, res, ec);
  EXPECT_TRUE(ec) << "the connection stayed open";
  // The same request with its header in bounds is answered.
  auto fresh = connect_tls();
  EXPECT_EQ(send(*fresh, http::verb::post, "/validate", body).result_int(), 200);
}

TEST_F(WebhookServerTest, PlainHttpOnTheTlsPortGetsNoAnswer) {
  start();
  asio::io_context io;
  tcp::socket s(io);
  s.connect(endpoint());
  const std::string req = "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
  asio::write(s, asio::buffer(req));
  char buf[512];
  boost::system::error_code ec;
  size_t n = s.read_some(asio::buffer(buf), ec);
  // The TLS layer refuses the plaintext: no HTTP status line comes back.
  EXPECT_EQ(std::string(buf, n).find("HTTP/1.1 200"), std::string::npos);
  EXPECT_TRUE(ec) << "connection stayed open";
}

TEST_F(WebhookServerTest, ThousandConnectAndCloseLeaveNoOpenFiles) {
  start();
  asio::io_context io;
  // Warm up: the I/O machinery of both sides opens a few descriptors lazily
  // (timers, reactor). A leak shows up as one descriptor per connection.
  for (int i = 0; i < 10; ++i) {
    tcp::socket s(io);
    s.connect(endpoint());
    s.close();
  }
  ASSERT_TRUE(eventually([&] { return hook_->tls_server().open_connections() == 0; }));
  const size_t before = open_fds();
  for (int i = 0; i < 1000; ++i) {
    tcp::socket s(io);
    s.connect(endpoint());
    s.close();
  }
  EXPECT_TRUE(eventually([&] { return hook_->tls_server().open_connections() == 0; }));
  EXPECT_TRUE(eventually([&] { return open_fds() <= before; }))
      << "open files before " << before << ", after " << open_fds();
}

TEST_F(WebhookServerTest, IdleConnectionsAreClosedAfterTheTimeouts) {
  start({.idle_timeout = 300ms, .handshake_timeout = 300ms});
  asio::io_context io;
  // 500 connections that never send a ClientHello.
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 500; ++i) {
    idle.emplace_back(io);
    idle.back().connect(endpoint());
  }
  ASSERT_TRUE(eventually([&] { return hook_->tls_server().open_connections() == 0; }))
      << hook_->tls_server().open_connections() << " still open";
  char b;
  boost::system::error_code ec;
  idle.front().read_some(asio::buffer(&b, 1), ec);
  EXPECT_TRUE(ec);  // closed by the server
  // A keep-alive connection that goes quiet after a request is closed too.
  auto c = connect_tls();
  ASSERT_EQ(send(*c, http::verb::post, "/validate", admission_body()).result_int(), 200);
  EXPECT_TRUE(eventually([&] { return hook_->tls_server().open_connections() == 0; }));
}

// A connection that finishes its TLS handshake and then sends nothing is closed after
// first_byte_timeout, not after the request's read_timeout; one that has been served stays
// for idle_timeout.
TEST_F(WebhookServerTest, HandshakenConnectionsThatSendNothingAreClosedAtTheFirstByteDeadline) {
  start({.idle_timeout = 60s,
         .read_timeout = 60s,
         .handshake_timeout = 60s,
         .first_byte_timeout = 300ms});
  auto served = connect_tls();
  ASSERT_EQ(send(*served, http::verb::post, "/validate", admission_body()).result_int(), 200);
  auto silent = connect_tls();
  ASSERT_TRUE(eventually([&] { return hook_->tls_server().open_connections() == 1; }))
      << hook_->tls_server().open_connections() << " open";
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(*silent->stream, silent->buffer, res, ec);
  EXPECT_TRUE(ec);  // closed by the server, without an answer
  EXPECT_EQ(send(*served, http::verb::post, "/validate", admission_body()).result_int(), 200);
}

// At max_connections a flood of connections that never send a byte cannot lock the API
// server out: the new connection is accepted and the connection waiting longest without a
// request is closed to make room. The deadlines are long here, so only that makes room.
TEST_F(WebhookServerTest, AtTheCapSilentConnectionsMakeRoomForARealRequest) {
  constexpr size_t kCap = 8;
  constexpr size_t kMore = 4;
  start({.handshake_timeout = 60s, .first_byte_timeout = 60s, .max_connections = kCap});
  asio::io_context io;
  std::vector<tcp::socket> silent;
  for (size_t i = 0; i < kCap + kMore; ++i) {
    silent.emplace_back(io);
    silent.back().connect(endpoint());
  }
  // A real AdmissionReview over TLS behind them gets its answer.
  auto c = connect_tls();
  auto res = send(*c, http::verb::post, "/validate", admission_body());
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find("\"uid\":\"u1\""), std::string::npos) << res.body();
  EXPECT_NE(res.body().find("\"allowed\":false"), std::string::npos) << res.body();
  EXPECT_TRUE(eventually([&] { return hook_->tls_server().open_connections() == kCap; }))
      << hook_->tls_server().open_connections() << " open";
  // The oldest made room (kMore of them for the flood's last, one for the real client);
  // the newest silent one is still open.
  char b;
  boost::system::error_code ec;
  silent.front().non_blocking(true);
  EXPECT_TRUE(eventually([&] {
    silent.front().read_some(asio::buffer(&b, 1), ec);
    return ec && ec != asio::error::would_block;
  })) << "the oldest silent connection is still open";
  silent.back().non_blocking(true);
  silent.back().read_some(asio::buffer(&b, 1), ec);
  EXPECT_EQ(ec, asio::error::would_block) << ec.message();
}

// Connections that have completed a request (the API server's pool) are the last to make
// room: new connections that send nothing only displace each other.
TEST_F(WebhookServerTest, ServedConnectionsOutliveAFloodOfSilentOnes) {
  start({.handshake_timeout = 60s, .first_byte_timeout = 60s, .max_connections = 4});
  auto pooled = connect_tls();
  ASSERT_EQ(send(*pooled, http::verb::post, "/validate", admission_body()).result_int(), 200);
  asio::io_context io;
  std::vector<tcp::socket> silent;
  for (int i = 0; i < 20; ++i) {
    silent.emplace_back(io);
    silent.back().connect(endpoint());
  }
  // The flood's last connection is in (the cap counted it), so every earlier one was too.
  char b;
  boost::system::error_code ec;
  silent.back().non_blocking(true);
  ASSERT_TRUE(eventually([&] {
    return hook_->tls_server().open_connections() == 4 &&
           (silent.back().read_some(asio::buffer(&b, 1), ec), ec == asio::error::would_block);
  }));
  EXPECT_EQ(send(*pooled, http::verb::post, "/validate", admission_body()).result_int(), 200);
}

TEST_F(WebhookServerTest, HeadersTrickledOneByteAtATimeAreCutOff) {
  start({.read_timeout = 500ms, .handshake_timeout = 2s});
  auto c = connect_tls();
  const std::string head =
      "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "X-Padding: " +
      std::string(200, 'a') + "\r\nContent-Length: 2\r\n\r\n{}";
  bool cut_off = false;
  for (size_t i = 0; i < head.size(); ++i) {
    boost::system::error_code ec;
    asio::write(*c->stream, asio::buffer(&head[i], 1), ec);
    if (ec) {
      cut_off = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
    if (hook_->tls_server().open_connections() == 0) {
      cut_off = true;
      break;
    }
  }
  EXPECT_TRUE(cut_off) << "a slow client kept its connection for the whole header";
}

TEST_F(WebhookServerTest, CertificateSwapKeepsOpenConnections) {
  start();
  auto c = connect_tls();
  ASSERT_EQ(send(*c, http::verb::post, "/validate", admission_body()).result_int(), 200);
  auto next = kube::generate_signed(
      {.common_name = "webhook-2", .ip_addresses = {"127.0.0.1"}, .server_auth = true}, *ca_);
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(hook_->set_certificate(next->cert_pem, next->key_pem).ok());
  // The old connection keeps working; a new one sees the new certificate.
  EXPECT_EQ(send(*c, http::verb::post, "/validate", admission_body()).result_int(), 200);
  auto fresh = connect_tls();
  X509* peer = SSL_get1_peer_certificate(fresh->stream->native_handle());
  ASSERT_NE(peer, nullptr);
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
  X509_free(peer);
  EXPECT_STREQ(cn, "webhook-2");
  EXPECT_FALSE(hook_->set_certificate("garbage", "garbage").ok());
}

}  // namespace
}  // namespace orderguard::webhook
