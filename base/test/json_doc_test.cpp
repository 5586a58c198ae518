#include "base/json_doc.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace orderguard::kube {
namespace {

using nlohmann::json;
using namespace std::string_literals;

// The contract: JsonDoc accepts what nlohmann accepts, and reads the same values.
void ExpectAgrees(const std::string& text) {
  SCOPED_TRACE(json(text).dump(-1, ' ', true, json::error_handler_t::replace));
  const json expected = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto doc = JsonDoc::parse(text);
  ASSERT_EQ(doc.ok(), !expected.is_discarded()) << (doc.ok() ? "accepted" : doc.error().message);
  if (!doc.ok()) {
    EXPECT_EQ(doc.error().code, ErrorCode::kInvalid);
    EXPECT_EQ(doc.error().message.rfind("invalid JSON at byte ", 0), 0u) << doc.error().message;
    return;
  }
  const json got = doc->root().to_json();
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got.dump(), expected.dump());
  EXPECT_EQ(got.type(), expected.type());
  EXPECT_TRUE(doc->root() == doc->root());
}

std::string ErrorOf(std::string_view text, size_t max_depth = JsonDoc::kDefaultMaxDepth) {
  auto doc = JsonDoc::parse(text, max_depth);
  if (doc.ok()) return "accepted";
  EXPECT_EQ(doc.error().code, ErrorCode::kInvalid);
  return doc.error().message;
}

JsonDoc Parse(std::string text) {
  auto doc = JsonDoc::parse_owned(std::move(text));
  EXPECT_TRUE(doc.ok()) << doc.error().message;
  return doc.ok() ? std::move(doc).value() : JsonDoc();
}

