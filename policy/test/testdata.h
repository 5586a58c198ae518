// Test data access: JSON files in policy/test/testdata.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "policy/decision.h"

namespace orderguard::policy::testing {

// Parses testdata/<name>; fails the current test (and returns null) if it cannot.
nlohmann::json load(std::string_view name);

// An AdmissionInput for CREATE of testdata/<file> (kind and namespace from the object).
AdmissionInput admission_from_file(std::string_view file);
AdmissionInput admission_for(nlohmann::json object, std::string operation = "CREATE");

// Compiles a MinerPolicy given as JSON; fails the current test on error.
CompiledPolicy must_compile(const nlohmann::json& policy);

}  // namespace orderguard::policy::testing
