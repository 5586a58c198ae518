#include "kube/tcp_probe.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <system_error>

namespace orderguard::kube {

namespace {

using Steady = std::chrono::steady_clock;

struct AddrInfoFree {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Connects to one address; 0, or the errno of the failure (ETIMEDOUT at
// `deadline`, ECANCELED when `cancelled`).
int connect_one(const addrinfo& ai, Steady::time_point deadline,
                const std::function<bool()>& cancelled) {
  const Fd fd(
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (fd.get() < 0) return errno;
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    if (cancelled && cancelled()) return ECANCELED;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
    if (left.count() <= 0) return ETIMEDOUT;
    pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    // Slices of 100 ms so that a cancelled caller is not held for the whole timeout.
    const int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (n < 0 && errno != EINTR) return errno;
    if (n <= 0) continue;
    int error = 0;
    socklen_t len = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) return errno;
    return error;
  }
}

}  // namespace

std::string host_port(std::string_view host, int port) {
  const bool v6 = host.find(':') != std::string_view::npos && !host.starts_with('[');
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

Status probe_tcp(std::string_view host, int port, std::chrono::milliseconds timeout,
                 const std::function<bool()>& cancelled) {
  const std::string at = host_port(host, port);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || port <= 0 || port > 65535) {
    return make_error(ErrorCode::kInvalid, "cannot connect to " + at + ": not a host and port");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai =
      ::getaddrinfo(std::string(host).c_str(), std::to_string(port).c_str(), &hints, &found);
  if (gai != 0) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot resolve the address of " + at + ": " + gai_strerror(gai));
  }
  const std::unique_ptr<addrinfo, AddrInfoFree> addresses(found);
  const auto deadline = Steady::now() + timeout;
  int error = EHOSTUNREACH;
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    error = connect_one(*ai, deadline, cancelled);
    if (error == 0) return {};
    if (error == ETIMEDOUT || error == ECANCELED) break;
  }
  switch (error) {
    case ECONNREFUSED:
      return make_error(ErrorCode::kUnavailable, "connection refused by " + at);
    case EHOSTUNREACH:
    case ENETUNREACH:
      return make_error(ErrorCode::kUnavailable, "no route to " + at);
    case ETIMEDOUT:
      return make_error(ErrorCode::kTimeout, "connection to " + at + " timed out");
    case ECANCELED:
      return make_error(ErrorCode::kCancelled, "connection to " + at + " cancelled");
    default:
      return make_error(ErrorCode::kUnavailable,
                        "cannot connect to " + at + ": " + std::generic_category().message(error));
  }
}

}  // namespace orderguard::kube
