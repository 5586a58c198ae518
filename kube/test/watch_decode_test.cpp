#include "kube/watch_decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace orderguard::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string read_testdata(const std::string& relative) {
  std::ifstream in(fs::path(ORDERGUARD_KUBE_TESTDATA) / relative, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> drain(LineSplitter& splitter) {
  std::vector<std::string> out;
  while (auto line = splitter.next_line()) out.push_back(std::move(*line));
  return out;
}

// --- LineSplitter ------------------------------------------------------------

TEST(LineSplitterTest, SplitAtEveryByteBoundaryGivesTheSameLines) {
  const std::string stream = read_testdata("watch/pods.ndjson");
  const std::vector<std::string> expected = split_lines(stream);
  ASSERT_EQ(expected.size(), 4u);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    LineSplitter splitter;
    std::vector<std::string> got;
    splitter.feed(std::string_view(stream).substr(0, cut));
    for (auto& l : drain(splitter)) got.push_back(std::move(l));
    splitter.feed(std::string_view(stream).substr(cut));
    for (auto& l : drain(splitter)) got.push_back(std::move(l));
    ASSERT_EQ(got, expected) << "cut at byte " << cut;
    EXPECT_EQ(splitter.buffered(), 0u);
  }
}

TEST(LineSplitterTest, OneByteAtATime) {
  const std::string stream = read_testdata("watch/pods.ndjson");
  LineSplitter splitter;
  std::vector<std::string> got;
  for (char c : stream) {
    splitter.feed(std::string_view(&c, 1));
    for (auto& l : drain(splitter)) got.push_back(std::move(l));
  }
  EXPECT_EQ(got, split_lines(stream));
}

TEST(LineSplitterTest, SeveralLinesInOneChunk) {
  LineSplitter splitter;
  splitter.feed("a\nb\nc\npartial");
  EXPECT_THAT(drain(splitter), ElementsAre("a", "b", "c"));
  EXPECT_EQ(splitter.buffered(), 7u);
  splitter.feed("-end\n");
  EXPECT_THAT(drain(splitter), ElementsAre("partial-end"));
}

TEST(LineSplitterTest, CrlfAndCrSplitFromLf) {
  LineSplitter splitter;
  splitter.feed("one\r\ntwo\r");
  EXPECT_THAT(drain(splitter), ElementsAre("one"));
  splitter.feed("\nthree\n");
  EXPECT_THAT(drain(splitter), ElementsAre("two", "three"));
}

TEST(LineSplitterTest, BlankLinesAreSkipped) {
  LineSplitter splitter;
  splitter.feed("\n\r\n  \nx\n\n\ny\n\n");
  EXPECT_THAT(drain(splitter), ElementsAre("x", "y"));
}

TEST(LineSplitterTest, UnterminatedLastLineAtEndOfStream) {
  LineSplitter splitter;
  splitter.feed("a\nlast");
  EXPECT_THAT(drain(splitter), ElementsAre("a"));
  EXPECT_EQ(splitter.take_rest(), "last");
  EXPECT_EQ(splitter.take_rest(), std::nullopt);
  splitter.feed("b\n  \r");
  EXPECT_THAT(drain(splitter), ElementsAre("b"));
  EXPECT_EQ(splitter.take_rest(), std::nullopt);  // blank remainder
}

TEST(LineSplitterTest, OneMegabyteLineInSmallChunks) {
  // A large object (a ConfigMap near etcd's limit) fed in 4 KiB TLS records.
  std::string big = R"({"type":"ADDED","object":{"kind":"ConfigMap","data":{"blob":")";
  big.append(1024 * 1024, 'x');
  big += R"("}}})";
  const std::string stream = big + "\n" + R"({"type":"DELETED","object":{}})" + "\n";
  LineSplitter splitter;
  std::vector<std::string> got;
  for (size_t i = 0; i < stream.size(); i += 4096) {
    splitter.feed(std::string_view(stream).substr(i, 4096));
    for (auto& l : drain(splitter)) got.push_back(std::move(l));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], big);
  auto event = decode_watch_event(got[0]);
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->object["data"]["blob"].get_ref<const std::string&>().size(), 1024u * 1024u);
  EXPECT_FALSE(splitter.overflowed());
}

