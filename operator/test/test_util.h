// Helpers shared by the operator unit tests: testdata loading.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace orderguard::op::testing {

inline nlohmann::json load_json(const std::string& name) {
  std::ifstream in(std::string(OPERATOR_TESTDATA_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

// An example object of the tier kinds, from the api/ tests' testdata (the decoders'
// own fixtures, which the renderers and reconcilers start from too).
inline nlohmann::json load_api_json(const std::string& name) {
  std::ifstream in(std::string(ORDERGUARD_SOURCE_DIR) + "/api/test/testdata/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

}  // namespace orderguard::op::testing
