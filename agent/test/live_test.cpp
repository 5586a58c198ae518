// Host tests: a real fake-miner process on this machine, seen through the real /proc, the
// real cgroup filesystem and the real orderguard-agent binary. The process is a copy of
// /bin/sh named xmrig whose argv carries a stratum URL, so no network or CPU burn is needed;
// only the CPU-quota case burns (half a CPU, in a cgroup of its own, for a few seconds), and
// the exclusion tests also run copies of the agent and of og_fake_miner under other names.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "agent/cgroup.h"
#include "agent/exclusions.h"
#include "agent/host_view.h"
#include "agent/scanner.h"
#include "base/clock.h"

namespace orderguard::agent {
namespace {

namespace fs = std::filesystem;

constexpr char kStratum[] = "stratum+tcp://pool.example:3333";

// Polls `done` until it holds or the deadline passes.
template <typename Pred>
bool wait_for(Pred done, std::chrono::seconds deadline = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// A copy of `source` named `name` in a directory of its own, run with `argv` (argv[0] included)
// and stdout/stderr to /dev/null, until destroyed. Started once /proc shows `marker` in its
// command line.
class CopiedProgram {
 public:
  CopiedProgram(const std::string& source, const std::string& name, std::vector<std::string> argv,
                const std::string& marker) {
    char tmpl[] = "/tmp/orderguard-live-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    exe_ = dir_ + "/" + name;
    fs::copy_file(source, exe_);
    fs::permissions(exe_, fs::perms::owner_all);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(exe_.c_str(), args.data());
      ::_exit(127);
    }
    if (pid_ > 0) ::setpgid(pid_, pid_);
    started_ = wait_for([&] {
      Result<std::string> cmd = HostView::read_file("/proc/" + std::to_string(pid_) + "/cmdline");
      return cmd.ok() && cmd->find(marker) != std::string::npos;
    });
  }
  ~CopiedProgram() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  CopiedProgram(const CopiedProgram&) = delete;
  CopiedProgram& operator=(const CopiedProgram&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return started_; }
  const std::string& exe() const { return exe_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string exe_;
  pid_t pid_ = -1;
  bool started_ = false;
};

// A copy of /bin/sh named xmrig whose argv carries a stratum URL; sh stays the parent of its
// sleep (the trailing ':' prevents exec), so its argv stays.
class FakeMiner : public CopiedProgram {
 public:
  FakeMiner()
      : CopiedProgram("/bin/sh", "xmrig",
                      {"xmrig", "-c", "sleep 600; :", "xmrig", "-o", kStratum, "--donate-level=1"},
                      kStratum) {}

  std::string proc(const std::string& file) const {
    return "/proc/" + std::to_string(pid()) + "/" + file;
  }
};

const ProcessReport* find_pid(const ScanReport& r, int pid) {
  for (const ProcessReport& p : r.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

TEST(Live, ScannerFindsARealFakeMiner) {
  FakeMiner miner;
  ASSERT_TRUE(miner.started());
  RealClock clock;
  ScanOptions opts;
  opts.check_hidden = false;
  opts.self_pid = static_cast<int>(::getpid());
  Scanner scanner(HostView({"/proc", "/"}), &clock, nullptr, nullptr, policy::built_in_default(),
                  opts);
  ASSERT_TRUE(scanner.prime().ok());
  Result<ScanReport> r = scanner.scan();
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ProcessReport* p = find_pid(*r, miner.pid());
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->miner);
  EXPECT_EQ(p->comm, "xmrig");
  std::set<std::string> rules;
  for (const auto& f : p->findings) rules.insert(f.rule_id);
  EXPECT_TRUE(rules.count("stratum-url"));
  EXPECT_TRUE(rules.count("miner-binary"));
  EXPECT_TRUE(rules.count("exe-tmp"));
}

TEST(Live, AgentBinaryReportsTheMinerAndExitsOne) {
  FakeMiner miner;
  ASSERT_TRUE(miner.started());
  std::string cmd = std::string(ORDERGUARD_AGENT_BINARY) +
                    " scan --output json --interval 100ms --no-hidden 2>/dev/null";
  FILE* out = ::popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string text;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), out)) text.append(buf, n);
  int status = ::pclose(out);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << text.substr(0, 500);
  bool found = false;
  for (const auto& p : j["processes"]) {
    if (p["pid"] == miner.pid()) {
      found = true;
      EXPECT_EQ(p["miner"], true);
    }
  }
  EXPECT_TRUE(found) << "pid " << miner.pid() << " not in the report";
}

// `orderguard-agent scan --output json` with `flags`: the report and the exit code.
std::pair<nlohmann::json, int> agent_scan(const std::string& flags) {
  std::string cmd = std::string(ORDERGUARD_AGENT_BINARY) +
                    " scan --output json --interval 200ms --no-hidden " + flags + " 2>/dev/null";
  FILE* out = ::popen(cmd.c_str(), "r");
  if (out == nullptr) return {nlohmann::json(), -1};
  std::string text;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), out)) text.append(buf, n);
  int status = ::pclose(out);
  return {nlohmann::json::parse(text, nullptr, false),
          WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// The entry of `pid` in j[list], or null.
nlohmann::json entry(const nlohmann::json& j, const std::string& list, int pid) {
  if (!j.is_object() || !j.contains(list)) return nullptr;
  for (const auto& p : j[list]) {
    if (p["pid"] == pid) return p;
  }
  return nullptr;
}

// The agent recognises orderguard binaries by digest, never by name: a copy of the agent
// itself under a miner's name is excluded with no trusted-binaries file at all, and a shell
// named orderguard-webhook carrying a stratum URL is reported.
TEST(Live, AgentNeverReportsACopyOfItselfButReportsAnImpostorByName) {
  CopiedProgram copy(ORDERGUARD_AGENT_BINARY, "xmrig",
                     {"xmrig", "scan", "--watch", "10m", "--interval", "50ms", "--no-hidden"},
                     "--watch");
  ASSERT_TRUE(copy.started());
  CopiedProgram impostor(
      "/bin/sh", "orderguard-webhook",
      {"orderguard-webhook", "-c", "sleep 600; :", "orderguard-webhook", "-o", kStratum}, kStratum);
  ASSERT_TRUE(impostor.started());

  auto [j, code] = agent_scan("--trusted-binaries /nonexistent/binaries.sha256");
  ASSERT_TRUE(j.is_object()) << "no JSON report";
  EXPECT_EQ(code, 1);
  // The copy has findings (a miner's name, run from /tmp) but is excluded as this agent.
  EXPECT_TRUE(entry(j, "processes", copy.pid()).is_null()) << j["processes"].dump();
  nlohmann::json excluded = entry(j, "excluded", copy.pid());
  ASSERT_FALSE(excluded.is_null()) << j.dump();
  EXPECT_FALSE(excluded["findings"].empty());
  EXPECT_EQ(excluded["excludedBy"]["kind"], "orderguard-binary");
  EXPECT_EQ(excluded["excludedBy"]["source"], "this agent");
  nlohmann::json reported = entry(j, "processes", impostor.pid());
  ASSERT_FALSE(reported.is_null()) << j.dump();
  EXPECT_EQ(reported["miner"], true);
  // The missing file is said, and this agent's digest is listed among the exclusions.
  bool said = false;
  for (const auto& n : j["exclusionNotes"]) {
    said = said || n.get<std::string>().find("only this agent's own binary") != std::string::npos;
  }
  EXPECT_TRUE(said) << j["exclusionNotes"].dump();
  ASSERT_EQ(j["exclusions"].size(), 1u);
  EXPECT_EQ(j["exclusions"][0]["kind"], "orderguard-binary");
}

// A binary whose digest is in the trusted-binaries file, burning CPU under a miner's name with
// a stratum URL in its argv, is excluded; without the file it is a miner.
TEST(Live, TrustedDigestExcludesABurningMinerUnderAnyName) {
  CopiedProgram miner(ORDERGUARD_FAKE_MINER_BINARY, "xmrig", {"xmrig", "--burn", "-o", kStratum},
                      kStratum);
  ASSERT_TRUE(miner.started());
  int fd = ::open(ORDERGUARD_FAKE_MINER_BINARY, O_RDONLY);
  ASSERT_GE(fd, 0);
  Result<std::string> digest = sha256_hex(fd);
  ::close(fd);
  ASSERT_TRUE(digest.ok());
  const std::string sums = miner.dir() + "/binaries.sha256";
  std::ofstream(sums) << *digest << "  orderguard-operator\n";

  auto [trusted, code] = agent_scan("--trusted-binaries " + sums);
  ASSERT_TRUE(trusted.is_object());
  EXPECT_TRUE(entry(trusted, "processes", miner.pid()).is_null()) << trusted.dump();
  nlohmann::json excluded = entry(trusted, "excluded", miner.pid());
  ASSERT_FALSE(excluded.is_null()) << trusted.dump();
  EXPECT_EQ(excluded["miner"], true);  // what it would have been
  EXPECT_EQ(excluded["excludedBy"]["value"], "sha256:" + *digest);
  EXPECT_EQ(excluded["excludedBy"]["source"], sums);

  auto [untrusted, code2] = agent_scan("--trusted-binaries /nonexistent/binaries.sha256");
  nlohmann::json reported = entry(untrusted, "processes", miner.pid());
  ASSERT_FALSE(reported.is_null()) << untrusted.dump();
  EXPECT_EQ(reported["miner"], true);
  EXPECT_EQ(code2, 1);
}

// --exclude-exe: a host process whose executable matches is excluded, with the glob shown.
TEST(Live, ExcludeExeGlobExcludesAHostProcess) {
  FakeMiner miner;
  ASSERT_TRUE(miner.started());
  auto [j, code] = agent_scan("--exclude-exe '/tmp/orderguard-live-*/xmrig'");
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(entry(j, "processes", miner.pid()).is_null());
  nlohmann::json excluded = entry(j, "excluded", miner.pid());
  ASSERT_FALSE(excluded.is_null()) << j.dump();
  EXPECT_EQ(excluded["excludedBy"]["kind"], "executable");
  EXPECT_EQ(excluded["excludedBy"]["value"], "/tmp/orderguard-live-*/xmrig");
  EXPECT_EQ(excluded["excludedBy"]["source"], "--exclude-exe");
}

TEST(Live, AgentBinaryExitsTwoOnAMissingProcRoot) {
  std::string cmd = std::string(ORDERGUARD_AGENT_BINARY) +
                    " scan --host-proc /nonexistent --interval 50ms >/dev/null 2>&1";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

// Processes are born and die while the scan runs: the scan must succeed, skip them, and not
// mistake them (or threads) for hidden processes.
TEST(Live, ProcessChurnGivesNoHiddenProcessFalsePositive) {
  pid_t churn = ::fork();
  if (churn == 0) {
    ::setpgid(0, 0);
    const char* argv[] = {"sh", "-c", "while :; do /bin/true; done", nullptr};
    ::execv("/bin/sh", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ASSERT_GT(churn, 0);
  ::setpgid(churn, churn);
  RealClock clock;
  RealProcessProbe probe;
  ScanOptions opts;
  opts.self_pid = static_cast<int>(::getpid());
  opts.check_persistence = false;
  Scanner scanner(HostView({"/proc", "/"}), &clock, &probe, nullptr, policy::built_in_default(),
                  opts);
  ASSERT_TRUE(scanner.prime().ok());
  std::vector<std::string> hidden;
  for (int i = 0; i < 3; ++i) {
    Result<ScanReport> r = scanner.scan();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_GT(r->processes_scanned, 0u);
    for (const auto& f : r->host_findings) {
      if (f.rule_id == "hidden-process") hidden.push_back(f.field_path);
    }
  }
  ::kill(-churn, SIGKILL);
  ::waitpid(churn, nullptr, 0);
  EXPECT_TRUE(hidden.empty()) << hidden.front();
}

// A cgroup2 hierarchy of this test's own: a helper child unshares its mount namespace, makes
// every mount private (so nothing leaks to the host's mount table) and mounts cgroup2 on a
// temporary directory, which works on a cgroup v1, hybrid or v2 host alike. The hierarchy
// itself is the host's (there is one cgroup2 hierarchy per kernel), so the directories it makes
// are real cgroups and /proc/<pid>/cgroup's 0:: line names them; the helper removes them
// when the test closes its pipe (after it killed the processes it moved in).
class PrivateCgroup2 {
 public:
  // Creates `rel_dirs` (each relative to the hierarchy's root, parents first) and moves `pid`
  // into the last one.
  PrivateCgroup2(std::vector<std::string> rel_dirs, pid_t pid) {
    char tmpl[] = "/tmp/orderguard-cgroup2-XXXXXX";
    mount_ = ::mkdtemp(tmpl);
    // Everything the child needs is made before fork: it only makes system calls.
    std::vector<std::string> dirs;
    for (const std::string& d : rel_dirs) dirs.push_back(mount_ + "/" + d);
    const std::string procs = dirs.back() + "/cgroup.procs";
    const std::string pid_text = std::to_string(pid);
    int report[2];
    int done[2];
    if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(done, O_CLOEXEC) != 0) return;
    helper_ = ::fork();
    if (helper_ == 0) {
      ::close(report[0]);
      ::close(done[1]);
      auto fail = [&](const char* what) {
        (void)!::write(report[1], what, std::strlen(what));
        ::_exit(1);
      };
      if (::unshare(CLONE_NEWNS) != 0) fail("unshare(CLONE_NEWNS)");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("rprivate");
      if (::mount("cgroup2", mount_.c_str(), "cgroup2", 0, nullptr) != 0) fail("mount cgroup2");
      for (const std::string& d : dirs) {
        if (::mkdir(d.c_str(), 0755) != 0) fail("mkdir");
      }
      int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, pid_text.data(), pid_text.size()) < 0) fail("cgroup.procs");
      ::close(fd);
      (void)!::write(report[1], "ok", 2);
      char c;
      while (::read(done[0], &c, 1) > 0) {
      }
      // The test killed the process; it leaves the cgroup when reaped. Deepest first.
      bool clean = true;
      for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        bool removed = false;
        for (int i = 0; i < 500 && !removed; ++i) {
          removed = ::rmdir(it->c_str()) == 0 || errno == ENOENT;
          if (!removed) ::usleep(20000);
        }
        clean = clean && removed;
      }
      ::umount2(mount_.c_str(), MNT_DETACH);
      ::_exit(clean ? 0 : 3);
    }
    ::close(report[1]);
    ::close(done[0]);
    done_ = done[1];
    char buf[128];
    ssize_t n = helper_ > 0 ? ::read(report[0], buf, sizeof(buf)) : -1;
    ::close(report[0]);
    status_ = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "helper died";
  }
  // Removes the cgroups; true when every one was removed.
  bool close() {
    if (helper_ <= 0) return false;
    ::close(done_);
    int status = 0;
    ::waitpid(helper_, &status, 0);
    helper_ = -1;
    std::error_code ec;
    fs::remove(mount_, ec);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  ~PrivateCgroup2() { close(); }
  PrivateCgroup2(const PrivateCgroup2&) = delete;
  PrivateCgroup2& operator=(const PrivateCgroup2&) = delete;

  bool ok() const { return status_ == "ok"; }
  const std::string& status() const { return status_; }

 private:
  std::string mount_;
  pid_t helper_ = -1;
  int done_ = -1;
  std::string status_;
};

TEST(Live, RealCgroupNamedLikeAContainerdContainer) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting cgroup2 needs root";
  const std::string uid = "0b9d2f1e-5c3a-4e7b-9f60-1a2b3c4d5e6f";
  std::string uid_ = uid;
  std::replace(uid_.begin(), uid_.end(), '-', '_');
  const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string top = "orderguard-test-" + std::to_string(::getpid()) + ".slice";
  const std::string pod = top + "/kubepods-besteffort-pod" + uid_ + ".slice";
  const std::string ctr = pod + "/cri-containerd-" + id + ".scope";

  FakeMiner miner;
  ASSERT_TRUE(miner.started());
  PrivateCgroup2 cgroups({top, pod, ctr}, miner.pid());
  std::string text;
  if (cgroups.ok()) {
    Result<std::string> cg = HostView::read_file(miner.proc("cgroup"));
    if (cg.ok()) text = *cg;
  }
  ContainerRef ref = container_from_cgroup(text);
  // Clean up before asserting: the process must leave the cgroup before rmdir.
  ::kill(-miner.pid(), SIGKILL);
  ::kill(miner.pid(), SIGKILL);
  ::waitpid(miner.pid(), nullptr, 0);
  EXPECT_TRUE(cgroups.close()) << "cgroup left behind: " << top;

  ASSERT_TRUE(cgroups.ok()) << cgroups.status();
  EXPECT_NE(text.find("0::/"), std::string::npos) << text;
  EXPECT_NE(text.find(ctr), std::string::npos) << text;
  EXPECT_EQ(ref.runtime, "containerd");
  EXPECT_EQ(ref.container_id, id);
  EXPECT_EQ(ref.pod_uid, uid);
}

