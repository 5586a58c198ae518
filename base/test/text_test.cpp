// The text helpers for bytes from outside the process: validity, repair, escaping for a
// terminal, truncation on sequence boundaries and the wire dump. Exhaustive over every one-
// and two-byte input where that is cheap, because hostile input is exactly the odd byte.
#include "base/text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace orderguard::kube {
namespace {

using nlohmann::json;

// Every string of one or two bytes.
std::vector<std::string> short_inputs() {
  std::vector<std::string> out;
  for (int a = 0; a < 256; ++a) {
    out.emplace_back(1, static_cast<char>(a));
    for (int b = 0; b < 256; ++b) {
      out.push_back(std::string{static_cast<char>(a), static_cast<char>(b)});
    }
  }
  return out;
}

// Inputs around the edges of the UTF-8 table: overlong forms, surrogates, above U+10FFFF,
// truncated sequences, stray continuation bytes.
const std::vector<std::string>& edge_inputs() {
  static const std::vector<std::string> kInputs = {
      "",
      "plain",
      "\xff\xfe",
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // surrogate D800
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xf0\x80\x80\x80",  // overlong
      "\xe2\x82",          // truncated euro sign at the end
      "\xe2\x82"
      "A",                     // truncated euro sign before ASCII
      "\xf0\x9d\x84",          // truncated G clef
      "\x80\x80\x80\x80\x80",  // stray continuation bytes
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e",
      "\x1b[2J\x1b[HRESULT: clean\n",
      "a\xc2\x9b"
      "31mred",  // C1 CSI
      "\xe2\x80\xae"
      "txt.exe",
  };
  return kInputs;
}

bool has_terminal_control(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) return true;
    if (b == 0xC2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return true;
    }
  }
  return false;
}

TEST(IsValidUtf8, FollowsRfc3629) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("ascii only"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));
  EXPECT_FALSE(is_valid_utf8("\x80"));
}