std::string ReadReview() {
  std::ifstream in(std::string(ORDERGUARD_SOURCE_DIR) + "/bench/testdata/deployment3_review.json",
                   std::ios::binary);
  EXPECT_TRUE(in.good());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The document points into the text it indexed: parse() of a temporary
// std::string would leave it dangling, so that call does not compile (a view,
// a literal or a string the caller keeps do).
template <typename T>
concept ParsesFrom = requires(T t) {
  JsonDoc::parse(std::forward<T>(t));
};
static_assert(!ParsesFrom<std::string>);
static_assert(ParsesFrom<std::string&>);
static_assert(ParsesFrom<std::string_view>);
static_assert(ParsesFrom<const char*>);

TEST(JsonDocParse, Literals) {
  for (const char* text : {"true", "false", "null", " true ", "[true,false,null]"}) {
    ExpectAgrees(text);
  }
  EXPECT_EQ(Parse("true").root().type(), JsonType::kTrue);
  EXPECT_TRUE(Parse("true").root().boolean());
  EXPECT_EQ(Parse("false").root().type(), JsonType::kFalse);
  EXPECT_TRUE(Parse("false").root().is_boolean());
  EXPECT_FALSE(Parse("false").root().boolean());
  EXPECT_TRUE(Parse("null").root().is_null());
  for (const char* text : {"tru", "nul", "fals", "True", "NULL", "truee", "nulll", "t", "[tru]"}) {
    ExpectAgrees(text);
    EXPECT_NE(ErrorOf(text), "accepted") << text;
  }
}

TEST(JsonDocParse, Numbers) {
  for (const char* text : {"0",
                           "-0",
                           "1",
                           "-1",
                           "12345",
                           "0.5",
                           "-0.5",
                           "1.25e3",
                           "1E3",
                           "1e+3",
                           "1e-3",
                           "0e0",
                           "-0.0",
                           "0.000001",
                           "1e308",
                           "-1e308",
                           "1e-400",
                           "2e-324",
                           "4e-324",
                           "1.7976931348623157e308",
                           "1.7976931348623158e308",
                           "9223372036854775807",
                           "9223372036854775808",
                           "-9223372036854775808",
                           "-9223372036854775809",
                           "18446744073709551615",
                           "18446744073709551616",
                           "123456789012345678901234567890",
                           "0.1e1",
                           "[1,-2,3.5,4e1]"}) {
    ExpectAgrees(text);
  }
  // nlohmann's number types: unsigned without '-', integer with it, float past either.
  EXPECT_TRUE(Parse("18446744073709551615").root().to_json().is_number_unsigned());
  EXPECT_TRUE(Parse("18446744073709551616").root().to_json().is_number_float());
  EXPECT_TRUE(Parse("-9223372036854775808").root().to_json().is_number_integer());
  EXPECT_TRUE(Parse("-9223372036854775809").root().to_json().is_number_float());
  EXPECT_TRUE(Parse("1.0").root().to_json().is_number_float());
  EXPECT_EQ(Parse(" -1.5e3 ").root().number_text(), "-1.5e3");
  EXPECT_TRUE(Parse("7").root().is_number());

  for (const char* text : {"01",
                           "-01",
                           "00",
                           "+1",
                           "-",
                           "--1",
                           "1.",
                           "1.e5",
                           ".5",
                           "-.5",
                           "1e",
                           "1e+",
                           "1E-",
                           "0x10",
                           "1e309",
                           "-1e309",
                           "1.7976931348623159e308",
                           "1e99999999999999999999",
                           "Infinity",
                           "NaN",
                           "-Infinity",
                           "1.5.5",
                           "[1.]",
                           "[-]",
                           "1-2"}) {
    ExpectAgrees(text);
    EXPECT_NE(ErrorOf(text), "accepted") << text;
  }
  // Only a double's range limits the length of a number.
  ExpectAgrees(std::string(308, '9'));
  ExpectAgrees(std::string(309, '9'));
  ExpectAgrees(std::string(309, '9') + "e-10");
  ExpectAgrees("0." + std::string(400, '0') + "1e400");
  ExpectAgrees("0." + std::string(400, '0') + "1e800");
  EXPECT_NE(ErrorOf(std::string(309, '9')), "accepted");
  EXPECT_EQ(ErrorOf("[1e309]"), "invalid JSON at byte 1: number out of range");
}

TEST(JsonDocParse, StringsAndEscapes) {
  for (const char* text :
       {R"("")", R"("plain")", R"("\"\\\/\b\f\n\r\t")", R"("\u0041\u00e9\u20AC")", R"("\u0000")",
        R"("\ud83d\ude00")", R"("\uD83D\uDE00 and \uDBFF\uDFFF")", R"("a\u0062c")",
        R"(["\n", "x", "\t"])", R"({"k\u0065y": "v"})", "\"\x7f\""}) {
    ExpectAgrees(text);
  }
  auto doc = Parse(R"(["plain", "tab\there", "\u00e9\ud83d\ude00", "\u0000"])");
  const JsonRef root = doc.root();
  EXPECT_EQ(root.at(0).string(), "plain");
  EXPECT_EQ(root.at(1).string(), "tab\there");
  EXPECT_EQ(root.at(2).string(), "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(root.at(3).string(), std::string_view("\0", 1));
  EXPECT_EQ(root.at(1).raw(), R"("tab\there")");

  // Strings without escapes point into the text; the others into the decoded buffer.
  const std::string_view text = doc.text();
  const char* plain = root.at(0).string().data();
  EXPECT_TRUE(plain >= text.data() && plain < text.data() + text.size());
  const char* decoded = root.at(1).string().data();
  EXPECT_FALSE(decoded >= text.data() && decoded < text.data() + text.size());

  for (const char* bad : {R"("\ud800")", R"("\udc00")", R"("\udfff x")", R"("\ud83d\u0041")",
                          R"("\ud83d\ud83d")", R"("\ud83dx")", R"("\ud83d\n")", R"("\ud83d\u12")",
                          R"("\ud83d)", R"("\u12")", R"("\u12G4")", R"("\x41")", R"("\a")",
                          R"("\U0041")", R"("\)", R"("abc)", "\"", R"("\'")"}) {
    ExpectAgrees(bad);
    EXPECT_NE(ErrorOf(bad), "accepted") << bad;
  }
  EXPECT_EQ(ErrorOf(R"(["\ud800"])"), "invalid JSON at byte 2: lone surrogate in \\u escape");
  EXPECT_EQ(ErrorOf(R"(["\udc00"])"), "invalid JSON at byte 2: lone surrogate in \\u escape");
  EXPECT_EQ(ErrorOf(R"("abc)"), "invalid JSON at byte 4: unexpected end of input");
  EXPECT_EQ(ErrorOf(R"("\q")"), "invalid JSON at byte 1: invalid escape");
}

TEST(JsonDocParse, EscapedStringsFillTheBufferExactly) {
  // Every byte of the text an escape: the decoded buffer (text-sized) must hold them all.
  std::string text = "[";
  for (int i = 0; i < 200; ++i) text += R"("\ud83d\ude00\u00e9\n\u0041",)";
  text += R"("\/"])";
  ExpectAgrees(text);
  auto doc = Parse(text);
  ASSERT_EQ(doc.root().size(), 201u);
  for (JsonRef s : doc.root()) {
    if (s.same(doc.root().at(200))) {
      EXPECT_EQ(s.string(), "/");
    } else {
      EXPECT_EQ(s.string(), "\xF0\x9F\x98\x80\xC3\xA9\nA");
    }
  }
}

TEST(JsonDocParse, Utf8AsNlohmannValidatesIt) {
  const std::vector<std::string> good = {
      "\xC3\xA9",         "\xC2\x80",         "\xDF\xBF",         "\xE0\xA0\x80",
      "\xE2\x82\xAC",     "\xED\x9F\xBF",     "\xEE\x80\x80",     "\xEF\xBF\xBF",
      "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80", "\xF3\xBF\xBF\xBF", "\xF4\x8F\xBF\xBF"};
  for (const std::string& s : good) {
    const std::string text = "\"a" + s + "b\"";
    ExpectAgrees(text);
    EXPECT_EQ(Parse(text).root().string(), "a" + s + "b");
    ExpectAgrees("\"\\n" + s + "\"");  // the same through the escape path
  }
  const std::vector<std::string> bad = {"\x80",
                                        "\xBF",
                                        "\xC0\xAF",
                                        "\xC1\xBF",
                                        "\xC2",
                                        "\xC2\x41",
                                        "\xC2\xC0",
                                        "\xE0\x80\xAF",
                                        "\xE0\x9F\xBF",
                                        "\xED\xA0\x80",
                                        "\xED\xBF\xBF",
                                        "\xE2\x82",
                                        "\xE2\x28\xA1",
                                        "\xF0\x80\x80\xAF",
                                        "\xF0\x8F\xBF\xBF",
                                        "\xF4\x90\x80\x80",
                                        "\xF5\x80\x80\x80",
                                        "\xF8\x88\x80\x80\x80",
                                        "\xFE",
                                        "\xFF",
                                        "\xF0\x9F\x98"};
  for (const std::string& s : bad) {
    ExpectAgrees("\"a" + s + "b\"");
    ExpectAgrees("\"\\t" + s + "\"");
    ExpectAgrees("\"" + s);  // truncated at the end of the text
    EXPECT_NE(ErrorOf("\"a" + s + "b\""), "accepted");
  }
  EXPECT_EQ(ErrorOf("[\"ab\xC0\xAF\"]"), "invalid JSON at byte 4: invalid UTF-8");
  // Outside strings non-ASCII is no value at all.
  ExpectAgrees("\xC3\xA9");
  ExpectAgrees("[1,\xC3\xA9]");
}

TEST(JsonDocParse, ControlCharactersInStrings) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string text = "\"a"s + static_cast<char>(c) + "b\"";
    ExpectAgrees(text);
    EXPECT_EQ(ErrorOf(text), "invalid JSON at byte 2: control character in string") << c;
    ExpectAgrees("\"\\n"s + static_cast<char>(c) + "\"");
  }
}

