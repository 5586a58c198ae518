#include "e2e/environment.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "base/log.h"
#include "e2e/node_images.h"

#ifndef ORDERGUARD_SOURCE_DIR
#error "ORDERGUARD_SOURCE_DIR must name the source tree (set by e2e/CMakeLists.txt)"
#endif

namespace orderguard::e2e {
namespace {

// Plain pointers: the environment owns the control plane; these only let the
// free function cluster() and the signal handler find it.
ControlPlane* g_cluster = nullptr;
std::atomic<int> g_signal_pipe{-1};

void forward_signal(int sig) {
  const int fd = g_signal_pipe.load();
  if (fd < 0) return;
  const int saved = errno;
  [[maybe_unused]] auto n = ::write(fd, &sig, sizeof sig);
  errno = saved;
}

}  // namespace

// Turns SIGINT/SIGTERM into an orderly teardown: the handler only writes the
// signal number to a pipe (all it may safely do); a thread reads it, stops
// the control plane, and then lets the signal take its default course.
class ClusterEnvironment::SignalWatcher {
 public:
  explicit SignalWatcher(ControlPlane* cp) : cp_(cp) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    g_signal_pipe.store(write_fd_);
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    thread_ = std::thread([this] { run(); });
  }

  ~SignalWatcher() {
    if (read_fd_ < 0) return;
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    g_signal_pipe.store(-1);
    const int quit = 0;
    [[maybe_unused]] auto n = ::write(write_fd_, &quit, sizeof quit);
    if (thread_.joinable()) thread_.join();
    ::close(read_fd_);
    ::close(write_fd_);
  }

  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  void run() {
    int sig = 0;
    while (true) {
      const ssize_t n = ::read(read_fd_, &sig, sizeof sig);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof sig) || sig == 0) return;
      break;
    }
    log::error("signal received; stopping the e2e control plane", {{"signal", sig}});
    // Teardown may wait on a test that holds the control plane's lock; give
    // it a bounded time, then die anyway (the servers die with us).
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    std::thread([cp = cp_, done] {
      cp->stop();
      done->set_value();
    }).detach();
    finished.wait_for(std::chrono::seconds(30));
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, nullptr);
    ::raise(sig);
    ::_exit(128 + sig);
  }

  ControlPlane* cp_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  std::thread thread_;
};

ControlPlane& cluster() {
  if (g_cluster == nullptr) {
    log::error("e2e: cluster() called while no control plane is running");
    std::abort();
  }
  return *g_cluster;
}

Result<std::string> resolve_tools_bin() {
  if (const char* env = std::getenv("ORDERGUARD_TOOLS_BIN"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  const std::string script = std::string(ORDERGUARD_SOURCE_DIR) + "/e2e/tools/build.sh";
  log::info("ORDERGUARD_TOOLS_BIN unset; building the control plane tools", {{"script", script}});
  CommandOptions opts;
  opts.inherit_stderr = true;  // a first build takes minutes: show its progress
  opts.timeout = std::chrono::hours(1);
  auto r = run_command({script}, opts);
  if (!r.ok()) {
    return make_error(ErrorCode::kUnavailable, script + " failed: " + r.describe());
  }
  // The last line of stdout is the bin directory.
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  const auto nl = out.rfind('\n');
  std::string dir = nl == std::string::npos ? out : out.substr(nl + 1);
  std::error_code ec;
  if (dir.empty() || !std::filesystem::is_directory(dir, ec)) {
    return make_error(ErrorCode::kUnavailable,
                      script + " did not print a bin directory (stdout: " + r.out + ")");
  }
  return dir;
}

ClusterEnvironment::ClusterEnvironment(ControlPlaneOptions options)
    : options_(std::move(options)) {}

ClusterEnvironment::~ClusterEnvironment() = default;

void ClusterEnvironment::SetUp() {
  if (options_.tools_bin.empty()) {
    auto tools = resolve_tools_bin();
    if (!tools) GTEST_FAIL() << "e2e control plane tools: " << tools.error().message;
    options_.tools_bin = *tools;
  }
  auto cp = ControlPlane::start(options_);
  if (!cp) GTEST_FAIL() << "e2e control plane failed to start: " << cp.error().message;
  cluster_ = std::move(*cp);
  g_cluster = cluster_.get();
  watcher_ = std::make_unique<SignalWatcher>(g_cluster);
}

void ClusterEnvironment::TearDown() {
  watcher_.reset();
  g_cluster = nullptr;
  if (cluster_) cluster_->stop();
  cluster_.reset();
}

int run_e2e_tests(int argc, char** argv, ControlPlaneOptions options) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ClusterEnvironment(std::move(options)));
  return RUN_ALL_TESTS();
}

int run_node_e2e_tests(int argc, char** argv) {
  ControlPlaneOptions options;
  options.node.enabled = true;
  auto archives = node_image_archives();
  if (!archives) {
    std::fprintf(stderr, "%s\n", archives.error().message.c_str());
    return 1;
  }
  options.node.image_archives = *archives;
  return run_e2e_tests(argc, argv, std::move(options));
}

}  // namespace orderguard::e2e
