#include "base/duration.h"

#include <gtest/gtest.h>

#include <limits>

#include "base/text.h"

namespace orderguard::kube {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, GoSpellings) {
  EXPECT_EQ(*parse_duration("90s"), 90s);
  EXPECT_EQ(*parse_duration("720h"), 720h);
  EXPECT_EQ(*parse_duration("1h30m"), 90min);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("250us"), 250us);
  EXPECT_FALSE(parse_duration("\xC2\xB5s").ok());  // a unit without a number
  EXPECT_EQ(*parse_duration("3\xC2\xB5s"), 3us);
  EXPECT_EQ(*parse_duration("7ns"), 7ns);
  EXPECT_EQ(*parse_duration("0"), 0s);
  EXPECT_EQ(*parse_duration("+2m"), 2min);
}

TEST(ParseDuration, HostileInputIsQuotedShortAndEscaped) {
  const std::string huge(1 << 20, '9');
  for (const std::string& bad :
       {huge, std::string("5\x1b[2Jm"), std::string("\xff\xfe1s"), std::string("1\xe2\x80\xaes")}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_LT(r.error().message.size(), 256u) << r.error().message.size();
    EXPECT_TRUE(is_valid_utf8(r.error().message)) << r.error().message;
    EXPECT_EQ(r.error().message.find('\x1b'), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("\xe2\x80\xae"), std::string::npos) << r.error().message;
  }
}

TEST(ParseDuration, RefusesWithTheInputInTheMessage) {
  for (const char* bad : {"", "-5s", "10", "5d", "s", "1h-", "1.s5", "99999999999h", "+,2m"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
    EXPECT_NE(r.error().message.find(std::string("\"") + bad + "\""), std::string::npos)
        << r.error().message;
  }
}

// Integer arithmetic: no nanosecond lost to rounding, the largest value still fits.
TEST(ParseDuration, ExactToTheNanosecond) {
  EXPECT_EQ(*parse_duration("1.000000001s"), 1'000'000'001ns);
  EXPECT_EQ(*parse_duration("0.1s"), 100ms);
  EXPECT_EQ(*parse_duration("1.5h"), 90min);
  EXPECT_EQ(*parse_duration("9223372036854775807ns"),
            std::chrono::nanoseconds(std::numeric_limits<int64_t>::max()));
  EXPECT_FALSE(parse_duration("9223372036854775808ns").ok());
  EXPECT_FALSE(parse_duration("2562047h48m").ok());
  EXPECT_EQ(*parse_duration("0.12345678901234567890123456789s"), 123456789ns);
}

TEST(FormatDuration, ShortestExactSpelling) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(90min), "1h30m");
  EXPECT_EQ(format_duration(720h), "720h");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(7ns), "7ns");
  EXPECT_EQ(format_duration(-90s), "-1m30s");
  for (std::chrono::nanoseconds d :
       {std::chrono::nanoseconds(1h + 2min + 3s), std::chrono::nanoseconds(45s),
        std::chrono::nanoseconds(2500ms), std::chrono::nanoseconds(1us),
        std::chrono::nanoseconds(1h + 1ns), std::chrono::nanoseconds(1'000'000'001)}) {
    EXPECT_EQ(*parse_duration(format_duration(d)), d) << format_duration(d);
  }
}

}  // namespace
}  // namespace orderguard::kube
