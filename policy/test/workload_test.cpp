#include "policy/workload.h"

#include <gtest/gtest.h>

#include <deque>

namespace orderguard::policy {
namespace {

using nlohmann::json;

// pod_spec_of reads an index of the object; the indexes live as long as the test binary.
Result<PodSpecView> spec_of(const json& object, std::string_view kind) {
  static std::deque<JsonDoc> docs;
  docs.push_back(JsonDoc::from_json(object));
  return pod_spec_of(docs.back().root(), kind);
}

json with_template(const json& pod_template) {
  return {{"metadata", {{"name", "x"}}}, {"spec", {{"template", pod_template}}}};
}

TEST(WorkloadTest, PodSpecPathForEveryKind) {
  json pod_template = {{"metadata", {{"labels", {{"app", "x"}}}}},
                       {"spec", {{"containers", json::array()}}}};
  struct Case {
    std::string kind;
    json object;
    std::string path;
    std::string metadata_path;
  };
  std::vector<Case> cases = {
      {"Pod", pod_template, "spec", "metadata"},
      {"Deployment", with_template(pod_template), "spec.template.spec", "spec.template.metadata"},
      {"StatefulSet", with_template(pod_template), "spec.template.spec", "spec.template.metadata"},
      {"DaemonSet", with_template(pod_template), "spec.template.spec", "spec.template.metadata"},
      {"ReplicaSet", with_template(pod_template), "spec.template.spec", "spec.template.metadata"},
      {"ReplicationController", with_template(pod_template), "spec.template.spec",
       "spec.template.metadata"},
      {"Job", with_template(pod_template), "spec.template.spec", "spec.template.metadata"},
      {"CronJob",
       {{"spec", {{"jobTemplate", {{"spec", {{"template", pod_template}}}}}}}},
       "spec.jobTemplate.spec.template.spec",
       "spec.jobTemplate.spec.template.metadata"},
      {"PodTemplate", {{"template", pod_template}}, "template.spec", "template.metadata"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.kind);
    EXPECT_TRUE(has_pod_spec(c.kind));
    Result<PodSpecView> view = spec_of(c.object, c.kind);
    ASSERT_TRUE(view.ok()) << view.error().message;
    EXPECT_EQ(view->path, c.path);
    EXPECT_EQ(view->metadata_path, c.metadata_path);
    EXPECT_EQ(view->spec.to_json(), pod_template["spec"]);
    ASSERT_TRUE(view->metadata.is_object());
    EXPECT_EQ(view->metadata.find("labels").string_member("app"), "x");
  }
}

TEST(WorkloadTest, UnknownKindIsInvalid) {
  Result<PodSpecView> view = spec_of(json{{"spec", json::object()}}, "ConfigMap");
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.error().code, ErrorCode::kInvalid);
  EXPECT_NE(view.error().message.find("ConfigMap"), std::string::npos);
  EXPECT_FALSE(has_pod_spec("Service"));
}

TEST(WorkloadTest, MissingOrMistypedTemplateIsInvalid) {
  EXPECT_FALSE(spec_of(json{{"spec", json::object()}}, "Deployment").ok());
  EXPECT_FALSE(spec_of(json{{"spec", {{"template", "x"}}}}, "Deployment").ok());
  EXPECT_FALSE(spec_of(json{{"spec", {{"template", json::object()}}}}, "Job").ok());
  EXPECT_FALSE(spec_of(json::array(), "Pod").ok());
  EXPECT_FALSE(spec_of(json(nullptr), "Pod").ok());
  Result<PodSpecView> view = spec_of(json{{"spec", {{"jobTemplate", 1}}}}, "CronJob");
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.error().message.find("spec.jobTemplate"), std::string::npos);
}

TEST(WorkloadTest, TemplateWithoutMetadata) {
  Result<PodSpecView> view =
      spec_of(json{{"spec", {{"template", {{"spec", json::object()}}}}}}, "Job");
  ASSERT_TRUE(view.ok());
  EXPECT_FALSE(view->metadata.valid());
}

TEST(ExpandKubeVarsTest, KubernetesSemantics) {
  std::map<std::string, std::string, std::less<>> vars = {{"A", "stratum+tcp"}, {"B", "x:3333"}};
  EXPECT_EQ(expand_kube_vars("$(A)://$(B)", vars), "stratum+tcp://x:3333");
  EXPECT_EQ(expand_kube_vars("$(MISSING)", vars), "$(MISSING)");
  EXPECT_EQ(expand_kube_vars("$$(A)", vars), "$(A)");
  EXPECT_EQ(expand_kube_vars("$A $", vars), "$A $");
  EXPECT_EQ(expand_kube_vars("$(A", vars), "$(A");
  EXPECT_EQ(expand_kube_vars("plain", vars), "plain");
}

TEST(ExpandKubeVarsTest, OutputIsCapped) {
  std::map<std::string, std::string, std::less<>> vars = {{"BIG", std::string(1000, 'x')}};
  std::string input;
  for (int i = 0; i < 1000; ++i) input += "$(BIG)";
  std::string out = expand_kube_vars(input, vars, 10000);
  EXPECT_LT(out.size(), 20000u);
}

}  // namespace
}  // namespace orderguard::policy
