// Helpers shared by the api unit tests: testdata loading.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace orderguard::api::testing {

inline nlohmann::json load_json(const std::string& name) {
  std::ifstream in(std::string(API_TESTDATA_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

}  // namespace orderguard::api::testing
