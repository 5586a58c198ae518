#include "policy/exe_glob.h"

#include <gtest/gtest.h>

#include <chrono>

namespace orderguard::policy {
namespace {

ExeGlob must(std::string_view p) {
  Result<ExeGlob> g = ExeGlob::compile(p);
  EXPECT_TRUE(g.ok()) << p << ": " << (g.ok() ? "" : g.error().message);
  return std::move(g).value();
}

TEST(ExeGlob, StarAndQuestionMarkStayWithinAComponent) {
  ExeGlob g = must("/opt/corp/bin/*");
  EXPECT_TRUE(g.matches("/opt/corp/bin/tool"));
  EXPECT_TRUE(g.matches("/opt/corp/bin/"));  // an empty last component
  EXPECT_FALSE(g.matches("/opt/corp/bin/sub/tool"));
  EXPECT_FALSE(g.matches("/opt/corp/binx/tool"));
  EXPECT_FALSE(g.matches("opt/corp/bin/tool"));
  ExeGlob q = must("/usr/bin/python3.??");
  EXPECT_TRUE(q.matches("/usr/bin/python3.11"));
  EXPECT_FALSE(q.matches("/usr/bin/python3.1"));
  EXPECT_FALSE(q.matches("/usr/bin/python3.1/"));
  ExeGlob mid = must("/opt/*/bin/agent-*-x");
  EXPECT_TRUE(mid.matches("/opt/a/bin/agent-1-2-x"));
  EXPECT_FALSE(mid.matches("/opt/a/b/bin/agent-1-x"));
}

TEST(ExeGlob, DoubleStarSpansComponents) {
  ExeGlob g = must("/opt/corp/**");
  EXPECT_TRUE(g.matches("/opt/corp/tool"));
  EXPECT_TRUE(g.matches("/opt/corp/a/b/c/tool"));
  EXPECT_FALSE(g.matches("/opt/corpx/tool"));
  ExeGlob m = must("/opt/**/bin/tool");
  EXPECT_TRUE(m.matches("/opt/bin/tool"));  // ** is zero components too
  EXPECT_TRUE(m.matches("/opt/x/y/bin/tool"));
  EXPECT_FALSE(m.matches("/opt/x/y/bin/tool2"));
  ExeGlob deleted = must("/opt/x");
  EXPECT_FALSE(deleted.matches("/opt/x (deleted)"));  // a deleted binary is not the file named
}

TEST(ExeGlob, RefusesWhatIsNotANarrowAbsolutePath) {
  for (std::string_view bad : {"", "relative/x", "/", "/opt/", "/opt//x", "/opt/./x", "/opt/../x",
                               "/**", "/*/*", "/?", "/opt/a**", "/opt/[ab]"}) {
    EXPECT_FALSE(ExeGlob::compile(bad).ok()) << bad;
  }
  EXPECT_FALSE(ExeGlob::compile(std::string(2000, 'a').insert(0, "/")).ok());
  EXPECT_FALSE(ExeGlob::compile(std::string("/opt/\0x", 7)).ok());
}

// Paths are any bytes a process chose: many stars against a long path stay linear.
TEST(ExeGlob, HostilePathsDoNotBacktrackExponentially) {
  std::string pattern = "/**/**/**/**/**/";
  for (int i = 0; i < 40; ++i) pattern += "*a";
  pattern += "*b";
  ExeGlob g = must(pattern);
  std::string path;
  for (int c = 0; c < 200; ++c) path += "/" + std::string(250, 'a');
  EXPECT_FALSE(g.matches(path));  // finishes (quadratic at worst); no timing asserted
  EXPECT_TRUE(g.matches(path + "b"));
}

}  // namespace
}  // namespace orderguard::policy
