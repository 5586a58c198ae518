#include "kube/http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <pthread.h>
#include <signal.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>

#include "base/log.h"
#include "kube/memory.h"
#include "kube/process_metrics.h"

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
  // TLS 1.2 sessions would stay in the context's cache (up to 20,480 of them) after their
  // connections close; clients can still resume with tickets, which the server keeps nothing of.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  // One TLS 1.3 ticket per full handshake instead of OpenSSL's two: a client resumes with one
  // (Go keeps one per server), and each ticket costs the server an encryption and a record.
  SSL_CTX_set_num_tickets(ctx->native_handle(), 1);
  // The server picks the cipher: AES-128-GCM (AES-NI) unless the client put ChaCha20 first,
  // which clients without AES hardware do; OpenSSL's own order starts with AES-256-GCM, 40 %
  // more AES rounds for no gain here. Every suite of the defaults stays allowed.
  SSL_CTX_set_options(ctx->native_handle(),
                      SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  if (SSL_CTX_set_ciphersuites(ctx->native_handle(),
                               "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                               "TLS_AES_256_GCM_SHA384") != 1) {
    return make_error(ErrorCode::kInternal, "TLS 1.3 cipher suites: " + openssl_error_text());
  }
  // TLS 1.2: the same order in front of OpenSSL's default list ("ALL:!COMPLEMENTOFDEFAULT:
  // !eNULL"; a suite named twice keeps its first place, so the set is the default one).
  if (SSL_CTX_set_cipher_list(ctx->native_handle(),
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                              "ALL:!COMPLEMENTOFDEFAULT:!eNULL") != 1) {
    return make_error(ErrorCode::kInternal, "TLS 1.2 ciphers: " + openssl_error_text());
  }
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

namespace {
class Session;
}  // namespace

// Sessions in the order they last had to wait for their client, oldest first; intrusive,
// guarded by HttpServer::Impl::lists_mu.
struct SessionList {
  Session* head = nullptr;
  Session* tail = nullptr;
};

struct HttpServer::Impl {
  // A burst of at least this many connections that has half closed makes every loop return
  // its free heap (kube/memory.h) a moment later, once the rest of the burst has closed too:
  // memory freed after the release would stay with the allocator.
  static constexpr size_t kBurstConnections = 64;
  static constexpr std::chrono::seconds kReleaseDelay{1};

  // What sessions use is declared before the loops, so that it outlives the sessions the
  // loops' destruction destroys.
  HttpServerOptions options;
  std::map<std::string, HttpHandler> routes;
  std::mutex tls_mu;
  std::shared_ptr<asio::ssl::context> tls;
  std::atomic<size_t>* open_connections = nullptr;
  std::atomic<bool> stopped{false};
  std::atomic<size_t> burst_peak{0};  // connections at their most since the last release
  std::atomic<bool> release_scheduled{false};
  // For making room at max_connections (HttpServerOptions): connections without a complete
  // request yet, and those that have completed one, each by when they last did.
  std::mutex lists_mu;
  SessionList untried;
  SessionList served;
  // One event loop per thread, each run by its thread alone: a connection lives on one
  // loop, so its handlers never race and need no strand, and threads do not wake each
  // other for work (what a shared io_context with strands cost: ~5 % of the CPU).
  std::vector<std::unique_ptr<asio::io_context>> loops;
  size_t next_loop = 0;  // round robin for accepted connections; used by the acceptor only
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> release_timer;  // on loops[0]
  std::vector<std::thread> threads;

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
  // At the cap: closes (on its own loop) the first connection of `untried`, else of `served`.
  // False when there is none to close.
  bool make_room();
  // `s` joins `untried` (new) or moves to the back of `served` (a request completed).
  void enlist(Session* s, bool served_one);
  void delist(Session* s);
  // Takes `s` out of its list, if it is in one (under lists_mu).
  static void unlink(Session* s);

  void connection_opened() {
    const size_t open = open_connections->fetch_add(1) + 1;
    size_t peak = burst_peak.load();
    while (open > peak && !burst_peak.compare_exchange_weak(peak, open)) {
    }
  }

  // On the closed connection's loop.
  void connection_closed() {
    const size_t open = open_connections->fetch_sub(1) - 1;
    size_t peak = burst_peak.load();
    if (stopped.load() || peak < kBurstConnections || open > peak / 2) return;
    if (release_scheduled.exchange(true)) return;
    asio::post(*loops[0], [this] {
      release_timer->expires_after(kReleaseDelay);
      release_timer->async_wait([this](beast::error_code ec) {
        if (ec) return;
        burst_peak = open_connections->load();
        release_scheduled = false;
        // mimalloc's heaps are per thread: each loop gives back its own.
        for (auto& loop : loops) asio::post(*loop, [] { release_free_memory(); });
      });
    });
  }
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

// One connection, plain or TLS, driven in the reactor style: every step tries the socket
// (or OpenSSL over it) without blocking, and when it would block, waits for the socket to
// be ready and tries again. So a connection waiting for its next request holds no read
// buffer, and its TLS state is OpenSSL's alone: asio::ssl::stream keeps 34 KB of buffers
// and a 34 KB BIO pair per connection for its whole life, most of the memory an idle
// connection cost.
//
// A connection serves one request at a time; everything a request needs (read buffer,
// parser, body, answer) is released once its answer is written, unless the next request's
// bytes are already in the read buffer.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl* server, tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        tls_(std::move(tls)) {}

  ~Session() {
    server_->delist(this);
    if (ssl_ != nullptr) SSL_free(ssl_);
    server_->connection_closed();
  }

  // Makes room for a new connection (HttpServer::Impl::make_room); on this session's loop.
  void evict() { close(); }
  asio::any_io_executor executor() { return socket_.get_executor(); }

  void run() {
    beast::error_code ec;
    socket_.non_blocking(true, ec);
    if (!ec && tls_) {
      ssl_ = SSL_new(tls_->native_handle());
      if (ssl_ == nullptr || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
        log::error("cannot set up a TLS connection", {{"error", openssl_error_text()}});
        return close();
      }
      // OpenSSL frees its ~17 KB read and write buffers whenever they are empty.
      SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
      // One read() for a record's header and body (and whatever follows them), not two.
      SSL_set_read_ahead(ssl_, 1);
      SSL_set_accept_state(ssl_);
      arm(server_->options.handshake_timeout);
      return handshake();
    }
    if (ec) return close();
    await_request(server_->options.first_byte_timeout);
  }

 private:
  static constexpr size_t kReadBufferBytes = 4096;
  static constexpr std::chrono::seconds kLingerTime{2};
  // Enough to read through a body refused with 413 (over max_body_bytes, 4 MiB by default).
  static constexpr size_t kLingerBytes = 16 * 1024 * 1024;

  enum class Want : uint8_t { kNothing, kRead, kWrite };
  // The outcome of one non-blocking step.
  struct Step {
    size_t bytes = 0;
    Want want = Want::kNothing;  // not done yet: retry when the socket is ready for this
    beast::error_code ec;
  };

  Step ssl_step(int result) {
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ:
        return {0, Want::kRead, {}};
      case SSL_ERROR_WANT_WRITE:
        return {0, Want::kWrite, {}};
      case SSL_ERROR_ZERO_RETURN:  // close_notify
        return {0, Want::kNothing, asio::error::eof};
      default:
        ERR_clear_error();
        return {0, Want::kNothing, asio::ssl::error::stream_truncated};
    }
  }

  Step socket_step(size_t bytes, beast::error_code ec) {
    if (ec == asio::error::would_block || ec == asio::error::try_again) return {0, Want::kRead, {}};
    return {bytes, Want::kNothing, ec};
  }

  Step read_some(asio::mutable_buffer b) {
    if (ssl_ == nullptr) {
      beast::error_code ec;
      const size_t n = socket_.read_some(b, ec);
      return socket_step(n, ec);
    }
    size_t n = 0;
    ERR_clear_error();  // SSL_get_error reads the thread's queue
    const int r = SSL_read_ex(ssl_, b.data(), b.size(), &n);
    return r == 1 ? Step{n, Want::kNothing, {}} : ssl_step(r);
  }

  Step write_some(asio::const_buffer b) {
    if (ssl_ == nullptr) {
      beast::error_code ec;
      const size_t n = socket_.write_some(b, ec);
      Step step = socket_step(n, ec);
      if (step.want == Want::kRead) step.want = Want::kWrite;
      return step;
    }
    // Without SSL_MODE_ENABLE_PARTIAL_WRITE this succeeds only once all of b is written;
    // a retry after WANT_WRITE passes the same buffer, as OpenSSL requires.
    size_t n = 0;
    ERR_clear_error();
    const int r = SSL_write_ex(ssl_, b.data(), b.size(), &n);
    return r == 1 ? Step{n, Want::kNothing, {}} : ssl_step(r);
  }

  // Calls then() once the socket is ready for `want`; closes the connection on an error
  // (how a deadline ends a wait: the socket is closed under it).
  template <typename Then>
  void wait(Want want, Then then) {
    socket_.async_wait(
        want == Want::kWrite ? tcp::socket::wait_write : tcp::socket::wait_read,
        [self = shared_from_this(), then = std::move(then)](beast::error_code ec) mutable {
          if (ec || self->closed_) return self->close();
          then();
        });
  }

  // The deadline of the current phase (handshake, first byte, request, answer, idle,
  // lingering close): when it passes, the socket is closed, which ends whatever the
  // connection was waiting for.
  //
  // A keep-alive request moves the deadline three times (idle -> request -> answer), and
  // moving a timer costs a cancelled wait whose handler runs, a timer-queue update, and
  // often a timerfd_settime and an epoll_ctl system call to wake the loop. So the timer is
  // moved only when a deadline comes earlier than its pending wait; a later one is left
  // to the wait, which finds the deadline not reached and waits again until it.
  void arm(std::chrono::milliseconds timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (timer_waiting_ && timer_.expiry() <= deadline_) return;
    wait_for_deadline();
  }

  void wait_for_deadline() {
    timer_.expires_at(deadline_);  // a pending wait ends with operation_aborted
    timer_waiting_ = true;
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // moved earlier (its new wait is pending), or closed
      self->timer_waiting_ = false;
      if (self->closed_) return;
      if (std::chrono::steady_clock::now() < self->deadline_) return self->wait_for_deadline();
      self->close();
    });
  }

  void handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return await_request(server_->options.first_byte_timeout);
    const Step step = ssl_step(r);
    if (step.want == Want::kNothing) return close();
    wait(step.want, [this] { handshake(); });
  }

  // Between requests: nothing is read (and no buffer held) until the socket has bytes,
  // unless the next request is already buffered here or in OpenSSL. That one is started
  // from the loop, not from here: a client pipelining thousands of small requests would
  // otherwise nest a call chain per request.
  void await_request(std::chrono::milliseconds timeout) {
    if (buffer_.size() > 0 || (ssl_ != nullptr && SSL_has_pending(ssl_) == 1)) {
      return asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (!self->closed_) self->start_request();
      });
    }
    arm(timeout);
    wait(Want::kRead, [this] { start_request(); });
  }

  void start_request() {
    // The request's own deadline starts with its first byte. A readable socket is not yet
    // a request: TLS records that carry no application data (a client's late handshake or
    // post-handshake messages) would otherwise move a silent connection from the first-byte
    // (or idle) deadline to the much longer request deadline.
    request_started_ = buffer_.size() > 0;
    if (request_started_) arm(server_->options.read_timeout);
    parser_.emplace();
    parser_->eager(true);
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(server_->options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser_->body_limit(server_->options.max_body_bytes);
    // Room for a typical request at once: a 3.5 KB AdmissionReview in one or two reads.
    if (buffer_.capacity() < kReadBufferBytes) buffer_.reserve(kReadBufferBytes);
    read_request();
  }

  // Parses what is buffered, reads more while the request is incomplete.
  void read_request() {
    for (;;) {
      beast::error_code ec;
      if (buffer_.size() > 0) {
        const size_t used = parser_->put(buffer_.data(), ec);
        buffer_.consume(used);
        if (!ec && parser_->is_done()) return on_request();
        if (!ec && used > 0) continue;  // stopped at the end of the header: parse the body
        if (ec && ec != http::error::need_more) return on_parse_error(ec);
      }
      const size_t size = beast::read_size(buffer_, 65536);
      if (size == 0) return close();
      const Step step = read_some(buffer_.prepare(size));
      if (step.want != Want::kNothing) return wait(step.want, [this] { read_request(); });
      if (step.ec == asio::error::eof && parser_->got_some()) {
        parser_->put_eof(ec);
        if (!ec && parser_->is_done()) return on_request();
      }
      if (step.ec) return close();  // timeout, reset, end of stream
      buffer_.commit(step.bytes);
      if (!request_started_ && step.bytes > 0) {
        request_started_ = true;
        arm(server_->options.read_timeout);
      }
    }
  }

  void on_parse_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return respond(HttpResponse{413, "text/plain; charset=utf-8", "request body too large\n", {}},
                     false);
    }
    if (ec == http::error::header_limit) {
      return respond(
          HttpResponse{431, "text/plain; charset=utf-8", "request header fields too large\n", {}},
          false);
    }
    close();  // garbage: nothing to answer
  }

  void on_request() {
    server_->enlist(this, true);
    auto& msg = parser_->get();
    HttpRequest req;
    const std::string_view target = view(msg.target());
    req.method.assign(view(msg.method_string()));
    req.target.assign(target);
    req.path.assign(target.substr(0, target.find('?')));
    req.headers.reserve(std::distance(msg.begin(), msg.end()));
    for (const auto& field : msg) {
      req.headers.emplace_back(view(field.name_string()), view(field.value()));
    }
    req.body.swap(msg.body());
    const bool keep_alive = msg.keep_alive();
    const HttpResponse out = server_->dispatch(req);
    respond(out, keep_alive);
  }

  void respond(const HttpResponse& out, bool keep_alive) {
    parser_.reset();
    keep_alive_ = keep_alive && !server_->stopped.load();
    write_buf_.clear();
    serialize_response(out, keep_alive_, write_buf_);
    written_ = 0;
    arm(server_->options.read_timeout);
    write_answer();
  }

  void write_answer() {
    while (written_ < write_buf_.size()) {
      const Step step = write_some(asio::buffer(write_buf_) + written_);
      if (step.want != Want::kNothing) return wait(step.want, [this] { write_answer(); });
      if (step.ec) return close();
      written_ += step.bytes;
    }
    std::string().swap(write_buf_);
    if (!keep_alive_) return shutdown();
    // Idle until the next request: keep only what the client already sent of it.
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    await_request(server_->options.idle_timeout);
  }

  // After a last answer: TLS close_notify and TCP FIN, then what the client still sends
  // is read and dropped until it closes too (or kLingerTime, or kLingerBytes). Closing
  // with unread bytes would reset the connection, and the reset can destroy an answer the
  // client has not read yet: a 431 or 413 sent before the client had sent all of its
  // request.
  void shutdown() {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      const int r = SSL_shutdown(ssl_);
      if (r < 0) {
        const Step step = ssl_step(r);
        if (step.want == Want::kWrite) return wait(step.want, [this] { shutdown(); });
      }
    }
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    arm(kLingerTime);
    linger();
  }

  void linger() {
    char sink[4096];
    for (;;) {
      beast::error_code ec;
      // Raw bytes, TLS records or not: nothing of them is read.
      const size_t n = socket_.read_some(asio::buffer(sink), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        return wait(Want::kRead, [this] { linger(); });
      }
      lingered_ += n;
      if (ec || lingered_ > kLingerBytes) return close();  // the client's FIN, or enough
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
  }

  HttpServer::Impl* server_;
  tcp::socket socket_;
  asio::steady_timer timer_;                        // waits for deadline_, or before it
  std::chrono::steady_clock::time_point deadline_;  // of the current phase
  bool timer_waiting_ = false;
  std::shared_ptr<asio::ssl::context> tls_;  // keeps the context alive for this connection
  SSL* ssl_ = nullptr;                       // null: plain HTTP
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool request_started_ = false;  // a byte of the current request has arrived
  std::string write_buf_;
  size_t written_ = 0;
  size_t lingered_ = 0;
  bool keep_alive_ = false;
  bool closed_ = false;

  // HttpServer::Impl's lists (under its lists_mu).
  friend struct HttpServer::Impl;
  Session* prev_ = nullptr;
  Session* next_ = nullptr;
  SessionList* list_ = nullptr;
};

}  // namespace

