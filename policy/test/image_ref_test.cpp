#include "policy/image_ref.h"

#include <gtest/gtest.h>

#include "policy/test/testdata.h"

namespace orderguard::policy {
namespace {

TEST(ImageRefTest, NormalizationVectors) {
  nlohmann::json vectors = testing::load("image_refs.json");
  ASSERT_FALSE(vectors["valid"].empty());
  for (const auto& v : vectors["valid"]) {
    std::string input = v["input"];
    SCOPED_TRACE(input);
    Result<ImageRef> ref = parse_image_ref(input);
    ASSERT_TRUE(ref.ok()) << ref.error().message;
    EXPECT_EQ(ref->normalized(), v["normalized"].get<std::string>());
    if (v.contains("domain")) {
      EXPECT_EQ(ref->domain, v["domain"].get<std::string>());
    }
    if (v.contains("path")) {
      EXPECT_EQ(ref->path, v["path"].get<std::string>());
    }
    if (v.contains("tag")) {
      EXPECT_EQ(ref->tag, v["tag"].get<std::string>());
    }
    if (v.contains("digest")) {
      EXPECT_EQ(ref->digest, v["digest"].get<std::string>());
    }
    // Normalizing is idempotent.
    Result<ImageRef> again = parse_image_ref(ref->normalized());
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(*again, *ref);
  }
}

TEST(ImageRefTest, InvalidReferencesNameTheReason) {
  nlohmann::json vectors = testing::load("image_refs.json");
  ASSERT_FALSE(vectors["invalid"].empty());
  for (const auto& v : vectors["invalid"]) {
    std::string input = v["input"];
    SCOPED_TRACE(input);
    Result<ImageRef> ref = parse_image_ref(input);
    ASSERT_FALSE(ref.ok()) << ref->normalized();
    EXPECT_EQ(ref.error().code, ErrorCode::kInvalid);
    EXPECT_NE(ref.error().message.find(v["error"].get<std::string>()), std::string::npos)
        << ref.error().message;
  }
}

TEST(ImageRefTest, EverySpellingOfOneImageIsOneImage) {
  nlohmann::json vectors = testing::load("image_refs.json");
  for (const auto& group : vectors["same_image"]) {
    Result<ImageRef> first = parse_image_ref(group[0].get<std::string>());
    ASSERT_TRUE(first.ok());
    for (const auto& spelling : group) {
      SCOPED_TRACE(spelling.get<std::string>());
      Result<ImageRef> ref = parse_image_ref(spelling.get<std::string>());
      ASSERT_TRUE(ref.ok()) << ref.error().message;
      EXPECT_EQ(ref->name(), first->name());
    }
  }
}

TEST(ImageRefTest, LookalikesAreDifferentImages) {
  nlohmann::json vectors = testing::load("image_refs.json");
  for (const auto& pair : vectors["different_names"]) {
    Result<ImageRef> a = parse_image_ref(pair[0].get<std::string>());
    Result<ImageRef> b = parse_image_ref(pair[1].get<std::string>());
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->name(), b->name()) << pair.dump();
  }
}

TEST(ImageRefTest, LengthLimits) {
  EXPECT_TRUE(parse_image_ref("ghcr.io/" + std::string(200, 'a')).ok());
  Result<ImageRef> long_name = parse_image_ref("ghcr.io/" + std::string(250, 'a'));
  ASSERT_FALSE(long_name.ok());
  EXPECT_NE(long_name.error().message.find("255"), std::string::npos);
  EXPECT_TRUE(parse_image_ref("x:" + std::string(128, 't')).ok());
  EXPECT_FALSE(parse_image_ref("x:" + std::string(129, 't')).ok());
  EXPECT_FALSE(parse_image_ref(std::string(5000, 'a')).ok());
}

TEST(ImageRefTest, RepositoryIsTheLastPathComponent) {
  Result<ImageRef> ref = parse_image_ref("1.2.3.4:5000/team/tools/xmrig:6.21");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->repository(), "xmrig");
  EXPECT_EQ(ref->name(), "1.2.3.4:5000/team/tools/xmrig");
}

TEST(ImageRefTest, DigestValidation) {
  std::string hex64(64, 'a');
  EXPECT_TRUE(validate_digest("sha256:" + hex64).ok());
  EXPECT_TRUE(validate_digest("sha512:" + std::string(128, '0')).ok());
  EXPECT_FALSE(validate_digest("sha256:" + std::string(63, 'a')).ok());
  EXPECT_FALSE(validate_digest("sha256:" + std::string(64, 'g')).ok());
  EXPECT_FALSE(validate_digest(hex64).ok());
  EXPECT_FALSE(validate_digest("sha1:" + std::string(40, 'a')).ok());
}

}  // namespace
}  // namespace orderguard::policy
