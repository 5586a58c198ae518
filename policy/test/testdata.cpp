#include "policy/test/testdata.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace orderguard::policy::testing {
namespace {

// The documents an Input's refs point into, alive for one evaluate() call.
struct Indexed {
  JsonDoc object;
  JsonDoc old_object;
  AdmissionInput input;
};

void index(const Input& in, Indexed* out) {
  out->input = in;
  out->object = JsonDoc::from_json(in.object);
  out->input.object_ref = out->object.root();
  if (!in.old_object.is_null()) {
    out->old_object = JsonDoc::from_json(in.old_object);
    out->input.old_object_ref = out->old_object.root();
  }
}

}  // namespace

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

Decision evaluate(const PolicySet& policies, const Input& input) {
  Indexed indexed;
  index(input, &indexed);
  return policy::evaluate(policies, indexed.input);
}

Decision evaluate(const CompiledPolicy& policy, const Input& input) {
  Indexed indexed;
  index(input, &indexed);
  return policy::evaluate(policy, indexed.input);
}

Input admission_for(nlohmann::json object, std::string operation) {
  Input in;
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

Input admission_from_file(std::string_view file) { return admission_for(load(file)); }

Result<CompiledPolicy> compile(const nlohmann::json& miner_policy) {
  const JsonDoc doc = JsonDoc::from_json(miner_policy);
  return policy::compile(doc.root());
}

Result<QuarantineEntry> compile_quarantine(const nlohmann::json& object) {
  const JsonDoc doc = JsonDoc::from_json(object);
  return policy::compile_quarantine(doc.root());
}

Result<PodContext> collect_pod_context(const nlohmann::json& object, std::string_view kind) {
  const JsonDoc doc = JsonDoc::from_json(object);
  return policy::collect_pod_context(doc.root(), kind);
}

PodContext collect_exec_context(const nlohmann::json& pod_exec_options) {
  const JsonDoc doc = JsonDoc::from_json(pod_exec_options);
  return policy::collect_exec_context(doc.root());
}

CompiledPolicy must_compile(const nlohmann::json& policy) {
  Result<CompiledPolicy> compiled = compile(policy);
  EXPECT_TRUE(compiled.ok()) << (compiled.ok() ? "" : compiled.error().message);
  if (!compiled.ok()) return built_in_default();
  return std::move(compiled).value();
}

}  // namespace orderguard::policy::testing
