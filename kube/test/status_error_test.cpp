#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/client.h"

namespace orderguard::kube {
namespace {

using ::testing::HasSubstr;

json status(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

struct Case {
  int code;
  std::string reason;
  ErrorCode expected;
};

class StatusMappingTest : public ::testing::TestWithParam<Case> {};

TEST_P(StatusMappingTest, MapsCodeAndReason) {
  const Case& c = GetParam();
  const Error e = error_from_status(c.code, status(c.code, c.reason, "the message"));
  EXPECT_EQ(e.code, c.expected) << c.code << " " << c.reason << " -> " << to_string(e.code);
  EXPECT_EQ(e.http_status, c.code);
  EXPECT_EQ(e.reason, c.reason);
  EXPECT_EQ(e.message, "the message");
}

// The reasons and codes the API server sends (k8s.io/apimachinery/pkg/api/errors).
INSTANTIATE_TEST_SUITE_P(
    ApiServerStatuses, StatusMappingTest,
    ::testing::Values(Case{400, "BadRequest", ErrorCode::kInvalid},
                      Case{401, "Unauthorized", ErrorCode::kUnauthorized},
                      Case{403, "Forbidden", ErrorCode::kForbidden},
                      Case{404, "NotFound", ErrorCode::kNotFound},
                      Case{405, "MethodNotAllowed", ErrorCode::kInvalid},
                      Case{406, "NotAcceptable", ErrorCode::kInvalid},
                      Case{409, "AlreadyExists", ErrorCode::kAlreadyExists},
                      Case{409, "Conflict", ErrorCode::kConflict},
                      Case{410, "Gone", ErrorCode::kGone}, Case{410, "Expired", ErrorCode::kGone},
                      Case{413, "RequestEntityTooLarge", ErrorCode::kInvalid},
                      Case{415, "UnsupportedMediaType", ErrorCode::kInvalid},
                      Case{422, "Invalid", ErrorCode::kInvalid},
                      Case{429, "TooManyRequests", ErrorCode::kTooManyRequests},
                      Case{500, "InternalError", ErrorCode::kInternal},
                      Case{500, "ServerTimeout", ErrorCode::kTimeout},
                      Case{503, "ServiceUnavailable", ErrorCode::kUnavailable},
                      Case{504, "Timeout", ErrorCode::kTimeout},
                      // No reason: the HTTP code decides.
                      Case{400, "", ErrorCode::kInvalid}, Case{401, "", ErrorCode::kUnauthorized},
                      Case{403, "", ErrorCode::kForbidden}, Case{404, "", ErrorCode::kNotFound},
                      Case{408, "", ErrorCode::kTimeout}, Case{409, "", ErrorCode::kConflict},
                      Case{410, "", ErrorCode::kGone}, Case{422, "", ErrorCode::kInvalid},
                      Case{429, "", ErrorCode::kTooManyRequests},
                      Case{500, "", ErrorCode::kInternal}, Case{502, "", ErrorCode::kUnavailable},
                      Case{503, "", ErrorCode::kUnavailable}, Case{504, "", ErrorCode::kTimeout},
                      Case{507, "", ErrorCode::kUnavailable}, Case{418, "", ErrorCode::kInternal},
                      // An unknown reason falls back to the code.
                      Case{409, "SomethingNew", ErrorCode::kConflict}));

TEST(StatusErrorTest, KeepsDetails) {
  // A 422 from validation lists its causes in details.
  json body = status(422, "Invalid", "OrderService.tiers.orderguard.io \"shop\" is invalid");
  body["details"] = {{"name", "shop"},
                     {"group", "tiers.orderguard.io"},
                     {"kind", "OrderService"},
                     {"causes",
                      {{{"reason", "FieldValueInvalid"},
                        {"message", "zone weights must sum to 100"},
                        {"field", "spec.zones"}}}}};
  const Error e = error_from_status(422, body);
  EXPECT_EQ(e.code, ErrorCode::kInvalid);
  EXPECT_EQ(e.details["causes"][0]["field"], "spec.zones");
  EXPECT_EQ(e.describe(), "Invalid (422): OrderService.tiers.orderguard.io \"shop\" is invalid");
}

TEST(StatusErrorTest, EvictionRefusedByDisruptionBudget) {
  const Error e = error_from_status(
      429, status(429, "TooManyRequests",
                  "Cannot evict pod as it would violate the pod's disruption budget."));
  EXPECT_EQ(e.code, ErrorCode::kTooManyRequests);
  EXPECT_TRUE(e.transient());
}

TEST(StatusErrorTest, WatchErrorEventTakesTheCodeFromTheStatus) {
  const Error e = error_from_status(0, status(410, "Expired", "too old resource version"));
  EXPECT_EQ(e.http_status, 410);
  EXPECT_EQ(e.code, ErrorCode::kGone);

  // A Status with neither code nor known reason is an internal error.
  const Error bare = error_from_status(0, json{{"kind", "Status"}, {"status", "Failure"}});
  EXPECT_EQ(bare.code, ErrorCode::kInternal);
  EXPECT_FALSE(bare.message.empty());
}

TEST(StatusErrorTest, NonJsonBodies) {
  // A proxy in front of the API server answering with HTML.
  const Error html =
      error_from_status(502, json("<html><body><h1>502 Bad Gateway</h1></body></html>\n"));
  EXPECT_EQ(html.code, ErrorCode::kUnavailable);
  EXPECT_EQ(html.message, "<html><body><h1>502 Bad Gateway</h1></body></html>");
  EXPECT_TRUE(html.reason.empty());

  // A huge body is cut so it cannot flood logs.
  const Error huge = error_from_status(500, json(std::string(100000, 'x')));
  EXPECT_LT(huge.message.size(), 2000u);

  // No body at all.
  const Error empty = error_from_status(404, json());
  EXPECT_EQ(empty.code, ErrorCode::kNotFound);
  EXPECT_THAT(empty.message, HasSubstr("404"));

  // JSON that is not a Status (an unexpected document).
  const Error other = error_from_status(403, json::array({1, 2}));
  EXPECT_EQ(other.code, ErrorCode::kForbidden);
  EXPECT_THAT(other.message, HasSubstr("403"));
}

TEST(StatusErrorTest, MessageFallsBackToCodeAndReason) {
  json body = status(409, "AlreadyExists", "");
  const Error e = error_from_status(409, body);
  EXPECT_EQ(e.code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(e.message, "the server answered HTTP 409 (AlreadyExists)");
}

}  // namespace
}  // namespace orderguard::kube
