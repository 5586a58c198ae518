#include "agent/persistence.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

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

}  // namespace
}  // namespace orderguard::agent