TEST(JsonDocParse, SpecialBytesAtEveryOffsetOfAString) {
  // The scanner reads eight bytes at a time and then byte by byte: each kind of byte
  // that stops it, at every offset of the word and of the tail.
  const std::vector<std::string> specials = {"\x01"s,
                                             "\x1f"s,
                                             "\0"s,
                                             "\""s,
                                             "\\n"s,
                                             "\\u00e9"s,
                                             "\\"s,
                                             "\xC3\xA9"s,
                                             "\xC3"s,
                                             "\x80"s,
                                             "\xF0\x9F\x98\x80"s,
                                             "\xED\xA0\x80"s,
                                             "\x7f"s,
                                             " "s};
  for (const std::string& special : specials) {
    for (size_t at = 0; at <= 24; ++at) {
      std::string body(24, 'x');
      body.insert(at, special);
      ExpectAgrees("\"" + body + "\"");
      ExpectAgrees("[\"" + body + "\"]");
      ExpectAgrees("\"" + body);
    }
  }
}

TEST(JsonDocParse, WhitespaceAndTrailingData) {
  for (const char* text :
       {" \t\r\n1 \t\r\n", "\n{ \"a\" : [ 1 , 2 ] }\n", "[ ]", "{ }", "[]", "{}", "\"x\"", "1 2",
        "{}x", "[]]", "{}}", "1,", "\f1", "\v1", "1\f", "", " ", " \n\t\r", "[1]\n[2]"}) {
    ExpectAgrees(text);
  }
  EXPECT_EQ(ErrorOf(""), "invalid JSON at byte 0: unexpected end of input");
  EXPECT_EQ(ErrorOf("  "), "invalid JSON at byte 2: unexpected end of input");
  EXPECT_EQ(ErrorOf("{} x"), "invalid JSON at byte 3: unexpected data after the value");
  EXPECT_EQ(Parse(" [1] ").root().raw(), "[1]");
}

