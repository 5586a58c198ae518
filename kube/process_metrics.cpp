#include "kube/process_metrics.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <system_error>

#include "base/files.h"

namespace orderguard::kube {
namespace {

Error bad(std::string_view what) { return make_error(ErrorCode::kInvalid, std::string(what)); }

std::optional<uint64_t> to_u64(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// Splits `text` on runs of spaces and tabs.
std::vector<std::string_view> fields(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {metric}};
}

}  // namespace

Result<SelfStat> parse_self_stat(std::string_view text) {
  // pid (comm) state ppid ...: comm is any 16 bytes, so fields count from the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return bad("stat: no ')' after the command name");
  std::string_view rest = text.substr(close + 1);
  if (const size_t nl = rest.find('\n'); nl != std::string_view::npos) rest = rest.substr(0, nl);
  const std::vector<std::string_view> f = fields(rest);
  // f[0] is field 3 (state); field n is f[n - 3].
  if (f.size() < 22) return bad("stat: fewer than 24 fields");
  auto utime = to_u64(f[14 - 3]);
  auto stime = to_u64(f[15 - 3]);
  auto start = to_u64(f[22 - 3]);
  auto vsize = to_u64(f[23 - 3]);
  auto rss = to_u64(f[24 - 3]);
  if (!utime || !stime || !start || !vsize) return bad("stat: a field is not a number");
  // rss is signed in the kernel's format; a negative value reads as 0.
  return SelfStat{*utime, *stime, *start, *vsize, rss.value_or(0)};
}

Result<std::optional<uint64_t>> parse_max_open_files(std::string_view limits) {
  constexpr std::string_view kName = "Max open files";
  while (!limits.empty()) {
    const size_t nl = limits.find('\n');
    std::string_view line = limits.substr(0, nl);
    limits = nl == std::string_view::npos ? std::string_view() : limits.substr(nl + 1);
    if (!line.starts_with(kName)) continue;
    const std::vector<std::string_view> f = fields(line.substr(kName.size()));
    if (f.empty()) break;
    if (f[0] == "unlimited") return std::optional<uint64_t>();
    if (auto v = to_u64(f[0])) return std::optional<uint64_t>(*v);
    return bad("limits: Max open files is not a number");
  }
  return bad("limits: no Max open files line");
}

Result<uint64_t> parse_boot_time(std::string_view proc_stat) {
  while (!proc_stat.empty()) {
    const size_t nl = proc_stat.find('\n');
    std::string_view line = proc_stat.substr(0, nl);
    proc_stat = nl == std::string_view::npos ? std::string_view() : proc_stat.substr(nl + 1);
    if (!line.starts_with("btime ")) continue;
    const std::vector<std::string_view> f = fields(line.substr(6));
    if (auto v = f.empty() ? std::nullopt : to_u64(f[0])) return *v;
    return bad("stat: btime is not a number");
  }
  return bad("stat: no btime line");
}

ProcessCollector::ProcessCollector(std::string proc_self, std::string proc_stat)
    : proc_self_(std::move(proc_self)),
      proc_stat_(std::move(proc_stat)),
      ticks_per_second_(::sysconf(_SC_CLK_TCK)),
      page_size_(::sysconf(_SC_PAGESIZE)) {
  if (ticks_per_second_ <= 0) ticks_per_second_ = 100;
  if (page_size_ <= 0) page_size_ = 4096;
  if (Result<std::string> sys = read_file(proc_stat_)) {
    if (Result<uint64_t> boot = parse_boot_time(*sys)) boot_time_ = *boot;
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(ticks_per_second_);
  if (Result<std::string> text = read_file(proc_self_ + "/stat")) {
    if (Result<SelfStat> stat = parse_self_stat(*text)) {
      out.push_back(family("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", MetricType::Counter,
                           static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks));
      out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::Gauge,
                           static_cast<double>(stat->rss_pages) * static_cast<double>(page_size_)));
      out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, static_cast<double>(stat->vsize_bytes)));
      if (boot_time_) {
        out.push_back(family(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            MetricType::Gauge,
            static_cast<double>(*boot_time_) + static_cast<double>(stat->start_ticks) / ticks));
      }
    }
  }
  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it(proc_self_ + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    out.push_back(
        family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds));
  }
  if (Result<std::string> limits = read_file(proc_self_ + "/limits")) {
    if (Result<std::optional<uint64_t>> max = parse_max_open_files(*limits)) {
      // client_golang reports an unlimited soft limit as the largest value it can hold.
      out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                           MetricType::Gauge,
                           max->has_value() ? static_cast<double>(**max) : 1.8446744073709552e19));
    }
  }
  return out;
}

}  // namespace orderguard::kube
