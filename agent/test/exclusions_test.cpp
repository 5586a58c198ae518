// Exclusions (exclusions.h), the report's headings (report.h) and the findings counter
// (run.h FindingCounter): pure logic over files this test writes and JSON Pods.
#include "agent/exclusions.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/report.h"
#include "agent/run.h"
#include "agent/scanner.h"
#include "base/json_doc.h"

namespace orderguard::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// sha256 of "hello\n" and of "" (coreutils sha256sum).
constexpr char kHelloDigest[] = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
constexpr char kEmptyDigest[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/orderguard-excl-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

policy::Finding finding(const std::string& rule, int weight) {
  policy::Finding f;
  f.rule_id = rule;
  f.weight = weight;
  f.field_path = "cmdline";
  f.message = rule;
  return f;
}

ProcessReport process(int pid, int score, bool miner, std::vector<std::string> rules = {"x"}) {
  ProcessReport p;
  p.pid = pid;
  p.start_time = 1000 + static_cast<uint64_t>(pid);
  p.comm = "proc" + std::to_string(pid);
  p.exe = "/usr/bin/proc" + std::to_string(pid);
  p.score = score;
  p.miner = miner;
  for (const std::string& r : rules) p.findings.push_back(finding(r, score));
  return p;
}

TEST(Sha256, DigestsOfFiles) {
  TempDir dir;
  for (auto [text, digest] : {std::pair{"hello\n", kHelloDigest}, std::pair{"", kEmptyDigest}}) {
    ExeDigestCache cache;
    EXPECT_EQ(cache.digest(dir.write("f", text)), std::optional<std::string>(digest));
  }
}

TEST(Sha256Sums, ParsesTextAndBinaryModeAndReportsBadLines) {
  std::vector<size_t> bad;
  auto d = parse_sha256sums(std::string(kHelloDigest) + "  orderguard-agent\n# comment\n\n" +
                                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855" +
                                " *orderguard-webhook\r\nnot a digest line\n" + kHelloDigest,
                            &bad);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[kHelloDigest], "orderguard-agent");
  EXPECT_EQ(d[kEmptyDigest], "orderguard-webhook");  // lowercased
  EXPECT_EQ(bad, (std::vector<size_t>{5, 6}));       // the last line has no name
  // Any bytes: no crash, nothing trusted.
  std::string junk(4096, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 37);
  EXPECT_TRUE(parse_sha256sums(junk, nullptr).empty());
}

TEST(TrustedBinaries, SelfAndFileAndMissingFile) {
  TempDir dir;
  std::string file = dir.write("sums", std::string(kHelloDigest) + "  orderguard-webhook\n");
  TrustedBinaries t = load_trusted_binaries(file);
  EXPECT_EQ(t.digests.size(), 2u);  // this test binary and the file's digest
  EXPECT_EQ(t.digests[kHelloDigest], file);
  int self = 0;
  for (const auto& [d, from] : t.digests) self += from == "this agent" ? 1 : 0;
  EXPECT_EQ(self, 1);

  TrustedBinaries missing = load_trusted_binaries(dir.path() + "/nope");
  EXPECT_EQ(missing.digests.size(), 1u);
  ASSERT_EQ(missing.notes.size(), 2u);
  EXPECT_NE(missing.notes[1].find("only this agent's own binary is trusted"), std::string::npos)
      << missing.notes[1];
}

TEST(ExeDigestCache, HashesAnUnchangedFileOnceAndAChangedOneAgain) {
  TempDir dir;
  std::string exe = dir.write("bin", "hello\n");
  std::string link = dir.path() + "/exe";  // like /proc/<pid>/exe
  fs::create_symlink(exe, link);
  ExeDigestCache cache;
  for (int scan = 0; scan < 3; ++scan) {
    EXPECT_EQ(cache.digest(link), std::optional<std::string>(kHelloDigest));
    cache.sweep();
  }
  EXPECT_EQ(cache.files_hashed(), 1u);
  // A new file (new inode, size) under the same path is hashed again.
  fs::remove(exe);
  dir.write("bin", "");
  EXPECT_EQ(cache.digest(link), std::optional<std::string>(kEmptyDigest));
  EXPECT_EQ(cache.files_hashed(), 2u);
  // Entries no scan looked up are dropped.
  cache.sweep();
  cache.sweep();
  EXPECT_EQ(cache.size(), 0u);
  // Not a regular file, or gone: no digest.
  EXPECT_EQ(cache.digest(dir.path()), std::nullopt);
  EXPECT_EQ(cache.digest(dir.path() + "/gone"), std::nullopt);
}

