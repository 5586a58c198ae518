// Evidence beyond names and flags: CPU against what a process may use (a CPU limit, its
// fair share on a busy host), an argv[0] naming another program, and loader variables in
// environ; as tables over the pure checks, and as scans of the fixture trees proc_evidence/
// and host_evidence/ (testdata/generate.sh).
#include <gtest/gtest.h>

#include <set>

#include "agent/environment.h"
#include "agent/identity.h"
#include "agent/scanner.h"
#include "agent/scoring.h"
#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::TempTree;
using testing::testdata;

std::set<std::string> rules_of(const std::vector<policy::Finding>& findings) {
  std::set<std::string> out;
  for (const auto& f : findings) out.insert(f.rule_id);
  return out;
}

const ProcessReport* find_pid(const ScanReport& r, int pid) {
  for (const ProcessReport& p : r.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

const policy::Finding* finding(const ProcessReport* p, std::string_view rule) {
  if (p == nullptr) return nullptr;
  for (const policy::Finding& f : p->findings) {
    if (f.rule_id == rule) return &f;
  }
  return nullptr;
}

TEST(Argv0Mismatch, ClaimedProgram) {
  EXPECT_EQ(claimed_program("nginx: worker process"), "nginx");
  EXPECT_EQ(claimed_program("/usr/sbin/sshd -D"), "sshd");
  EXPECT_EQ(claimed_program("sshd: root@pts/0"), "sshd");
  EXPECT_EQ(claimed_program("-bash"), "bash");
  EXPECT_EQ(claimed_program("postgres: checkpointer"), "postgres");
  EXPECT_EQ(claimed_program("php-fpm: pool www"), "php-fpm");
  EXPECT_EQ(claimed_program("redis-server *:6379"), "redis-server");
  EXPECT_EQ(claimed_program("myapp --serve"), "");
  EXPECT_EQ(claimed_program("nginxx"), "");
  EXPECT_EQ(claimed_program(""), "");
}

TEST(Argv0Mismatch, Table) {
  const policy::CompiledPolicy pol = policy::built_in_default();
  struct Case {
    std::string argv0;
    std::string exe;
    bool mismatch;
  };
  const std::vector<Case> cases = {
      {"nginx: worker process", "/tmp/x", true},
      {"nginx: worker process", "/usr/sbin/nginx", false},
      {"nginx: master process /usr/sbin/nginx", "/usr/local/openresty/nginx/sbin/nginx", false},
      {"sshd: root@pts/0", "/usr/sbin/sshd", false},
      {"sshd: root [priv]", "/usr/lib/openssh/sshd-session", false},
      {"sshd: root", "/usr/local/bin/kdevtmpfsi", true},
      {"python3", "/usr/bin/python3.11", false},
      {"python", "/usr/bin/python3.12", false},
      {"python3", "/opt/x/xmr", true},
      {"php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)", "/usr/sbin/php-fpm8.2", false},
      {"mysqld", "/usr/sbin/mariadbd", false},
      {"mariadbd", "/usr/sbin/mysqld", false},
      {"redis-server *:6379", "/usr/bin/redis-check-rdb", false},
      {"httpd -DFOREGROUND", "/usr/sbin/apache2", false},
      {"sh", "/usr/bin/dash", false},
      {"bash", "/usr/bin/bashful", true},
      {"-bash", "/usr/bin/bash", false},
      {"java", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", false},
      {"node", "/usr/bin/nodejs", false},
      {"kubelet", "/var/tmp/kubelet-helper", true},
      {"systemd", "/dev/shm/s", true},
      // An upgraded package: the executable is deleted, still the same program.
      {"nginx: worker process", "/usr/sbin/nginx (deleted)", false},
      // Multi-call binaries and the dynamic loader run under any name.
      {"sh", "/bin/busybox", false},
      {"crond", "/usr/bin/toybox", false},
      {"bash", "/lib64/ld-linux-x86-64.so.2", false},
      // A name this rule does not know: no claim.
      {"celery worker", "/usr/bin/python3.11", false},
  };
  for (const Case& c : cases) {
    ProcessSnapshot p;
    p.stat.pid = 4242;
    p.stat.ppid = 1;
    p.comm = "x";
    p.exe = c.exe;
    p.exe_readable = true;
    p.cmdline = {c.argv0, "--flag"};
    EXPECT_EQ(rules_of(check_identity(p, pol)).count("argv0-mismatch"), c.mismatch ? 1u : 0u)
        << c.argv0 << " -> " << c.exe;
  }
  // No executable (a kernel thread, or no ptrace rights): no evidence.
  ProcessSnapshot noexe;
  noexe.stat.pid = 4243;
  noexe.stat.ppid = 1;
  noexe.cmdline = {"nginx: worker process"};
  EXPECT_EQ(rules_of(check_identity(noexe, pol)).count("argv0-mismatch"), 0u);
}

TEST(Argv0Mismatch, IsIdentityEvidence) {
  EXPECT_EQ(evidence_class(kRuleArgv0Mismatch), EvidenceClass::kIdentity);
  policy::Finding mismatch = make_finding(kRuleArgv0Mismatch, "cmdline[0]", "m", "e", {});
  policy::Finding hog = make_finding(kRuleCpuHog, "cpu", "m", "e", {});
  EXPECT_GT(mismatch.weight, 0);
  EXPECT_FALSE(score_process({mismatch}, {}).miner);
  EXPECT_TRUE(score_process({mismatch, hog}, {}).miner);
}

TEST(EnvPreload, SuspiciousLoaderPaths) {
  struct Case {
    std::string variable;
    std::string entry;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"LD_PRELOAD", "/tmp/libx.so", "/tmp"},
      {"LD_PRELOAD", "/var/tmp/.x/l.so", "/var/tmp"},
      {"LD_PRELOAD", "/dev/shm/l.so", "/dev/shm"},
      {"LD_PRELOAD", "/proc/self/fd/3", "/proc"},
      {"LD_PRELOAD", "/home/bob/l.so", "/home"},
      {"LD_PRELOAD", "/root/l.so", "/root"},
      {"LD_PRELOAD", "/usr/lib/.cache/l.so", "a hidden directory"},
      {"LD_PRELOAD", "./l.so", "a relative path"},
      {"LD_PRELOAD", "lib/l.so", "a relative path"},
      {"LD_LIBRARY_PATH", "lib", "a relative path"},
      {"LD_LIBRARY_PATH", "/tmp", "/tmp"},
      // Benign.
      {"LD_PRELOAD", "libjemalloc.so.2", ""},
      {"LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", ""},
      {"LD_PRELOAD", "/usr/$LIB/libfoo.so", ""},
      {"LD_LIBRARY_PATH", "$ORIGIN/../lib", ""},
      {"LD_LIBRARY_PATH", "/opt/app/lib", ""},
      {"LD_LIBRARY_PATH", "/tmpfoo/lib", ""},
      {"LD_LIBRARY_PATH", "", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(suspicious_loader_path(c.variable, c.entry), c.why) << c.variable << "=" << c.entry;
  }
}

TEST(EnvPreload, CheckEnvironment) {
  const policy::Scoring sc;
  std::vector<policy::Finding> f = check_environment(
      {"PATH=/usr/bin", "LD_LIBRARY_PATH=/usr/lib::/tmp/.l", "LD_PRELOAD=libjemalloc.so.2"}, sc);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].rule_id, "env-preload");
  EXPECT_EQ(f[0].field_path, "environ[1]");
  EXPECT_EQ(f[0].message, "LD_LIBRARY_PATH loads from /tmp");
  EXPECT_EQ(f[0].evidence, "LD_LIBRARY_PATH=/tmp/.l");
  EXPECT_EQ(evidence_class(kRuleEnvPreload), EvidenceClass::kEnvironment);
  EXPECT_FALSE(score_process(f, sc).miner);

  // Spaces separate LD_PRELOAD entries too.
  EXPECT_EQ(check_environment({"LD_PRELOAD=/usr/lib/a.so /dev/shm/b.so"}, sc).size(), 1u);
  // Not the variable, only a prefix of its name, or not in KEY=value form.
  EXPECT_TRUE(
      check_environment({"LD_PRELOADX=/tmp/a.so", "XLD_PRELOAD=/tmp/a", "LD_PRELOAD"}, sc).empty());
  // A deleted preload library, as `exists` reports it.
  auto gone = [](const std::string& path) { return path != "/usr/lib/gone.so"; };
  f = check_environment({"LD_PRELOAD=/usr/lib/kept.so:/usr/lib/gone.so"}, sc, gone);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].message, "LD_PRELOAD loads from a file that no longer exists");
  EXPECT_TRUE(check_environment({"LD_PRELOAD=/usr/lib/kept.so"}, sc, gone).empty());
  // Hostile bytes are evidence, never a crash.
  f = check_environment({std::string("LD_PRELOAD=\xff\x1b[2J/\0/tmp", 22), "=", ""}, sc);
  EXPECT_EQ(f.size(), 1u);
}

