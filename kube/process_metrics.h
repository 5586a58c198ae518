// The process_* metrics every Prometheus client library exports (client_golang's process
// collector, with its names and units), read from /proc at each scrape; prometheus-cpp has no
// such collector. add_observability_routes serves them on every binary's /metrics:
//   process_cpu_seconds_total       user + system CPU time
//   process_resident_memory_bytes   RSS
//   process_virtual_memory_bytes    virtual memory size
//   process_open_fds                entries of /proc/self/fd
//   process_max_fds                 the soft limit of open files (RLIMIT_NOFILE)
//   process_start_time_seconds      start time, seconds since the Unix epoch
// A value that cannot be read is left out of that scrape, never a failure of /metrics.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace orderguard::kube {

// The fields of /proc/<pid>/stat the metrics need, in the kernel's units.
struct SelfStat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;  // after boot
  uint64_t vsize_bytes = 0;
  uint64_t rss_pages = 0;
};

// /proc/<pid>/stat; the command name may hold spaces and parentheses (read up to the last ')').
Result<SelfStat> parse_self_stat(std::string_view text);
// The soft "Max open files" of /proc/<pid>/limits; nullopt for "unlimited".
Result<std::optional<uint64_t>> parse_max_open_files(std::string_view limits);
// "btime" of /proc/stat: boot time, seconds since the epoch.
Result<uint64_t> parse_boot_time(std::string_view proc_stat);

class ProcessCollector : public prometheus::Collectable {
 public:
  // `proc_self`: the process's /proc directory; `proc_stat`: the system's /proc/stat (both
  // fixture paths in tests).
  explicit ProcessCollector(std::string proc_self = "/proc/self",
                            std::string proc_stat = "/proc/stat");

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_self_;
  std::string proc_stat_;
  long ticks_per_second_;
  long page_size_;
  // The system's boot time (btime of /proc/stat), read once: it does not change while the
  // process runs, and /proc/stat holds a line per CPU besides.
  std::optional<uint64_t> boot_time_;
};

}  // namespace orderguard::kube