TEST(JsonDocParse, NulAndByteOrderMarkAsNlohmannReadsThem) {
  // nlohmann reads a NUL byte as the end of the input: after the value it ends the text.
  for (const std::string& text :
       {"1\0garbage"s, "{} \0{"s, "[1]\0"s, "\0"s, "\0 1"s, "[1\0]"s, "[1,\0]"s, "{\"a\":\0}"s,
        "\"a\0\""s, "\xEF\xBB\xBF{}"s, "\xEF\xBB\xBF 1"s, "\xEF\xBB\xBF"s, "\xEF\xBB"s, "\xEF{}"s,
        " \xEF\xBB\xBF{}"s, "\xEF\xBB\xBF\xEF\xBB\xBF{}"s}) {
    ExpectAgrees(text);
  }
  auto doc = Parse("{\"a\":1}\0trailing"s);
  EXPECT_EQ(doc.root().raw(), R"({"a":1})");
  auto bom = Parse("\xEF\xBB\xBF[true]");
  EXPECT_EQ(bom.root().raw(), "[true]");
}

TEST(JsonDocParse, StructureErrors) {
  for (const char* text :
       {"[1,]",       "[,1]",       "[,]",   "{,}",   "{\"a\"}", "{\"a\":}",
        "{\"a\" 1}",  "{1:2}",      "{a:1}", "[1 2]", "[",       "{",
        "{\"a\":1,}", "]",          "}",     "[}",    "{]",      "{\"a\":1 \"b\":2}",
        "[[]",        "{\"a\"::1}", ":",     ","}) {
    ExpectAgrees(text);
    EXPECT_NE(ErrorOf(text), "accepted") << text;
  }
  EXPECT_EQ(ErrorOf(R"({"a" 1})"), "invalid JSON at byte 5: expected ':'");
  EXPECT_EQ(ErrorOf(R"({"a":1 "b":2})"), "invalid JSON at byte 7: expected ',' or '}'");
  EXPECT_EQ(ErrorOf("[1 2]"), "invalid JSON at byte 3: expected ',' or ']'");
  EXPECT_EQ(ErrorOf("{1:2}"), "invalid JSON at byte 1: expected a string key");
  EXPECT_EQ(ErrorOf("[1,"), "invalid JSON at byte 3: unexpected end of input");
  EXPECT_EQ(ErrorOf("[x]"), "invalid JSON at byte 1: expected a value");
}

TEST(JsonDocParse, DepthLimit) {
  auto nested = [](size_t depth, char open, char close) {
    std::string text;
    for (size_t i = 0; i < depth; ++i) text += open == '{' ? "{\"k\":" : "[";
    text += "1";
    for (size_t i = 0; i < depth; ++i) text += close;
    return text;
  };
  ExpectAgrees(nested(512, '[', ']'));
  ExpectAgrees(nested(512, '{', '}'));
  EXPECT_EQ(ErrorOf(nested(513, '[', ']')), "invalid JSON at byte 512: nesting deeper than 512");
  EXPECT_NE(ErrorOf(nested(513, '{', '}')).find("nesting deeper than 512"), std::string::npos);
  // Siblings do not add up: depth is nesting, not containers.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += "[[]],";
  wide += "[]]";
  ExpectAgrees(wide);

  EXPECT_EQ(ErrorOf("[[[1]]]", 3), "accepted");
  EXPECT_EQ(ErrorOf("[[[[1]]]]", 3), "invalid JSON at byte 3: nesting deeper than 3");
  EXPECT_EQ(ErrorOf("1", 0), "accepted");
  EXPECT_EQ(ErrorOf("[]", 0), "invalid JSON at byte 0: nesting deeper than 0");

  // A raised limit: parsing, comparing and converting stay iterative.
  const std::string deep = nested(20000, '[', ']');
  auto doc = JsonDoc::parse(deep, 20000);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_TRUE(doc->root() == doc->root());
  json dom = doc->root().to_json();
  EXPECT_TRUE(dom.is_array());
}

TEST(JsonDocParse, RefusesTextsOver4GiB) {
  // Refused before any byte is read, so a view past a small buffer is enough here.
  static const char kByte = '1';
  const std::string_view huge(&kByte, size_t{std::numeric_limits<uint32_t>::max()} + 1);
  auto doc = JsonDoc::parse(huge);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kInvalid);
  EXPECT_NE(doc.error().message.find("longer than 4 GiB"), std::string::npos);
}