class EvidenceScan : public ::testing::Test {
 protected:
  EvidenceScan() : proc_("proc_evidence") {}

  ScanReport scan(const std::string& second_sample) {
    Scanner scanner(HostView({proc_.path(), testdata("host_evidence")}), &clock_, nullptr, nullptr,
                    policy::built_in_default(), ScanOptions{});
    EXPECT_TRUE(scanner.prime().ok());
    proc_.overlay(second_sample);
    clock_.advance(std::chrono::seconds(1));
    Result<ScanReport> r = scanner.scan();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(*r) : ScanReport{};
  }

  TempTree proc_;
  FakeClock clock_;
};

TEST_F(EvidenceScan, AMinerAtItsCpuLimitIsAHog) {
  ScanReport r = scan("proc_evidence_t1");
  const ProcessReport* limited = find_pid(r, 110);
  ASSERT_NE(limited, nullptr);
  EXPECT_DOUBLE_EQ(limited->cpu_percent, 48.0);
  const policy::Finding* hog = finding(limited, "cpu-hog");
  ASSERT_NE(hog, nullptr);
  EXPECT_EQ(hog->message, "uses 48% of a CPU, 96% of its 500m limit");
  EXPECT_NE(hog->evidence.find("kubepods-burstable-pod5f1e2d3c_4b5a"), std::string::npos)
      << hog->evidence;
  EXPECT_FALSE(limited->miner);  // CPU alone never is
  EXPECT_EQ(limited->container.container_id,
            "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00");
  // The same use without a limit on a half-idle host is nothing.
  EXPECT_EQ(find_pid(r, 111), nullptr);
}

