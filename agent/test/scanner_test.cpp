#include "agent/scanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/report.h"
#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::TempTree;
using testing::testdata;

class SetProbe final : public ProcessProbe {
 public:
  bool exists(pid_t pid) override { return alive.count(pid) > 0; }
  std::set<int> alive;
};

class MapResolver final : public Resolver {
 public:
  std::vector<IpAddress> resolve(const std::string& host) override {
    if (host == "pool.supportxmr.com") return {*IpAddress::parse("198.51.100.7")};
    return {};
  }
};

std::set<std::string> rules_of(const ProcessReport& p) {
  std::set<std::string> out;
  for (const auto& f : p.findings) out.insert(f.rule_id);
  return out;
}

const ProcessReport* find_pid(const ScanReport& r, int pid) {
  for (const ProcessReport& p : r.processes) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

class ScannerTest : public ::testing::Test {
 protected:
  ScannerTest() : proc_("proc") {
    HostView v({proc_.path(), testdata("host")});
    std::vector<int> listed = *v.list_pids();
    probe_.alive.insert(listed.begin(), listed.end());
    probe_.alive.insert(777);
  }

  ScanReport scan_twice() {
    pools_.set_hosts(pool_hosts_to_resolve({}));
    pools_.refresh();
    Scanner scanner(HostView({proc_.path(), testdata("host")}), &clock_, &probe_, &pools_,
                    policy::built_in_default(), ScanOptions{});
    EXPECT_TRUE(scanner.prime().ok());
    proc_.overlay("proc_t1");
    clock_.advance(std::chrono::seconds(1));
    Result<ScanReport> r = scanner.scan();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(*r) : ScanReport{};
  }

  TempTree proc_;
  FakeClock clock_;
  SetProbe probe_;
  MapResolver resolver_;
  PoolAddressBook pools_{&resolver_, &clock_, std::chrono::minutes(10)};
};

TEST(PoolHostsToResolve, BuiltInsUnlessEveryPolicyTurnsThemOffPlusPoolHosts) {
  std::vector<std::string> builtin = pool_hosts_to_resolve({});
  EXPECT_NE(std::find(builtin.begin(), builtin.end(), "pool.supportxmr.com"), builtin.end());
  EXPECT_TRUE(std::is_sorted(builtin.begin(), builtin.end()));

  nlohmann::json own = {{"metadata", {{"name", "own"}}},
                        {"spec",
                         {{"builtinIndicators", false},
                          {"poolHosts", {"pool.corp-evil.io", "192.0.2.9", "pool.corp-evil.io"}}}}};
  EXPECT_EQ(pool_hosts_to_resolve({own}),
            (std::vector<std::string>{"192.0.2.9", "pool.corp-evil.io"}));

  nlohmann::json defaults = {{"metadata", {{"name", "defaults"}}}, {"spec", {{"mode", "Audit"}}}};
  std::vector<std::string> both = pool_hosts_to_resolve({own, defaults});
  EXPECT_EQ(both.size(), builtin.size() + 2);
  EXPECT_NE(std::find(both.begin(), both.end(), "pool.corp-evil.io"), both.end());
  EXPECT_NE(std::find(both.begin(), both.end(), "pool.supportxmr.com"), both.end());
}

TEST_F(ScannerTest, FullScanOfTheInfectedFixture) {
  ScanReport r = scan_twice();
  EXPECT_DOUBLE_EQ(r.cpu_interval_seconds, 1.0);
  EXPECT_EQ(r.pool_addresses, 1u);
  EXPECT_EQ(r.processes_scanned, 10u);  // 12 listed; 600 vanished, 601 truncated
  EXPECT_EQ(r.network_namespaces, 2u);
  EXPECT_EQ(r.threshold, 100);

  const ProcessReport* xmrig = find_pid(r, 100);
  ASSERT_NE(xmrig, nullptr);
  EXPECT_TRUE(xmrig->miner);
  EXPECT_EQ(xmrig->container.runtime, "containerd");
  EXPECT_EQ(xmrig->container.container_id,
            "4e0f1b7c2a9d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f");
  EXPECT_EQ(xmrig->container.pod_uid, "ac04f3f2-1f2c-11e9-b015-1ebee232acfa");
  EXPECT_TRUE(rules_of(*xmrig).count("stratum-url"));
  EXPECT_TRUE(rules_of(*xmrig).count("cpu-hog"));
  EXPECT_TRUE(rules_of(*xmrig).count("miner-port"));
  EXPECT_DOUBLE_EQ(xmrig->cpu_percent, 95.0);

  const ProcessReport* stealth = find_pid(r, 400);
  ASSERT_NE(stealth, nullptr);
  EXPECT_EQ(rules_of(*stealth), (std::set<std::string>{"cpu-hog", "pool-connection"}));
  EXPECT_EQ(stealth->score, 100);
  EXPECT_TRUE(stealth->miner);
  EXPECT_EQ(stealth->container.runtime, "cri-o");
  EXPECT_EQ(stealth->container.pod_uid, "63b3ebfc-2890-11e9-8154-16bf8ef8d9dc");

  const ProcessReport* fake = find_pid(r, 200);
  ASSERT_NE(fake, nullptr);
  EXPECT_TRUE(fake->miner);
  EXPECT_TRUE(fake->container.empty());

  const ProcessReport* ffmpeg = find_pid(r, 300);
  ASSERT_NE(ffmpeg, nullptr);
  EXPECT_EQ(rules_of(*ffmpeg), (std::set<std::string>{"cpu-hog"}));
  EXPECT_FALSE(ffmpeg->miner);
  EXPECT_DOUBLE_EQ(ffmpeg->cpu_percent, 390.0);

  const ProcessReport* sidecar = find_pid(r, 401);
  ASSERT_NE(sidecar, nullptr);
  EXPECT_FALSE(sidecar->miner);
  ASSERT_NE(find_pid(r, 500), nullptr);
  EXPECT_FALSE(find_pid(r, 500)->miner);
  for (int clean : {1, 2, 10, 501}) EXPECT_EQ(find_pid(r, clean), nullptr) << clean;

  // Highest score first.
  EXPECT_TRUE(std::is_sorted(
      r.processes.begin(), r.processes.end(),
      [](const ProcessReport& a, const ProcessReport& b) { return a.score > b.score; }));
  ASSERT_FALSE(r.top_cpu.empty());
  EXPECT_EQ(r.top_cpu[0].pid, 300);
  ASSERT_FALSE(r.top_threads.empty());
  EXPECT_EQ(r.top_threads[0].pid, 300);

  std::set<std::string> host_rules;
  for (const auto& f : r.host_findings) host_rules.insert(f.rule_id);
  EXPECT_EQ(host_rules, (std::set<std::string>{"hidden-process", "ld-preload", "cron-persistence",
                                               "systemd-persistence", "dropper-file"}));
  EXPECT_TRUE(r.has_miner_severity());
}

TEST_F(ScannerTest, FirstScanWithoutBaselineHasNoCpuFindings) {
  Scanner scanner(HostView({proc_.path(), testdata("host_clean")}), &clock_, nullptr, nullptr,
                  policy::built_in_default(), ScanOptions{});
  Result<ScanReport> r = scanner.scan();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cpu_interval_seconds, 0);
  EXPECT_TRUE(r->top_cpu.empty());
  for (const ProcessReport& p : r->processes) EXPECT_FALSE(rules_of(p).count("cpu-hog"));
  EXPECT_TRUE(r->host_findings.empty());
}

