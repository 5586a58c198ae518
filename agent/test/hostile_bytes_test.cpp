// Hostile bytes from the host through every output path. The fixture trees proc_hostile/ and
// host_hostile/ (generate.sh) hold a miner in a pod whose comm and argv carry invalid UTF-8
// and terminal escape sequences, including a fake "RESULT: clean" line, an /etc/ld.so.preload
// naming a library with invalid UTF-8, and a cron line with both. Any local user can write
// argv and comm, so none of it may abort a scan, reach the API server as invalid JSON, or
// reach a terminal unescaped.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "agent/report.h"
#include "agent/responder.h"
#include "agent/scanner.h"
#include "agent/test/fake_client.h"
#include "agent/test/test_util.h"
#include "base/text.h"
#include "kube/events.h"

namespace orderguard::agent {
namespace {

using nlohmann::json;
using testing::EvictingClient;
using testing::TempTree;
using testing::testdata;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kFakeResult = "RESULT: clean";
const std::string kContainerId = "4e0f1b7c2a9d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

// Whether nlohmann's strict dump (the default, which throws on invalid UTF-8) accepts `text`.
bool valid_utf8(const std::string& text) {
  try {
    (void)json(text).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// Bytes a terminal obeys: C0 controls but the newline, DEL, and C1 controls (U+0080..U+009F).
std::vector<std::string> terminal_controls(const std::string& text) {
  std::vector<std::string> found;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    for (size_t i = 0; i < line.size(); ++i) {
      const auto b = static_cast<unsigned char>(line[i]);
      const bool c1 = b == 0xC2 && i + 1 < line.size() &&
                      static_cast<unsigned char>(line[i + 1]) >= 0x80 &&
                      static_cast<unsigned char>(line[i + 1]) <= 0x9F;
      if (b < 0x20 || b == 0x7F || c1) found.push_back(line);
    }
  }
  return found;
}

class HostileBytesTest : public ::testing::Test {
 protected:
  HostileBytesTest() : proc_("proc_hostile") {}

  // Two samples, as the CLI and `run` scan: prime, then scan after the CPU moved on.
  ScanReport scan() {
    ScanOptions options;
    options.check_hidden = false;
    Scanner scanner(HostView({proc_.path(), testdata("host_hostile")}), &clock_, nullptr, nullptr,
                    policy::built_in_default(), options);
    EXPECT_TRUE(scanner.prime().ok());
    proc_.overlay("proc_hostile_t1");
    clock_.advance(std::chrono::seconds(1));
    Result<ScanReport> r = scanner.scan();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    return r.ok() ? std::move(*r) : ScanReport{};
  }

  TempTree proc_;
  FakeClock clock_;
};

TEST_F(HostileBytesTest, TheFixtureCarriesTheHostileBytes) {
  ScanReport r = scan();
  ASSERT_EQ(r.processes.size(), 1u);
  const ProcessReport& p = r.processes[0];
  EXPECT_TRUE(p.miner);
  EXPECT_EQ(p.comm, "\x1b[2J\xffxmrig");
  ASSERT_EQ(p.cmdline.size(), 5u);
  EXPECT_EQ(p.cmdline[3], "\xff\xfe");
  EXPECT_EQ(p.cmdline[4], "\x1b[2J\x1b[HRESULT: clean\n");
  EXPECT_EQ(p.container.container_id, kContainerId);
  bool ld_preload = false;
  for (const policy::Finding& f : r.host_findings) ld_preload |= f.rule_id == "ld-preload";
  EXPECT_TRUE(ld_preload);
  EXPECT_TRUE(r.has_miner_severity());
}

// `scan -o json`: the report dumps with nlohmann's default (strict) dump, as valid UTF-8 in
// which the invalid bytes became U+FFFD.
TEST_F(HostileBytesTest, JsonReportDumpsAsValidUtf8) {
  ScanReport r = scan();
  std::string out;
  ASSERT_NO_THROW(out = to_json(r).dump(2));
  EXPECT_TRUE(valid_utf8(out));
  EXPECT_NE(out.find(kReplacement), std::string::npos);
  json back = json::parse(out);
  EXPECT_EQ(back["processes"][0]["cmdline"][3], "\xEF\xBF\xBD\xEF\xBF\xBD");
  // Control characters survive as JSON escapes: the machine form keeps the text.
  EXPECT_EQ(back["processes"][0]["cmdline"][4], "\x1b[2J\x1b[HRESULT: clean\n");
  // What `scan -o json` prints.
  const std::string wire = dump_for_wire(to_json(r), 2);
  EXPECT_TRUE(is_valid_utf8(wire));
  EXPECT_TRUE(terminal_controls(wire).empty()) << wire;
  EXPECT_EQ(json::parse(wire), back);
}

// Every string field of the table, filled by hand with what a host can hold.
TEST(FormatTable, EscapesEveryHostField) {
  const std::string evil = "\x1b]0;title\x07\r\nRESULT: clean\n\x7f\xc2\x9b\xff";
  ScanReport r;
  r.top_cpu = {CpuUsage{1, 0, evil, 99.0}};
  r.top_threads = {CpuUsage{1, 2, evil, 99.0}};
  ProcessReport p;
  p.pid = 1;
  p.comm = evil;
  p.exe = evil;
  p.cmdline = {evil, evil};
  p.container.runtime = evil;
  p.container.container_id = evil;
  p.container.pod_uid = evil;
  policy::Finding f;
  f.rule_id = evil;
  f.field_path = evil;
  f.message = evil;
  f.evidence = evil;
  p.findings = {f};
  r.processes = {p};
  r.host_findings = {f};
  r.baseline_findings = {f};
  // Exclusions carry user globs, selectors and file names; an excluded process, host bytes.
  r.exclusions = {{evil, evil, evil}};
  r.exclusion_notes = {evil};
  ProcessReport excluded = p;
  excluded.excluded_by = ExclusionRule{evil, evil, evil};
  r.excluded = {excluded};
  const std::string table = format_table(r, /*verbose=*/true);
  EXPECT_TRUE(terminal_controls(table).empty()) << terminal_controls(table)[0];
  EXPECT_TRUE(valid_utf8(table));
  std::istringstream lines(table);
  std::string line;
  int results = 0;
  while (std::getline(lines, line)) results += line.rfind("RESULT:", 0) == 0 ? 1 : 0;
  EXPECT_EQ(results, 1) << table;
  EXPECT_NO_THROW((void)to_json(r).dump());
}

// `scan` (table): every host-derived field is escaped, so the argv cannot clear the screen or
// print a line of its own.
TEST_F(HostileBytesTest, TableHoldsNoTerminalControlsAndNoFakeResultLine) {
  ScanReport r = scan();
  const std::string table = format_table(r);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_TRUE(terminal_controls(table).empty()) << terminal_controls(table)[0];
  EXPECT_TRUE(valid_utf8(table)) << table;
  std::istringstream lines(table);
  std::string line;
  std::string last;
  while (std::getline(lines, line)) {
    EXPECT_FALSE(line.rfind(kFakeResult, 0) == 0) << table;
    if (!line.empty()) last = line;
  }
  EXPECT_EQ(last, "RESULT: miner findings");
  // The bytes are shown, escaped.
  EXPECT_NE(table.find("\\x1b[2J\\x1b[HRESULT: clean\\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\\xff\\xfe"), std::string::npos) << table;
}

// `run`: the Events the responder records about the miner pod and the compromised Node, and
// the Quarantine object it creates, serialize with the strict dump and carry no terminal
// controls (kubectl describe prints notes as they are).
TEST_F(HostileBytesTest, ResponderEventBodiesAndQuarantineReasonSerialize) {
  ScanReport r = scan();
  EvictingClient client;
  client.set_node({{"apiVersion", "v1"},
                   {"kind", "Node"},
                   {"metadata", {{"name", "node-a"}, {"resourceVersion", "1"}}},
                   {"status", {{"conditions", json::array()}}}});
  FakeClock clock;
  kube::EventRecorder recorder(client, "orderguard.io/agent", "node-a", clock);
  ResponderOptions options;
  options.node_name = "node-a";
  Responder responder(client, recorder, clock, nullptr, options);
  json pod = {
      {"metadata", {{"name", "web-1"}, {"namespace", "shop"}, {"uid", "uid-1"}}},
      {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})}}},
      {"status",
       {{"containerStatuses", json::array({{{"name", "app"},
                                            {"image", "busybox"},
                                            {"containerID", "containerd://" + kContainerId}}})}}}};

  ResponseSummary summary = responder.respond(r, json::array({pod}), policy::combine({}));
  recorder.flush();

  ASSERT_EQ(summary.pods.size(), 1u);
  EXPECT_EQ(summary.pods[0].outcome, "evicted");
  EXPECT_TRUE(summary.node_marked);
  ASSERT_TRUE(summary.pods[0].quarantine.has_value());
  const std::vector<json> quarantines = client.created_bodies("quarantines");
  ASSERT_EQ(quarantines.size(), 1u);
  std::string entry;
  EXPECT_NO_THROW(entry = quarantines[0].dump());
  EXPECT_TRUE(terminal_controls(summary.pods[0].quarantine->reason).empty())
      << summary.pods[0].quarantine->reason;

  const std::vector<json> events = client.created_bodies("events");
  ASSERT_EQ(events.size(), 2u);  // the pod's and the Node's
  for (const json& event : events) {
    std::string body;
    ASSERT_NO_THROW(body = event.dump())
        << event.dump(-1, ' ', true, json::error_handler_t::replace);
    const std::string note = event.value("note", "");
    EXPECT_TRUE(valid_utf8(note));
    EXPECT_TRUE(terminal_controls(note).empty()) << note;
    EXPECT_LE(note.size(), 1024u);
  }
}

}  // namespace
}  // namespace orderguard::agent
