// FieldReader over its two node adapters: the same document gives the same values
// and the same problems through a JsonRef as through an nlohmann DOM, and the tier
// decoders' best-effort form reads what it can.
#include "base/field_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace orderguard {
namespace {

using nlohmann::json;

struct Item {
  std::string name;
  int32_t weight = 0;
};

struct Sample {
  int64_t big = -1;
  int32_t small = 7;
  std::string text = "default";
  std::string mode = "a";
  bool flag = false;
  std::vector<std::string> tags;
  std::map<std::string, std::string> labels;
  std::vector<Item> items;
  std::vector<int64_t> ports;
  std::map<std::string, int64_t> weights;
  std::string nested;
};

constexpr auto kSampleFields = [](auto& r, Sample& s) {
  r.require("text");
  if (auto n = r.integer("big", INT64_MIN, INT64_MAX)) s.big = *n;
  r.integer32("small", s.small, 0, 10);
  r.string_into("text", s.text);
  r.enum_into("mode", s.mode, {"b", "a"});
  r.boolean_into("flag", s.flag);
  r.strings("tags", s.tags);
  r.string_map("labels", s.labels);
  r.items("items", s.items, [](auto& i, Item& item) {
    i.require("name");
    i.string_into("name", item.name);
    i.integer32("weight", item.weight, 0, 100);
  });
  r.integers("ports", s.ports, 1, 65535, "must be a port", 3);
  r.integer_map("weights", s.weights, 0, 10, "must be a weight");
  auto o = r.object("nested");
  o.string_into("value", s.nested);
  o.finish();
};

struct Decoded {
  Sample sample;
  std::vector<std::string> problems;
  FieldTrace trace;
};

Decoded with_dom(const json& j, bool strict = true) {
  Decoded d;
  d.sample = decode_object<Sample>(NlohmannNode(j), "spec", &d.trace,
                                   strict ? &d.problems : nullptr, kSampleFields);
  return d;
}

Decoded with_ref(const std::string& text, bool strict = true) {
  Decoded d;
  auto doc = JsonDoc::parse(text);
  EXPECT_TRUE(doc.ok()) << text;
  if (!doc.ok()) return d;
  d.sample = decode_object<Sample>(JsonRefNode(doc->root()), "spec", &d.trace,
                                   strict ? &d.problems : nullptr, kSampleFields);
  return d;
}

void expect_same(const std::string& text) {
  SCOPED_TRACE(text);
  const Decoded a = with_dom(json::parse(text));
  const Decoded b = with_ref(text);
  EXPECT_EQ(a.problems, b.problems);
  EXPECT_EQ(a.trace, b.trace);
  EXPECT_EQ(a.sample.big, b.sample.big);
  EXPECT_EQ(a.sample.small, b.sample.small);
  EXPECT_EQ(a.sample.text, b.sample.text);
  EXPECT_EQ(a.sample.mode, b.sample.mode);
  EXPECT_EQ(a.sample.flag, b.sample.flag);
  EXPECT_EQ(a.sample.tags, b.sample.tags);
  EXPECT_EQ(a.sample.labels, b.sample.labels);
  ASSERT_EQ(a.sample.items.size(), b.sample.items.size());
  for (size_t i = 0; i < a.sample.items.size(); ++i) {
    EXPECT_EQ(a.sample.items[i].name, b.sample.items[i].name);
    EXPECT_EQ(a.sample.items[i].weight, b.sample.items[i].weight);
  }
  EXPECT_EQ(a.sample.nested, b.sample.nested);
}

TEST(FieldReader, ReadsEveryKindOfField) {
  const std::string text =
      R"({"big": -9007199254740993, "small": 3, "text": "t\u00e9", "mode": "b", "flag": true,
          "tags": ["x", "y"], "labels": {"k": "v"},
          "items": [{"name": "a", "weight": 40}, {"name": "b"}], "nested": {"value": "n"}})";
  const Decoded d = with_ref(text);
  EXPECT_TRUE(d.problems.empty()) << d.problems.front();
  EXPECT_EQ(d.sample.big, -9007199254740993);
  EXPECT_EQ(d.sample.small, 3);
  EXPECT_EQ(d.sample.text, "t\xc3\xa9");
  EXPECT_EQ(d.sample.mode, "b");
  EXPECT_TRUE(d.sample.flag);
  EXPECT_EQ(d.sample.tags, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(d.sample.labels.at("k"), "v");
  ASSERT_EQ(d.sample.items.size(), 2u);
  EXPECT_EQ(d.sample.items[0].weight, 40);
  EXPECT_EQ(d.sample.items[1].name, "b");
  EXPECT_EQ(d.sample.nested, "n");
  expect_same(text);
}

TEST(FieldReader, ListsEveryProblemWithItsPath) {
  const std::string text =
      R"({"small": 11, "mode": "c", "flag": "yes", "tags": ["x", 2], "labels": {"k": 1},
          "items": [{"weight": 101}, 5, {"name": "c", "extra": null}], "nested": [],
          "unknown": 1})";
  const Decoded d = with_ref(text);
  EXPECT_EQ(
      d.problems,
      (std::vector<std::string>{
          "spec.text: is required", "spec.small: must be between 0 and 10",
          "spec.mode: must be one of a, b", "spec.flag: must be a boolean",
          "spec.tags[1]: must be a string", "spec.labels.k: must be a string",
          "spec.items[0].name: is required", "spec.items[0].weight: must be between 0 and 100",
          "spec.items[1]: must be an object", "spec.items[2].extra: unknown field",
          "spec.nested: must be an object", "spec.unknown: unknown field"}));
  // Defaults stay where a value is refused.
  EXPECT_EQ(d.sample.small, 7);
  EXPECT_EQ(d.sample.mode, "a");
  expect_same(text);
}