TEST(JsonRefRead, FindReturnsTheLastOfRepeatedKeys) {
  auto doc = Parse(R"({"a": 1, "b": {"c": "x"}, "a": 2, "": "empty", "a": 3})");
  const JsonRef root = doc.root();
  EXPECT_EQ(root.size(), 5u);
  EXPECT_EQ(root.find("a").number_text(), "3");
  EXPECT_EQ(root.find("b").find("c").string(), "x");
  EXPECT_EQ(root.find("b").string_member("c"), "x");
  EXPECT_EQ(root.find("").string(), "empty");
  EXPECT_FALSE(root.find("missing").valid());
  EXPECT_FALSE(root.find("c").valid());  // not searched recursively
  EXPECT_EQ(root.string_member("missing"), "");
  EXPECT_EQ(root.string_member("a"), "");  // present but not a string
  // Escaped keys are found by their decoded name.
  EXPECT_EQ(Parse(R"({"k\u0065y": true})").root().find("key").type(), JsonType::kTrue);
}

// What check_unique_keys says about `text` ("unique" or the error message).
std::string UniqueKeys(const std::string& text) {
  auto doc = Parse(text);
  Status st = doc.check_unique_keys();
  if (st.ok()) return "unique";
  EXPECT_EQ(st.error().code, ErrorCode::kInvalid);
  return st.error().message;
}

// An object of `n` members "k0".."k<n-1>", the last member's key replaced by `last`.
std::string ObjectOf(size_t n, const std::string& last) {
  std::string text = "{";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) text += ',';
    text += "\"" + (i + 1 == n ? last : "k" + std::to_string(i)) + "\":" + std::to_string(i);
  }
  return text + "}";
}

TEST(JsonDocUniqueKeys, RepeatedKeysAtAnyDepthAreFound) {
  EXPECT_EQ(UniqueKeys(R"({"a":1,"a":1})"), "duplicate key 'a' at byte 7");
  EXPECT_EQ(UniqueKeys(R"({"x":[{"b":{"c":1,"d":2,"c":3}}]})"), "duplicate key 'c' at byte 24");
  EXPECT_EQ(UniqueKeys(R"([[[{"k":null,"k":{}}]]])"), "duplicate key 'k' at byte 13");
  EXPECT_EQ(UniqueKeys(R"({"":1,"":2})"), "duplicate key '' at byte 6");
  // Keys are compared decoded, as nlohmann stores them.
  EXPECT_EQ(UniqueKeys(R"({"name":1,"n\u0061me":2})"), "duplicate key 'name' at byte 10");
  // Small objects compare pairwise, larger ones sort: both ways, first and last member.
  for (size_t n : {2, 16, 17, 100}) {
    SCOPED_TRACE(n);
    EXPECT_EQ(UniqueKeys(ObjectOf(n, "k0")).rfind("duplicate key 'k0' at byte ", 0), 0u);
    EXPECT_EQ(UniqueKeys(ObjectOf(n, "k" + std::to_string(n - 1))), "unique");
  }
}

TEST(JsonDocUniqueKeys, SameKeysInDifferentObjectsAreFine) {
  EXPECT_EQ(UniqueKeys(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":"a"})"), "unique");
  EXPECT_EQ(UniqueKeys(R"({"a":1,"A":2,"a ":3," a":4})"), "unique");
  EXPECT_EQ(UniqueKeys(R"([1,1,"x","x",{},{}])"), "unique");
  EXPECT_EQ(UniqueKeys("null"), "unique");
  EXPECT_EQ(UniqueKeys(ReadReview()), "unique");
  EXPECT_TRUE(JsonDoc().check_unique_keys().ok());
}