TEST_F(EvidenceScan, AProcessAtItsFairShareOnABusyHostIsAHog) {
  ScanReport r = scan("proc_evidence_busy_t1");
  const policy::Finding* hog = finding(find_pid(r, 111), "cpu-hog");
  ASSERT_NE(hog, nullptr);
  EXPECT_EQ(hog->message,
            "uses 48% of a CPU, 96% of its fair share on a busy host (2 CPUs 100% busy, 4 "
            "processes competing)");
  EXPECT_NE(finding(find_pid(r, 110), "cpu-hog"), nullptr);
}

TEST_F(EvidenceScan, Argv0OfAnotherProgramWithAMinerPortSessionIsAMiner) {
  ScanReport r = scan("proc_evidence_t1");
  const ProcessReport* fake = find_pid(r, 120);
  ASSERT_NE(fake, nullptr);
  EXPECT_EQ(rules_of(fake->findings),
            (std::set<std::string>{"argv0-mismatch", "exe-tmp", "miner-port"}));
  EXPECT_EQ(finding(fake, "argv0-mismatch")->message,
            "argv[0] names nginx but the executable is x");
  EXPECT_TRUE(fake->miner);
  EXPECT_EQ(fake->score, 110);
  EXPECT_EQ(find_pid(r, 121), nullptr);  // the real nginx
}

TEST_F(EvidenceScan, LoaderVariablesOfCandidates) {
  ScanReport r = scan("proc_evidence_t1");
  const ProcessReport* preload = find_pid(r, 130);
  ASSERT_NE(preload, nullptr);
  EXPECT_EQ(rules_of(preload->findings), (std::set<std::string>{"env-preload"}));
  EXPECT_EQ(preload->findings[0].message, "LD_PRELOAD loads from /dev/shm");
  EXPECT_EQ(preload->findings[0].field_path, "environ[1]");
  EXPECT_FALSE(preload->miner);
  EXPECT_EQ(find_pid(r, 131), nullptr);  // system paths and a bare library name
  EXPECT_EQ(find_pid(r, 132), nullptr);  // no CPU, no findings: environ is not read
}

}  // namespace
}  // namespace orderguard::agent