TEST_F(ScannerTest, SelfIsNeverReported) {
  ScanOptions opts;
  opts.self_pid = 100;
  Scanner scanner(HostView({proc_.path(), testdata("host_clean")}), &clock_, nullptr, nullptr,
                  policy::built_in_default(), opts);
  Result<ScanReport> r = scanner.scan();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(find_pid(*r, 100), nullptr);
}

TEST(ScanReport, MinerSeverity) {
  ScanReport r;
  EXPECT_FALSE(r.has_miner_severity());
  ProcessReport hog;
  hog.findings.push_back(policy::Finding{});
  r.processes.push_back(hog);
  EXPECT_FALSE(r.has_miner_severity());
  policy::Finding weak;
  weak.severity = policy::Severity::kWeak;
  r.host_findings.push_back(weak);
  EXPECT_FALSE(r.has_miner_severity());
  r.processes[0].miner = true;
  EXPECT_TRUE(r.has_miner_severity());
}

TEST(Scanner, UnreadableProcRootIsAnError) {
  FakeClock clock;
  Scanner scanner(HostView({"/nonexistent-proc", "/"}), &clock, nullptr, nullptr,
                  policy::built_in_default(), ScanOptions{});
  EXPECT_FALSE(scanner.prime().ok());
  EXPECT_FALSE(scanner.scan().ok());
}

