#include "base/result.h"

#include <gtest/gtest.h>

namespace orderguard {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(ErrorCode::kInvalid, "must be positive");
  return v;
}

TEST(ResultTest, CarriesValueOrError) {
  auto good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(bad.error().describe(), "Invalid: must be positive");
  EXPECT_EQ(bad.value_or(7), 7);
}

TEST(ResultTest, TransientCodesAreRetried) {
  EXPECT_TRUE(make_error(ErrorCode::kUnavailable, "").transient());
  EXPECT_TRUE(make_error(ErrorCode::kConflict, "").transient());
  EXPECT_FALSE(make_error(ErrorCode::kForbidden, "").transient());
  EXPECT_FALSE(make_error(ErrorCode::kInvalid, "").transient());
}

}  // namespace
}  // namespace orderguard
