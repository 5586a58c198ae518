// YAML documents (kubectl-style manifests) as JSON objects, with the YAML 1.2
// core schema for plain scalars: true/false, null/~, integers and floats become
// JSON booleans, null and numbers; quoted scalars always stay strings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace orderguard::kube {

// Every non-empty document of a multi-document stream ("---" separated).
// A syntax error is kInvalid with the line and column.
Result<std::vector<nlohmann::json>> parse_yaml_documents(std::string_view text);

// The same for a file; the error names the file.
Result<std::vector<nlohmann::json>> read_yaml_file(const std::string& path);

}  // namespace orderguard::kube