TEST_F(ScannerTest, JsonAndTableReports) {
  ScanReport r = scan_twice();
  nlohmann::json j = to_json(r);
  EXPECT_EQ(j["minerSeverity"], true);
  EXPECT_EQ(j["processesScanned"], 10);
  ASSERT_TRUE(j["processes"].is_array());
  const nlohmann::json* p400 = nullptr;
  for (const auto& p : j["processes"]) {
    if (p["pid"] == 400) p400 = &p;
  }
  ASSERT_NE(p400, nullptr);
  EXPECT_EQ((*p400)["containerId"],
            "73bfe475650de66df8e2affdc98d440dcbe84f8df83b6f75a68a82eb7026136a");
  EXPECT_EQ((*p400)["miner"], true);
  EXPECT_EQ((*p400)["findings"][0]["rule"].is_string(), true);
  EXPECT_TRUE(j["hostFindings"].is_array());
  std::string table = format_table(r);
  EXPECT_NE(table.find("MINER"), std::string::npos);
  EXPECT_NE(table.find("ld-preload"), std::string::npos);
  EXPECT_NE(table.find("RESULT: miner findings"), std::string::npos);
}

// A process that exec()s keeps its pid and start time, and an exec that takes under a clock
// tick keeps its CPU ticks too: the scanner must not reuse the clean verdict of what ran
// before (scanner.h, "Unchanged processes"). The fixture is written here because each step
// rewrites one process's files.
class ExecReuseTest : public ::testing::Test {
 protected:
  static constexpr int kPid = 4242;

  ExecReuseTest() {
    char tmpl[] = "/tmp/orderguard-exec-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    std::filesystem::create_directories(root_ + "/4242/ns");
    write("stat", "cpu  1000 0 500 8500 0 0 0 0 0 0\ncpu0 1000 0 500 8500 0 0 0 0 0 0\n");
    write("4242/cgroup", "0::/system.slice/app.service\n");
    write("4242/status", "Name:\tsleep\nTgid:\t4242\nPPid:\t1\n");
    std::filesystem::create_symlink("net:[4026531840]", root_ + "/4242/ns/net");
    run("sleep", kArgStart, "/usr/bin/sleep",
        std::string("sleep\0"
                    "86400\0",
                    12));
  }
  ~ExecReuseTest() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root_ + "/" + rel, std::ios::binary | std::ios::trunc) << text;
  }
  // The process's files as after exec(path, argv) with comm `comm` and argv at `arg_start`;
  // pid, start time and CPU ticks never change.
  void run(const std::string& comm, uint64_t arg_start, const std::string& exe,
           const std::string& cmdline) {
    std::ostringstream stat;
    stat << kPid << " (" << comm << ") S 1 " << kPid << " " << kPid
         << " 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5000 1000000 200 18446744073709551615 "
         << "94000000000000 94000000100000 140730000000000 "       // code, stack (26-28)
         << "0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 "                    // 29-44
         << "94000000200000 94000000300000 94000001000000 "        // data, brk (45-47)
         << arg_start << " " << arg_start + cmdline.size() << " "  // argv (48-49)
         << arg_start + cmdline.size() << " " << arg_start + 512 << " 0\n";
    write("4242/stat", stat.str());
    write("4242/cmdline", cmdline);
    std::filesystem::remove(root_ + "/4242/exe");
    std::filesystem::create_symlink(exe, root_ + "/4242/exe");
  }

  Scanner scanner() {
    ScanOptions options;
    options.check_hidden = false;
    options.check_persistence = false;
    options.recheck_every = 1000;  // no periodic full check to hide a missed exec
    return Scanner(HostView({root_, testdata("host_clean")}), &clock_, nullptr, nullptr,
                   policy::built_in_default(), options);
  }

  ScanReport scan(Scanner& s) {
    clock_.advance(std::chrono::seconds(1));
    Result<ScanReport> r = s.scan();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(*r) : ScanReport{};
  }

  static constexpr uint64_t kArgStart = 140729999990000;
  static inline const std::string kMinerArgv =
      std::string("xmrig\0-o\0stratum+tcp://pool.supportxmr.com:3333\0", 49);
  std::string root_;
  FakeClock clock_;
};