TEST(BinaryExclusion, DigestForAnyProcessGlobsForHostProcessesOnly) {
  TempDir dir;
  std::string exe = dir.write("orderguard-webhook", "hello\n");
  std::string other = dir.write("other", "not orderguard\n");
  ExclusionFlags flags;
  flags.trusted_binaries = dir.write("sums", std::string(kHelloDigest) + "  orderguard-webhook\n");
  flags.executables = {"/opt/corp/**"};
  Result<ExclusionConfig> config = exclusions_from_flags(flags);
  ASSERT_TRUE(config.ok()) << config.error().message;
  ExeDigestCache cache;
  // The trusted digest, in a container or not, under any name.
  for (bool in_container : {false, true}) {
    auto rule = binary_exclusion(*config, &cache, exe, "/anything/xmrig", in_container);
    ASSERT_TRUE(rule.has_value());
    EXPECT_EQ(rule->kind, "orderguard-binary");
    EXPECT_EQ(rule->value, std::string("sha256:") + kHelloDigest);
  }
  // The orderguard name on another file: not excluded.
  EXPECT_FALSE(binary_exclusion(*config, &cache, other, exe, false).has_value());
  // A glob: host processes only.
  auto rule = binary_exclusion(*config, &cache, other, "/opt/corp/bin/tool", false);
  ASSERT_TRUE(rule.has_value());
  EXPECT_EQ(rule->describe(), "executable /opt/corp/** (--exclude-exe)");
  EXPECT_FALSE(binary_exclusion(*config, &cache, other, "/opt/corp/bin/tool", true).has_value());
}

TEST(ExclusionFlags, MalformedFlagsAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"relative/*", ""}, {"/**", ""},     {"/opt/a**b", ""},
      {"/opt/[ab]", ""},  {"", "novalue"}, {"", "=x"}};
  for (const auto& [exe, label] : cases) {
    ExclusionFlags flags;
    flags.trusted_binaries = "";
    if (!exe.empty()) flags.executables = {exe};
    if (!label.empty()) flags.pod_labels = {label};
    EXPECT_FALSE(exclusions_from_flags(flags).ok()) << exe << label;
  }
}

json pod(const std::string& ns, const std::string& name, const std::string& uid, json labels) {
  return {{"metadata",
           {{"namespace", ns}, {"name", name}, {"uid", uid}, {"labels", std::move(labels)}}}};
}

