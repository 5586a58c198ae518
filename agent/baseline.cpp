#include "agent/baseline.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <sstream>

#include "base/lines.h"

namespace orderguard::agent {
namespace {

policy::Finding finding(std::string_view rule, std::string path, std::string message) {
  policy::Finding f;
  f.rule_id = std::string(rule);
  f.severity = policy::Severity::kWeak;
  f.weight = 0;
  f.field_path = std::move(path);
  f.message = std::move(message);
  return f;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool exists(const HostView& host, std::string_view absolute) {
  return HostView::stat_path(host.host_path(absolute), /*follow=*/true).ok();
}

// Files an Include pattern names, sorted as sshd does (glob order).
std::vector<std::string> expand_include(const HostView& host, const std::string& pattern) {
  std::string abs = pattern[0] == '/' ? pattern : "/etc/ssh/" + pattern;
  const size_t slash = abs.rfind('/');
  const std::string dir = abs.substr(0, slash);
  const std::string glob = abs.substr(slash + 1);
  std::vector<std::string> out;
  auto names = HostView::list_dir(host.host_path(dir));
  if (!names.ok()) return out;
  for (const auto& name : *names) {
    if (fnmatch(glob.c_str(), name.c_str(), 0) == 0) out.push_back(dir + "/" + name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Effective sshd settings: keyword (lower case) -> {value, file}. `files_left` bounds the
// files read through Include.
void read_sshd(const HostView& host, const std::string& file, int depth,
               std::map<std::string, std::pair<std::string, std::string>>* settings, bool* in_match,
               size_t* files_left, std::vector<policy::Finding>* out) {
  if (depth > 8 || *files_left == 0) return;  // Include loops
  --*files_left;
  Result<LinesRead> read =
      HostView::read_lines(host.host_path(file), LineLimits{}, [&](std::string_view line) {
        std::optional<SshdDirective> d = parse_sshd_line(line);
        if (!d) return;
        if (d->keyword == "match") {
          *in_match = true;  // everything after a Match applies only to some connections
          return;
        }
        if (*in_match) return;
        if (d->keyword == "include") {
          std::istringstream patterns(d->value);
          std::string pattern;
          while (patterns >> pattern) {
            for (const auto& inc : expand_include(host, pattern)) {
              read_sshd(host, inc, depth + 1, settings, in_match, files_left, out);
            }
          }
          return;
        }
        settings->emplace(d->keyword, std::make_pair(lower(d->value), file));  // first one wins
      });
  if (read.ok() && read->over_limit) {
    out->push_back(finding(kRuleBaselineOversizedFile, file,
                           "over 64 MiB or with a line over 1 MiB: no real sshd_config is; "
                           "settings past the bound were not read"));
  }
}

void check_sshd(const HostView& host, std::vector<policy::Finding>* out) {
  const std::string main = "/etc/ssh/sshd_config";
  if (!exists(host, main)) return;
  std::map<std::string, std::pair<std::string, std::string>> s;
  bool in_match = false;
  size_t files_left = kMaxSshdFiles;
  read_sshd(host, main, 0, &s, &in_match, &files_left, out);
  auto get = [&](const char* key, const char* fallback) {
    auto it = s.find(key);
    return it == s.end() ? std::make_pair(std::string(fallback), main + " (default)") : it->second;
  };
  auto [root, root_file] = get("permitrootlogin", "prohibit-password");
  if (root != "no") {
    out->push_back(finding(kRuleBaselineSshRootLogin, root_file,
                           "PermitRootLogin is '" + root + "': set it to no"));
  }
  auto [pass, pass_file] = get("passwordauthentication", "yes");
  if (pass != "no") {
    out->push_back(
        finding(kRuleBaselineSshPasswordAuth, pass_file,
                "PasswordAuthentication is '" + pass + "': use keys only (set it to no)"));
  }
  auto [tries, tries_file] = get("maxauthtries", "6");
  // sshd refuses a config whose MaxAuthTries is not a number; here it reads as the default.
  int n = 6;
  if (auto [end, ec] = std::from_chars(tries.data(), tries.data() + tries.size(), n);
      ec != std::errc() || end != tries.data() + tries.size()) {
    n = 6;
  }
  if (n > 3) {
    out->push_back(finding(kRuleBaselineSshMaxAuthTries, tries_file,
                           "MaxAuthTries is " + tries + ": 3 or fewer slows password guessing"));
  }
}

// Whether a systemd unit is enabled at boot (a link in any *.wants directory).
bool unit_enabled(const HostView& host, const std::string& unit) {
  for (const char* dir :
       {"/etc/systemd/system/multi-user.target.wants", "/etc/systemd/system/sysinit.target.wants",
        "/etc/systemd/system/basic.target.wants", "/etc/systemd/system/network-pre.target.wants"}) {
    if (exists(host, std::string(dir) + "/" + unit)) return true;
  }
  return false;
}

void check_firewall(const HostView& host, std::vector<policy::Finding>* out) {
  if (auto ufw = host.read_host("/etc/ufw/ufw.conf"); ufw.ok()) {
    std::istringstream in(*ufw);
    std::string line;
    while (std::getline(in, line)) {
      if (lower(line).rfind("enabled=yes", 0) == 0) return;
    }
  }
  for (const char* unit : {"firewalld.service", "nftables.service", "netfilter-persistent.service",
                           "iptables.service"}) {
    if (unit_enabled(host, unit)) return;
  }
  out->push_back(finding(kRuleBaselineNoFirewall, "/etc/systemd/system",
                         "no firewall is enabled at boot (ufw, firewalld, nftables or "
                         "netfilter-persistent)"));
}

void check_service(const HostView& host, std::vector<policy::Finding>* out, std::string_view rule,
                   const char* name, const char* config) {
  const bool installed = exists(host, config);
  const bool enabled = unit_enabled(host, std::string(name) + ".service");
  if (installed && enabled) return;
  out->push_back(finding(rule, config,
                         std::string(name) + (installed ? " is installed but not enabled at boot"
                                                        : " is not installed")));
}

void check_world_writable(const HostView& host, std::vector<policy::Finding>* out) {
  for (const char* path :
       {"/etc/crontab", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly",
        "/etc/cron.monthly", "/var/spool/cron", "/var/spool/cron/crontabs", "/bin", "/sbin",
        "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}) {
    auto st = HostView::stat_path(host.host_path(path), /*follow=*/false);
    if (!st.ok() || st->is_symlink) continue;  // /bin -> usr/bin on merged-/usr systems
    if ((st->mode & S_IWOTH) != 0) {
      out->push_back(finding(kRuleBaselineWorldWritable, path,
                             "writable by every user: anyone can plant a cron job or binary here"));
    }
  }
}

}  // namespace

std::optional<SshdDirective> parse_sshd_line(std::string_view text) {
  std::string line(text.substr(0, text.find('#')));
  std::istringstream words(line);
  SshdDirective d;
  if (!(words >> d.keyword)) return std::nullopt;
  d.keyword = lower(d.keyword);
  std::getline(words >> std::ws, d.value);
  while (!d.value.empty() && std::isspace(static_cast<unsigned char>(d.value.back()))) {
    d.value.pop_back();
  }
  return d;
}

std::vector<SshdDirective> parse_sshd_config(std::string_view text) {
  std::vector<SshdDirective> out;
  TextLines lines(text);
  for (std::string_view line; lines.next(&line);) {
    if (std::optional<SshdDirective> d = parse_sshd_line(line)) out.push_back(std::move(*d));
  }
  return out;
}

std::vector<policy::Finding> check_baseline(const HostView& host) {
  std::vector<policy::Finding> out;
  check_sshd(host, &out);
  check_firewall(host, &out);
  check_service(host, &out, kRuleBaselineNoFail2ban, "fail2ban", "/etc/fail2ban/jail.conf");
  check_service(host, &out, kRuleBaselineNoAuditd, "auditd", "/etc/audit/auditd.conf");
  check_world_writable(host, &out);
  return out;
}

}  // namespace orderguard::agent
