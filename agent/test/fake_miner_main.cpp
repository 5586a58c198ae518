// og_fake_miner: a test program that behaves like a cryptominer for the agent's e2e tests
// (agent_run_e2e_test). It mines nothing.
//
//   og_fake_miner [--burn] [--connect HOST PORT] [ARG...]
//
//   --burn               spin one thread at 100% of a CPU (what a miner's hashing looks like)
//   --connect HOST PORT  open a TCP connection to HOST PORT, send one stratum
//                        `mining.subscribe` line, and keep the connection open
//   ARG...               ignored; they only sit in argv, e.g. `-o stratum+tcp://pool:3333`
//                        for a miner whose command line gives it away
//
// Without --burn or --connect it only waits: with no ARG it carries no miner signal at all.
// Runs until killed. Prints "ready" on stdout once started (and connected).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

void burn() {
  // volatile: the loop must not be optimised away.
  volatile unsigned long x = 1;
  while (true) x = x * 6364136223846793005UL + 1442695040888963407UL;
}

// The connected socket, or -1.
int connect_to(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  return fd;
}

bool send_all(int fd, const std::string& text) {
  size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool burn_cpu = false;
  std::string host, port;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--burn") {
      burn_cpu = true;
    } else if (arg == "--connect" && i + 2 < argc) {
      host = argv[i + 1];
      port = argv[i + 2];
      i += 2;
    }
  }
  if (burn_cpu) std::thread(burn).detach();
  if (!host.empty()) {
    int fd = connect_to(host, port);
    if (fd < 0) {
      std::fprintf(stderr, "og_fake_miner: cannot connect to %s port %s: %s\n", host.c_str(),
                   port.c_str(), std::strerror(errno));
      return 1;
    }
    const std::string subscribe =
        R"({"id":1,"method":"mining.subscribe","params":["og-fake-miner/1.0"]})"
        "\n";
    if (!send_all(fd, subscribe)) {
      std::fprintf(stderr, "og_fake_miner: send failed: %s\n", std::strerror(errno));
      return 1;
    }
    // The socket stays open (never closed) so the connection is ESTABLISHED while we run.
  }
  std::printf("ready\n");
  std::fflush(stdout);
  while (true) ::pause();
}
