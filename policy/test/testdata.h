// Test data access: JSON files in policy/test/testdata, and the DOM-to-JsonRef steps the
// tests need (they build and edit objects as nlohmann DOMs; the policy reads JsonRefs).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "policy/decision.h"
#include "policy/pod_context.h"

namespace orderguard::policy::testing {

// Parses testdata/<name>; fails the current test (and returns null) if it cannot.
nlohmann::json load(std::string_view name);

// An AdmissionInput whose object and oldObject are DOMs the test edits; evaluate() below
// indexes them (JsonDoc::from_json) and hands the policy refs into those documents.
struct Input : AdmissionInput {
  nlohmann::json object;      // request.object
  nlohmann::json old_object;  // request.oldObject, null when none
};

Decision evaluate(const PolicySet& policies, const Input& input);
Decision evaluate(const CompiledPolicy& policy, const Input& input);

// An Input for CREATE of testdata/<file> (kind and namespace from the object).
Input admission_from_file(std::string_view file);
Input admission_for(nlohmann::json object, std::string operation = "CREATE");

// policy::compile, compile_quarantine and collect_pod_context / collect_exec_context of a DOM.
Result<CompiledPolicy> compile(const nlohmann::json& miner_policy);
Result<QuarantineEntry> compile_quarantine(const nlohmann::json& object);
Result<PodContext> collect_pod_context(const nlohmann::json& object, std::string_view kind);
PodContext collect_exec_context(const nlohmann::json& pod_exec_options);

// Compiles a MinerPolicy given as JSON; fails the current test on error.
CompiledPolicy must_compile(const nlohmann::json& policy);

}  // namespace orderguard::policy::testing
