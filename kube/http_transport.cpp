#include "kube/http_transport.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>
#include <utility>

namespace orderguard::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Bytes asked of the socket per read: a TLS record is at most 16 KiB.
constexpr std::size_t kReadChunk = 64 * 1024;

// Where a connection's SSL points at its Endpoint (asio keeps its own pointer in the app data).
int endpoint_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

}  // namespace

bool closed_by_peer(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

// ---------------------------------------------------------------------------
// ResponseReader

ResponseReader::ResponseReader(ReadSome read_some, beast::flat_buffer& buffer,
                               std::optional<std::uint64_t> body_limit)
    : read_some_(std::move(read_some)), buffer_(buffer), body_limit_(body_limit) {
  parser_.header_limit(kHeaderLimit);
  parser_.body_limit(body_limit ? boost::optional<std::uint64_t>(*body_limit) : boost::none);
  parser_.eager(true);
}

void ResponseReader::pump(const std::function<bool()>& enough) {
  while (!enough()) {
    bool need_bytes = buffer_.size() == 0;
    if (!need_bytes) {
      error_code ec;
      const std::size_t used = parser_.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec && ec != http::error::need_more) {
        std::string detail;
        if (ec == http::error::body_limit && body_limit_) {
          detail = "its body is larger than " + std::to_string(*body_limit_ >> 20) + " MiB";
        }
        throw TransportError(TransportError::Stage::kParse, ec, detail, parser_.got_some());
      }
      // Progress (the header, some body) may be what was wanted: check before reading
      // more. Nothing used means the parser needs more bytes than the buffer holds: the
      // rest of a line (eager parsing takes body bytes as they come). Beast limits the
      // header's lines but not a chunk-size line or a trailer, so this does.
      if (used == 0) {
        if (parser_.is_done()) return;
        if (buffer_.size() >= kHeaderLimit) {
          throw TransportError(
              TransportError::Stage::kParse, http::error::header_limit,
              "a line of it is longer than " + std::to_string(kHeaderLimit >> 10) + " KiB",
              parser_.got_some());
        }
        need_bytes = true;
      }
    }
    if (!need_bytes) continue;
    error_code ec;
    const std::size_t got = read_some_(buffer_.prepare(kReadChunk), ec);
    buffer_.commit(got);
    if (got > 0) continue;  // use the bytes first; an error comes back on the next read
    if (closed_by_peer(ec) && parser_.got_some()) {
      // A body delimited by the end of the connection ends here; any other
      // message is cut short (partial_message).
      error_code eof_ec;
      parser_.put_eof(eof_ec);
      if (eof_ec) throw TransportError(TransportError::Stage::kRead, eof_ec, {}, true);
      continue;
    }
    if (!ec) ec = asio::error::eof;
    throw TransportError(TransportError::Stage::kRead, ec, {}, parser_.got_some());
  }
}

void ResponseReader::read_header() {
  pump([this] { return parser_.is_header_done(); });
}

std::size_t ResponseReader::read_body(std::string& out, std::size_t max) {
  pump([this] { return parser_.pending().size() > taken_ || parser_.is_done(); });
  std::string& pending = parser_.pending();
  const std::size_t n = std::min(max, pending.size() - taken_);
  out.append(pending, taken_, n);
  taken_ += n;
  if (taken_ == pending.size()) {
    pending.clear();
    taken_ = 0;
  }
  return n;
}

std::string ResponseReader::read_all(std::size_t max) {
  pump([this, max] { return parser_.is_done() || parser_.pending().size() - taken_ > max; });
  if (!parser_.is_done()) {
    throw TransportError(TransportError::Stage::kParse, http::error::body_limit,
                         "its body is larger than " + std::to_string(max >> 20) + " MiB", true);
  }
  std::string body = std::move(parser_.pending());
  body.erase(0, taken_);
  parser_.pending().clear();
  taken_ = 0;
  return body;
}

// ---------------------------------------------------------------------------
// Endpoint

Endpoint::Endpoint(std::string host, int port, std::shared_ptr<asio::ssl::context> tls,
                   std::string server_name, bool verify)
    : tls_(std::move(tls)), verify_(verify) {
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  const bool default_port = (tls_ != nullptr && port == 443) || (tls_ == nullptr && port == 80);
  authority_ = default_port ? host : host + ":" + std::to_string(port);
  host_ = std::move(bare);
  port_ = std::to_string(port);
  verify_name_ = server_name.empty() ? host_ : std::move(server_name);
  verify_name_is_ip_ = is_ip_literal(verify_name_);
  if (tls_) {
    // Sessions (TLS 1.3 tickets arrive after the handshake, at any read) are handed to
    // on_new_session as the connection receives them; OpenSSL's own client cache is not used.
    SSL_CTX* ctx = tls_->native_handle();
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &Endpoint::on_new_session);
  }
}

Endpoint::~Endpoint() { SSL_SESSION_free(session_); }

void Endpoint::prepare(SSL* ssl) const {
  // SNI carries names only (RFC 6066); the certificate is checked against the name or the IP
  // address the client was told to expect, as client-go does.
  if (!verify_name_is_ip_) SSL_set_tlsext_host_name(ssl, verify_name_.c_str());
  if (verify_) {
    if (verify_name_is_ip_) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_name_.c_str());
    } else {
      SSL_set1_host(ssl, verify_name_.c_str());
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  SSL_set_ex_data(ssl, endpoint_index(), const_cast<Endpoint*>(this));
  std::lock_guard<std::mutex> lock(session_mu_);
  if (session_ != nullptr) SSL_set_session(ssl, session_);
}

