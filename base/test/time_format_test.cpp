#include "base/time_format.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace orderguard {
namespace {

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

TEST(TimeFormat, ParsesRfc3339AsTheApiServerAcceptsIt) {
  auto at = [](std::string_view s) -> int64_t {
    std::optional<WallTime> t = parse_rfc3339(s);
    return t ? std::chrono::system_clock::to_time_t(*t) : -1;
  };
  EXPECT_EQ(at("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(at("2026-09-01T00:00:00Z"), 1788220800);
  EXPECT_EQ(at("2026-09-01T00:00:00.123456Z"), 1788220800);
  EXPECT_EQ(at("2026-09-01T02:00:00+02:00"), 1788220800);
  EXPECT_EQ(at("2026-08-31T22:30:00-01:30"), 1788220800);
  for (std::string_view bad :
       {"", "2026-09-01", "2026-09-01T00:00:00", "2026-13-01T00:00:00Z", "2026-02-31T00:00:00Z",
        "2026-09-01T00:00:00Zjunk", "2026-09-01T24:00:00Z", "2026-09-01T00:00:00.Z",
        "2026-09-01T00:00:00+0200", "２026-09-01T00:00:00Z"}) {
    EXPECT_EQ(at(bad), -1) << bad;
  }
  EXPECT_EQ(format_rfc3339(*parse_rfc3339("2026-09-01T02:00:00+02:00")), "2026-09-01T00:00:00Z");
}

TEST(TimeFormat, FormatsUtc) {
  EXPECT_EQ(
      format_rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000))),
      "2023-11-14T22:13:20Z");
}

TEST(TimeFormat, FormatAndParseRoundTrip) {
  EXPECT_EQ(format_rfc3339(kNow), "2027-01-15T08:00:00Z");
  EXPECT_EQ(parse_rfc3339("2027-01-15T08:00:00Z"), kNow);
  EXPECT_FALSE(parse_rfc3339("yesterday").has_value());
}

TEST(TimeFormat, FractionsForLogsAndMicroTime) {
  const WallTime t = kNow + std::chrono::microseconds(123'456);
  EXPECT_EQ(format_rfc3339(t), "2027-01-15T08:00:00Z");
  EXPECT_EQ(format_rfc3339_millis(t), "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(format_rfc3339_micros(t), "2027-01-15T08:00:00.123456Z");
  EXPECT_EQ(parse_rfc3339(format_rfc3339_micros(t)), kNow);
  // Before the epoch the second is floored and the fraction stays positive.
  EXPECT_EQ(format_rfc3339_millis(WallTime(std::chrono::milliseconds(-1))),
            "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace orderguard
