#include "agent/baseline.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace orderguard::agent {
namespace {

namespace fs = std::filesystem;

// A host root built per test: file modes (world-writable directories) cannot be
// kept in git, so the trees are made here rather than under testdata/.
class BaselineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("og-baseline-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    for (const char* dir : {"/etc/ssh/sshd_config.d", "/etc/cron.d", "/usr/bin", "/usr/sbin",
                            "/etc/systemd/system/multi-user.target.wants"}) {
      fs::create_directories(root_.string() + dir);
      ::chmod((root_.string() + dir).c_str(), 0755);
    }
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(root_.string() + path).parent_path());
    std::ofstream(root_.string() + path) << text;
  }
  void enable(const std::string& unit) {
    write("/etc/systemd/system/multi-user.target.wants/" + unit, "[Unit]\n");
  }
  std::vector<std::string> rules() {
    HostView host({.proc_root = "/proc", .host_root = root_.string()});
    std::vector<std::string> out;
    for (const auto& f : check_baseline(host)) {
      EXPECT_EQ(f.weight, 0);
      EXPECT_EQ(f.severity, policy::Severity::kWeak);
      out.push_back(f.rule_id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  void harden() {
    write("/etc/ssh/sshd_config",
          "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nMaxAuthTries 6\n");
    // Include comes first, so these win over the lines after it (first value wins).
    write("/etc/ssh/sshd_config.d/10-hardening.conf",
          "PermitRootLogin no\nPasswordAuthentication no\nMaxAuthTries 3\n");
    write("/etc/ufw/ufw.conf", "# managed\nENABLED=yes\n");
    write("/etc/fail2ban/jail.conf", "[sshd]\n");
    enable("fail2ban.service");
    write("/etc/audit/auditd.conf", "log_file = /var/log/audit/audit.log\n");
    enable("auditd.service");
  }

  fs::path root_;
};

TEST_F(BaselineTest, HardenedHostHasNoFindings) {
  harden();
  EXPECT_TRUE(rules().empty());
}

TEST_F(BaselineTest, DefaultsOfAFreshServerAreReported) {
  write("/etc/ssh/sshd_config", "# nothing set: OpenSSH defaults apply\n");
  const std::vector<std::string> want = {
      std::string(kRuleBaselineNoAuditd),        std::string(kRuleBaselineNoFail2ban),
      std::string(kRuleBaselineNoFirewall),      std::string(kRuleBaselineSshMaxAuthTries),
      std::string(kRuleBaselineSshPasswordAuth), std::string(kRuleBaselineSshRootLogin)};
  EXPECT_EQ(rules(), want);
}

TEST_F(BaselineTest, MatchBlocksDoNotCountAndFirstValueWins) {
  harden();
  write("/etc/ssh/sshd_config",
        "PasswordAuthentication yes\nPasswordAuthentication no\nPermitRootLogin no\n"
        "MaxAuthTries 3\nMatch User backup\n  PermitRootLogin yes\n");
  EXPECT_EQ(rules(), std::vector<std::string>{std::string(kRuleBaselineSshPasswordAuth)});
}

TEST_F(BaselineTest, NoSshdMeansNoSshChecks) {
  harden();
  fs::remove_all(root_ / "etc/ssh");
  EXPECT_TRUE(rules().empty());
}

TEST_F(BaselineTest, InstalledButNotEnabledAndWorldWritableDirectories) {
  harden();
  fs::remove(root_ / "etc/systemd/system/multi-user.target.wants/auditd.service");
  ::chmod((root_ / "etc/cron.d").c_str(), 0777);
  ::chmod((root_ / "usr/bin").c_str(), 01777);
  HostView host({.proc_root = "/proc", .host_root = root_.string()});
  auto findings = check_baseline(host);
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].rule_id, kRuleBaselineNoAuditd);
  EXPECT_NE(findings[0].message.find("not enabled"), std::string::npos);
  EXPECT_EQ(findings[1].field_path, "/etc/cron.d");
  EXPECT_EQ(findings[2].field_path, "/usr/bin");
}

// Ten drop-ins that each include every drop-in: 8 levels of Include would read 10^8 files.
TEST_F(BaselineTest, IncludeFanOutIsBounded) {
  harden();
  for (int i = 0; i < 10; ++i) {
    write("/etc/ssh/sshd_config.d/" + std::to_string(i) + ".conf",
          "Include /etc/ssh/sshd_config.d/*.conf\n");
  }
  // Unbounded, this call does not return (CTest's timeout ends the test).
  (void)rules();
}

TEST(ParseSshdConfig, KeywordsLowerCaseCommentsAndBlanksGone) {
  const auto d = parse_sshd_config(
      "# comment\nPermitRootLogin yes   # for now\r\n\n\tMaxAuthTries\t 10 \nInclude a/*.conf b\n");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].keyword, "permitrootlogin");
  EXPECT_EQ(d[0].value, "yes");
  EXPECT_EQ(d[1].keyword, "maxauthtries");
  EXPECT_EQ(d[1].value, "10");
  EXPECT_EQ(d[2].keyword, "include");
  EXPECT_EQ(d[2].value, "a/*.conf b");
}

TEST_F(BaselineTest, MaxAuthTriesThatIsNotANumberReadsAsTheDefault) {
  harden();
  write("/etc/ssh/sshd_config.d/10-hardening.conf",
        "PermitRootLogin no\nPasswordAuthentication no\nMaxAuthTries 3x\n");
  EXPECT_EQ(rules(), std::vector<std::string>{std::string(kRuleBaselineSshMaxAuthTries)});
}

}  // namespace
}  // namespace orderguard::agent
