#include "kube/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <string_view>

#include "kube/log.h"

namespace orderguard::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string openssl_error_text() {
  char buf[256];
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown OpenSSL error";
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> make_tls_server_context(
    const std::string& cert_chain_pem, const std::string& key_pem) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  ctx->use_certificate_chain(asio::buffer(cert_chain_pem), ec);
  if (ec) {
    return make_error(ErrorCode::kInvalid, "TLS certificate chain: " + openssl_error_text());
  }
  ctx->use_private_key(asio::buffer(key_pem), asio::ssl::context::pem, ec);
  if (ec) return make_error(ErrorCode::kInvalid, "TLS private key: " + openssl_error_text());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return make_error(ErrorCode::kInvalid,
                      "TLS private key does not match the certificate: " + openssl_error_text());
  }
  return ctx;
}

struct HttpServer::Impl {
  HttpServerOptions options;
  std::map<std::string, HttpHandler> routes;
  // One event loop per thread, each run by its thread alone: a connection lives on one
  // loop, so its handlers never race and need no strand, and threads do not wake each
  // other for work (what a shared io_context with strands cost: ~5 % of the CPU).
  std::vector<std::unique_ptr<asio::io_context>> loops;
  size_t next_loop = 0;  // round robin for accepted connections; used by the acceptor only
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::mutex tls_mu;
  std::shared_ptr<asio::ssl::context> tls;
  std::atomic<size_t>* open_connections = nullptr;
  std::atomic<bool> stopped{false};

  std::shared_ptr<asio::ssl::context> current_tls() {
    std::lock_guard<std::mutex> lock(tls_mu);
    return tls;
  }

  HttpResponse dispatch(const HttpRequest& req) const {
    auto it = routes.find(req.path);
    if (it == routes.end())
      return HttpResponse{404, "text/plain; charset=utf-8", "not found\n", {}};
    try {
      return it->second(req);
    } catch (const std::exception& e) {
      // A handler bug must not take the server down; answer 500 and log it.
      log::error("http handler threw", {{"path", req.path}, {"error", e.what()}});
      return HttpResponse{500, "text/plain; charset=utf-8", "internal error\n", {}};
    }
  }

  void accept();
};

namespace {

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Buffers kept by a connection between keep-alive requests stay below this;
// a rare large body or answer is not held for the connection's lifetime.
constexpr size_t kKeptBufferBytes = 64 * 1024;
constexpr size_t kKeptHeaderFields = 64;

// Appends the HTTP/1.1 response head and body of `out` to `w`: one buffer,
// hence one TLS record and one write for the usual small answer.
void serialize_response(const HttpResponse& out, bool keep_alive, std::string& w) {
  const auto status = static_cast<http::status>(out.status);
  // 1xx, 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  const bool bodyless = out.status / 100 == 1 || status == http::status::no_content ||
                        status == http::status::not_modified;
  char digits[24];
  w.reserve(w.size() + 160 + out.content_type.size() + out.body.size());
  w += "HTTP/1.1 ";
  w.append(digits, std::to_chars(digits, digits + sizeof digits, out.status).ptr);
  w += ' ';
  w += view(http::obsolete_reason(status));
  w += "\r\nServer: orderguard\r\n";
  bool own_content_type = false;
  for (const auto& [name, value] : out.headers) {
    if (iequals(name, "content-length") || iequals(name, "connection")) continue;
    own_content_type = own_content_type || iequals(name, "content-type");
    w += name;
    w += ": ";
    w += value;
    w += "\r\n";
  }
  if (!own_content_type) {
    w += "Content-Type: ";
    w += out.content_type;
    w += "\r\n";
  }
  if (!bodyless) {
    w += "Content-Length: ";
    w.append(digits, std::to_chars(digits, digits + sizeof digits, out.body.size()).ptr);
    w += "\r\n";
  }
  if (!keep_alive) w += "Connection: close\r\n";
  w += "\r\n";
  if (!bodyless) w += out.body;
}

// One connection. Stream is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
// A connection serves one request at a time, so the request, the parsed body
// and the response buffer are members reused across keep-alive requests.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl* server, Stream stream, std::shared_ptr<asio::ssl::context> tls)
      : server_(server), stream_(std::move(stream)), tls_(std::move(tls)) {}

