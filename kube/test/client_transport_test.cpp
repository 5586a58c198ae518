// The REST client's HTTP transport against a loopback server written on plain sockets, so
// each test decides byte for byte what the "API server" sends: keep-alive connections reused
// across requests, a pooled connection the server closed, a watch cancelled from another
// thread, and answers that are not HTTP or are too large.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.h"

namespace orderguard::kube {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// What the server does with one request.
struct Reply {
  std::string bytes;         // written as is
  bool close_after = false;  // close the connection once written
};

// A loopback TCP server: each connection on its own thread, each request (head and
// Content-Length body) answered with what `respond` returns. Counts accepted connections
// and keeps every request head it read.
class RawServer {
 public:
  using Respond = std::function<Reply(const std::string& head)>;

  explicit RawServer(Respond respond) : respond_(std::move(respond)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~RawServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : connections_) t.join();
    ::close(listen_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> heads() {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }

 private:
  // Waits up to 100 ms for `fd` to be readable; false when not (yet).
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 100) > 0;
  }

  void accept_loop() {
    while (!stop_) {
      if (!readable(listen_fd_)) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string in;
    char buf[4096];
    while (!stop_) {
      const size_t head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string head = in.substr(0, head_end + 4);
        size_t body = 0;
        if (auto cl = head.find("Content-Length: "); cl != std::string::npos) {
          body = std::stoul(head.substr(cl + 16));
        }
        if (in.size() < head.size() + body) {
          // Wait for the rest of the body.
        } else {
          in.erase(0, head.size() + body);
          {
            std::lock_guard<std::mutex> lock(mu_);
            heads_.push_back(head);
          }
          const Reply reply = respond_(head);
          if (!reply.bytes.empty()) {
            (void)::send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
          }
          if (reply.close_after) break;
          continue;
        }
      }
      if (!readable(fd)) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  }

  Respond respond_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // touched by the acceptor thread only, then joined
  std::mutex mu_;
  std::vector<std::string> heads_;
};

std::string ok_json(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

const char kConfigMap[] = R"({"kind":"ConfigMap","metadata":{"name":"y"}})";

std::unique_ptr<Client> client_for(const std::string& url, prometheus::Registry* metrics = nullptr,
                                   std::chrono::seconds request_timeout = 30s) {
  Config cfg;
  cfg.server = url;
  cfg.request_timeout = request_timeout;
  cfg.qps = 0;
  cfg.token = "secret-token";
  auto client = make_client(cfg, {.metrics = metrics});
  EXPECT_TRUE(client.ok()) << client.error().message;
  return client.ok() ? std::move(*client) : nullptr;
}

TEST(ClientConnectionTest, KeptAliveConnectionServesLaterRequests) {
  RawServer server([](const std::string&) { return Reply{ok_json(kConfigMap)}; });
  auto client = client_for(server.url());
  for (int i = 0; i < 5; ++i) {
    auto got = client->get(resources::kConfigMaps, "x", "y");
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ((*got)["metadata"]["name"], "y");
  }
  EXPECT_EQ(server.accepted(), 1);
  // Each request carried the usual headers.
  const auto heads = server.heads();
  ASSERT_EQ(heads.size(), 5u);
  EXPECT_THAT(heads[0], HasSubstr("GET /api/v1/namespaces/x/configmaps/y HTTP/1.1\r\n"));
  EXPECT_THAT(heads[0], HasSubstr("Authorization: Bearer secret-token\r\n"));
  EXPECT_THAT(heads[0], HasSubstr("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"));
}

TEST(ClientConnectionTest, ConcurrentRequestsEachUseTheirOwnConnection) {
  RawServer server([](const std::string&) { return Reply{ok_json(kConfigMap)}; });
  auto client = client_for(server.url());
  constexpr int kThreads = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto got = client->get(resources::kConfigMaps, "x", "y");
        if (!got.ok() || (*got)["metadata"]["name"] != "y") ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // No more connections than requests running at once: the rest were reused.
  EXPECT_GE(server.accepted(), 1);
  EXPECT_LE(server.accepted(), kThreads);
  EXPECT_EQ(server.heads().size(), 80u);
}

TEST(ClientConnectionTest, ServerPathPrefixIsKept) {
  RawServer server([](const std::string&) { return Reply{ok_json(kConfigMap)}; });
  auto client = client_for(server.url() + "/k8s/clusters/c1/");
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_THAT(server.heads().at(0),
              HasSubstr("GET /k8s/clusters/c1/api/v1/namespaces/x/configmaps/y HTTP/1.1"));
}

// The server answers, then closes the connection without saying so (no
// "Connection: close"): the client pools it, and the next request finds it dead.
TEST(ClientConnectionTest, PooledConnectionClosedByTheServerIsReplacedTransparently) {
  RawServer server([](const std::string&) { return Reply{ok_json(kConfigMap), true}; });
  auto client = client_for(server.url());
  for (int i = 0; i < 3; ++i) {
    auto got = client->get(resources::kConfigMaps, "x", "y");
    ASSERT_TRUE(got.ok()) << got.error().message;
  }
  auto created = client->create(resources::kConfigMaps, "x", json{{"metadata", {{"name", "y"}}}});
  ASSERT_TRUE(created.ok()) << created.error().message;
  // One connection per request: the dead ones were never answered on.
  EXPECT_EQ(server.accepted(), 4);
  EXPECT_EQ(server.heads().size(), 4u);
}

TEST(ClientConnectionTest, ConnectionClosedWithoutAnAnswerIsAClearError) {
  prometheus::Registry registry;
  RawServer server([](const std::string&) { return Reply{"", true}; });
  auto client = client_for(server.url(), &registry);
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;
  EXPECT_THAT(got.error().message,
              HasSubstr("GET " + server.url() +
                        "/api/v1/namespaces/x/configmaps/y: "
                        "connection closed by 127.0.0.1:" +
                        std::to_string(server.port()) + " before it answered"));
  // Tried on a new connection three more times, as after an API server restart.
  EXPECT_EQ(server.accepted(), 4);
}

TEST(ClientConnectionTest, AnswerThatIsNotHttpIsAClearError) {
  RawServer server([](const std::string&) {
    return Reply{"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n\r\n", true};
  });
  auto client = client_for(server.url());
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(got.error().message,
              HasSubstr("invalid HTTP answer from 127.0.0.1:" + std::to_string(server.port())));
  // A server that speaks something else is not asked again.
  EXPECT_EQ(server.accepted(), 1);
}

TEST(ClientConnectionTest, HostileHeadersAreRefused) {
  const std::vector<std::string> answers = {
      "HTTP/1.1 200 OK\r\nContent-Length: banana\r\n\r\n{}",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}",
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n{}",
      std::string("HTTP/1.1 200 OK\r\nX\0: y\r\nContent-Length: 2\r\n\r\n{}", 44),
  };
  for (const std::string& answer : answers) {
    RawServer server([&](const std::string&) { return Reply{answer, true}; });
    auto client = client_for(server.url());
    auto got = client->get(resources::kConfigMaps, "x", "y");
    ASSERT_FALSE(got.ok()) << answer.substr(0, 60);
    EXPECT_THAT(got.error().message, HasSubstr("127.0.0.1:" + std::to_string(server.port())))
        << answer.substr(0, 60);
  }
}

TEST(ClientConnectionTest, TruncatedAnswerIsAClearError) {
  RawServer server([](const std::string&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"kind\":", true};
  });
  auto client = client_for(server.url());
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(got.error().message, HasSubstr("before its answer was complete"));
}

