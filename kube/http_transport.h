// HTTP/1.1 to one API server on Boost.Beast and OpenSSL (internal to kube/): the REST
// client's connections, kept alive and pooled, and the parsing of their answers.
//
// Each call blocks its calling thread. A connection owns its own io_context, and every
// operation (connect, TLS handshake, write, each read) is an asynchronous Beast operation
// with a deadline, run on the calling thread with io_context::run(): timeouts need no extra
// thread, and another thread can end an operation by posting a cancel to that io_context
// (Connection::cancel, used by watch cancellation).
//
// One SSL_CTX serves every connection of a client (the kubeconfig's CA store and client
// certificate are set on it once), and the last resumable TLS session is offered on each
// new connection. Whether a server resumes it is the server's choice: orderguard's own
// HttpServer did not in a test (not understood yet), and kube-apiserver was not measured, so
// nothing relies on it.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace orderguard::kube {

// A transport failure: which step failed and the error code it failed with. The REST client
// turns it into an Error naming the server (client_errors.h).
class TransportError : public std::runtime_error {
 public:
  enum class Stage {
    kResolve,    // the server's name did not resolve
    kConnect,    // the TCP connect failed
    kHandshake,  // TLS handshake (certificate verification included)
    kWrite,      // sending the request
    kRead,       // reading the answer (header or body)
    kParse,      // the answer is not valid HTTP, or too large
  };
  TransportError(Stage at, boost::system::error_code code, std::string why = {},
                 bool some_answer = false)
      : std::runtime_error(code.message()),
        stage(at),
        ec(code),
        detail(std::move(why)),
        answered(some_answer) {}

  Stage stage;
  boost::system::error_code ec;
  std::string detail;     // e.g. the certificate verification result
  bool answered = false;  // some of the answer had arrived
};

// The peer closed the connection: a plain FIN, or a TLS connection closed without
// close_notify (Go's server closes idle connections that way).
bool closed_by_peer(const boost::system::error_code& ec);

