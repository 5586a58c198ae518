// A small HTTP/1.1 server on Boost.Beast shared by all orderguard binaries:
// /metrics, /healthz and /readyz on a plain port, and (in the webhook) the
// admission endpoint over TLS.
//
// Why not cpprestsdk's listener: it leaks a socket for every connection closed
// before the TLS handshake, has no handshake or idle timeout and builds a TLS
// context per connection (measured before this server replaced it). This server builds
// the TLS context once (swappable at run time for certificate rotation), bounds
// handshake, read and idle time, caps concurrent connections, and keeps
// connections alive.
//
// Memory: TLS runs on OpenSSL directly over the socket (no asio::ssl::stream, which
// holds 68 KB of buffers per connection for its whole life), with OpenSSL's buffers
// released whenever they are empty; a connection waiting for its next request holds no
// read buffer, parser, body or answer. Measured per idle TLS connection in BENCHMARKS.md.
//
// Handlers run on the server's I/O threads and must not block for long.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"

namespace boost::asio::ssl {
class context;
}
namespace prometheus {
class Registry;
}

namespace orderguard::kube {

// One request, as handed to a handler, which must not keep references into it
// after it returns: the header views point into the connection's parser and are
// valid only during the call.
struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // "/validate?timeout=10s"
  std::string path;    // "/validate"
  // Header fields in the order received, names as sent by the client.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string body;

  // The value of the first field named `name` (ASCII case-insensitive), or ""
  // when there is none.
  std::string_view header(std::string_view name) const;
};

// `headers` are extra fields; Content-Length and Connection are the server's
// (fields of those names are dropped), and a Content-Type field replaces
// `content_type`.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Deadlines, each closing the connection when it passes (no answer):
//   handshake_timeout   from accept to the end of the TLS handshake;
//   first_byte_timeout  then to the first byte of the first request;
//   read_timeout        from a request's first byte to its last, and for writing an answer;
//   idle_timeout        from an answer to the next request's first byte (keep-alive).
// A connection that never sends a request is gone after handshake + first byte, a few
// seconds; an idle keep-alive connection, whose client has shown it speaks HTTP, stays
// for idle_timeout.
//
// At max_connections, a new connection is accepted and makes room by closing the
// connection that has waited longest without a complete request (in its handshake,
// before its first byte, or within its first request); when every connection has
// completed one, the one idle longest since its last request. So connections that never
// get a request through only displace each other, and a client that sends requests (the
// API server) can always connect: a flood has to open max_connections new connections
// while one client connection does its handshake and first request to displace it.
// Connections being closed to make room may be counted for a moment over the cap.
struct HttpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 0;  // 0: the OS picks a free port; see HttpServer::port()
  int threads = 1;
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(3)};
  std::chrono::milliseconds first_byte_timeout{std::chrono::seconds(3)};
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};
  size_t max_connections = 1024;
  // The request line and header fields; more answers 431 and closes the connection.
  size_t max_header_bytes = 16 * 1024;
  // More (by Content-Length, or as read) answers 413 and closes the connection.
  size_t max_body_bytes = 4 * 1024 * 1024;
};

// A TLS server context (TLS 1.2+) from PEM certificate chain and key.
Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_server_context(
    const std::string& cert_chain_pem, const std::string& key_pem);

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Exact-path routes; register before start(). Unknown paths answer 404.
  void route(const std::string& path, HttpHandler handler);
  // Serve TLS with this context; new connections pick up a replaced context,
  // existing connections keep theirs.
  void set_tls_context(std::shared_ptr<boost::asio::ssl::context> ctx);

  // Binds and starts the I/O threads. Fails with a clear error if the address
  // cannot be bound.
  Status start();
  uint16_t port() const { return bound_port_.load(); }
  // Stops accepting, closes connections and joins the threads. Idempotent.
  void stop();

  size_t open_connections() const { return open_connections_.load(); }

  struct Impl;

 private:
  // Declared before impl_ so they outlive the sessions the I/O context destroys.
  std::atomic<uint16_t> bound_port_{0};
  std::atomic<size_t> open_connections_{0};
  std::unique_ptr<Impl> impl_;
};

// Named health checks behind /healthz (liveness) and /readyz (readiness).
// A check returns an empty string when healthy, else the reason.
class HealthChecks {
 public:
  using Check = std::function<std::string()>;
  void add_liveness(const std::string& name, Check check);
  void add_readiness(const std::string& name, Check check);
  HttpResponse liveness() const;
  HttpResponse readiness() const;

 private:
  static HttpResponse run(const std::vector<std::pair<std::string, Check>>& checks);
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Check>> liveness_;
  std::vector<std::pair<std::string, Check>> readiness_;
};

// Parses a listen address flag, "host:port" or ":port" (all interfaces). False
// for anything else, including ports outside 0..65535.
bool parse_listen_address(const std::string& text, std::string* host, uint16_t* port);

// Adds /metrics (Prometheus text format of `registry`, plus the process_* metrics of
// kube/process_metrics.h), /healthz and /readyz.
void add_observability_routes(HttpServer& server, std::shared_ptr<prometheus::Registry> registry,
                              std::shared_ptr<HealthChecks> health);

}  // namespace orderguard::kube