TEST(ClientConnectionTest, AnswerOverTheSizeCapIsRefused) {
  // The declared length alone is refused: nothing of the body is read.
  RawServer server([](const std::string&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n{", true};
  });
  auto client = client_for(server.url());
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kInternal);
  EXPECT_THAT(got.error().message, HasSubstr("is refused: its body is larger than 64 MiB"));
  EXPECT_EQ(server.accepted(), 1);
}

TEST(ClientConnectionTest, EndlessChunkLineIsRefusedNotBuffered) {
  // A chunk extension that never ends, on a connection the server keeps open: without a
  // limit the client would buffer it until the request's timeout.
  RawServer server([](const std::string&) {
    return Reply{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(200 * 1024, 'x'),
        false};
  });
  auto client = client_for(server.url());
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("a line of it is longer than 64 KiB"));
}

TEST(ClientConnectionTest, ListPagesStreamThroughAPooledConnection) {
  RawServer server([](const std::string&) {
    // Chunked, split inside an item.
    const std::string a =
        R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"na)";
    const std::string b = R"(me":"a"}},{"metadata":{"name":"b"}}]})";
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    const auto chunk = [](const std::string& s) {
      char size[16];
      std::snprintf(size, sizeof size, "%zx", s.size());
      return std::string(size) + "\r\n" + s + "\r\n";
    };
    return Reply{out + chunk(a) + chunk(b) + "0\r\n\r\n"};
  });
  auto client = client_for(server.url());
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> names;
    auto listed = client->list_each(resources::kConfigMaps, "x", {}, [&](json&& item) {
      names.push_back(item["metadata"]["name"]);
    });
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    EXPECT_EQ((*listed)["metadata"]["resourceVersion"], "7");
    EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  }
  EXPECT_EQ(server.accepted(), 1);
}