TEST(JsonDocUniqueKeys, LargeObjectsAndDeepNesting) {
  // 200,000 members in one object, then 100,000 one-member objects nested: both pass with
  // unique keys, and a repeat at the very end is still found.
  EXPECT_EQ(UniqueKeys(ObjectOf(200'000, "last")), "unique");
  EXPECT_EQ(UniqueKeys(ObjectOf(200'000, "k7")).rfind("duplicate key 'k7' at byte ", 0), 0u);
  std::string deep;
  for (int i = 0; i < 400; ++i) deep += R"({"a":)";
  deep += R"({"z":1,"z":2})";
  for (int i = 0; i < 400; ++i) deep += "}";
  EXPECT_EQ(UniqueKeys(deep).rfind("duplicate key 'z' at byte ", 0), 0u);
}

TEST(JsonRefRead, FindOnAnythingButAnObjectIsInvalid) {
  auto doc = Parse(R"([{"a": 1}, "a", 1, null, ["a"]])");
  for (JsonRef v : doc.root()) {
    if (!v.is_object()) {
      EXPECT_FALSE(v.find("a").valid()) << v.raw();
    }
  }
  EXPECT_FALSE(doc.root().find("a").valid());
  EXPECT_FALSE(JsonRef().find("a").valid());
  EXPECT_TRUE(doc.root().at(0).find("a").valid());
}

TEST(JsonRefRead, IteratesObjectsInTextOrder) {
  auto doc = Parse(R"({"z": 1, "a": [true], "m": {"x": null}, "a": "again"})");
  std::vector<std::string> keys;
  std::vector<std::string> raws;
  for (auto it = doc.root().begin(); it != doc.root().end(); ++it) {
    keys.emplace_back(it.key());
    raws.emplace_back((*it).raw());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"z", "a", "m", "a"}));
  EXPECT_EQ(raws, (std::vector<std::string>{"1", "[true]", R"({"x": null})", R"("again")"}));
}

TEST(JsonRefRead, IteratesArraysAndNothingElse) {
  auto doc = Parse(R"([1, [2, [3]], {"k": 4}, "s", [], {}])");
  std::vector<std::string> raws;
  for (JsonRef v : doc.root()) raws.emplace_back(v.raw());
  EXPECT_EQ(raws, (std::vector<std::string>{"1", "[2, [3]]", R"({"k": 4})", R"("s")", "[]", "{}"}));
  auto it = doc.root().begin();
  EXPECT_EQ(it.key(), "");  // arrays have no keys
  const JsonRef empty_array = doc.root().at(4);
  const JsonRef empty_object = doc.root().at(5);
  EXPECT_TRUE(empty_array.begin() == empty_array.end());
  EXPECT_TRUE(empty_object.begin() == empty_object.end());
  EXPECT_EQ(empty_array.size(), 0u);
  const JsonRef scalar = doc.root().at(0);
  EXPECT_TRUE(scalar.begin() == scalar.end());
  EXPECT_TRUE(JsonRef().begin() == JsonRef().end());
}

TEST(JsonRefRead, AtWalksArraysOnly) {
  auto doc = Parse(R"([[1, 2], {"a": 1}, "x", 4])");
  const JsonRef root = doc.root();
  EXPECT_EQ(root.size(), 4u);
  EXPECT_EQ(root.at(0).at(1).number_text(), "2");
  EXPECT_EQ(root.at(3).number_text(), "4");
  EXPECT_FALSE(root.at(4).valid());
  EXPECT_FALSE(root.at(std::numeric_limits<size_t>::max()).valid());
  EXPECT_FALSE(root.at(1).at(0).valid());  // an object
  EXPECT_FALSE(root.at(2).at(0).valid());  // a string
  EXPECT_FALSE(JsonRef().at(0).valid());
}

TEST(JsonRefRead, RawIsTheExactText) {
  const std::string text = R"( {"s" : "a\"b" , "n":-1.5E+2,"o":{ "x" :[ 1 ,2 ] } , "t":true} )";
  auto doc = Parse(text);
  const JsonRef root = doc.root();
  EXPECT_EQ(root.raw(), text.substr(1, text.size() - 2));
  EXPECT_EQ(root.find("s").raw(), R"("a\"b")");
  EXPECT_EQ(root.find("s").string(), "a\"b");
  EXPECT_EQ(root.find("n").raw(), "-1.5E+2");
  EXPECT_EQ(root.find("o").raw(), R"({ "x" :[ 1 ,2 ] })");
  EXPECT_EQ(root.find("o").find("x").raw(), "[ 1 ,2 ]");
  EXPECT_EQ(root.find("t").raw(), "true");
  EXPECT_EQ(JsonRef().raw(), "");
}

TEST(JsonRefRead, WrongTypesGiveEmptyAnswers) {
  auto doc = Parse(R"({"n": 1, "s": "x", "a": [1]})");
  const JsonRef root = doc.root();
  EXPECT_EQ(root.find("n").string(), "");
  EXPECT_EQ(root.find("s").number_text(), "");
  EXPECT_EQ(root.find("s").size(), 0u);
  EXPECT_FALSE(root.find("s").boolean());
  EXPECT_EQ(root.find("a").size(), 1u);
  const JsonRef none;
  EXPECT_FALSE(none.valid());
  EXPECT_FALSE(none.is_null() || none.is_boolean() || none.is_number() || none.is_string() ||
               none.is_array() || none.is_object());
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.string(), "");
  EXPECT_TRUE(none.to_json().is_null());
  EXPECT_FALSE(JsonDoc().root().valid());
  EXPECT_EQ(JsonDoc().text(), "");
}

TEST(JsonRefToJson, EqualsNlohmannParse) {
  for (const std::string& text :
       {R"({"a": 1, "b": [true, false, null], "c": {"d": "e\n"}, "f": -2, "g": 1.5})"s,
        R"({"dup": 1, "dup": {"x": [1]}, "z": 0, "dup": [2, 3]})"s,
        R"({"dup": {"inner": 1}, "dup": {"other": 2}})"s, R"([[], {}, [[]], [{}], ""])"s,
        R"({"b": 1, "a": 2, "c": {"z": 1, "y": 2}})"s, R"("just a string")"s, "42"s, "null"s,
        R"([1e2, 100, 1.0, -0, -0.0, 18446744073709551615, -9223372036854775808])"s,
        R"({"\u00e9": "\ud83d\ude00", "e\u0301": "x"})"s, ReadReview()}) {
    ExpectAgrees(text);
  }
}

TEST(JsonRefEquality, ComparesValuesNotText) {
  auto eq = [](const std::string& a, const std::string& b) {
    auto x = Parse(a);
    auto y = Parse(b);
    const bool result = x.root() == y.root();
    // The same answer as comparing the DOMs, both ways round.
    EXPECT_EQ(result, x.root().to_json() == y.root().to_json()) << a << " vs " << b;
    EXPECT_EQ(result, y.root() == x.root()) << a << " vs " << b;
    return result;
  };
  EXPECT_TRUE(eq(R"({"a": 1, "b": 2})", R"({"b":2,"a":1})"));
  EXPECT_TRUE(eq("1", "1.0"));
  EXPECT_TRUE(eq("100", "1e2"));
  EXPECT_TRUE(eq("-0", "0"));
  EXPECT_TRUE(eq("0", "-0.0"));
  EXPECT_FALSE(eq("1", "2"));
  EXPECT_FALSE(eq("1", "1.5"));
  EXPECT_FALSE(eq("1", "\"1\""));
  EXPECT_TRUE(eq(R"("a")", R"("\u0061")"));
  EXPECT_FALSE(eq(R"("a")", R"("b")"));
  EXPECT_FALSE(eq(R"("a")", R"("ab")"));
  EXPECT_FALSE(eq("null", "false"));
  EXPECT_FALSE(eq("true", "false"));
  EXPECT_TRUE(eq("true", " true"));
  EXPECT_FALSE(eq("[]", "{}"));
  EXPECT_FALSE(eq("[1, 2]", "[2, 1]"));
  EXPECT_FALSE(eq("[1, 2]", "[1, 2, 3]"));
  EXPECT_TRUE(eq(R"({"a": [1, {"b": null}]})", R"({"a": [1.0, {"b": null}]})"));
  EXPECT_FALSE(eq(R"({"a": [1, {"b": null}]})", R"({"a": [1, {"b": false}]})"));
  EXPECT_FALSE(eq(R"({"a": 1})", R"({"a": 1, "b": 2})"));
  EXPECT_FALSE(eq(R"({"a": 1, "b": 2})", R"({"a": 1, "c": 2})"));
  // Repeated keys: the last one is the value.
  EXPECT_TRUE(eq(R"({"a": 1, "a": 2})", R"({"a": 2})"));
  EXPECT_FALSE(eq(R"({"a": 1, "a": 2})", R"({"a": 1})"));
  EXPECT_TRUE(eq(R"({"a": 1, "b": 0, "a": 2})", R"({"b": 0, "a": 2, "a": 2})"));
  EXPECT_FALSE(eq(R"({"a": 1, "a": 1})", R"({"a": 1, "b": 1})"));
  // Past the small-object path: sorted member lists.
  std::string big_a = "{", big_b = "{";
  for (int i = 0; i < 20; ++i) {
    big_a += (i ? "," : "") + json("k" + std::to_string(i)).dump() + ":" + std::to_string(i);
    big_b += (i ? "," : "") + json("k" + std::to_string(19 - i)).dump() + ":" +
             std::to_string(19 - i) + ".0";
  }
  EXPECT_TRUE(eq(big_a + "}", big_b + "}"));
  EXPECT_TRUE(eq(big_a + R"(,"k3":"new"})", big_b + R"(,"k3":"old","k3":"new"})"));
  EXPECT_FALSE(eq(big_a + R"(,"k3":"new"})", big_b + "}"));
  EXPECT_FALSE(eq(big_a + R"(,"k20":1})", big_b + R"(,"k21":1})"));
  EXPECT_FALSE(eq(big_a + "}", R"({"k0": 0})"));
}

TEST(JsonRefEquality, MatchesNlohmannOnEveryPair) {
  const std::vector<std::string> values = {"null",
                                           "true",
                                           "false",
                                           "0",
                                           "-0",
                                           "0.0",
                                           "1",
                                           "1.0",
                                           "1e0",
                                           "-1",
                                           "2",
                                           "18446744073709551615",
                                           "-1.5",
                                           "1e300",
                                           R"("")",
                                           R"("1")",
                                           R"("a")",
                                           R"("\u0061")",
                                           "[]",
                                           "{}",
                                           "[1]",
                                           "[1.0]",
                                           "[[]]",
                                           R"({"a":1})",
                                           R"({"a":1.0})",
                                           R"({"a":1,"a":2})",
                                           R"({"a":2})",
                                           R"({"b":1})",
                                           R"({"a":{"b":[1,2]}})",
                                           R"({"a":{"b":[1,2.0]}})",
                                           R"({"a":{"b":[2,1]}})",
                                           R"([null,{}])",
                                           "9223372036854775807",
                                           "9223372036854775807.0"};
  std::vector<JsonDoc> docs;
  for (const auto& v : values) docs.push_back(Parse(v));
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < values.size(); ++j) {
      EXPECT_EQ(docs[i].root() == docs[j].root(), json::parse(values[i]) == json::parse(values[j]))
          << values[i] << " vs " << values[j];
    }
  }
  EXPECT_TRUE(JsonRef() == JsonRef());
  EXPECT_FALSE(JsonRef() == docs[0].root());
  EXPECT_FALSE(docs[0].root() == JsonRef());
}

