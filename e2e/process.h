// Child processes for the e2e harness: long-running servers (etcd,
// kube-apiserver, ...) whose output goes to a log file, and one-shot commands
// (kubectl, helm) whose output is captured.
//
// Contracts:
// - Children get their own process group, stdin from /dev/null, and no file
//   descriptors of ours beyond 0-2. Unless detached, they also get
//   PR_SET_PDEATHSIG(SIGKILL), so they die with us even when we are killed.
//   Caveat: the death signal fires when the *thread* that forked exits, so
//   spawn servers from a thread that outlives them (the main thread).
// - A detached server (`orderguard-cluster up`) starts its own session and
//   survives us; stop it later by pid with stop_detached_process().
// - Nothing throws; failures to start come back as a Result, a command that
//   could not run has exit_code -1 and the reason in `err`.
// - Thread-safe: independent Process objects and run_command calls may be used
//   from several threads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace orderguard::e2e {

struct CommandResult {
  // Exit status; 128 + signal number when killed by a signal; -1 when the
  // command could not be started (reason in `err`).
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;

  bool ok() const { return exit_code == 0; }
  // "exit 1: <stderr>" for assertion messages.
  std::string describe() const;
};

struct CommandOptions {
  std::vector<std::string> env;  // "KEY=VALUE", added to (and overriding) our environment
  std::string input;             // written to the command's stdin, then closed
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};  // then SIGKILL
  bool inherit_stderr = false;  // let stderr through (progress of long builds)
};

// Runs argv[0] (a path, or a name looked up in PATH) to completion.
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

struct ProcessSpec {
  std::string name;  // for messages: "kube-apiserver"
  std::vector<std::string> argv;
  std::string log_path;  // stdout and stderr, appended
  bool detach = false;   // setsid and no death signal: outlives this process
};

// A running server. Destruction terminates it (SIGTERM, grace, SIGKILL) unless
// it was released.
class Process {
 public:
  // Fails when the executable cannot be started (exec errors are reported
  // back from the child, not discovered later in the log).
  static Result<Process> spawn(const ProcessSpec& spec);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  bool running() const { return pid_ > 0 && !exit_status_; }

  // Non-blocking: the exit status (as CommandResult::exit_code) once the
  // process has exited; it is reaped then.
  std::optional<int> poll();

  // SIGTERM to the process group, up to `grace` for it to exit, then SIGKILL;
  // always reaps. Returns the exit status. Idempotent.
  int terminate(std::chrono::milliseconds grace);

  // Forget the process without stopping it (it keeps running detached).
  void release();

 private:
  Process() = default;

  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// The last `lines` lines of a text file ("" when unreadable).
std::string tail_file(const std::string& path, int lines);

// A whole file ("" when unreadable): for the harness's own files and /proc.
std::string read_text_file(const std::string& path);

// `s` without leading and trailing white space.
std::string trim_space(std::string s);

// True when `pid` is alive (not a zombie), its argv[0] ends in
// `expected_name` and its command line contains `in_cmdline` (e.g. the work
// dir) — protects against pid reuse before signalling a pid read from a file.
bool process_matches(pid_t pid, const std::string& expected_name,
                     const std::string& in_cmdline = "");

// Stops a process that is not our child (a detached server from an earlier
// run): SIGTERM to its group, waits up to `grace`, then SIGKILL. A pid that no
// longer matches (see process_matches) is left alone.
void stop_detached_process(pid_t pid, const std::string& expected_name,
                           const std::string& in_cmdline, std::chrono::milliseconds grace);

// Converts a waitpid status into CommandResult::exit_code form.
int decode_wait_status(int status);

}  // namespace orderguard::e2e
