// The report's command lines: values of secret-looking flags never leave the host in a
// report (agent/report.h, redact_secrets).
#include "agent/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace orderguard::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedactSecrets, BothSpellingsOfNamedFlags) {
  EXPECT_THAT(redact_secrets({"xmrig", "--pass=hunter2", "--url", "pool:3333"}),
              ElementsAre("xmrig", "--pass=<redacted>", "--url", "pool:3333"));
  EXPECT_THAT(redact_secrets({"app", "--password", "hunter2", "--port", "80"}),
              ElementsAre("app", "--password", "<redacted>", "--port", "80"));
  EXPECT_THAT(
      redact_secrets({"app", "--DB_PASSWORD=x", "-token", "t", "--api-key=k", "--client-secret",
                      "s", "--accesskey", "a", "--passwd=p", "--auth-token=t", "--pwd", "p"}),
      ElementsAre("app", "--DB_PASSWORD=<redacted>", "-token", "<redacted>", "--api-key=<redacted>",
                  "--client-secret", "<redacted>", "--accesskey", "<redacted>",
                  "--passwd=<redacted>", "--auth-token=<redacted>", "--pwd", "<redacted>"));
}

TEST(RedactSecrets, LeavesTheRestAlone) {
  // Single-letter flags, values that look like flag names, argv[0], other flags.
  const std::vector<std::string> argv = {"--password", "-p",     "x",  "password", "--keyboard=us",
                                         "--user",     "wallet", "--", "-"};
  EXPECT_EQ(redact_secrets(argv), argv);
  // A secret flag at the end has no value to hide.
  EXPECT_THAT(redact_secrets({"app", "--token"}), ElementsAre("app", "--token"));
  // The value after a secret flag is hidden whatever it looks like.
  EXPECT_THAT(redact_secrets({"app", "--secret", "--looks-like-a-flag"}),
              ElementsAre("app", "--secret", "<redacted>"));
}

ScanReport report_with(std::vector<std::string> cmdline) {
  ScanReport r;
  ProcessReport p;
  p.pid = 42;
  p.comm = "xmrig";
  p.cmdline = std::move(cmdline);
  p.findings.push_back({.rule_id = "miner-binary", .field_path = "comm", .message = "m"});
  r.processes.push_back(p);
  return r;
}

TEST(Report, JsonAndTableShowRedactedCommandLines) {
  ScanReport r = report_with({"xmrig", "-o", "pool:3333", "--pass=hunter2", "--token", "abc"});
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(
      j["processes"][0]["cmdline"],
      nlohmann::json({"xmrig", "-o", "pool:3333", "--pass=<redacted>", "--token", "<redacted>"}));
  const std::string dumped = j.dump();
  EXPECT_THAT(dumped, Not(HasSubstr("hunter2")));
  EXPECT_THAT(dumped, Not(HasSubstr("abc")));
  const std::string table = format_table(r, true);
  EXPECT_THAT(table, Not(HasSubstr("hunter2")));
  EXPECT_THAT(table, HasSubstr("--pass=<redacted>"));
}

}  // namespace
}  // namespace orderguard::agent