TEST(LineSplitterTest, LineOverTheLimitOverflows) {
  LineSplitter splitter(/*max_line_bytes=*/16);
  splitter.feed("short\n");
  EXPECT_THAT(drain(splitter), ElementsAre("short"));
  splitter.feed("0123456789");
  EXPECT_EQ(splitter.next_line(), std::nullopt);
  EXPECT_FALSE(splitter.overflowed());
  splitter.feed("0123456789");  // 20 bytes, no newline yet
  EXPECT_EQ(splitter.next_line(), std::nullopt);
  EXPECT_TRUE(splitter.overflowed());
  EXPECT_EQ(splitter.buffered(), 0u);  // the oversized line is not kept
  splitter.feed("more\n");
  EXPECT_EQ(splitter.next_line(), std::nullopt);

  LineSplitter terminated(16);
  terminated.feed(std::string(17, 'y') + "\n");  // too long even though complete
  EXPECT_EQ(terminated.next_line(), std::nullopt);
  EXPECT_TRUE(terminated.overflowed());
}

// --- decode_watch_event ------------------------------------------------------

TEST(DecodeWatchEventTest, DecodesEveryTypeInAStream) {
  std::vector<WatchEvent::Type> types;
  std::vector<std::string> versions;
  for (const auto& line : split_lines(read_testdata("watch/pods.ndjson"))) {
    auto event = decode_watch_event(line);
    ASSERT_TRUE(event.ok()) << event.error().message;
    types.push_back(event->type);
    versions.push_back(event->object["metadata"]["resourceVersion"]);
  }
  EXPECT_THAT(types, ElementsAre(WatchEvent::Type::kAdded, WatchEvent::Type::kModified,
                                 WatchEvent::Type::kBookmark, WatchEvent::Type::kDeleted));
  EXPECT_THAT(versions, ElementsAre("1001", "1002", "1050", "1061"));
}

TEST(DecodeWatchEventTest, BookmarkCarriesOnlyTheResourceVersion) {
  auto event = decode_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12345"}}})");
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(event->object["metadata"]["resourceVersion"], "12345");
  EXPECT_EQ(to_string(event->type), "BOOKMARK");
}

TEST(DecodeWatchEventTest, ErrorCarriesTheStatus) {
  const auto lines = split_lines(read_testdata("watch/expired.ndjson"));
  ASSERT_EQ(lines.size(), 2u);
  auto event = decode_watch_event(lines[1]);
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->type, WatchEvent::Type::kError);
  EXPECT_EQ(event->object["kind"], "Status");
  // The watch loop turns it into an Error this way.
  const Error err = error_from_status(0, event->object);
  EXPECT_EQ(err.code, ErrorCode::kGone);
  EXPECT_EQ(err.http_status, 410);
  EXPECT_EQ(err.reason, "Expired");
  EXPECT_EQ(err.message, "too old resource version: 12 (88)");
}

TEST(DecodeWatchEventTest, TrailingCrlfIsTolerated) {
  auto event = decode_watch_event("{\"type\":\"ADDED\",\"object\":{}}\r\n");
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->type, WatchEvent::Type::kAdded);
}

TEST(DecodeWatchEventTest, MalformedLinesAreInvalid) {
  struct Case {
    std::string line;
    std::string problem;
  };
  const Case cases[] = {
      {"", "empty line"},
      {"   \r", "empty line"},
      {R"({"type":"ADDED","object":{)", "malformed JSON"},
      {"<html>502 Bad Gateway</html>", "malformed JSON"},
      {R"(["ADDED",{}])", "not a JSON object"},
      {R"({"object":{}})", "missing type"},
      {R"({"type":7,"object":{}})", "missing type"},
      {R"({"type":"RENAMED","object":{}})", "unknown type \"RENAMED\""},
      {R"({"type":"ADDED"})", "missing object"},
      {R"({"type":"ADDED","object":"pod"})", "missing object"},
  };
  for (const auto& c : cases) {
    auto event = decode_watch_event(c.line);
    ASSERT_FALSE(event.ok()) << c.line;
    EXPECT_EQ(event.error().code, ErrorCode::kInvalid) << c.line;
    EXPECT_THAT(event.error().message, HasSubstr(c.problem)) << c.line;
  }
}

TEST(DecodeWatchEventTest, ErrorMessagesDoNotCarryHugeLines) {
  std::string huge = "{\"type\":";
  huge.append(1024 * 1024, 'z');
  auto event = decode_watch_event(huge);
  ASSERT_FALSE(event.ok());
  EXPECT_LT(event.error().message.size(), 300u);
  EXPECT_THAT(event.error().message, HasSubstr("bytes)"));
}

}  // namespace
}  // namespace orderguard::kube