TEST(IsValidUtf8, AgreesWithNlohmannOnEveryShortInput) {
  for (const std::string& s : short_inputs()) {
    bool strict_ok = true;
    try {
      (void)json(s).dump();
    } catch (const json::type_error&) {
      strict_ok = false;
    }
    ASSERT_EQ(is_valid_utf8(s), strict_ok)
        << json(s).dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

TEST(ToValidUtf8, ReplacesEachMaximalInvalidSubpartOnce) {
  EXPECT_EQ(to_valid_utf8("a\xff\xfe"
                          "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(to_valid_utf8("\xe2\x82"
                          "A"),
            "\xEF\xBF\xBD"
            "A");
  EXPECT_EQ(to_valid_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(to_valid_utf8(std::string("nul\0byte", 8)), std::string("nul\0byte", 8));
}

// The same replacement nlohmann makes when it dumps with error_handler_t::replace, so a
// string repaired here and one repaired on the wire read the same.
TEST(ToValidUtf8, MatchesNlohmannsReplacement) {
  std::vector<std::string> inputs = short_inputs();
  inputs.insert(inputs.end(), edge_inputs().begin(), edge_inputs().end());
  for (const std::string& s : inputs) {
    const std::string repaired = to_valid_utf8(s);
    ASSERT_TRUE(is_valid_utf8(repaired));
    ASSERT_EQ(json(repaired).dump(), json(s).dump(-1, ' ', false, json::error_handler_t::replace))
        << json(s).dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

TEST(EscapeUntrusted, EscapesControlsInvalidBytesC1AndBidi) {
  EXPECT_EQ(escape_untrusted("\x1b[2J\x1b[HRESULT: clean\n"), "\\x1b[2J\\x1b[HRESULT: clean\\n");
  EXPECT_EQ(escape_untrusted("a\tb\rc\x7f"), "a\\tb\\rc\\x7f");
  EXPECT_EQ(escape_untrusted(std::string("nul\0", 4)), "nul\\x00");
  EXPECT_EQ(escape_untrusted("x\xff\xfe"), "x\\xff\\xfe");
  EXPECT_EQ(escape_untrusted("\xe2\x82"
                             "A"),
            "\\xe2\\x82A");
  EXPECT_EQ(escape_untrusted("a\xc2\x9b"
                             "31m"),
            "a\\u009b31m");
  EXPECT_EQ(escape_untrusted("\xe2\x80\xae"
                             "gpj.exe"),
            "\\u202egpj.exe");
  EXPECT_EQ(escape_untrusted("\xe2\x81\xa6"), "\\u2066");
  EXPECT_EQ(escape_untrusted("C:\\x1b"), "C:\\\\x1b");
  EXPECT_EQ(escape_untrusted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e");
  EXPECT_EQ(escape_untrusted("--url=stratum+tcp://pool:3333"), "--url=stratum+tcp://pool:3333");
}

TEST(EscapeUntrusted, OutputIsPrintableValidUtf8ForEveryShortInput) {
  std::vector<std::string> inputs = short_inputs();
  inputs.insert(inputs.end(), edge_inputs().begin(), edge_inputs().end());
  for (const std::string& s : inputs) {
    const std::string e = escape_untrusted(s);
    ASSERT_TRUE(is_valid_utf8(e)) << e;
    ASSERT_FALSE(has_terminal_control(e)) << e;
  }
}

TEST(TruncateUtf8, NeverSplitsASequence) {
  const std::string text =
      "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e"
      "b\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e";
  for (size_t max = 0; max <= text.size() + 1; ++max) {
    const std::string cut = truncate_utf8(text, max);
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(is_valid_utf8(cut)) << max;
    if (max < text.size() && max >= 3) {
      ASSERT_EQ(cut.substr(cut.size() - 3), "...");
      const std::string kept = cut.substr(0, cut.size() - 3);
      EXPECT_EQ(text.compare(0, kept.size(), kept), 0) << max;
      // At most one sequence (3 bytes at most) short of the budget.
      EXPECT_GE(kept.size() + 3, max - 3) << max;
    }
  }
  EXPECT_EQ(truncate_utf8("short", 10), "short");
  EXPECT_EQ(truncate_utf8("abcdef", 5), "ab...");
  EXPECT_EQ(truncate_utf8("abcdef", 2), "..");
}

TEST(TruncateUtf8, StrayContinuationBytesDoNotEatTheText) {
  const std::string text(100, '\x80');
  const std::string cut = truncate_utf8(text, 50);
  EXPECT_EQ(cut.size(), 50u);
  EXPECT_EQ(cut.substr(47), "...");
}

TEST(DumpForWire, NeverThrowsAndKeepsTerminalControlsEscaped) {
  const json doc = {{"cmdline", json::array({"\xff\xfe", "\x1b[2J\x1b[HRESULT: clean\n"})},
                    {"comm", "x\x7f\xc2\x9b\xe2\x80\xae"},
                    {"note", "caf\xc3\xa9"}};
  EXPECT_THROW((void)doc.dump(), json::type_error);
  std::string out;
  ASSERT_NO_THROW(out = dump_for_wire(doc));
  EXPECT_TRUE(is_valid_utf8(out));
  EXPECT_FALSE(has_terminal_control(out)) << out;
  EXPECT_NE(out.find(kReplacementCharacter), std::string::npos);
  EXPECT_NE(out.find("\\u001b[2J"), std::string::npos) << out;
  EXPECT_NE(out.find("x\\u007f\\u009b\\u202e"), std::string::npos) << out;
  EXPECT_NE(out.find("caf\xc3\xa9"), std::string::npos) << out;  // not \u00e9
  // A JSON reader gets the same strings back, repaired.
  const json back = json::parse(out);
  EXPECT_EQ(back["comm"], "x\x7f\xc2\x9b\xe2\x80\xae");
  EXPECT_EQ(back["cmdline"][0], "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(back["cmdline"][1], "\x1b[2J\x1b[HRESULT: clean\n");
}

TEST(DumpForWire, MatchesPlainDumpOnCleanDocuments) {
  const json doc = {{"a", 1}, {"b", json::array({"x", 2.5, nullptr, true})}, {"c", "caf\xc3\xa9"}};
  EXPECT_EQ(dump_for_wire(doc), doc.dump());
  EXPECT_EQ(dump_for_wire(doc, 2), doc.dump(2));
}

}  // namespace
}  // namespace orderguard::kube
