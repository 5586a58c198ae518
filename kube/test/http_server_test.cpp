#include "kube/http_server.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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