// A process burning a CPU inside a real cgroup with a 50% quota (cgroup v1's cpu controller,
// or cgroup v2's cpu.max): the scan measures it against its 500m limit. No timing is asserted:
// scans repeat until the finding appears, for up to a minute on a busy machine.
TEST(Live, BurnerUnderAHalfCpuQuotaIsACpuHog) {
  if (::geteuid() != 0) GTEST_SKIP() << "creating a cgroup needs root";
  std::string dir;
  std::string quota_file;
  std::string quota_text;
  const std::string name = "orderguard-cpu-test-" + std::to_string(::getpid());
  for (const std::string& v1 : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
    if (fs::exists(v1 + "/cpu.cfs_quota_us")) {
      dir = v1 + "/" + name;
      quota_file = "cpu.cfs_quota_us";
      quota_text = "50000";
      break;
    }
  }
  if (dir.empty()) {
    std::ifstream controllers("/sys/fs/cgroup/cgroup.subtree_control");
    std::string list((std::istreambuf_iterator<char>(controllers)),
                     std::istreambuf_iterator<char>());
    if (list.find("cpu ") == std::string::npos && list.find("cpu\n") == std::string::npos) {
      GTEST_SKIP() << "no cgroup cpu controller on this host";
    }
    dir = "/sys/fs/cgroup/" + name;
    quota_file = "cpu.max";
    quota_text = "50000 100000";
  }
  ASSERT_TRUE(fs::create_directory(dir)) << dir;
  { std::ofstream(dir + "/" + quota_file) << quota_text; }
  pid_t burner = ::fork();
  if (burner == 0) {
    volatile unsigned long x = 1;
    while (true) x = x * 6364136223846793005UL + 1;
  }
  ASSERT_GT(burner, 0);
  {
    std::ofstream procs(dir + "/cgroup.procs");
    procs << burner << std::flush;
  }

  RealClock clock;
  ScanOptions opts;
  opts.check_hidden = false;
  opts.check_persistence = false;
  opts.threads = false;
  opts.self_pid = static_cast<int>(::getpid());
  Scanner scanner(HostView({"/proc", "/"}), &clock, nullptr, nullptr, policy::built_in_default(),
                  opts);
  std::string message;
  std::string seen;
  if (scanner.prime().ok()) {
    for (int i = 0; i < 60 && message.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      Result<ScanReport> r = scanner.scan();
      if (!r.ok()) continue;
      const ProcessReport* p = find_pid(*r, burner);
      if (p == nullptr) continue;
      seen = std::to_string(p->cpu_percent);
      for (const auto& f : p->findings) {
        if (f.rule_id == "cpu-hog") message = f.message;
      }
    }
  }
  ::kill(burner, SIGKILL);
  ::waitpid(burner, nullptr, 0);
  bool removed = false;
  for (int i = 0; i < 250 && !removed; ++i) {
    removed = ::rmdir(dir.c_str()) == 0;
    if (!removed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(removed) << "cgroup left behind: " << dir;
  EXPECT_NE(message.find("of its 500m limit"), std::string::npos)
      << "message: " << message << ", last use seen: " << seen;
}

}  // namespace
}  // namespace orderguard::agent