TEST(PodExclusions, NamespaceAndSelectorsFromFlagsAndPolicies) {
  ExclusionFlags flags;
  flags.trusted_binaries = "";
  flags.namespaces = {"gpu"};
  flags.pod_labels = {"team=render"};
  Result<ExclusionConfig> config = exclusions_from_flags(flags);
  ASSERT_TRUE(config.ok());
  const JsonDoc doc = JsonDoc::from_json(nlohmann::json{
      {"metadata", {{"name", "corp"}}},
      {"spec",
       {{"agent",
         {{"exclusions",
           {{"namespaces", {"batch"}},
            {"podSelector",
             {{"matchExpressions",
               {{{"key", "tier"}, {"operator", "In"}, {"values", {"hpc"}}}}}}}}}}}}}});
  Result<policy::CompiledPolicy> p = policy::compile(doc.root());
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::vector<policy::CompiledPolicy> compiled;
  compiled.push_back(std::move(p).value());
  config->add_policies(policy::combine(std::move(compiled)));

  json pods =
      json::array({pod("gpu", "a", "11111111-1111-1111-1111-111111111111", json::object()),
                   pod("web", "b", "22222222-2222-2222-2222-222222222222", {{"team", "render"}}),
                   pod("web", "c", "33333333-3333-3333-3333-333333333333", {{"tier", "hpc"}}),
                   pod("batch", "d", "44444444-4444-4444-4444-444444444444", json::object()),
                   pod("web", "e", "55555555-5555-5555-5555-555555555555", {{"team", "shop"}})});
  ScanReport r;
  for (int i = 1; i <= 5; ++i) {
    ProcessReport pr = process(i, 200, true);
    pr.container.pod_uid = pods[i - 1]["metadata"]["uid"];
    r.processes.push_back(pr);
  }
  r.processes.push_back(process(6, 200, true));  // on the host: never a Pod exclusion
  apply_pod_exclusions(*config, pods, &r);
  ASSERT_EQ(r.processes.size(), 2u);
  EXPECT_EQ(r.processes[0].pid, 5);
  EXPECT_EQ(r.processes[1].pid, 6);
  ASSERT_EQ(r.excluded.size(), 4u);
  EXPECT_EQ(r.excluded[0].excluded_by->describe(), "namespace gpu (--exclude-namespace)");
  EXPECT_EQ(r.excluded[1].excluded_by->describe(),
            "pod-selector team=render (--exclude-pod-label)");
  EXPECT_EQ(r.excluded[2].excluded_by->describe(),
            "pod-selector tier in (hpc) (MinerPolicy corp spec.agent.exclusions.podSelector)");
  EXPECT_EQ(r.excluded[3].excluded_by->describe(),
            "namespace batch (MinerPolicy corp spec.agent.exclusions.namespaces[0])");
  EXPECT_TRUE(r.has_miner_severity());  // pid 5 and 6 are miners ...
  r.processes.clear();
  EXPECT_FALSE(r.has_miner_severity());  // ... excluded miners are not
}

ScanReport report_for_table() {
  ScanReport r;
  r.threshold = 100;
  r.processes = {process(10, 150, true, {"stratum-url"}), process(11, 40, false, {"cpu-hog"})};
  ProcessReport ex = process(12, 60, false, {"exe-tmp"});
  ex.excluded_by =
      ExclusionRule{"orderguard-binary", std::string("sha256:") + kHelloDigest, "this agent"};
  r.excluded = {ex};
  r.exclusions = {*ex.excluded_by, {"executable", "/opt/corp/**", "--exclude-exe"}};
  r.exclusion_notes = {"/usr/local/share/orderguard/binaries.sha256: missing"};
  return r;
}

// The section of `table` that starts with the line `heading`, up to the next blank line.
std::string section(const std::string& table, const std::string& heading) {
  size_t at = table.find("\n" + heading);
  if (at == std::string::npos) return "";
  size_t end = table.find("\n\n", at + 1);
  return table.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
}

TEST(ReportTable, MinersSuspiciousAndExcludedHeadings) {
  ScanReport r = report_for_table();
  std::string table = format_table(r);
  std::string miners = section(table, "MINERS (score >= 100)");
  EXPECT_NE(miners.find("  10 "), std::string::npos) << table;
  EXPECT_EQ(miners.find("  11 "), std::string::npos) << table;
  std::string suspicious = section(table, "SUSPICIOUS (below the miner threshold of 100)");
  EXPECT_NE(suspicious.find("1 process with findings below the threshold; -v lists them"),
            std::string::npos)
      << table;
  EXPECT_EQ(suspicious.find("  11 "), std::string::npos) << table;
  std::string verbose = section(format_table(r, true), "SUSPICIOUS");
  EXPECT_NE(verbose.find("  11 "), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("cpu-hog"), std::string::npos) << verbose;
  std::string excluded = section(table, "EXCLUDED");
  EXPECT_NE(excluded.find("  12 "), std::string::npos) << table;
  EXPECT_NE(excluded.find("excluded by orderguard-binary sha256:5891b5b5"), std::string::npos)
      << excluded;
  std::string exclusions = section("\n" + table, "EXCLUSIONS");
  EXPECT_NE(exclusions.find("orderguard-binary sha256:5891b5b522d5df08... (this agent)"),
            std::string::npos)
      << exclusions;
  EXPECT_NE(exclusions.find("executable /opt/corp/** (--exclude-exe)"), std::string::npos);
  EXPECT_NE(exclusions.find("note: /usr/local/share/orderguard/binaries.sha256: missing"),
            std::string::npos);
  EXPECT_NE(table.find("RESULT: miner findings"), std::string::npos);

  // No miner: the heading says none, and the result is clean.
  r.processes.erase(r.processes.begin());
  table = format_table(r);
  EXPECT_NE(section(table, "MINERS").find("  none"), std::string::npos) << table;
  EXPECT_NE(table.find("RESULT: clean"), std::string::npos);
}

