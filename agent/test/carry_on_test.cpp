// What throws in one part of a scan or a response is reported, and the rest still runs: a
// scanner, responder or event writer that dies on one hostile process or file would
// crash-loop the agent and leave the node unwatched. Exceptions are injected through the
// seams (the process probe, the Kubernetes client), as a third-party library can throw them.
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <string>

#include "agent/report.h"
#include "agent/responder.h"
#include "agent/scanner.h"
#include "agent/test/fake_client.h"
#include "agent/test/test_util.h"
#include "e2e/support/fake_reports.h"
#include "kube/events.h"

namespace orderguard::agent {
namespace {

using nlohmann::json;
using testing::EvictingClient;
using testing::TempTree;
using testing::testdata;

class ThrowingProbe final : public ProcessProbe {
 public:
  bool exists(pid_t) override { throw std::runtime_error("probe threw"); }
};

TEST(CarryOn, ACheckThatThrowsIsReportedAndTheScanRuns) {
  TempTree proc("proc");
  FakeClock clock;
  ThrowingProbe probe;
  Scanner scanner(HostView({proc.path(), testdata("host")}), &clock, &probe, nullptr,
                  policy::built_in_default(), ScanOptions{});
  ASSERT_TRUE(scanner.prime().ok());
  proc.overlay("proc_t1");
  clock.advance(std::chrono::seconds(1));
  Result<ScanReport> r = make_error(ErrorCode::kInternal, "not scanned");
  ASSERT_NO_THROW(r = scanner.scan());
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->error_count, 1u);
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_EQ(r->errors[0], "hidden processes: probe threw");
  // The processes and the persistence checks ran all the same.
  EXPECT_FALSE(r->processes.empty());
  EXPECT_FALSE(r->host_findings.empty());
  EXPECT_TRUE(r->has_miner_severity());
  EXPECT_EQ(to_json(*r)["errorCount"], 1);
}

TEST(CarryOn, TheTableNamesWhatFailedAndDoesNotSayClean) {
  ScanReport r;
  r.errors = {"pid 7: \x1b[2Jboom"};
  r.error_count = 3;
  const std::string table = format_table(r);
  EXPECT_NE(table.find("  - pid 7: \\x1b[2Jboom\n  - and 2 more\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("RESULT: clean"), std::string::npos) << table;
  EXPECT_NE(table.find("RESULT: incomplete"), std::string::npos) << table;
}

class CarryOnResponder : public ::testing::Test {
 protected:
  CarryOnResponder()
      : recorder_(client_, "orderguard.io/agent", "node-a", clock_),
        responder_(client_, recorder_, clock_, nullptr, options()) {
    client_.set_node({{"apiVersion", "v1"},
                      {"kind", "Node"},
                      {"metadata", {{"name", "node-a"}}},
                      {"status", {{"conditions", json::array()}}}});
  }

  static ResponderOptions options() {
    ResponderOptions o;
    o.node_name = "node-a";
    return o;
  }

  static json pod(const std::string& name, const std::string& id) {
    return {{"metadata", {{"name", name}, {"namespace", "shop"}, {"uid", "uid-" + name}}},
            {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})}}},
            {"status",
             {{"containerStatuses", json::array({{{"name", "app"},
                                                  {"image", "busybox"},
                                                  {"containerID", "containerd://" + id}}})}}}};
  }

  EvictingClient client_;
  FakeClock clock_;
  kube::EventRecorder recorder_;
  Responder responder_;
};

TEST_F(CarryOnResponder, APodWhoseResponseThrowsDoesNotStopTheNextPodNorTheNode) {
  const std::string id_a(64, 'a');
  const std::string id_b(64, 'b');
  ScanReport report = e2e::stratum_miner_report(id_a);
  ScanReport second = e2e::stratum_miner_report(id_b);
  second.processes[0].pid = 4322;
  report.processes.push_back(second.processes[0]);
  policy::Finding preload;
  preload.rule_id = "ld-preload";
  preload.severity = policy::Severity::kStrong;
  preload.evidence = "/usr/local/lib/libs.so";
  report.host_findings = {preload};
  client_.throw_on("shop/web-1");

  ResponseSummary summary;
  ASSERT_NO_THROW(
      summary = responder_.respond(report, json::array({pod("web-1", id_a), pod("web-2", id_b)}),
                                   policy::combine({})));
  ASSERT_EQ(summary.errors.size(), 1u);
  EXPECT_EQ(summary.errors[0], "pid 4321: evict shop/web-1 threw");
  EXPECT_EQ(client_.evictions("shop/web-2"), 1);
  // Both were quarantined: the quarantine comes before the eviction that threw.
  EXPECT_EQ(client_.created("quarantines"), 2u);
  EXPECT_TRUE(summary.node_marked);
}

// The log line that marks the node says why: the pid, comm and rules of a miner outside any
// Pod, and the rule of each strong host finding.
TEST_F(CarryOnResponder, MarkingTheNodeLogsPidCommAndRule) {
  ScanReport report = e2e::stratum_miner_report("");
  report.processes[0].container = {};  // a host process: no Pod to evict
  policy::Finding preload;
  preload.rule_id = "ld-preload";
  preload.severity = policy::Severity::kStrong;
  preload.field_path = "/etc/ld.so.preload";
  report.host_findings = {preload};

  ::testing::internal::CaptureStderr();
  ResponseSummary summary = responder_.respond(report, json::array(), policy::combine({}));
  const std::string logs = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(summary.node_marked);
  json line;
  std::istringstream in(logs);
  for (std::string text; std::getline(in, text);) {
    json j = json::parse(text, nullptr, false);
    if (j.is_object() && j.value("msg", "") == "marked node compromised") line = j;
  }
  ASSERT_TRUE(line.is_object()) << logs;
  EXPECT_EQ(line["node"], "node-a");
  EXPECT_EQ(line["rules"], "ld-preload,miner-outside-pod");
  EXPECT_EQ(line["causes"], json::parse(R"([
    {"rule": "miner-outside-pod", "pid": 4321, "comm": "xmrig", "processRules": ["stratum-url"]},
    {"rule": "ld-preload", "field": "/etc/ld.so.preload"}])"));
}

TEST_F(CarryOnResponder, AnEventWriteThatThrowsLeavesTheRecorderRunning) {
  client_.throw_on("events");
  const json regarding = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n"}}}};
  recorder_.record(regarding, kube::EventType::kWarning, "MinerCompromised", "MarkNode", "one");
  recorder_.flush();
  recorder_.record(regarding, kube::EventType::kWarning, "MinerCompromised", "MarkNode", "two");
  recorder_.flush();
  EXPECT_EQ(client_.created("events"), 0u);
}

}  // namespace
}  // namespace orderguard::agent