void Endpoint::keep_session(SSL_SESSION* session) const {
  std::lock_guard<std::mutex> lock(session_mu_);
  SSL_SESSION_free(session_);
  session_ = session;
}

int Endpoint::on_new_session(SSL* ssl, SSL_SESSION* session) {
  const auto* endpoint = static_cast<const Endpoint*>(SSL_get_ex_data(ssl, endpoint_index()));
  if (endpoint == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  endpoint->keep_session(session);
  return 1;  // the reference is ours
}

// ---------------------------------------------------------------------------
// Connection

Connection::Connection(const Endpoint& endpoint) : endpoint_(endpoint) {
  if (endpoint_.tls() != nullptr) {
    tls_ = std::make_unique<TlsStream>(ioc_, *endpoint_.tls());
  } else {
    plain_ = std::make_unique<beast::tcp_stream>(ioc_);
  }
}

Connection::~Connection() = default;

beast::tcp_stream& Connection::tcp() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

void Connection::run() {
  ioc_.restart();
  ioc_.run();
}

void Connection::cancel() {
  cancelled_.store(true);
  // Runs on the thread that runs the io_context, in the operation under way or before the
  // next one starts.
  asio::post(ioc_, [this] { tcp().cancel(); });
}

void Connection::open(std::chrono::milliseconds timeout) {
  tcp::resolver resolver(ioc_);
  error_code ec;
  const auto results = resolver.resolve(endpoint_.host(), endpoint_.port(), ec);
  if (ec) throw TransportError(TransportError::Stage::kResolve, ec);

  tcp().expires_after(timeout);
  ec = asio::error::would_block;
  tcp().async_connect(results, [&ec](const error_code& e, const tcp::endpoint&) { ec = e; });
  run();
  if (cancelled_) ec = asio::error::operation_aborted;
  if (ec) throw TransportError(TransportError::Stage::kConnect, ec);
  tcp().socket().set_option(tcp::no_delay(true), ec);

  if (tls_) {
    SSL* ssl = tls_->native_handle();
    endpoint_.prepare(ssl);
    tcp().expires_after(timeout);
    ec = asio::error::would_block;
    tls_->async_handshake(asio::ssl::stream_base::client, [&ec](const error_code& e) { ec = e; });
    run();
    if (cancelled_) ec = asio::error::operation_aborted;
    if (ec) {
      std::string detail;
      const long verified = SSL_get_verify_result(ssl);
      if (verified != X509_V_OK) detail = X509_verify_cert_error_string(verified);
      throw TransportError(TransportError::Stage::kHandshake, ec, detail);
    }
  }
  open_ = true;
}

std::size_t Connection::read_some(asio::mutable_buffer buf, error_code& ec) {
  if (cancelled_) {
    ec = asio::error::operation_aborted;
    return 0;
  }
  tcp().expires_after(read_timeout_);
  std::size_t got = 0;
  ec = asio::error::would_block;
  const auto done = [&](const error_code& e, std::size_t n) {
    ec = e;
    got = n;
  };
  if (tls_) {
    tls_->async_read_some(buf, done);
  } else {
    plain_->async_read_some(buf, done);
  }
  run();
  if (cancelled_ && ec) ec = asio::error::operation_aborted;
  return got;
}

void Connection::send(http::request<http::string_body>& req, std::chrono::milliseconds timeout,
                      std::optional<std::uint64_t> body_limit) {
  ++requests_;
  reader_.reset();
  if (!open_) open(timeout);
  tcp().expires_after(timeout);
  error_code ec = asio::error::would_block;
  const auto done = [&ec](const error_code& e, std::size_t) { ec = e; };
  if (tls_) {
    http::async_write(*tls_, req, done);
  } else {
    http::async_write(*plain_, req, done);
  }
  run();
  if (cancelled_) ec = asio::error::operation_aborted;
  if (ec) {
    open_ = false;
    throw TransportError(TransportError::Stage::kWrite, ec);
  }
  read_timeout_ = timeout;
  reader_.emplace([this](asio::mutable_buffer b, error_code& e) { return read_some(b, e); },
                  buffer_, body_limit);
  reader_->read_header();
}

bool Connection::reusable() const {
  return open_ && !cancelled_ && reader_ && reader_->done() && reader_->keep_alive() &&
         buffer_.size() == 0;
}

// ---------------------------------------------------------------------------
// ConnectionPool

std::unique_ptr<Connection> ConnectionPool::acquire(bool fresh) {
  if (!fresh) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
  }
  return std::make_unique<Connection>(*endpoint_);
}

void ConnectionPool::release(std::unique_ptr<Connection> conn) {
  if (conn == nullptr || !conn->reusable()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(conn));
}

std::unique_ptr<Connection> exchange(ConnectionPool& pool, http::request<http::string_body>& req,
                                     std::chrono::milliseconds timeout,
                                     std::optional<std::uint64_t> body_limit,
                                     const std::function<void(Connection*)>& on_connection) {
  for (bool fresh = false;; fresh = true) {
    std::unique_ptr<Connection> conn = pool.acquire(fresh);
    if (on_connection) on_connection(conn.get());
    try {
      conn->send(req, timeout, body_limit);
      return conn;
    } catch (const TransportError& e) {
      if (on_connection) on_connection(nullptr);
      const bool idle_closed =
          conn->reused() && !e.answered &&
          (e.stage == TransportError::Stage::kWrite || e.stage == TransportError::Stage::kRead) &&
          closed_by_peer(e.ec);
      if (fresh || !idle_closed) throw;
    } catch (...) {
      if (on_connection) on_connection(nullptr);
      throw;
    }
  }
}

}  // namespace orderguard::kube