  ~Session() { server_->open_connections->fetch_sub(1); }

  void run() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(server_->options.handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close_socket();
                                self->read(self->server_->options.read_timeout);
                              });
    } else {
      read(server_->options.read_timeout);
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  static constexpr size_t kReadBufferBytes = 4096;

  void read(std::chrono::milliseconds timeout) {
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    // The body is read into the previous request's string: no allocation while
    // bodies fit its capacity.
    std::string& body = parser_->get().body();
    body.swap(req_.body);
    body.clear();
    // Room for a typical request at once: Beast reads at most the buffer's free capacity
    // (512 bytes when empty), so a 3.5 KB AdmissionReview took 8 SSL_read calls; with 4 KiB
    // (kept per connection while it lives) it takes 2.
    if (buffer_.capacity() < kReadBufferBytes) buffer_.reserve(kReadBufferBytes);
    beast::get_lowest_layer(stream_).expires_after(timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return shutdown();
    if (ec == http::error::body_limit) {
      return respond(HttpResponse{413, "text/plain; charset=utf-8", "request body too large\n", {}},
                     false);
    }
    if (ec) return close_socket();  // timeout, reset, garbage: nothing to answer
    auto& msg = parser_->get();
    const std::string_view target = view(msg.target());
    req_.method.assign(view(msg.method_string()));
    req_.target.assign(target);
    req_.path.assign(target.substr(0, target.find('?')));
    req_.headers.clear();
    for (const auto& field : msg) {
      req_.headers.emplace_back(view(field.name_string()), view(field.value()));
    }
    req_.body.swap(msg.body());
    const bool keep_alive = msg.keep_alive();
    HttpResponse out = server_->dispatch(req_);
    req_.headers.clear();
    if (req_.headers.capacity() > kKeptHeaderFields) req_.headers = {};
    if (req_.body.capacity() > kKeptBufferBytes) std::string().swap(req_.body);
    respond(out, keep_alive);
  }

  void respond(const HttpResponse& out, bool keep_alive) {
    keep_alive_ = keep_alive && !server_->stopped.load();
    write_buf_.clear();
    serialize_response(out, keep_alive_, write_buf_);
    beast::get_lowest_layer(stream_).expires_after(server_->options.read_timeout);
    asio::async_write(stream_, asio::buffer(write_buf_),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->close_socket();
                        if (self->write_buf_.capacity() > kKeptBufferBytes) {
                          std::string().swap(self->write_buf_);
                        }
                        if (!self->keep_alive_) return self->shutdown();
                        self->read(self->server_->options.idle_timeout);
                      });
  }

  void shutdown() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close_socket(); });
    } else {
      close_socket();
    }
  }

  void close_socket() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  HttpServer::Impl* server_;
  Stream stream_;
  std::shared_ptr<asio::ssl::context> tls_;  // keeps the context alive for this connection
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest req_;
  std::string write_buf_;
  bool keep_alive_ = false;
};

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (iequals(field, name)) return value;
  }
  return {};
}

void HttpServer::Impl::accept() {
  asio::io_context& loop = *loops[next_loop];
  next_loop = (next_loop + 1) % loops.size();
  acceptor->async_accept(loop, [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped.load()) return;
      log::error("accept failed", {{"error", ec.message()}});
      return accept();
    }
    if (open_connections->load() >= options.max_connections) {
      // Over the cap: refuse cheaply rather than queue work we cannot serve.
      beast::error_code ignored;
      socket.close(ignored);
      return accept();
    }
    // Answers are written whole in one call; Nagle would only hold back the
    // tail of one that spans segments until the client's delayed ACK.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    open_connections->fetch_add(1);
    auto tls_ctx = current_tls();
    if (tls_ctx) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_ctx);
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(this, std::move(stream),
                                                                      tls_ctx)
          ->run();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(this, beast::tcp_stream(std::move(socket)),
                                                   nullptr)
          ->run();
    }
    accept();
  });
}

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->open_connections = &open_connections_;
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& path, HttpHandler handler) {
  impl_->routes[path] = std::move(handler);
}

