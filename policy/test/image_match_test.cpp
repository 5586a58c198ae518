#include "policy/image_match.h"

#include <gtest/gtest.h>

namespace orderguard::policy {
namespace {

ImageRef ref(std::string_view s) {
  Result<ImageRef> r = parse_image_ref(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : ImageRef{};
}

ImagePattern pattern(std::string_view s) {
  Result<ImagePattern> p = ImagePattern::compile(s);
  EXPECT_TRUE(p.ok()) << s << ": " << (p.ok() ? "" : p.error().message);
  if (!p.ok()) return std::move(ImagePattern::compile("never/matches-this")).value();
  return std::move(p).value();
}

RegistryPrefix registry(std::string_view s) {
  Result<RegistryPrefix> r = RegistryPrefix::parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : RegistryPrefix{};
}

TEST(ImagePatternTest, ShortNamePatternMatchesEverySpelling) {
  ImagePattern p = pattern("xmrig");
  EXPECT_EQ(p.normalized(), "docker.io/library/xmrig");
  for (std::string_view s :
       {"xmrig", "xmrig:6.21", "library/xmrig", "docker.io/xmrig:latest",
        "index.docker.io/library/xmrig", "registry-1.docker.io/library/xmrig",
        "xmrig@sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1"}) {
    EXPECT_TRUE(p.matches(ref(s))) << s;
  }
  for (std::string_view s : {"xmrig-proxy", "evil/xmrig", "ghcr.io/library/xmrig", "xmrig2"}) {
    EXPECT_FALSE(p.matches(ref(s))) << s;
  }
}

TEST(ImagePatternTest, LeadingDoubleStarMatchesAnyRegistryAndAccount) {
  ImagePattern p = pattern("**/xmrig");
  for (std::string_view s :
       {"xmrig", "evil/xmrig:1", "ghcr.io/a/b/xmrig", "1.2.3.4:5000/x/xmrig", "localhost/xmrig"}) {
    EXPECT_TRUE(p.matches(ref(s))) << s;
  }
  for (std::string_view s : {"xmrig2", "ghcr.io/xmrig/other", "evil/notxmrig"}) {
    EXPECT_FALSE(p.matches(ref(s))) << s;
  }
}

TEST(ImagePatternTest, StarStaysInOneComponentDoubleStarCrosses) {
  ImagePattern one = pattern("ghcr.io/evil/*");
  ImagePattern any = pattern("ghcr.io/evil/**");
  EXPECT_TRUE(one.matches(ref("ghcr.io/evil/a")));
  EXPECT_FALSE(one.matches(ref("ghcr.io/evil/a/b")));
  EXPECT_TRUE(any.matches(ref("ghcr.io/evil/a")));
  EXPECT_TRUE(any.matches(ref("ghcr.io/evil/a/b")));
  EXPECT_FALSE(any.matches(ref("ghcr.io/evilcorp/a")));
  ImagePattern mid = pattern("ghcr.io/**/miner");
  EXPECT_TRUE(mid.matches(ref("ghcr.io/miner")));
  EXPECT_TRUE(mid.matches(ref("ghcr.io/a/b/miner")));
  EXPECT_FALSE(mid.matches(ref("ghcr.io/a/b/miner2")));
}

TEST(ImagePatternTest, QuestionMarkIsOneCharacter) {
  ImagePattern p = pattern("ghcr.io/evil/miner?");
  EXPECT_TRUE(p.matches(ref("ghcr.io/evil/miner1")));
  EXPECT_FALSE(p.matches(ref("ghcr.io/evil/miner")));
  EXPECT_FALSE(p.matches(ref("ghcr.io/evil/miner12")));
}

TEST(ImagePatternTest, DockerHubAccountWildcard) {
  ImagePattern p = pattern("*/xmrig");
  EXPECT_EQ(p.normalized(), "docker.io/*/xmrig");
  EXPECT_TRUE(p.matches(ref("metal3d/xmrig")));
  EXPECT_TRUE(p.matches(ref("xmrig")));  // docker.io/library/xmrig
  EXPECT_FALSE(p.matches(ref("ghcr.io/metal3d/xmrig")));
}

TEST(ImagePatternTest, TagPatternsNeedATag) {
  ImagePattern p = pattern("xmrig:6.*");
  EXPECT_TRUE(p.matches(ref("docker.io/library/xmrig:6.21.0")));
  EXPECT_FALSE(p.matches(ref("xmrig:latest")));
  EXPECT_FALSE(p.matches(
      ref("xmrig@sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1")));
  ImagePattern port = pattern("localhost:5000/miner:v*");
  EXPECT_TRUE(port.matches(ref("localhost:5000/miner:v2")));
  EXPECT_FALSE(port.matches(ref("localhost:5000/miner:latest")));
}

TEST(ImagePatternTest, PatternsAreNormalizedLikeReferences) {
  EXPECT_EQ(pattern("INDEX.docker.io/library/Xmrig").normalized(), "docker.io/library/xmrig");
  EXPECT_EQ(pattern("docker.io/xmrig").normalized(), "docker.io/library/xmrig");
  EXPECT_EQ(pattern("docker.io/**").normalized(), "docker.io/**");
  EXPECT_TRUE(pattern("docker.io/**").matches(ref("nginx")));
}

TEST(ImagePatternTest, WildcardRegistryHost) {
  ImagePattern p = pattern("*.evil.com/**");
  EXPECT_TRUE(p.matches(ref("a.evil.com/x/y")));
  EXPECT_FALSE(p.matches(ref("evil.com.good.io/x")));
  EXPECT_FALSE(p.matches(ref("a.evil.community/x")));
}

TEST(ImagePatternTest, RegexMetacharactersAreLiteral) {
  ImagePattern p = pattern("ghcr.io/a.b+c");
  EXPECT_FALSE(p.matches(ref("ghcr.io/axb")));
  EXPECT_FALSE(p.matches(ref("gxcr.io/a.bc")));
}

TEST(ImagePatternTest, RefusesBadPatterns) {
  for (std::string_view bad :
       {"", "xmrig@sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1",
        "xm rig", "xmrig:", "a//b"}) {
    Result<ImagePattern> p = ImagePattern::compile(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.error().code, ErrorCode::kInvalid);
    }
  }
  EXPECT_FALSE(ImagePattern::compile(std::string(kMaxImagePatternLength + 1, 'a')).ok());
}

TEST(RegistryPrefixTest, DomainMatchesExactlyNeverAsStringPrefix) {
  RegistryPrefix r = registry("myregistry.io");
  EXPECT_TRUE(r.allows(ref("myregistry.io/x")));
  EXPECT_TRUE(r.allows(ref("myregistry.io/a/b:1")));
  EXPECT_FALSE(r.allows(ref("myregistry.io.evil.com/x")));
  EXPECT_FALSE(r.allows(ref("myregistry.io:5000/x")));
  EXPECT_FALSE(r.allows(ref("evilmyregistry.io/x")));
}

TEST(RegistryPrefixTest, PathPrefixAtComponentBoundary) {
  RegistryPrefix r = registry("docker.io/mycompany");
  EXPECT_TRUE(r.allows(ref("mycompany/app")));
  EXPECT_TRUE(r.allows(ref("docker.io/mycompany/team/app:1")));
  EXPECT_FALSE(r.allows(ref("mycompanyevil/app")));
  EXPECT_FALSE(r.allows(ref("ghcr.io/mycompany/app")));
  RegistryPrefix official = registry("docker.io/library");
  EXPECT_TRUE(official.allows(ref("nginx")));
  EXPECT_FALSE(official.allows(ref("evil/nginx")));
  RegistryPrefix exact = registry("docker.io/library/ubuntu");
  EXPECT_TRUE(exact.allows(ref("ubuntu:22.04")));
  EXPECT_FALSE(exact.allows(ref("ubuntu-evil")));
}

TEST(RegistryPrefixTest, AliasesCaseAndTrailingSlash) {
  EXPECT_TRUE(registry("index.docker.io/library").allows(ref("nginx")));
  EXPECT_TRUE(registry("MyRegistry.IO/").allows(ref("myregistry.io/x")));
  EXPECT_EQ(registry("mycompany/team").normalized(), "docker.io/mycompany/team");
  EXPECT_TRUE(registry("localhost:5000").allows(ref("localhost:5000/x")));
}

TEST(RegistryPrefixTest, RefusesAmbiguousEntriesAndWildcards) {
  for (std::string_view bad : {"mycompany", "*.corp.io", "", "/", "corp.io/@x", "my_reg.io"}) {
    Result<RegistryPrefix> r = RegistryPrefix::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  Result<RegistryPrefix> r = RegistryPrefix::parse("mycompany");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("docker.io/mycompany"), std::string::npos);
}

}  // namespace
}  // namespace orderguard::policy