void HttpServer::Impl::unlink(Session* s) {
  SessionList* list = s->list_;
  if (list == nullptr) return;
  (s->prev_ != nullptr ? s->prev_->next_ : list->head) = s->next_;
  (s->next_ != nullptr ? s->next_->prev_ : list->tail) = s->prev_;
  s->list_ = nullptr;
  s->prev_ = s->next_ = nullptr;
}

void HttpServer::Impl::enlist(Session* s, bool served_one) {
  SessionList* to = served_one ? &served : &untried;
  std::lock_guard<std::mutex> lock(lists_mu);
  if (served_one && s->list_ == nullptr) return;  // being closed to make room
  unlink(s);
  s->list_ = to;
  s->prev_ = to->tail;
  (to->tail != nullptr ? to->tail->next_ : to->head) = s;
  to->tail = s;
}

void HttpServer::Impl::delist(Session* s) {
  std::lock_guard<std::mutex> lock(lists_mu);
  unlink(s);
}

bool HttpServer::Impl::make_room() {
  std::shared_ptr<Session> victim;
  {
    std::lock_guard<std::mutex> lock(lists_mu);
    Session* s = untried.head != nullptr ? untried.head : served.head;
    if (s == nullptr) return false;  // every connection is already being closed
    unlink(s);
    // Empty when the session is being destroyed already: that makes the room.
    victim = s->weak_from_this().lock();
  }
  if (victim) {
    // Moved into the handler, so that the last reference, and the destruction, stay on
    // the session's loop.
    auto executor = victim->executor();
    asio::post(executor, [victim = std::move(victim)] { victim->evict(); });
  }
  return true;
}

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (iequals(field, name)) return value;
  }
  return {};
}