TEST_F(ExecReuseTest, AnUnchangedProcessIsNotReadAgain) {
  Scanner s = scanner();
  ASSERT_TRUE(s.prime().ok());
  EXPECT_TRUE(scan(s).processes.empty());
  ScanReport r = scan(s);
  EXPECT_EQ(r.processes_scanned, 1u);
  EXPECT_EQ(r.processes_reused, 1u);
  EXPECT_TRUE(r.processes.empty());
}

TEST_F(ExecReuseTest, AMinerExecdUnderTheSameNameIsFound) {
  Scanner s = scanner();
  ASSERT_TRUE(s.prime().ok());
  EXPECT_TRUE(scan(s).processes.empty());
  // exec of a miner renamed "sleep": comm, pid, start time and ticks as before; only the
  // address space (argv elsewhere) tells.
  run("sleep", kArgStart + 4096, "/tmp/sleep", kMinerArgv);
  ScanReport r = scan(s);
  EXPECT_EQ(r.processes_reused, 0u);
  const ProcessReport* p = find_pid(r, kPid);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->miner);
  EXPECT_TRUE(rules_of(*p).count("stratum-url"));
}

TEST_F(ExecReuseTest, AMinerExecdUnderItsOwnNameIsFound) {
  Scanner s = scanner();
  ASSERT_TRUE(s.prime().ok());
  EXPECT_TRUE(scan(s).processes.empty());
  // Even with the same layout (ASLR off, argv of the same length): the new comm tells.
  run("xmrig", kArgStart, "/tmp/xmrig", kMinerArgv);
  ScanReport r = scan(s);
  const ProcessReport* p = find_pid(r, kPid);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->miner);
}

TEST_F(ExecReuseTest, AMinerIsCheckedInFullEveryScan) {
  Scanner s = scanner();
  ASSERT_TRUE(s.prime().ok());
  run("sleep", kArgStart + 4096, "/tmp/sleep", kMinerArgv);
  for (int i = 0; i < 3; ++i) {
    ScanReport r = scan(s);
    EXPECT_EQ(r.processes_reused, 0u);
    const ProcessReport* p = find_pid(r, kPid);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->miner);
  }
}

TEST_F(ExecReuseTest, WithoutALayoutNothingIsReused) {
  // No ptrace rights (or a kernel before 3.5): the layout fields read 0, so no exec can be
  // told from stat and every scan reads the process in full.
  Scanner s = scanner();
  run("sleep", 0, "/usr/bin/sleep",
      std::string("sleep\0"
                  "86400\0",
                  12));
  ASSERT_TRUE(s.prime().ok());
  scan(s);
  EXPECT_EQ(scan(s).processes_reused, 0u);
}

}  // namespace
}  // namespace orderguard::agent
