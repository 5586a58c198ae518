// Host persistence checks (the incident-response checklist, section 2.2.3 to 2.2.6): files a
// miner leaves to survive a kill or a reboot. All paths are host paths read under
// HostView::host_path.
//
// - ld-preload: /etc/ld.so.preload names a library (the file is empty on a clean host); one
//   finding per library, saying whether it exists and whether it is a known dropper file.
// - cron-persistence: a line in /etc/crontab, /etc/cron.d/*, /etc/cron.{hourly,daily,weekly,
//   monthly}/*, /var/spool/cron/* or /var/spool/cron/crontabs/* with a miner indicator or a
//   download-and-run (policy::scan_process over the line).
// - systemd-persistence: the same over Exec*= lines of units in /etc/systemd/system (and one
//   level of *.wants/), /run/systemd/system, /usr/lib/systemd/system, /lib/systemd/system.
// - dropper-file: policy::known_dropper_files() that exist.
// - ssh-key-added: a key in /root/.ssh/authorized_keys{,2} or /home/*/.ssh/authorized_keys{,2}
//   that was not there at the previous scan (the first scan records the baseline), or, on the
//   first scan, a file modified within `recent_window`.
// - binary-modified: files in /usr/bin, /usr/sbin, /bin, /sbin modified within recent_window
//   (mtime; at most kMaxBinaryFindings reported, then one summary finding).
// "Recent" means recent_window before the clock's wall time up to one minute after it.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/host_view.h"
#include "kube/clock.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

inline constexpr size_t kMaxBinaryFindings = 20;

// Pure parsers of the files these checks read, one line at a time: `line` is one line of the
// file without its newline, any bytes (the fuzz targets in agent/fuzz/ feed them garbage).

// The line without leading blanks or trailing blanks and carriage returns.
std::string_view trim_line(std::string_view line);

// The libraries one line of /etc/ld.so.preload names (separated by blanks or colons, as
// ld.so reads it); none for a blank or comment line.
std::vector<std::string> ld_preload_libraries(std::string_view line);

// The cron-persistence finding for line `number` (counted from 1) of the cron table `file`:
// a line that is not blank or a comment and holds a miner indicator or a download-and-run.
std::optional<policy::Finding> cron_line_finding(std::string_view file, size_t number,
                                                 std::string_view line,
                                                 const policy::CompiledPolicy& policy);

// The systemd-persistence finding for line `number` of the unit `file`: an Exec*= line whose
// command holds a miner indicator or a download-and-run.
std::optional<policy::Finding> systemd_line_finding(std::string_view file, size_t number,
                                                    std::string_view line,
                                                    const policy::CompiledPolicy& policy);

// The key of one authorized_keys line (the trimmed line), or nullopt for a blank or comment
// line.
std::optional<std::string_view> authorized_key(std::string_view line);

class PersistenceScanner {
 public:
  PersistenceScanner(const HostView* view, const Clock* clock,
                     std::chrono::seconds recent_window = std::chrono::hours(24));

  std::vector<policy::Finding> scan(const policy::CompiledPolicy& policy);

 private:
  void check_ld_preload(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_cron(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_systemd(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_droppers(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_ssh_keys(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_binaries(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  bool recent(int64_t mtime) const;

  const HostView* view_;
  const Clock* clock_;
  std::chrono::seconds recent_window_;
  bool have_baseline_ = false;
  std::map<std::string, std::set<std::string>> ssh_keys_;  // host path -> key lines
};

}  // namespace orderguard::agent