// A watch blocked on a quiet server ends when another thread cancels it.
TEST(ClientConnectionTest, WatchCancelledFromAnotherThreadEndsPromptly) {
  RawServer server([](const std::string& head) {
    if (head.find("watch=1") == std::string::npos) return Reply{ok_json(kConfigMap)};
    const std::string event =
        R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"y"}}})"
        "\n";
    char size[16];
    std::snprintf(size, sizeof size, "%zx", event.size());
    // One event, then nothing: the server keeps the watch open.
    return Reply{
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n" +
        std::string(size) + "\r\n" + event + "\r\n"};
  });
  auto client = client_for(server.url());
  Canceller cancel;
  std::mutex mu;
  std::condition_variable cv;
  int events = 0;
  Status watched;
  std::thread watcher([&] {
    WatchOptions wo;
    wo.timeout = 3600s;
    watched = client->watch(
        resources::kConfigMaps, "x", wo,
        [&](WatchEvent&& ev) {
          EXPECT_EQ(ev.object["metadata"]["name"], "y");
          std::lock_guard<std::mutex> lock(mu);
          ++events;
          cv.notify_all();
        },
        cancel);
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return events > 0; });
  }
  cancel.cancel();
  watcher.join();  // returns because of the cancel: the server never ends the watch
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code, ErrorCode::kCancelled) << watched.error().message;
  EXPECT_EQ(events, 1);
  // The cancelled watch's connection is not pooled; the client still works.
  auto got = client->get(resources::kConfigMaps, "x", "y");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(server.accepted(), 2);
}

// Cancelled while still waiting for the answer's header.
TEST(ClientConnectionTest, WatchCancelledBeforeTheServerAnswersEnds) {
  RawServer server([](const std::string&) { return Reply{}; });  // never answers
  // No timeout would end the watch in the test's lifetime: only the cancel can.
  auto client = client_for(server.url(), nullptr, 24h);
  Canceller cancel;
  Status watched;
  std::thread watcher([&] {
    watched = client->watch(
        resources::kConfigMaps, "x", {}, [](WatchEvent&&) {}, cancel);
  });
  // Cancel once the server has the request, so the watch is blocked reading.
  while (server.heads().empty()) std::this_thread::sleep_for(5ms);
  cancel.cancel();
  watcher.join();
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code, ErrorCode::kCancelled) << watched.error().message;
}

}  // namespace
}  // namespace orderguard::kube
