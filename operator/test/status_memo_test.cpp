#include "operator/status_memo.h"

#include <gtest/gtest.h>

namespace orderguard::op {
namespace {

using nlohmann::json;

json object(const std::string& rv, const std::string& uid, json status) {
  return {{"metadata",
           {{"namespace", "shop"}, {"name", "orders"}, {"uid", uid}, {"resourceVersion", rv}}},
          {"status", std::move(status)}};
}

TEST(StatusMemo, WithoutAWriteTheCachedStatusIsCurrent) {
  StatusMemo memo;
  EXPECT_EQ(memo.current(object("5", "u1", {{"observedGeneration", 1}})),
            json({{"observedGeneration", 1}}));
  EXPECT_EQ(memo.current(json{{"metadata", {{"name", "x"}}}}), json::object());
}

TEST(StatusMemo, AWriteIsCurrentUntilTheCacheMovesOn) {
  StatusMemo memo;
  const json stale = object("5", "u1", json::object());
  memo.wrote(stale, {{"observedGeneration", 2}});
  // The cache still holds the version the write started from: the write is current.
  EXPECT_EQ(memo.current(stale), json({{"observedGeneration", 2}}));
  EXPECT_EQ(memo.current(stale), json({{"observedGeneration", 2}}));
  // Our write (or anyone's) arrived: the cache is current again, and stays so.
  const json caught_up = object("6", "u1", {{"observedGeneration", 2}, {"x", 1}});
  EXPECT_EQ(memo.current(caught_up), caught_up["status"]);
  EXPECT_EQ(memo.current(stale), json::object());
}

TEST(StatusMemo, AnotherObjectOfTheSameNameIsNotConfused) {
  StatusMemo memo;
  memo.wrote(object("5", "u1", json::object()), {{"observedGeneration", 2}});
  // Deleted and created again under the same name: another uid.
  EXPECT_EQ(memo.current(object("5", "u2", json::object())), json::object());
}

}  // namespace
}  // namespace orderguard::op
