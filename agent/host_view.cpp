#include "agent/host_view.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace orderguard::agent {
namespace {

std::string join(std::string_view root, std::string_view rest) {
  std::string out(root);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (out != "/") out += '/';
  out += rest;
  return out;
}

bool parse_pid(const std::string& name, int* out) {
  if (name.empty() || name.size() > 9) return false;
  int v = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return v > 0;
}

Result<std::vector<int>> numeric_entries(const std::string& dir) {
  Result<std::vector<std::string>> names = HostView::list_dir(dir);
  if (!names) return names.error();
  std::vector<int> pids;
  pids.reserve(names->size());
  for (const std::string& n : *names) {
    int pid = 0;
    if (parse_pid(n, &pid)) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace

Error errno_error(int err, std::string_view what, std::string_view path) {
  ErrorCode code = ErrorCode::kInternal;
  if (err == ENOENT || err == ESRCH || err == ENOTDIR) code = ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM) code = ErrorCode::kForbidden;
  return make_error(code, std::string(what) + " " + std::string(path) + ": " + std::strerror(err));
}

HostView::HostView(HostPaths paths) : paths_(std::move(paths)) {}

std::string HostView::proc_path(std::string_view relative) const {
  return join(paths_.proc_root, relative);
}

std::string HostView::pid_path(int pid, std::string_view file) const {
  std::string rel = std::to_string(pid);
  if (!file.empty()) {
    rel += '/';
    rel += file;
  }
  return proc_path(rel);
}

std::string HostView::host_path(std::string_view absolute) const {
  return join(paths_.host_root, absolute);
}

Result<std::vector<int>> HostView::list_pids() const { return numeric_entries(paths_.proc_root); }

Result<std::vector<int>> HostView::list_tasks(int pid) const {
  return numeric_entries(pid_path(pid, "task"));
}

Result<std::string> HostView::read_proc(std::string_view relative) const {
  return read_file(proc_path(relative));
}

Result<std::string> HostView::read_pid(int pid, std::string_view file) const {
  return read_file(pid_path(pid, file));
}

Result<std::string> HostView::read_pid_whole(int pid, std::string_view file) const {
  return read_file(pid_path(pid, file), kMaxFileBytes, /*short_read_is_end=*/true);
}

Result<std::string> HostView::readlink_pid(int pid, std::string_view file) const {
  return read_link(pid_path(pid, file));
}

Result<std::string> HostView::read_host(std::string_view absolute) const {
  return read_file(host_path(absolute));
}

Result<std::string> HostView::read_file(const std::string& path, size_t max_bytes,
                                        bool short_read_is_end) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno_error(errno, "open", path);
  std::string out;
  char buf[8192];
  while (out.size() < max_bytes) {
    ssize_t n = ::read(fd, buf, std::min(sizeof(buf), max_bytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return errno_error(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (short_read_is_end && static_cast<size_t>(n) < sizeof(buf)) break;
  }
  ::close(fd);
  return out;
}

Result<LinesRead> HostView::read_lines(const std::string& path, const LineLimits& limits,
                                       const std::function<void(std::string_view)>& on_line) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno_error(errno, "open", path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  LinesRead out;
  std::string line;      // the current line, at most max_line_bytes of it
  bool in_line = false;  // bytes of a line not yet delivered were read
  const auto deliver = [&] {
    on_line(line);
    ++out.lines;
    line.clear();
    in_line = false;
  };
  std::vector<char> buf(std::max<size_t>(1, limits.chunk_bytes));
  while (true) {
    size_t want = buf.size();
    if (out.bytes >= limits.max_file_bytes) {
      want = 1;  // only to learn whether the file goes on
    } else {
      want = static_cast<size_t>(std::min<uint64_t>(want, limits.max_file_bytes - out.bytes));
    }
    ssize_t n = ::read(fd, buf.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "read", path);
    }
    if (n == 0) break;
    if (out.bytes >= limits.max_file_bytes) {
      out.over_limit = true;
      break;
    }
    out.bytes += static_cast<uint64_t>(n);
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    while (!chunk.empty()) {
      const size_t nl = chunk.find('\n');
      const std::string_view part = chunk.substr(0, nl);
      if (!part.empty()) in_line = true;
      const size_t room = limits.max_line_bytes - std::min(limits.max_line_bytes, line.size());
      if (part.size() > room) out.over_limit = true;
      line.append(part.substr(0, room));
      if (nl == std::string_view::npos) break;
      deliver();
      chunk.remove_prefix(nl + 1);
    }
  }
  if (in_line) deliver();
  return out;
}

Result<std::string> HostView::read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return errno_error(errno, "readlink", path);
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::vector<std::string>> HostView::list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return errno_error(errno, "opendir", path);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<FileStat> HostView::stat_path(const std::string& path, bool follow) {
  struct stat st {};
  int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) return errno_error(errno, "stat", path);
  FileStat out;
  out.is_dir = S_ISDIR(st.st_mode);
  out.is_regular = S_ISREG(st.st_mode);
  out.is_symlink = S_ISLNK(st.st_mode);
  out.size = st.st_size;
  out.mtime = st.st_mtim.tv_sec;
  out.mode = st.st_mode;
  out.device = st.st_dev;
  out.inode = st.st_ino;
  return out;
}

bool RealProcessProbe::exists(pid_t pid) {
  if (::kill(pid, 0) == 0 || errno == EPERM) return true;
  if (::getpgid(pid) >= 0 || errno == EPERM) return true;
  return false;
}

}  // namespace orderguard::agent
