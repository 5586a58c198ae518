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
//   level of *.wants/), /run/systemd/system, /usr/lib/systemd/system, /lib/systemd/system (a
//   directory reached twice, /lib being a link to /usr/lib, is read once).
// - dropper-file: policy::known_dropper_files() that exist.
// - ssh-key-added: a key in /root/.ssh/authorized_keys{,2} or /home/*/.ssh/authorized_keys{,2}
//   that was not there at the previous scan (the first scan records the baseline), or, on the
//   first scan, a file modified within `recent_window`.
//   Keys are counted per line (duplicates too) and remembered as SHA-256 digests, so a file of
//   a million keys costs 16 MB, not its size; at most kMaxKeyFindings new keys are reported per
//   file, then one summary finding.
// - binary-modified: files in /usr/bin, /usr/sbin, /bin, /sbin modified within recent_window
//   (mtime; at most kMaxBinaryFindings reported, then one summary finding).
// - oversized-file: ld.so.preload, a cron table, a unit or an authorized_keys file over
//   LineLimits (64 MiB, or a line over 1 MiB): these files are read whole, line by line, up to
//   that bound, and one that passes it is no real file but one padded to hide an entry from
//   scanners, so it is reported by name (the lines before the bound are still checked).
// "Recent" means recent_window before the clock's wall time up to one minute after it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/host_view.h"
#include "base/clock.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

inline constexpr size_t kMaxBinaryFindings = 20;
inline constexpr size_t kMaxKeyFindings = 20;

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

// The first 16 bytes of an authorized_keys line's SHA-256: how the scanner remembers keys
// between scans without holding a huge file in memory. A cryptographic hash, because key lines
// (their comments) are the attacker's to choose, and a key made to collide with a known one
// would go unreported.
struct AuthorizedKeyDigest {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const AuthorizedKeyDigest&) const = default;
  bool operator<(const AuthorizedKeyDigest& o) const {
    return high != o.high ? high < o.high : low < o.low;
  }
};

class PersistenceScanner {
 public:
  PersistenceScanner(const HostView* view, const Clock* clock,
                     std::chrono::seconds recent_window = std::chrono::hours(24),
                     LineLimits limits = {});

  std::vector<policy::Finding> scan(const policy::CompiledPolicy& policy);

 private:
  void check_ld_preload(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_cron(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_systemd(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_droppers(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_ssh_keys(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  void check_binaries(const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out);
  bool recent(int64_t mtime) const;
  // Reads the host file `file` line by line (on_line gets the line number, from 1, and the
  // line); an oversized-file finding when it passes limits_. False when it could not be read.
  bool read_lines(const std::string& file, const policy::CompiledPolicy& pol,
                  std::vector<policy::Finding>* out,
                  const std::function<void(size_t number, std::string_view line)>& on_line);

  const HostView* view_;
  const Clock* clock_;
  std::chrono::seconds recent_window_;
  LineLimits limits_;
  bool have_baseline_ = false;
  // host path -> digests of its key lines, sorted, unique.
  std::map<std::string, std::vector<AuthorizedKeyDigest>> ssh_keys_;
};

}  // namespace orderguard::agent
