#include "agent/procfs.h"

#include <array>
#include <charconv>

#include "base/lines.h"

namespace orderguard::agent {
namespace {

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

template <typename T>
bool to_num(std::string_view s, T* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Error invalid(std::string_view what) { return make_error(ErrorCode::kInvalid, std::string(what)); }

// Kernel counters never come near 2^64; a sum that would wrap is not a kernel's file.
bool add(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  // comm may hold spaces and ')', so the fields after it start after the last ')'.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return invalid("stat: no (comm)");
  }
  ProcStat st;
  std::string_view head = text.substr(0, open);
  size_t head_start = head.find_first_not_of(" \t\n");
  if (head_start == std::string_view::npos) return invalid("stat: bad pid");
  head.remove_prefix(head_start);
  head = head.substr(0, head.find_first_of(" \t\n"));
  if (!to_num(head, &st.pid)) return invalid("stat: bad pid");
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // Index 0 is field 3 (state); starttime is field 22, index 19; env_end field 51, index 48.
  // Read in place, without a vector per line: the CPU sample parses every process's stat.
  constexpr size_t kFields = 49;
  std::array<std::string_view, kFields> f;
  size_t n = 0;
  std::string_view rest = text.substr(close + 1);
  size_t i = 0;
  while (i < rest.size() && n < kFields) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\n')) ++i;
    size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\t' && rest[i] != '\n') ++i;
    if (i > start) f[n++] = rest.substr(start, i - start);
  }
  if (n < 20 || f[0].size() != 1) return invalid("stat: truncated");
  st.state = f[0][0];
  if (!to_num(f[1], &st.ppid) || !to_num(f[6], &st.flags) || !to_num(f[11], &st.utime) ||
      !to_num(f[12], &st.stime) || !to_num(f[16], &st.nice) || !to_num(f[17], &st.num_threads) ||
      !to_num(f[19], &st.starttime)) {
    return invalid("stat: bad number");
  }
  if (uint64_t ticks = 0; !add(st.utime, st.stime, &ticks)) return invalid("stat: bad number");
  if (n == kFields) {
    ExecLayout l;
    if (to_num(f[23], &l.start_code) && to_num(f[24], &l.end_code) &&
        to_num(f[25], &l.start_stack) && to_num(f[42], &l.start_data) &&
        to_num(f[43], &l.end_data) && to_num(f[44], &l.start_brk) && to_num(f[45], &l.arg_start) &&
        to_num(f[46], &l.arg_end) && to_num(f[47], &l.env_start) && to_num(f[48], &l.env_end)) {
      st.layout = l;
    }
  }
  return st;
}

Result<SystemCpu> parse_system_stat(std::string_view text) {
  SystemCpu out;
  bool have_total = false;
  TextLines lines(text);
  for (std::string_view line; lines.next(&line);) {
    if (line.rfind("cpu", 0) != 0) continue;
    std::vector<std::string_view> f = split_ws(line);
    if (f.empty()) continue;
    if (f[0] != "cpu") {
      ++out.cpus;
      continue;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    if (f.size() < 5) return invalid("/proc/stat: truncated cpu line");
    uint64_t v[8] = {};
    for (size_t i = 1; i < f.size() && i <= 8; ++i) {
      if (!to_num(f[i], &v[i - 1])) return invalid("/proc/stat: bad number");
    }
    uint64_t busy = 0;
    uint64_t total = 0;
    for (size_t i : {0, 1, 2, 5, 6, 7}) {
      if (!add(busy, v[i], &busy)) return invalid("/proc/stat: counters overflow");
    }
    if (!add(busy, v[3], &total) || !add(total, v[4], &total)) {
      return invalid("/proc/stat: counters overflow");
    }
    out.busy = busy;
    out.total = total;
    have_total = true;
  }
  if (!have_total) return invalid("/proc/stat: no cpu line");
  if (out.cpus == 0) out.cpus = 1;
  return out;
}

Result<ProcStatus> parse_proc_status(std::string_view text) {
  ProcStatus st;
  bool have_tgid = false;
  TextLines lines(text);
  for (std::string_view line; lines.next(&line);) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::vector<std::string_view> vals = split_ws(line.substr(colon + 1));
    if (key == "Name") {
      size_t v = line.find_first_not_of(" \t", colon + 1);
      st.name = v == std::string_view::npos ? "" : std::string(line.substr(v));
    } else if (key == "Tgid" && !vals.empty()) {
      have_tgid = to_num(vals[0], &st.tgid);
    } else if (key == "PPid" && !vals.empty()) {
      to_num(vals[0], &st.ppid);
    } else if (key == "HugetlbPages" && !vals.empty()) {
      to_num(vals[0], &st.hugetlb_kb);
    }
  }
  if (!have_tgid) return invalid("status: no Tgid");
  return st;
}

std::vector<std::string> split_cmdline(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\0', pos);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

Result<ProcessSnapshot> read_process(const HostView& view, int pid,
                                     const ReadProcessOptions& options) {
  ProcessSnapshot snap;
  if (options.stat != nullptr) {
    snap.stat = *options.stat;
  } else {
    Result<std::string> stat_text = view.read_pid_whole(pid, "stat");
    if (!stat_text) return stat_text.error();
    Result<ProcStat> st = parse_proc_stat(*stat_text);
    if (!st) return st.error();
    snap.stat = std::move(*st);
  }
  snap.comm = snap.stat.comm;
  Result<std::string> cmd = view.read_pid_whole(pid, "cmdline");
  if (!cmd && cmd.error().code == ErrorCode::kNotFound) return cmd.error();  // exited since
  if (cmd) snap.cmdline = split_cmdline(*cmd);
  if (Result<std::string> exe = view.readlink_pid(pid, "exe"); exe) {
    snap.exe = std::move(*exe);
    snap.exe_readable = true;
  }
  if (options.status) {
    if (Result<std::string> status = view.read_pid_whole(pid, "status"); status) {
      if (Result<ProcStatus> ps = parse_proc_status(*status); ps) snap.hugetlb_kb = ps->hugetlb_kb;
    }
  }
  if (options.cgroup) {
    if (Result<std::string> cg = view.read_pid_whole(pid, "cgroup"); cg)
      snap.cgroup = std::move(*cg);
  }
  return snap;
}

}  // namespace orderguard::agent