TEST(JsonDocLifetime, RefsSurviveMovingTheDocument) {
  auto parsed = JsonDoc::parse_owned(R"({"k": "v\n", "n": [1, 2]})");
  ASSERT_TRUE(parsed.ok());
  JsonDoc doc = std::move(parsed).value();
  const JsonRef k = doc.root().find("k");
  const JsonRef n = doc.root().find("n");
  std::vector<JsonDoc> holder;
  holder.push_back(std::move(doc));
  holder.emplace_back();  // may move the first one again
  holder.emplace_back();
  EXPECT_EQ(k.string(), "v\n");
  EXPECT_EQ(n.at(1).number_text(), "2");
  EXPECT_EQ(n.raw(), "[1, 2]");
  EXPECT_TRUE(holder[0].root().find("k").same(k));
}

TEST(JsonDocLifetime, ParseOwnedKeepsItsText) {
  // Short enough for the small-string buffer, which a moved std::string would not keep.
  auto parsed = JsonDoc::parse_owned(std::string(R"(["ab"])"));
  ASSERT_TRUE(parsed.ok());
  const JsonRef first = parsed->root().at(0);
  JsonDoc doc = std::move(parsed).value();
  JsonDoc again = std::move(doc);
  EXPECT_EQ(first.string(), "ab");
  EXPECT_EQ(first.raw(), R"("ab")");
  EXPECT_EQ(again.text(), R"(["ab"])");

  auto bad = JsonDoc::parse_owned("[1,");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "invalid JSON at byte 3: unexpected end of input");
}

