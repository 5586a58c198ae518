#include "e2e/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace orderguard::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

Status make_pipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  read_end->reset(fds[0]);
  write_end->reset(fds[1]);
  return {};
}

// argv/envp arrays must be built before fork: after fork in a threaded
// process only async-signal-safe calls are allowed, so no allocation.
std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> merged_environment(const std::vector<std::string>& overrides) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv;
  }
  for (const auto& kv : overrides) vars[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (auto& [key, kv] : vars) out.push_back(std::move(kv));
  return out;
}

// Everything the child does between fork and exec; async-signal-safe only.
struct ChildSetup {
  pid_t parent = 0;
  bool detach = false;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;  // -1: keep ours
  int error_pipe = -1;
};

[[noreturn]] void child_exec(const ChildSetup& setup, char* const* argv, char* const* envp,
                             bool search_path) {
  if (setup.detach) {
    ::setsid();
  } else {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died before prctl took effect.
    if (::getppid() != setup.parent) ::_exit(127);
  }
  // Signal dispositions set to "ignore" survive exec; servers expect defaults.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD})
    ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::dup2(setup.stdin_fd, 0) < 0 || ::dup2(setup.stdout_fd, 1) < 0) ::_exit(127);
  if (setup.stderr_fd >= 0 && ::dup2(setup.stderr_fd, 2) < 0) ::_exit(127);
  // Every other descriptor we own is O_CLOEXEC; those of libraries may not be.
  const int keep = setup.error_pipe;
  const bool closed_below = keep == 3 || ::close_range(3, static_cast<unsigned>(keep - 1), 0) == 0;
  if (!closed_below || ::close_range(static_cast<unsigned>(keep + 1), ~0U, 0) != 0) {
    for (int fd = 3; fd < 4096; ++fd) {
      if (fd != keep) ::close(fd);
    }
  }
  if (search_path) {
    ::execvpe(argv[0], argv, envp);
  } else {
    ::execve(argv[0], argv, envp);
  }
  const int err = errno;
  [[maybe_unused]] auto n = ::write(setup.error_pipe, &err, sizeof err);
  ::_exit(127);
}

// Reads the exec error reported by child_exec: 0 when exec succeeded.
int read_exec_error(Fd& error_read) {
  int err = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

bool wait_for_exit(pid_t pid, Clock::time_point deadline) {
  while (true) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Writes to a pipe whose reader may be gone without taking a process-wide
// SIGPIPE: the signal is blocked for this thread and a pending one consumed.
ssize_t write_no_sigpipe(int fd, const char* data, size_t size) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t n = ::write(fd, data, size);
  if (n < 0 && errno == EPIPE) {
    const timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
    errno = EPIPE;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return n;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string CommandResult::describe() const {
  std::string out_text = "exit " + std::to_string(exit_code);
  if (timed_out) out_text += " (timed out)";
  const std::string detail = trim(err.empty() ? out : err);
  if (!detail.empty()) out_text += ": " + detail;
  return out_text;
}

CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options) {
  CommandResult result;
  if (argv.empty()) {
    result.err = "run_command: empty argv";
    return result;
  }
  Fd in_read, in_write, out_read, out_write, err_read, err_write, exec_read, exec_write;
  for (auto [r, w] : {std::pair{&in_read, &in_write}, std::pair{&out_read, &out_write},
                      std::pair{&err_read, &err_write}, std::pair{&exec_read, &exec_write}}) {
    if (auto s = make_pipe(r, w); !s) {
      result.err = s.error().message;
      return result;
    }
  }
  const std::vector<std::string> env = merged_environment(options.env);
  const auto c_argv = c_strings(argv);
  const auto c_env = c_strings(env);
  ChildSetup setup;
  setup.parent = ::getpid();
  setup.stdin_fd = in_read.get();
  setup.stdout_fd = out_write.get();
  setup.stderr_fd = options.inherit_stderr ? -1 : err_write.get();
  setup.error_pipe = exec_write.get();

  const pid_t pid = ::fork();
  if (pid < 0) {
    result.err = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  if (pid == 0) child_exec(setup, c_argv.data(), c_env.data(), /*search_path=*/true);

  in_read.reset();
  out_write.reset();
  err_write.reset();
  exec_write.reset();
  if (int err = read_exec_error(exec_read); err != 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.err = "cannot run " + argv[0] + ": " + std::strerror(err);
    return result;
  }
  if (options.inherit_stderr) err_read.reset();

  // Feed stdin and drain stdout/stderr together so that neither side blocks
  // on a full pipe.
  size_t written = 0;
  if (options.input.empty()) {
    in_write.reset();
  } else {
    ::fcntl(in_write.get(), F_SETFL, O_NONBLOCK);
  }
  const auto deadline = Clock::now() + options.timeout;
  char buf[16384];
  while (out_read || err_read) {
    pollfd fds[3];
    int nfds = 0;
    auto add = [&](Fd& fd, short events) {
      if (fd) fds[nfds++] = pollfd{fd.get(), events, 0};
    };
    add(out_read, POLLIN);
    add(err_read, POLLIN);
    add(in_write, POLLOUT);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    const int ready = ::poll(fds, static_cast<nfds_t>(nfds), static_cast<int>(left));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < nfds && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (in_write && fds[i].fd == in_write.get()) {
        const ssize_t n = write_no_sigpipe(in_write.get(), options.input.data() + written,
                                           options.input.size() - written);
        if (n > 0) written += static_cast<size_t>(n);
        if ((n < 0 && errno != EAGAIN) || written == options.input.size()) in_write.reset();
        continue;
      }
      Fd& src = (out_read && fds[i].fd == out_read.get()) ? out_read : err_read;
      std::string& dst = (&src == &out_read) ? result.out : result.err;
      const ssize_t n = ::read(src.get(), buf, sizeof buf);
      if (n > 0) {
        dst.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        src.reset();
      }
    }
  }
  // A child may close its output and still run: the deadline bounds that too.
  if (!result.timed_out && !wait_for_exit(pid, deadline)) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_wait_status(status);
  if (result.timed_out) {
    result.err += "\n[timed out after " + std::to_string(options.timeout.count()) + " ms]";
  }
  return result;
}

// ---- Process ----

Result<Process> Process::spawn(const ProcessSpec& spec) {
  if (spec.argv.empty()) return make_error(ErrorCode::kInvalid, "spawn: empty argv");
  Fd log(::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log) {
    return make_error(ErrorCode::kInternal,
                      "open log " + spec.log_path + ": " + std::strerror(errno));
  }
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd exec_read, exec_write;
  if (auto s = make_pipe(&exec_read, &exec_write); !s) return s.error();
  if (!devnull) return make_error(ErrorCode::kInternal, "open /dev/null failed");

  const std::vector<std::string> env = merged_environment({});
  const auto c_argv = c_strings(spec.argv);
  const auto c_env = c_strings(env);
  ChildSetup setup;
  setup.parent = ::getpid();
  setup.detach = spec.detach;
  setup.stdin_fd = devnull.get();
  setup.stdout_fd = log.get();
  setup.stderr_fd = log.get();
  setup.error_pipe = exec_write.get();

  const pid_t pid = ::fork();
  if (pid < 0)
    return make_error(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) child_exec(setup, c_argv.data(), c_env.data(), /*search_path=*/false);

  // Also from this side, so that a group signal sent right away reaches it.
  if (!spec.detach) ::setpgid(pid, pid);
  exec_write.reset();
  if (int err = read_exec_error(exec_read); err != 0) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return make_error(ErrorCode::kInternal, "cannot start " + spec.name + " (" + spec.argv[0] +
                                                "): " + std::strerror(err));
  }
  Process p;
  p.name_ = spec.name;
  p.log_path_ = spec.log_path;
  p.pid_ = pid;
  return p;
}

Process::Process(Process&& other) noexcept
    : name_(std::move(other.name_)),
      log_path_(std::move(other.log_path_)),
      pid_(std::exchange(other.pid_, -1)),
      exit_status_(std::exchange(other.exit_status_, std::nullopt)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    terminate(std::chrono::seconds(5));
    name_ = std::move(other.name_);
    log_path_ = std::move(other.log_path_);
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = std::exchange(other.exit_status_, std::nullopt);
  }
  return *this;
}

