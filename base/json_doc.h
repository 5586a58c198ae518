// A read-only JSON index over a text, for the admission hot path.
//
// nlohmann::json stays the one JSON model of the code base (building, writing, the
// informer caches); this is only a faster way to *read* a request. JsonDoc::parse
// validates the text in one pass and records every value in one flat vector of nodes;
// strings are views into the text, and only strings with escapes are decoded into one
// buffer owned by the document. A 3 KB AdmissionReview costs two allocations instead of
// the ~400 of a DOM, and nothing per value to free.
//
// Contract:
// - Accepts exactly what nlohmann::json::parse accepts (RFC 8259, UTF-8 validated,
//   surrogate pairs in \u escapes, no trailing garbage), except nesting deeper than
//   `max_depth`, which is refused. The fuzz target checks the agreement on every input,
//   and to_json() of the root equals json::parse of the text (values and number types).
// - The text must outlive the document, and the document every JsonRef into it (parse_owned
//   keeps its own copy of the text; moving a document keeps its refs valid). A JsonDoc is immutable
//   once parsed: safe to read from several threads.
// - JsonRef never throws: reading the wrong type gives an empty / false / invalid answer,
//   so callers check types where it matters (the API server validated the schema; this
//   only has to never crash on what it did not).
// - Objects keep their members in text order; find() returns the last of repeated keys,
//   as nlohmann's parser keeps the last. check_unique_keys() tells whether there are any
//   (for texts that must come from a serializer, which never repeats a key).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/result.h"

namespace orderguard {

class JsonDoc;

enum class JsonType : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };

namespace detail {
// One value of a JsonDoc (json_doc.cpp). Refs hold a pointer to the node array, which a
// moved JsonDoc keeps, so refs survive moving the document.
struct JsonNode {
  JsonType type = JsonType::kNull;
  uint32_t end = 0;           // index one past this value's subtree (the next sibling)
  uint32_t size = 0;          // members or elements
  uint32_t len = 0;           // bytes of the decoded string, or of the number's text
  const char* str = nullptr;  // decoded string / number text
  uint32_t raw_len = 0;       // the value's text in the document: raw, raw + raw_len
  const char* raw = nullptr;
};
}  // namespace detail

class JsonRef {
 public:
  using Type = JsonType;

  JsonRef() = default;  // absent: valid() is false, every is_*() is false

  bool valid() const { return nodes_ != nullptr; }
  Type type() const;
  bool is_null() const { return valid() && type() == Type::kNull; }
  bool is_boolean() const { return valid() && (type() == Type::kTrue || type() == Type::kFalse); }
  bool is_number() const { return valid() && type() == Type::kNumber; }
  bool is_string() const { return valid() && type() == Type::kString; }
  bool is_array() const { return valid() && type() == Type::kArray; }
  bool is_object() const { return valid() && type() == Type::kObject; }

  bool boolean() const { return valid() && type() == Type::kTrue; }
  // The decoded string; empty unless is_string().
  std::string_view string() const;
  // The number as written ("-12", "1.5e3"); empty unless is_number().
  std::string_view number_text() const;
  // Members of an object, elements of an array; 0 otherwise.
  size_t size() const;

  // Whether both refer to the same value of the same document.
  bool same(const JsonRef& o) const { return nodes_ == o.nodes_ && index_ == o.index_; }

  // The value of member `key` (the last one when repeated); invalid when absent or when
  // this is not an object.
  JsonRef find(std::string_view key) const;
  // find(key).string(): "" when absent or not a string.
  std::string_view string_member(std::string_view key) const { return find(key).string(); }

  // Element i of an array (invalid when out of range or not an array). Linear in i: use
  // the iteration below for loops.
  JsonRef at(size_t i) const;

  // Iteration over the elements of an array or the members of an object (then key() of
  // the iterator names the member). Empty for anything else.
  class Iterator {
   public:
    JsonRef operator*() const { return JsonRef(nodes_, value_index()); }
    Iterator& operator++();
    bool operator==(const Iterator& o) const { return index_ == o.index_; }
    bool operator!=(const Iterator& o) const { return index_ != o.index_; }
    // The member name (objects only).
    std::string_view key() const;

   private:
    friend class JsonRef;
    Iterator(const detail::JsonNode* nodes, uint32_t index, bool object)
        : nodes_(nodes), index_(index), object_(object) {}
    uint32_t value_index() const { return object_ ? index_ + 1 : index_; }
    const detail::JsonNode* nodes_ = nullptr;
    uint32_t index_ = 0;
    bool object_ = false;
  };
  Iterator begin() const;
  Iterator end() const;

  // The text of this value exactly as it appears in the document.
  std::string_view raw() const;

  // The value as an nlohmann DOM (for the paths that need one: MinerPolicy compilation,
  // tier checks, tests). Null when invalid.
  nlohmann::json to_json() const;

  // Deep equality with JSON semantics: object members compared by key regardless of
  // order, numbers by value (1 == 1.0, as nlohmann compares them), strings decoded.
  friend bool operator==(const JsonRef& a, const JsonRef& b);

 private:
  friend class JsonDoc;
  JsonRef(const detail::JsonNode* nodes, uint32_t index) : nodes_(nodes), index_(index) {}
  const detail::JsonNode& node() const { return nodes_[index_]; }
  const detail::JsonNode* nodes_ = nullptr;
  uint32_t index_ = 0;
};

class JsonDoc {
 public:
  static constexpr size_t kDefaultMaxDepth = 512;

  // Parses `text`, which must outlive the document. Errors are kInvalid with the byte
  // offset and what was expected ("invalid JSON at byte 12: expected ':'").
  static Result<JsonDoc> parse(std::string_view text, size_t max_depth = kDefaultMaxDepth);
  // A temporary std::string would not outlive the document: use parse_owned().
  template <typename S, typename = std::enable_if_t<std::is_same_v<S, std::string>>>
  static Result<JsonDoc> parse(S&& text, size_t max_depth = kDefaultMaxDepth) = delete;
  // The same, keeping its own copy of the text (for short-lived or generated strings).
  static Result<JsonDoc> parse_owned(std::string text, size_t max_depth = kDefaultMaxDepth);
  // Serializes `value` and indexes the result: for callers holding a DOM.
  static JsonDoc from_json(const nlohmann::json& value);

  JsonDoc() = default;
  JsonDoc(JsonDoc&&) noexcept = default;
  JsonDoc& operator=(JsonDoc&&) noexcept = default;
  JsonDoc(const JsonDoc&) = delete;
  JsonDoc& operator=(const JsonDoc&) = delete;

  // kInvalid ("duplicate key 'name' at byte 120") when an object anywhere in the document
  // has two members with the same key (compared decoded: "a" and "\u0061" are the same).
  // One pass over the nodes, O(n log n) at worst: objects of up to 16 members compare their
  // keys pairwise, larger ones sort them.
  Status check_unique_keys() const;

  // The top-level value; invalid for a default-constructed document.
  // Refs stay valid when the document is moved, not when it is destroyed.
  JsonRef root() const { return nodes_.empty() ? JsonRef() : JsonRef(nodes_.data(), 0); }
  std::string_view text() const { return text_; }

 private:
  std::unique_ptr<std::string> owned_;  // parse_owned: the text itself
  std::string_view text_;
  std::vector<detail::JsonNode> nodes_;
  // Decoded strings with escapes; reserved up front to the text's size, so pointers into
  // it stay valid (a decoded string is never longer than its escaped form).
  std::unique_ptr<char[]> decoded_;
  friend class JsonDocParser;
};

}  // namespace orderguard
