// Hardening checks that incident-response guides for miner-infected servers end with:
// after a miner is cleaned off a host, `orderguard-agent scan --baseline` says what
// still needs fixing so it does not come back the same way.
//
// Checks, each a finding of its own (rule ids below), all read through the
// HostView's host root:
//   - sshd (effective value: the first occurrence wins, Include files are read in
//     place, at most kMaxSshdFiles files and 8 levels deep, Match blocks are
//     conditional and ignored): PermitRootLogin not "no",
//     PasswordAuthentication not "no" (its default is yes), MaxAuthTries above 3
//     (default 6). No sshd_config: no sshd checks.
//   - a firewall enabled at boot: ufw (ENABLED=yes), firewalld, nftables or
//     netfilter-persistent units in a systemd .wants directory;
//   - fail2ban and auditd installed and enabled;
//   - world-writable cron or binary directories (a planted cron job or binary is
//     how miners persist);
//   - an sshd_config file past LineLimits (read whole, line by line, up to it).
// Contract: findings are Weak with weight 0: they describe the host's defences,
// never evidence of a miner, so they change neither scores nor the exit code.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/host_view.h"
#include "policy/finding.h"

namespace orderguard::agent {

// Include globs can name many files that include each other: a bound on the files one
// check reads, far above real configurations (a main file and a few drop-ins).
inline constexpr size_t kMaxSshdFiles = 64;

inline constexpr std::string_view kRuleBaselineSshRootLogin = "baseline-ssh-root-login";
inline constexpr std::string_view kRuleBaselineSshPasswordAuth = "baseline-ssh-password-auth";
inline constexpr std::string_view kRuleBaselineSshMaxAuthTries = "baseline-ssh-max-auth-tries";
inline constexpr std::string_view kRuleBaselineNoFirewall = "baseline-no-firewall";
inline constexpr std::string_view kRuleBaselineNoFail2ban = "baseline-no-fail2ban";
inline constexpr std::string_view kRuleBaselineNoAuditd = "baseline-no-auditd";
inline constexpr std::string_view kRuleBaselineWorldWritable = "baseline-world-writable";
// An sshd_config past LineLimits (64 MiB, or a line over 1 MiB), read up to the bound.
inline constexpr std::string_view kRuleBaselineOversizedFile = "baseline-oversized-file";

std::vector<policy::Finding> check_baseline(const HostView& host);

// One directive of an sshd_config: the keyword in lower case and the rest of the line, with
// the comment and surrounding blanks removed (Match and Include are directives too).
struct SshdDirective {
  std::string keyword;
  std::string value;
};

// Pure: the directive on one line of an sshd_config (nullopt for a blank or comment line),
// and those of a whole text, in file order.
std::optional<SshdDirective> parse_sshd_line(std::string_view line);
std::vector<SshdDirective> parse_sshd_config(std::string_view text);

}  // namespace orderguard::agent