Process::~Process() { terminate(std::chrono::seconds(5)); }

std::optional<int> Process::poll() {
  if (pid_ <= 0 || exit_status_) return exit_status_;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = decode_wait_status(status);
  } else if (r < 0 && errno == ECHILD) {
    exit_status_ = -1;  // reaped elsewhere
  }
  return exit_status_;
}

int Process::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (poll()) return *exit_status_;
  ::kill(-pid_, SIGTERM);
  if (!wait_for_exit(pid_, Clock::now() + grace)) {
    ::kill(-pid_, SIGKILL);
    wait_for_exit(pid_, Clock::now() + std::chrono::seconds(10));
  }
  // The leader is a zombie (so its pid, and thus the group id, cannot be
  // reused yet): make sure nothing it started outlives it.
  ::kill(-pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = decode_wait_status(status);
  return *exit_status_;
}

void Process::release() { pid_ = -1; }

// ---- helpers ----

std::string tail_file(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  constexpr std::streamoff kMaxTail = 64 * 1024;
  in.seekg(size > kMaxTail ? size - kMaxTail : 0);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t pos = text.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string trim_space(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

bool process_matches(pid_t pid, const std::string& expected_name, const std::string& in_cmdline) {
  if (pid <= 0) return false;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream stat(proc + "/stat");
  std::string stat_line;
  if (!std::getline(stat, stat_line)) return false;
  // "pid (comm) S ...": the state follows the last ')'.
  const auto paren = stat_line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat_line.size()) return false;
  const char state = stat_line[paren + 2];
  if (state == 'Z' || state == 'X') return false;
  std::ifstream cmdline_file(proc + "/cmdline", std::ios::binary);
  const std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)),
                            std::istreambuf_iterator<char>());
  const std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
  const auto slash = argv0.rfind('/');
  const std::string base = slash == std::string::npos ? argv0 : argv0.substr(slash + 1);
  return base == expected_name && cmdline.find(in_cmdline) != std::string::npos;
}

void stop_detached_process(pid_t pid, const std::string& expected_name,
                           const std::string& in_cmdline, std::chrono::milliseconds grace) {
  if (!process_matches(pid, expected_name, in_cmdline)) return;
  // Detached servers lead their own session, so the group id is their pid.
  if (::kill(-pid, SIGTERM) != 0) ::kill(pid, SIGTERM);
  const auto wait_gone = [&](Clock::time_point deadline) {
    while (process_matches(pid, expected_name, in_cmdline)) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  };
  if (wait_gone(Clock::now() + grace)) return;
  if (::kill(-pid, SIGKILL) != 0) ::kill(pid, SIGKILL);
  wait_gone(Clock::now() + std::chrono::seconds(10));
}

}  // namespace orderguard::e2e