// The HTTP answer parser: status and headers are kept, body bytes are queued for the reader.
// Beast's basic_parser does the HTTP work (status line, header limits, chunked coding,
// Content-Length, body limit); this only collects.
class ResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  int status() const { return status_; }
  // Body bytes parsed and not yet taken.
  std::string& pending() { return pending_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  // Beast reads any three digits; below 100 is no HTTP status.
  void on_response_impl(int code, string_view, int, error_code& ec) override {
    if (code < 100) ec = boost::beast::http::error::bad_status;
    status_ = code;
  }
  void on_field_impl(boost::beast::http::field, string_view, string_view, error_code&) override {}
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override {
    pending_.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    pending_.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  int status_ = 0;
  std::string pending_;
};

// Reads one HTTP answer from a byte source, free of I/O itself (the fuzz driver feeds it
// memory). `read_some` reads into the buffer it is given and returns the byte count, setting
// its error_code at the end of the stream or on failure.
class ResponseReader {
 public:
  using ReadSome =
      std::function<std::size_t(boost::asio::mutable_buffer, boost::system::error_code&)>;

  // Header fields beyond this are refused (the API server sends a few hundred bytes).
  static constexpr std::size_t kHeaderLimit = 64 * 1024;

  // Starts a new answer; `body_limit` caps its body (nullopt: no cap, for watches).
  // `buffer` holds bytes already read from the connection and keeps the ones read past
  // this answer.
  ResponseReader(ReadSome read_some, boost::beast::flat_buffer& buffer,
                 std::optional<std::uint64_t> body_limit);

  // Reads until the header is complete. Throws TransportError (kRead, kParse).
  void read_header();
  int status() const { return parser_.status(); }
  bool keep_alive() const { return parser_.keep_alive(); }
  bool done() const { return parser_.is_done(); }

  // Appends at most `max` body bytes to `out`, waiting for at least one; 0 at the end of the
  // body. Throws TransportError (kRead, kParse).
  std::size_t read_body(std::string& out, std::size_t max);
  // The rest of the body (the body limit applies, and `max` when smaller). Throws
  // TransportError (kRead, kParse).
  std::string read_all(std::size_t max = std::numeric_limits<std::size_t>::max());

 private:
  // Feeds the parser until `enough` holds, reading more bytes when it needs them.
  void pump(const std::function<bool()>& enough);

  ReadSome read_some_;
  boost::beast::flat_buffer& buffer_;
  std::optional<std::uint64_t> body_limit_;
  ResponseParser parser_;
  std::size_t taken_ = 0;  // bytes of parser_.pending() already handed out
};

// Where and how to connect: shared, read-only after construction, by every connection of one
// client (the session cache is the exception, guarded by its own mutex).
class Endpoint {
 public:
  // `host` as in the URL (brackets around an IPv6 literal allowed); `tls` null for http.
  // `server_name` is the name the certificate must carry (tls-server-name), "" for the host.
  Endpoint(std::string host, int port, std::shared_ptr<boost::asio::ssl::context> tls,
           std::string server_name, bool verify);
  ~Endpoint();

  const std::string& host() const { return host_; }  // without brackets
  const std::string& port() const { return port_; }
  // "Host" header value.
  const std::string& authority() const { return authority_; }
  boost::asio::ssl::context* tls() const { return tls_.get(); }

  // Sets SNI, certificate verification and a saved session on a new TLS connection.
  void prepare(SSL* ssl) const;

 private:
  // OpenSSL's new-session callback: keeps the session for the next new connection.
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  void keep_session(SSL_SESSION* session) const;

  std::string host_;
  std::string port_;
  std::string authority_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::string verify_name_;
  bool verify_name_is_ip_ = false;
  bool verify_ = true;
  mutable std::mutex session_mu_;
  mutable SSL_SESSION* session_ = nullptr;
};

// One keep-alive connection to the endpoint. Used by one thread at a time, except cancel().
class Connection {
 public:
  explicit Connection(const Endpoint& endpoint);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects (when not yet open), writes `req` and reads the answer's header, each step
  // within `timeout`. Throws TransportError.
  void send(boost::beast::http::request<boost::beast::http::string_body>& req,
            std::chrono::milliseconds timeout, std::optional<std::uint64_t> body_limit);
  ResponseReader& reader() { return *reader_; }
  // Each later body read waits at most this long for bytes (a watch's inactivity limit).
  void set_read_timeout(std::chrono::milliseconds timeout) { read_timeout_ = timeout; }
  // Whether the answer was read whole and the server keeps the connection open.
  bool reusable() const;
  // Whether this connection served an earlier request (a failure on it may only mean the
  // server closed it while it was idle).
  bool reused() const { return requests_ > 1; }

  // Ends the operation under way (or the next one) with operation_aborted, from any thread.
  void cancel();

 private:
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  boost::beast::tcp_stream& tcp();
  void open(std::chrono::milliseconds timeout);
  // Runs the io_context on this thread until the operation started before it completes.
  void run();
  std::size_t read_some(boost::asio::mutable_buffer buf, boost::system::error_code& ec);

  const Endpoint& endpoint_;
  boost::asio::io_context ioc_{1};
  std::unique_ptr<boost::beast::tcp_stream> plain_;  // http
  std::unique_ptr<TlsStream> tls_;                   // https
  bool open_ = false;
  int requests_ = 0;
  boost::beast::flat_buffer buffer_;
  std::optional<ResponseReader> reader_;
  std::chrono::milliseconds read_timeout_{30000};
  std::atomic<bool> cancelled_{false};
};

// The idle connections of one client, reused across requests (most recently used first).
class ConnectionPool {
 public:
  // Idle connections kept; more may be open while requests run.
  static constexpr std::size_t kMaxIdle = 16;

  explicit ConnectionPool(std::shared_ptr<const Endpoint> endpoint)
      : endpoint_(std::move(endpoint)) {}
  const Endpoint& endpoint() const { return *endpoint_; }

  // An idle connection, or a new one when there is none or `fresh` asks for one.
  std::unique_ptr<Connection> acquire(bool fresh);
  // Keeps `conn` for later requests when its answer was read whole and it stays open.
  void release(std::unique_ptr<Connection> conn);

 private:
  std::shared_ptr<const Endpoint> endpoint_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// Sends `req` on a pooled connection and reads the answer's header. A failure on a reused
// connection before any of the answer arrived (the server closed it while it sat idle) is
// retried once on a new connection: the request never reached the server. Throws
// TransportError. The caller reads the body from the returned connection and releases it.
std::unique_ptr<Connection> exchange(
    ConnectionPool& pool, boost::beast::http::request<boost::beast::http::string_body>& req,
    std::chrono::milliseconds timeout, std::optional<std::uint64_t> body_limit,
    const std::function<void(Connection*)>& on_connection = {});

}  // namespace orderguard::kube