void HttpServer::Impl::accept() {
  asio::io_context& loop = *loops[next_loop];
  next_loop = (next_loop + 1) % loops.size();
  acceptor->async_accept(loop, [this, &loop](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped.load()) return;
      log::error("accept failed", {{"error", ec.message()}});
      return accept();
    }
    if (open_connections->load() >= options.max_connections && !make_room()) {
      beast::error_code ignored;
      socket.close(ignored);
      return accept();
    }
    // Answers are written whole in one call; Nagle would only hold back the
    // tail of one that spans segments until the client's delayed ACK.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    connection_opened();
    // Started on its own loop: the acceptor's thread must not touch it once another runs it.
    auto session = std::make_shared<Session>(this, std::move(socket), current_tls());
    enlist(session.get(), false);
    asio::post(loop, [session] { session->run(); });
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
  impl_->release_timer = std::make_unique<asio::steady_timer>(*impl_->loops[0]);
  impl_->accept();
  for (int i = 0; i < threads; ++i) {
    asio::io_context* loop = impl_->loops[i].get();
    // Loops without connections yet must not return from run() at once.
    impl_->threads.emplace_back([loop] {
      // OpenSSL writes to the socket with write(2): a peer that has gone away must give
      // EPIPE, not a SIGPIPE that ends the process.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
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
  auto process = std::make_shared<ProcessCollector>();
  server.route("/metrics", [registry, process](const HttpRequest&) {
    prometheus::TextSerializer serializer;
    HttpResponse res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    std::vector<prometheus::MetricFamily> families = registry->Collect();
    std::vector<prometheus::MetricFamily> own = process->Collect();
    families.insert(families.end(), std::make_move_iterator(own.begin()),
                    std::make_move_iterator(own.end()));
    res.body = serializer.Serialize(families);
    return res;
  });
  server.route("/healthz", [health](const HttpRequest&) { return health->liveness(); });
  server.route("/livez", [health](const HttpRequest&) { return health->liveness(); });
  server.route("/readyz", [health](const HttpRequest&) { return health->readiness(); });
}

}  // namespace orderguard::kube