TEST(FieldReader, IntegersAreTypedAsNlohmannTypesThem) {
  for (const std::string number :
       {"0", "-0", "1.0", "1e2", "1E2", "-1", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "-9223372036854775808",
        "-9223372036854775809", "123456789012345678901234567890"}) {
    expect_same(R"({"text": "", "big": )" + number + "}");
  }
  EXPECT_EQ(with_ref(R"({"text": "", "big": 1.0})").problems,
            std::vector<std::string>{"spec.big: must be an integer"});
}

TEST(FieldReader, NullsAndAbsentFieldsKeepDefaults) {
  const std::string text = R"({"text": null, "small": null, "items": null, "nested": null})";
  const Decoded d = with_ref(text);
  EXPECT_TRUE(d.problems.empty());
  EXPECT_EQ(d.sample.small, 7);
  EXPECT_EQ(d.sample.text, "default");
  expect_same(text);
}

TEST(FieldReader, TracesFieldsOfAbsentObjectsAndArrays) {
  const Decoded d = with_ref(R"({"text": ""})");
  EXPECT_EQ(d.trace.at("spec.items"), "array");
  EXPECT_EQ(d.trace.at("spec.items[]"), "object");
  EXPECT_EQ(d.trace.at("spec.items[].weight"), "integer");
  EXPECT_EQ(d.trace.at("spec.nested.value"), "string");
  EXPECT_EQ(d.trace.at("spec.labels{}"), "string");
  EXPECT_EQ(d.trace.at("spec.tags[]"), "string");
  EXPECT_EQ(d.trace.at("spec.ports[]"), "integer");
  EXPECT_EQ(d.trace.at("spec.weights{}"), "integer");
  // The {} walked for the absent array's item fields is not an item.
  EXPECT_TRUE(d.sample.items.empty());
}

// Integer lists and maps, bounds on lists, maps in key order with the last of a repeated
// key (as a DOM holds them), and a kind's own wording, the same over both adapters.
TEST(FieldReader, IntegerListsMapsBoundsAndWording) {
  const std::string text = R"({"text": "", "ports": [0, 80, "x", 1.0],
    "weights": {"z": 11, "b": 1, "a": "x", "b": 2}, "tags": "t", "flag": 1})";
  const Decoded d = with_ref(text);
  EXPECT_TRUE(d.sample.ports.empty());  // over its bound: read as absent
  EXPECT_EQ(d.sample.weights, (std::map<std::string, int64_t>{{"b", 2}}));
  EXPECT_EQ(d.problems, (std::vector<std::string>{
                            "spec.flag: must be a boolean", "spec.tags: must be an array",
                            "spec.ports: at most 3 entries", "spec.weights.a: must be a weight",
                            "spec.weights.z: must be a weight"}));
  expect_same(text);
  const std::string fits = R"({"text": "", "ports": [0, 80, 1.0]})";
  EXPECT_EQ(with_ref(fits).sample.ports, std::vector<int64_t>{80});
  EXPECT_EQ(with_ref(fits).problems, (std::vector<std::string>{"spec.ports[0]: must be a port",
                                                               "spec.ports[2]: must be a port"}));
  expect_same(fits);

  constexpr FieldWording kWording{.not_array = "must be a list",
                                  .not_boolean = "must be true or false"};
  const JsonDoc doc = JsonDoc::parse(text).value();
  std::vector<std::string> problems;
  decode_object<Sample>(JsonRefNode(doc.root()), "spec", nullptr, &problems, kSampleFields,
                        &kWording);
  EXPECT_EQ(problems[0], "spec.flag: must be true or false");
  EXPECT_EQ(problems[1], "spec.tags: must be a list");
}

TEST(FieldReader, NotAnObject) {
  for (const std::string text : {"[]", "3", "null", "\"spec\""}) {
    EXPECT_EQ(with_ref(text).problems, std::vector<std::string>{"spec: must be an object"});
    expect_same(text);
  }
}

TEST(FieldReader, BestEffortKeepsIndicesAndReadsWhatFits) {
  const std::string text =
      R"({"small": "x", "tags": [1, "b"], "items": [3, {"name": "n", "weight": "w"}]})";
  const Decoded d = with_ref(text, /*strict=*/false);
  EXPECT_TRUE(d.problems.empty());
  EXPECT_EQ(d.sample.tags, (std::vector<std::string>{"", "b"}));
  ASSERT_EQ(d.sample.items.size(), 2u);
  EXPECT_EQ(d.sample.items[0].name, "");
  EXPECT_EQ(d.sample.items[1].name, "n");
  EXPECT_EQ(d.sample.items[1].weight, 0);
}

TEST(FieldReader, InvalidErrorJoinsProblems) {
  Error e = invalid_error({"a: x", "b: y"});
  EXPECT_EQ(e.code, ErrorCode::kInvalid);
  EXPECT_EQ(e.message, "a: x; b: y");
}

}  // namespace
}  // namespace orderguard