void HttpServer::set_tls_context(std::shared_ptr<asio::ssl::context> ctx) {
  std::lock_guard<std::mutex> lock(impl_->tls_mu);
  impl_->tls = std::move(ctx);
}

Status HttpServer::start() {
  const auto& o = impl_->options;
  beast::error_code ec;
  auto address = asio::ip::make_address(o.address, ec);
  if (ec)
    return make_error(ErrorCode::kInvalid, "listen address '" + o.address + "': " + ec.message());
  tcp::endpoint endpoint(address, o.port);
  const int threads = std::max(1, o.threads);
  impl_->loops.clear();
  for (int i = 0; i < threads; ++i) {
    impl_->loops.push_back(std::make_unique<asio::io_context>(1));
    // A loop's reactor (epoll, eventfd, timerfd) comes with its first socket; make it now,
    // so the server's descriptors are all open once it listens and do not grow with the
    // first connections (the file-descriptor leak tests count on that).
    tcp::socket probe(*impl_->loops.back());
  }
  auto acceptor = std::make_unique<tcp::acceptor>(*impl_->loops[0]);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable, "cannot listen on " + o.address + ":" +
                                                   std::to_string(o.port) + ": " + ec.message());
  }
  bound_port_ = acceptor->local_endpoint().port();
  impl_->acceptor = std::move(acceptor);
  impl_->accept();
  for (int i = 0; i < threads; ++i) {
    asio::io_context* loop = impl_->loops[i].get();
    // Loops without connections yet must not return from run() at once.
    impl_->threads.emplace_back([loop] {
      auto guard = asio::make_work_guard(*loop);
      loop->run();
    });
  }
  return {};
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  if (impl_->acceptor) {
    asio::post(impl_->acceptor->get_executor(), [this] {
      beast::error_code ignored;
      impl_->acceptor->close(ignored);
    });
  }
  // Open keep-alive connections would keep io.run() busy until their idle
  // timeout; stopping the context abandons them, which is what shutdown wants.
  for (auto& loop : impl_->loops) loop->stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

void HealthChecks::add_liveness(const std::string& name, Check check) {
  std::lock_guard<std::mutex> lock(mu_);
  liveness_.emplace_back(name, std::move(check));
}

void HealthChecks::add_readiness(const std::string& name, Check check) {
  std::lock_guard<std::mutex> lock(mu_);
  readiness_.emplace_back(name, std::move(check));
}

HttpResponse HealthChecks::run(const std::vector<std::pair<std::string, Check>>& checks) {
  HttpResponse res;
  bool ok = true;
  for (const auto& [name, check] : checks) {
    std::string why = check();
    if (why.empty()) {
      res.body += "[+]" + name + " ok\n";
    } else {
      ok = false;
      res.body += "[-]" + name + " failed: " + why + "\n";
    }
  }
  res.status = ok ? 200 : 503;
  res.body += ok ? "ok\n" : "not ok\n";
  return res;
}

HttpResponse HealthChecks::liveness() const {
  std::lock_guard<std::mutex> lock(mu_);
  return run(liveness_);
}

HttpResponse HealthChecks::readiness() const {
  std::lock_guard<std::mutex> lock(mu_);
  return run(readiness_);
}

bool parse_listen_address(const std::string& text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string h = text.substr(0, colon);
  const std::string p = text.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const int value = std::stoi(p);
  if (value > 65535) return false;
  *host = h.empty() ? "0.0.0.0" : h;
  *port = static_cast<uint16_t>(value);
  return true;
}

void add_observability_routes(HttpServer& server, std::shared_ptr<prometheus::Registry> registry,
                              std::shared_ptr<HealthChecks> health) {
  server.route("/metrics", [registry](const HttpRequest&) {
    prometheus::TextSerializer serializer;
    HttpResponse res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = serializer.Serialize(registry->Collect());
    return res;
  });
  server.route("/healthz", [health](const HttpRequest&) { return health->liveness(); });
  server.route("/livez", [health](const HttpRequest&) { return health->liveness(); });
  server.route("/readyz", [health](const HttpRequest&) { return health->readiness(); });
}

}  // namespace orderguard::kube
