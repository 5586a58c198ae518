#include "kube/tcp_probe.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace orderguard::kube {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A loopback socket bound to a free port, listening with `backlog` unless
// negative (then only bound, so connects are refused once it is closed).
class LoopbackSocket {
 public:
  explicit LoopbackSocket(int backlog) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    if (backlog >= 0) EXPECT_EQ(::listen(fd_, backlog), 0);
  }
  ~LoopbackSocket() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST(TcpProbeTest, AcceptedByAListener) {
  LoopbackSocket listener(/*backlog=*/8);
  EXPECT_TRUE(probe_tcp("127.0.0.1", listener.port(), 5s).ok());
  EXPECT_TRUE(probe_tcp("localhost", listener.port(), 5s).ok());
}

TEST(TcpProbeTest, RefusedWhenNothingListens) {
  LoopbackSocket bound(/*backlog=*/-1);
  const int port = bound.port();
  bound.close();
  const Status probed = probe_tcp("127.0.0.1", port, 5s);
  ASSERT_FALSE(probed.ok());
  EXPECT_EQ(probed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(probed.error().message, "connection refused by 127.0.0.1:" + std::to_string(port));
}

TEST(TcpProbeTest, Ipv6LiteralWithOrWithoutBrackets) {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    GTEST_SKIP() << "no IPv6 loopback on this host";
  }
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin6_port);
  ASSERT_EQ(::listen(fd, 8), 0);
  EXPECT_TRUE(probe_tcp("[::1]", port, 5s).ok());
  EXPECT_TRUE(probe_tcp("::1", port, 5s).ok());
  ::close(fd);
  const Status probed = probe_tcp("[::1]", port, 5s);
  ASSERT_FALSE(probed.ok());
  EXPECT_EQ(probed.error().message, "connection refused by [::1]:" + std::to_string(port));
}

// A listener whose accept queue is full drops new SYNs, so a connect gets no
// answer: the probe gives up at its deadline, or when its caller cancels.
TEST(TcpProbeTest, NoAnswerTimesOutOrIsCancelled) {
  LoopbackSocket listener(/*backlog=*/0);
  std::vector<int> fillers;
  // Fill the queue: connects that complete without accept() until one hangs.
  for (int i = 0; i < 8; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(listener.port()));
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  const Status timed_out = probe_tcp("127.0.0.1", listener.port(), 300ms);
  const Status cancelled = probe_tcp("127.0.0.1", listener.port(), 60s, [] { return true; });
  for (int fd : fillers) ::close(fd);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().code, ErrorCode::kTimeout) << timed_out.error().message;
  EXPECT_THAT(timed_out.error().message, HasSubstr("timed out"));
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code, ErrorCode::kCancelled) << cancelled.error().message;
}

TEST(TcpProbeTest, NotAHostAndPort) {
  EXPECT_EQ(probe_tcp("", 80, 1s).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(probe_tcp("127.0.0.1", 0, 1s).error().code, ErrorCode::kInvalid);
  EXPECT_EQ(probe_tcp("127.0.0.1", 70000, 1s).error().code, ErrorCode::kInvalid);
}

TEST(TcpProbeTest, HostPortBracketsIpv6) {
  EXPECT_EQ(host_port("10.0.0.1", 6443), "10.0.0.1:6443");
  EXPECT_EQ(host_port("api.example.com", 443), "api.example.com:443");
  EXPECT_EQ(host_port("::1", 6443), "[::1]:6443");
  EXPECT_EQ(host_port("[::1]", 6443), "[::1]:6443");
}

}  // namespace
}  // namespace orderguard::kube
