// The CRD YAML and the C++ parser cannot drift apart: every property of each
// CRD's spec schema is a field the parser reads, with the same type, and every
// field the parser reads is in the schema. The parser is strict (unknown
// fields are errors), so decoding an object holding every schema property
// also proves the parser accepts all of them.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "api/security.h"
#include "api/tiers.h"
#include "base/json_doc.h"

namespace orderguard::api {
namespace {

using nlohmann::json;

YAML::Node spec_schema(const std::string& file) {
  YAML::Node crd = YAML::LoadFile(std::string(ORDERGUARD_SOURCE_DIR) + "/crds/" + file);
  return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
}

// The schema's fields in the parser's trace notation.
void walk(const YAML::Node& schema, const std::string& path, FieldTrace& out) {
  const std::string type = schema["type"].as<std::string>();
  if (type == "object" && schema["properties"]) {
    for (const auto& p : schema["properties"]) {
      const std::string child = path + "." + p.first.as<std::string>();
      out[child] = p.second["type"].as<std::string>();
      walk(p.second, child, out);
    }
  }
  if (type == "object" && schema["additionalProperties"]) {
    out[path + "{}"] = schema["additionalProperties"]["type"].as<std::string>();
  }
  if (type == "array") {
    out[path + "[]"] = schema["items"]["type"].as<std::string>();
    walk(schema["items"], path + "[]", out);
  }
}

// A value for every property: the enum's first value, the default, the minimum.
json synthesize(const YAML::Node& schema) {
  const std::string type = schema["type"].as<std::string>();
  if (type == "object") {
    json out = json::object();
    if (schema["properties"]) {
      for (const auto& p : schema["properties"])
        out[p.first.as<std::string>()] = synthesize(p.second);
    }
    if (schema["additionalProperties"]) out["key"] = synthesize(schema["additionalProperties"]);
    return out;
  }
  if (type == "array") return json::array({synthesize(schema["items"])});
  if (type == "integer") {
    if (schema["default"]) return schema["default"].as<int64_t>();
    if (schema["minimum"]) return schema["minimum"].as<int64_t>();
    return 1;
  }
  if (type == "boolean") return true;
  if (schema["enum"]) return schema["enum"][0].as<std::string>();
  if (schema["default"]) return schema["default"].as<std::string>();
  return "x";
}

using DecodeFn = std::function<Status(const json&, FieldTrace*)>;

void expect_agreement(const std::string& file, const DecodeFn& decode) {
  SCOPED_TRACE(file);
  YAML::Node schema = spec_schema(file);
  FieldTrace from_schema;
  walk(schema, "spec", from_schema);
  ASSERT_FALSE(from_schema.empty());

  FieldTrace from_parser;
  Status decoded = decode(synthesize(schema), &from_parser);
  ASSERT_TRUE(decoded.ok()) << "the parser refuses a field of the schema: "
                            << decoded.error().message;
  for (const auto& [path, type] : from_schema) {
    auto it = from_parser.find(path);
    if (it == from_parser.end()) {
      ADD_FAILURE() << path << " (" << type << ") is in the CRD but the parser never reads it";
    } else {
      EXPECT_EQ(it->second, type) << path << ": CRD type vs parser type";
    }
  }
  for (const auto& [path, type] : from_parser) {
    EXPECT_TRUE(from_schema.contains(path))
        << path << " (" << type << ") is read by the parser but missing from the CRD";
  }
}

template <typename Fn>
DecodeFn as_status(Fn fn) {
  return [fn](const json& spec, FieldTrace* trace) -> Status {
    auto r = fn(spec, trace);
    if (!r.ok()) return r.error();
    return {};
  };
}

TEST(CrdSchema, OrderServiceMatchesParser) {
  expect_agreement("orderservices.yaml", as_status(decode_order_service));
}
TEST(CrdSchema, CacheTierMatchesParser) {
  expect_agreement("cachetiers.yaml", as_status(decode_cache_tier));
}
TEST(CrdSchema, ShardSetMatchesParser) {
  expect_agreement("shardsets.yaml", as_status(decode_shard_set));
}

// The security.orderguard.io decoders read a JsonRef (what policy/ compiles): the
// synthesized spec goes through a JsonDoc of it.
template <typename DecodeRef>
DecodeFn through_json_doc(DecodeRef decode) {
  return [decode](const json& spec, FieldTrace* trace) -> Status {
    const JsonDoc doc = JsonDoc::from_json(spec);
    std::vector<std::string> problems;
    decode(doc.root(), &problems, trace);
    if (!problems.empty()) return invalid_error(problems);
    return {};
  };
}

TEST(CrdSchema, MinerPolicyMatchesParser) {
  expect_agreement("minerpolicies.yaml", through_json_doc(decode_miner_policy));
}
TEST(CrdSchema, QuarantineMatchesParser) {
  expect_agreement("quarantines.yaml", through_json_doc(decode_quarantine));
}

// path -> default, for every property of the schema that declares one.
void schema_defaults(const YAML::Node& schema, const std::string& path,
                     std::map<std::string, json>& out) {
  const std::string type = schema["type"].as<std::string>();
  if (schema["default"]) {
    if (type == "integer") {
      out[path] = schema["default"].as<int64_t>();
    } else if (type == "boolean") {
      out[path] = schema["default"].as<bool>();
    } else {
      out[path] = schema["default"].as<std::string>();
    }
  }
  if (type == "object" && schema["properties"]) {
    for (const auto& p : schema["properties"])
      schema_defaults(p.second, path + "." + p.first.as<std::string>(), out);
  }
  if (type == "array") schema_defaults(schema["items"], path + "[]", out);
}

// The defaults the CRDs declare are the ones the decoders give an absent field (the API
// server fills them in, but policy/ also compiles objects it never saw: the built-in
// default, a chart's values, tests), and no CRD default is left without a decoder one.
TEST(CrdSchema, SecurityDefaultsMatchTheDecoders) {
  std::vector<std::string> problems;
  const JsonDoc empty = JsonDoc::from_json(json::object());
  const MinerPolicySpec policy = decode_miner_policy(empty.root(), &problems);
  // An item's defaults: a signature with only what is required.
  const JsonDoc with_signature =
      JsonDoc::from_json({{"signatures", {{{"name", "s"}, {"literal", "x"}}}}});
  const MinerPolicySpec signed_policy = decode_miner_policy(with_signature.root(), &problems);
  ASSERT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(signed_policy.signatures.size(), 1u);
  const std::map<std::string, json> decoded = {
      {"spec.mode", policy.mode},
      {"spec.builtinIndicators", policy.builtin_indicators},
      {"spec.signatures[].severity", signed_policy.signatures[0].severity},
      {"spec.scoring.threshold", policy.scoring.threshold},
  };
  std::map<std::string, json> declared;
  schema_defaults(spec_schema("minerpolicies.yaml"), "spec", declared);
  EXPECT_EQ(json(declared), json(decoded));

  // Quarantine declares none; its decoder's defaults are all empty.
  std::map<std::string, json> quarantine_declared;
  schema_defaults(spec_schema("quarantines.yaml"), "spec", quarantine_declared);
  EXPECT_TRUE(quarantine_declared.empty()) << json(quarantine_declared).dump();
  const QuarantineSpec q = decode_quarantine(empty.root(), &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(q.scope.empty() && q.namespace_name.empty() && q.image.empty() &&
              q.expires_at.empty() && q.workload.kind.empty());
}

// The schema's own conventions: status subresource, printer columns, names.
TEST(CrdSchema, ConventionsHold) {
  for (const std::string file : {"orderservices.yaml", "cachetiers.yaml", "shardsets.yaml"}) {
    SCOPED_TRACE(file);
    YAML::Node crd = YAML::LoadFile(std::string(ORDERGUARD_SOURCE_DIR) + "/crds/" + file);
    EXPECT_EQ(crd["spec"]["group"].as<std::string>(), kGroup);
    EXPECT_EQ(crd["spec"]["names"]["categories"][0].as<std::string>(), "orderguard");
    EXPECT_EQ(crd["spec"]["names"]["shortNames"].size(), 1u);
    YAML::Node v = crd["spec"]["versions"][0];
    EXPECT_EQ(v["name"].as<std::string>(), "v1alpha1");
    EXPECT_TRUE(v["subresources"]["status"].IsDefined());
    EXPECT_EQ(v["additionalPrinterColumns"][0]["name"].as<std::string>(), "Ready");
    YAML::Node status = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    EXPECT_TRUE(status["observedGeneration"].IsDefined());
    EXPECT_EQ(status["conditions"]["x-kubernetes-list-type"].as<std::string>(), "map");
  }
  YAML::Node osvc = YAML::LoadFile(std::string(ORDERGUARD_SOURCE_DIR) + "/crds/orderservices.yaml");
  YAML::Node scale = osvc["spec"]["versions"][0]["subresources"]["scale"];
  EXPECT_EQ(scale["specReplicasPath"].as<std::string>(), ".spec.replicas");
  EXPECT_EQ(scale["statusReplicasPath"].as<std::string>(), ".status.replicas");
  EXPECT_EQ(scale["labelSelectorPath"].as<std::string>(), ".status.selector");
}

// Every orderguard CRD, the security group's too: the description and rule
// conventions below hold for all of them (the wgpolicyk8s.io report CRDs are
// third-party copies and are left as published).
const char* const kAllCrds[] = {"orderservices.yaml", "cachetiers.yaml", "shardsets.yaml",
                                "minerpolicies.yaml", "quarantines.yaml"};

YAML::Node root_schema(const YAML::Node& crd) {
  return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
}

bool described(const YAML::Node& schema) {
  return schema["description"] && !schema["description"].as<std::string>().empty();
}

// Paths ("spec.zones[].weight") of the properties under `schema` without a
// description: spec and status, nested objects, the objects of array items and
// of map values. The item or value schema itself needs none: its array or map
// field says what it holds.
void undescribed(const YAML::Node& schema, const std::string& path, std::vector<std::string>& out) {
  if (schema["properties"]) {
    for (const auto& p : schema["properties"]) {
      const std::string name = p.first.as<std::string>();
      // Every kind has them; the API server describes them itself.
      if (path.empty() && (name == "apiVersion" || name == "kind" || name == "metadata")) continue;
      const std::string child = path.empty() ? name : path + "." + name;
      if (!described(p.second)) out.push_back(child);
      undescribed(p.second, child, out);
    }
  }
  if (schema["items"]) undescribed(schema["items"], path + "[]", out);
  if (schema["additionalProperties"] && schema["additionalProperties"].IsMap()) {
    undescribed(schema["additionalProperties"], path + "{}", out);
  }
}

// `kubectl explain --recursive` and docs/REFERENCE.md are only as complete as
// the descriptions: every field says what it is (and its unit, default and
// effect), and so does every kind and printer column.
TEST(CrdSchema, EveryFieldIsDescribed) {
  for (const std::string file : kAllCrds) {
    SCOPED_TRACE(file);
    YAML::Node crd = YAML::LoadFile(std::string(ORDERGUARD_SOURCE_DIR) + "/crds/" + file);
    YAML::Node schema = root_schema(crd);
    EXPECT_TRUE(described(schema)) << "the kind itself (openAPIV3Schema) has no description";
    std::vector<std::string> missing;
    undescribed(schema, "", missing);
    EXPECT_GT(schema["properties"]["spec"]["properties"].size(), 0u);
    for (const auto& path : missing) ADD_FAILURE() << path << " has no description";
    for (const auto& column : crd["spec"]["versions"][0]["additionalPrinterColumns"]) {
      EXPECT_TRUE(described(column))
          << "printer column " << column["name"].as<std::string>() << " has no description";
    }
  }
}

void rules_under(const YAML::Node& schema, const std::string& path,
                 std::vector<std::pair<std::string, YAML::Node>>& out) {
  for (const auto& rule : schema["x-kubernetes-validations"]) out.emplace_back(path, rule);
  if (schema["properties"]) {
    for (const auto& p : schema["properties"]) {
      rules_under(p.second, (path.empty() ? "" : path + ".") + p.first.as<std::string>(), out);
    }
  }
  if (schema["items"]) rules_under(schema["items"], path + "[]", out);
}

// A CEL refusal says what was found, not only what is wanted ("zone weights
// sum to 90, must be 100"): each rule has a messageExpression, and a static
// message for when that expression cannot be evaluated. Its reason sets the
// error type; FieldValueDuplicate is not used because the API server then
// drops the message. Where a rule sits on a parent, fieldPath names the field
// (checked against the API server in operator_e2e_test and webhook_e2e_test).
TEST(CrdSchema, EveryRuleSaysWhatItFound) {
  size_t rules = 0;
  for (const std::string file : kAllCrds) {
    SCOPED_TRACE(file);
    YAML::Node crd = YAML::LoadFile(std::string(ORDERGUARD_SOURCE_DIR) + "/crds/" + file);
    std::vector<std::pair<std::string, YAML::Node>> found;
    rules_under(root_schema(crd), "", found);
    for (const auto& [path, rule] : found) {
      ++rules;
      const std::string what = path + ": " + rule["rule"].as<std::string>();
      EXPECT_TRUE(rule["message"] && !rule["message"].as<std::string>().empty()) << what;
      EXPECT_TRUE(rule["messageExpression"] && !rule["messageExpression"].as<std::string>().empty())
          << what;
      ASSERT_TRUE(rule["reason"]) << what;
      const std::string reason = rule["reason"].as<std::string>();
      EXPECT_TRUE(reason == "FieldValueInvalid" || reason == "FieldValueRequired" ||
                  reason == "FieldValueForbidden")
          << what << ": reason " << reason;
      if (rule["fieldPath"]) {
        EXPECT_EQ(rule["fieldPath"].as<std::string>().rfind('.', 0), 0u) << what;
      }
    }
  }
  EXPECT_GE(rules, 15u);
}

}  // namespace
}  // namespace orderguard::api
