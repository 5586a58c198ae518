#include "policy/test/testdata.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace orderguard::policy::testing {

nlohmann::json load(std::string_view name) {
  std::string path = std::string(ORDERGUARD_POLICY_TESTDATA) + "/" + std::string(name);
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "bad JSON in " << path;
  return j.is_discarded() ? nlohmann::json() : j;
}

AdmissionInput admission_for(nlohmann::json object, std::string operation) {
  AdmissionInput in;
  in.kind = object.value("kind", "");
  in.operation = std::move(operation);
  if (object.contains("metadata")) {
    in.namespace_name = object["metadata"].value("namespace", "");
    in.name = object["metadata"].value("name", "");
  }
  in.user.username = "alice";
  in.object = std::move(object);
  return in;
}

AdmissionInput admission_from_file(std::string_view file) { return admission_for(load(file)); }

CompiledPolicy must_compile(const nlohmann::json& policy) {
  Result<CompiledPolicy> compiled = compile(policy);
  EXPECT_TRUE(compiled.ok()) << (compiled.ok() ? "" : compiled.error().message);
  if (!compiled.ok()) return built_in_default();
  return std::move(compiled).value();
}

}  // namespace orderguard::policy::testing
