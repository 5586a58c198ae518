// The agent's view of the host: every scanner reads /proc and host files through a HostView, so
// the DaemonSet can read the host's /proc and root mounted at other paths (--host-proc,
// --host-root) and tests can point it at fixture trees under agent/test/testdata/.
//
// Contract:
// - Readers return Result<> and never throw. A file or pid that does not exist (a process that
//   exited between listing and reading, which is normal) gives ErrorCode::kNotFound; a file the
//   agent may not read gives kForbidden; anything else kInternal.
// - Reads are bounded (kMaxFileBytes) so a hostile or huge file cannot exhaust memory.
//   Config-like files (crontabs, units, authorized_keys, ld.so.preload, sshd_config) are read
//   line by line instead (read_lines): whole up to LineLimits, holding one line at a time, so
//   a miner cannot hide an entry behind megabytes of comments.
// - ProcessProbe is the seam for kill(pid, 0)/getpgid, so hidden-process logic is testable.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace orderguard::agent {

inline constexpr size_t kMaxFileBytes = 4 << 20;

// Bounds of read_lines. Real crontabs, units, sshd_config and ld.so.preload are kilobytes and
// an authorized_keys of thousands of keys a few megabytes, so a file past 64 MiB, or with a
// line past 1 MiB (systemd refuses longer lines too), is not a real one: the caller reports
// it rather than scanning on. Memory stays at one line (max_line_bytes) whatever the file.
inline constexpr uint64_t kMaxLineFileBytes = uint64_t{64} << 20;
inline constexpr size_t kMaxLineBytes = size_t{1} << 20;

struct LineLimits {
  uint64_t max_file_bytes = kMaxLineFileBytes;
  size_t max_line_bytes = kMaxLineBytes;
  size_t chunk_bytes = 64 << 10;  // read() size; tests make it small to cross lines
};

// How a read_lines ended.
struct LinesRead {
  size_t lines = 0;    // lines delivered
  uint64_t bytes = 0;  // bytes read
  // The file goes on past max_file_bytes (the lines before the bound, the last one cut, were
  // delivered), or a line past max_line_bytes (its first max_line_bytes were delivered).
  bool over_limit = false;
};

struct HostPaths {
  std::string proc_root = "/proc";  // the host's /proc
  std::string host_root = "/";      // the host's root filesystem
};

struct FileStat {
  bool is_dir = false;
  bool is_regular = false;
  bool is_symlink = false;
  int64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
  uint32_t mode = 0;
  uint64_t device = 0;
  uint64_t inode = 0;
};

class HostView {
 public:
  explicit HostView(HostPaths paths);

  const HostPaths& paths() const { return paths_; }

  // "<proc_root>/<relative>" and "<host_root>/<absolute host path>".
  std::string proc_path(std::string_view relative) const;
  std::string pid_path(int pid, std::string_view file) const;
  std::string host_path(std::string_view absolute) const;

  // Numeric entries of the proc root (the processes the kernel lists), ascending.
  Result<std::vector<int>> list_pids() const;
  // Numeric entries of /proc/<pid>/task.
  Result<std::vector<int>> list_tasks(int pid) const;

  Result<std::string> read_proc(std::string_view relative) const;
  Result<std::string> read_pid(int pid, std::string_view file) const;
  // For per-process files the kernel renders in one piece on each read (stat, task/<tid>/stat,
  // status, cmdline, cgroup; not the record-by-record net/tcp tables): a read shorter than the
  // buffer is the end, which saves the second read() that would return 0 on each file.
  Result<std::string> read_pid_whole(int pid, std::string_view file) const;
  Result<std::string> readlink_pid(int pid, std::string_view file) const;
  Result<std::string> read_host(std::string_view absolute) const;

  // Generic helpers over real paths (already prefixed).
  static Result<std::string> read_file(const std::string& path, size_t max_bytes = kMaxFileBytes,
                                       bool short_read_is_end = false);
  // Calls on_line with each line of the file at `path` (without its '\n'; a last line without
  // one counts, an empty file has none), reading it in chunks up to limits.max_file_bytes.
  // An exception from on_line propagates (the file is closed).
  static Result<LinesRead> read_lines(const std::string& path, const LineLimits& limits,
                                      const std::function<void(std::string_view line)>& on_line);
  static Result<std::string> read_link(const std::string& path);
  static Result<std::vector<std::string>> list_dir(const std::string& path);
  static Result<FileStat> stat_path(const std::string& path, bool follow = false);

 private:
  HostPaths paths_;
};

// errno -> Error with the file name; ENOENT and ESRCH become kNotFound.
Error errno_error(int err, std::string_view what, std::string_view path);

// Whether a pid exists according to signals, independent of the /proc listing.
class ProcessProbe {
 public:
  virtual ~ProcessProbe() = default;
  // True when kill(pid, 0) or getpgid(pid) says the pid exists; EPERM counts as present, only
  // ESRCH is absent.
  virtual bool exists(pid_t pid) = 0;
};

class RealProcessProbe final : public ProcessProbe {
 public:
  bool exists(pid_t pid) override;
};

}  // namespace orderguard::agent