TEST(JsonDocLifetime, FromJsonRoundTrips) {
  for (const std::string& text :
       {R"({"a": [1, -2, 3.5, "x\ty", null, true], "b": {"c": {}}})"s, "[]"s, "\"s\""s,
        "18446744073709551615"s, R"({"\u00e9": "\ud83d\ude00"})"s, ReadReview()}) {
    const json value = json::parse(text);
    const JsonDoc doc = JsonDoc::from_json(value);
    ASSERT_TRUE(doc.root().valid()) << text;
    EXPECT_EQ(doc.root().to_json(), value);
    auto parsed = Parse(text);
    EXPECT_TRUE(doc.root() == parsed.root());
  }
  // Invalid UTF-8 in a DOM is replaced, not thrown.
  const JsonDoc replaced =
      JsonDoc::from_json(json("a\xFF"
                              "b"));
  EXPECT_EQ(replaced.root().string(),
            "a\xEF\xBF\xBD"
            "b");
  // Deeper than the default limit: a DOM in memory is indexed whatever its depth.
  json deep = 1;
  for (int i = 0; i < 600; ++i) deep = json::array({deep});
  EXPECT_TRUE(JsonDoc::from_json(deep).root().is_array());
  EXPECT_FALSE(JsonDoc::from_json(json(json::value_t::discarded)).root().valid());
}

TEST(JsonDocParse, RealAdmissionReview) {
  const std::string text = ReadReview();
  auto doc = JsonDoc::parse(text);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  const JsonRef request = doc->root().find("request");
  EXPECT_EQ(request.string_member("operation"), "CREATE");
  EXPECT_EQ(request.find("kind").string_member("kind"), "Deployment");
  const JsonRef containers =
      request.find("object").find("spec").find("template").find("spec").find("containers");
  ASSERT_TRUE(containers.is_array());
  EXPECT_EQ(containers.size(), 3u);
  const json expected = json::parse(text);
  EXPECT_EQ(doc->root().to_json(), expected);
  size_t i = 0;
  for (JsonRef c : containers) {
    EXPECT_EQ(c.string_member("name"),
              expected["request"]["object"]["spec"]["template"]["spec"]["containers"][i++]["name"]
                  .get<std::string>());
  }
}

}  // namespace
}  // namespace orderguard::kube
