#include "kube/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <regex>

#include "base/files.h"

namespace orderguard::kube {
namespace {

using nlohmann::json;

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
json plain_scalar(const std::string& s) {
  static const std::regex kInt("^[-+]?([0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$");
  static const std::regex kFloat("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
  if (s.empty() || s == "null" || s == "Null" || s == "NULL" || s == "~") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, kInt)) {
    errno = 0;
    int base = 10;
    std::string digits = s;
    bool negative = false;
    if (digits[0] == '+' || digits[0] == '-') {
      negative = digits[0] == '-';
      digits = digits.substr(1);
    }
    if (digits.rfind("0x", 0) == 0)
      base = 16, digits = digits.substr(2);
    else if (digits.rfind("0o", 0) == 0)
      base = 8, digits = digits.substr(2);
    long long v = std::strtoll(digits.c_str(), nullptr, base);
    if (errno == 0) return negative ? -v : v;
    return s;  // out of range: keep the text rather than lose digits
  }
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  return s;
}

json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" is the tag yaml-cpp gives quoted (non-plain) scalars.
      if (node.Tag() == "!") return node.Scalar();
      return plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = to_json(kv.second);
      return out;
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<nlohmann::json>> parse_yaml_documents(std::string_view text) {
  try {
    std::vector<nlohmann::json> docs;
    for (const auto& node : YAML::LoadAll(std::string(text))) {
      if (node.IsNull()) continue;
      docs.push_back(to_json(node));
    }
    return docs;
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalid, "YAML line " + std::to_string(e.mark.line + 1) +
                                               ", column " + std::to_string(e.mark.column + 1) +
                                               ": " + e.msg);
  }
}

Result<std::vector<nlohmann::json>> read_yaml_file(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) {
    return make_error(ErrorCode::kInvalid,
                      path + ": cannot read the file: " + text.error().message);
  }
  auto docs = parse_yaml_documents(*text);
  if (!docs.ok()) return make_error(ErrorCode::kInvalid, path + ": " + docs.error().message);
  return docs;
}

}  // namespace orderguard::kube
