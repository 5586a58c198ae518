#include "kube/yaml.h"

#include <gtest/gtest.h>

namespace orderguard::kube {
namespace {

TEST(YamlTest, MultiDocumentManifestBecomesJson) {
  auto docs = parse_yaml_documents(R"(---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, labels: {tier: "3"}}
data:
  port: "8080"
---
# empty documents are skipped
---
kind: Thing
spec:
  replicas: 3
  ratio: 0.25
  enabled: true
  nothing: ~
  hex: 0x1F
  version: 1.10.2
  list: [1, "2", three]
)");
  ASSERT_TRUE(docs.ok()) << docs.error().describe();
  ASSERT_EQ(docs->size(), 2u);
  const auto& cm = (*docs)[0];
  EXPECT_EQ(cm["metadata"]["labels"]["tier"], "3");  // quoted stays a string
  EXPECT_EQ(cm["data"]["port"], "8080");
  const auto& spec = (*docs)[1]["spec"];
  EXPECT_EQ(spec["replicas"], 3);
  EXPECT_DOUBLE_EQ(spec["ratio"].get<double>(), 0.25);
  EXPECT_EQ(spec["enabled"], true);
  EXPECT_TRUE(spec["nothing"].is_null());
  EXPECT_EQ(spec["hex"], 31);
  EXPECT_EQ(spec["version"], "1.10.2");
  EXPECT_EQ(spec["list"], nlohmann::json::parse(R"([1, "2", "three"])"));
}

TEST(YamlTest, SyntaxErrorsNameTheLine) {
  auto bad = parse_yaml_documents("a: b\nc: [1, 2\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
  EXPECT_NE(bad.error().message.find("YAML line"), std::string::npos) << bad.error().message;
  auto missing = read_yaml_file("/nonexistent/file.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/file.yaml"), std::string::npos);
}

}  // namespace
}  // namespace orderguard::kube