TEST(ReportJson, ExcludedProcessesAndExclusions) {
  json j = to_json(report_for_table());
  ASSERT_EQ(j["processes"].size(), 2u);
  EXPECT_EQ(j["processes"][0]["miner"], true);
  EXPECT_EQ(j["processes"][1]["miner"], false);
  EXPECT_FALSE(j["processes"][0].contains("excludedBy"));
  ASSERT_EQ(j["excluded"].size(), 1u);
  EXPECT_EQ(j["excluded"][0]["pid"], 12);
  EXPECT_EQ(j["excluded"][0]["excludedBy"]["kind"], "orderguard-binary");
  EXPECT_EQ(j["excluded"][0]["excludedBy"]["source"], "this agent");
  ASSERT_EQ(j["exclusions"].size(), 2u);
  EXPECT_EQ(j["exclusions"][1]["value"], "/opt/corp/**");
  EXPECT_EQ(j["exclusionNotes"].size(), 1u);
}

TEST(FindingCounter, EachFindingOncePerProcessLifetime) {
  FindingCounter counter;
  std::set<std::pair<int, uint64_t>> alive;
  auto is_alive = [&](int pid, uint64_t start) { return alive.contains({pid, start}); };
  ScanReport r;
  r.processes = {process(1, 100, true, {"stratum-url", "cpu-hog"})};
  r.host_findings = {finding("ld-preload", 100)};
  alive.insert({1, 1001});
  EXPECT_EQ(counter.fresh(r, is_alive),
            (std::vector<std::string>{"stratum-url", "cpu-hog", "ld-preload"}));
  // The same process and host finding in later scans: nothing new.
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  // cpu-hog comes and goes: still the same process, not counted again; a new rule is.
  r.processes[0].findings = {finding("stratum-url", 100)};
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  r.processes[0].findings = {finding("cpu-hog", 100), finding("miner-port", 30)};
  EXPECT_EQ(counter.fresh(r, is_alive), (std::vector<std::string>{"miner-port"}));
  // Excluded processes are not counted.
  r.excluded = {process(2, 100, true, {"stratum-url"})};
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  // Same pid, new start time: a new process, and the old one (exited) is forgotten.
  alive.clear();
  alive.insert({1, 5000});
  r.processes[0].start_time = 5000;
  EXPECT_EQ(counter.fresh(r, is_alive), (std::vector<std::string>{"cpu-hog", "miner-port"}));
  EXPECT_EQ(counter.processes_remembered(), 1u);
  // Without findings but alive: remembered; exited: forgotten.
  r.processes.clear();
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  EXPECT_EQ(counter.processes_remembered(), 1u);
  alive.clear();
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  EXPECT_EQ(counter.processes_remembered(), 0u);
  // A host finding that went away and came back is counted again.
  r.host_findings.clear();
  EXPECT_TRUE(counter.fresh(r, is_alive).empty());
  r.host_findings = {finding("ld-preload", 100)};
  EXPECT_EQ(counter.fresh(r, is_alive), (std::vector<std::string>{"ld-preload"}));
}

}  // namespace
}  // namespace orderguard::agent
