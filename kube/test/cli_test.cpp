#include "kube/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/version.h"

namespace orderguard::kube {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Parses argv with `app`; the CLI11 error message, or "" when it parsed.
std::string parse(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
    return "";
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
}

TEST(DurationOption, GoSpellingsIntoAnyUnit) {
  CLI::App app;
  std::chrono::seconds resync = 10h;
  std::chrono::milliseconds interval = 30s;
  add_duration_option(app, "--resync-period", resync, "resync");
  add_duration_option(app, "--interval", interval, "interval");
  EXPECT_EQ(parse(app, {"--resync-period", "1h30m", "--interval=500ms"}), "");
  EXPECT_EQ(resync, 90min);
  EXPECT_EQ(interval, 500ms);
}

TEST(DurationOption, DefaultShowsInHelpAsADuration) {
  CLI::App app;
  configure_cli(app, "prog");
  std::chrono::seconds resync = 10h;
  add_duration_option(app, "--resync-period", resync, "resync");
  EXPECT_THAT(app.help(), HasSubstr("--resync-period DURATION=10h"));
  EXPECT_EQ(resync, 10h);  // untouched when the flag is absent
}

TEST(DurationOption, BadValuesAreRefusedWithFlagAndValue) {
  struct Case {
    const char* value;
    const char* message;
  };
  for (const Case& c : {Case{"10", "missing unit"}, Case{"10x", "unknown unit"},
                        Case{"-1s", "negative"}, Case{"1500ms", "not a whole number of 1s"},
                        Case{"200ms", "must be at least 1s"}, Case{"2h", "must be at most 1h"}}) {
    CLI::App app;
    std::chrono::seconds value = 30s;
    add_duration_option(app, "--every", value, "d", {.min = 1s, .max = 1h});
    std::string error = parse(app, {"--every", c.value});
    EXPECT_THAT(error, HasSubstr("--every")) << c.value;
    EXPECT_THAT(error, HasSubstr(std::string("\"") + c.value + "\"")) << error;
    EXPECT_THAT(error, HasSubstr(c.message)) << error;
    EXPECT_EQ(value, 30s) << c.value;
  }
}

TEST(DurationOption, ZeroBelowTheMinimumOnlyWhenAllowed) {
  EXPECT_FALSE(parse_duration_flag("0", {.min = 1s}).ok());
  EXPECT_EQ(*parse_duration_flag("0s", {.min = 1s, .zero_ok = true}), 0s);
  auto r = parse_duration_flag("10ms", {.min = 1s, .zero_ok = true});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("at least 1s (or 0)"));
}

TEST(Version, FlagPrintsVersionCommitAndDate) {
  CLI::App app;
  configure_cli(app, "orderguard-test");
  CLI::App* sub = app.add_subcommand("run", "");
  add_version_flag(*sub, "orderguard-test");
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--version"}, std::vector<std::string>{"run", "--version"}}) {
    std::reverse(args.begin(), args.end());
    try {
      app.parse(args);
      ADD_FAILURE() << "--version did not stop parsing";
    } catch (const CLI::CallForVersion& e) {
      EXPECT_EQ(e.get_exit_code(), 0);
      const std::string text = e.what();
      EXPECT_THAT(text, HasSubstr("orderguard-test " + std::string(build_info().version)));
      EXPECT_THAT(text, HasSubstr("git commit: " + std::string(build_info().git_commit)));
      EXPECT_THAT(text, HasSubstr("build date: " + std::string(build_info().build_date)));
    }
    app.clear();
  }
}

TEST(Version, StampIsFilled) {
  const BuildInfo& info = build_info();
  EXPECT_FALSE(info.version.empty());
  EXPECT_FALSE(info.git_commit.empty());  // a SHA, or "unknown" outside git
  // RFC 3339 UTC: 2026-12-04T15:40:00Z.
  EXPECT_THAT(std::string(info.build_date),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));
  EXPECT_EQ(version_text("p", {"1.2.3", "abc", "2026-01-02T03:04:05Z"}),
            "p 1.2.3\ngit commit: abc\nbuild date: 2026-01-02T03:04:05Z");
}

}  // namespace
}  // namespace orderguard::kube
