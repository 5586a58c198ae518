// Strict decoding of JSON objects into typed structs, with field paths.
//
// One reader for every typed spec of the code base (api/), over either JSON model the
// caller holds: a JsonRef into a JsonDoc (the read model of requests) or an nlohmann DOM
// (the informer caches). The reader is one template over a tiny node adapter
// (JsonRefNode, NlohmannNode below), so both models decode through the same code and give
// the same answers; nothing is serialized or re-parsed to switch models.
//
// Contract:
//  - Each accessor consumes one key of the object; finish() reports every key nobody
//    asked for ("spec.foo: unknown field"): a field the schema has but the decoder
//    ignores is drift.
//  - Wrong JSON types and out-of-range integers are problems; the field then keeps its
//    default. Absent and null fields keep their defaults silently.
//  - Problems accumulate, each "<path>: <what>" ("spec.zones[1].weight: must be between
//    0 and 100"), so one answer lists every cause; invalid_error() joins them into one
//    kInvalid Error separated by "; ".
//  - With no problem list (nullptr) the reader is best effort: it reads what has the right
//    type and says nothing about the rest. Array items of the wrong type still occupy
//    their index (a default element), so indices in paths match the document.
//  - With a FieldTrace, every field path asked for is recorded, present or not, with its
//    JSON schema type, so a test can compare a decoder with a CRD schema. Paths:
//    "spec.zones" (array), "spec.zones[]" (its items), "spec.zones[].name",
//    "spec.resources.requests{}" (values of a string map). Absent nested objects and
//    arrays are still walked (as empty) so their fields are traced.
//  - Maps (string_map, integer_map) are read in key order, the last of a repeated key only,
//    as a DOM holds them, over either adapter; so are their problems.
//  - An array longer than the `max_entries` given to its accessor is one problem
//    ("at most N entries") and reads as absent, so a hostile list costs nothing more.
//  - A FieldWording changes how a kind words its type problems (MinerPolicy's messages
//    predate the reader and are kept); children inherit it.
//  - Keys passed to the accessors must outlive the reader (they are string literals).
//  - Never throws and never crashes on hostile input; integers follow nlohmann's typing
//    (1.0 and 1e2 are not integers; a value above INT64_MAX that fits 64 bits unsigned is
//    read as nlohmann's get<int64_t> reads it, then refused by the range check).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json_doc.h"
#include "base/result.h"

namespace orderguard {

// path -> JSON schema type ("string", "integer", "boolean", "object", "array").
using FieldTrace = std::map<std::string, std::string>;

// The words of the type problems that kinds word differently.
struct FieldWording {
  std::string_view not_array = "must be an array";
  std::string_view not_boolean = "must be a boolean";
};
inline constexpr FieldWording kDefaultWording{};

// kInvalid with the problems joined by "; ".
Error invalid_error(const std::vector<std::string>& problems);

// "<path>[<i>]: duplicate value \"x\"" for each repeated name.
std::vector<std::string> duplicate_errors(const std::vector<std::string>& names,
                                          const std::string& path);

// The paths of reported problems ("<path>: <what>"), so that a caller validating values
// after a decode can leave alone a field already refused for its shape, or one inside an
// object or list item that was ("spec.signatures[2]: must be an object" covers
// "spec.signatures[2].name").
class ProblemPaths {
 public:
  explicit ProblemPaths(const std::vector<std::string>& problems);
  bool covers(std::string_view path) const;

 private:
  std::set<std::string, std::less<>> paths_;
};

namespace detail {
// An integer as nlohmann types the number text `text`: nullopt for floats (and integers
// below INT64_MIN or above UINT64_MAX, which nlohmann reads as floats).
std::optional<int64_t> integer_from_text(std::string_view text);
}  // namespace detail

// Node adapter over JsonRef. A default-constructed node is absent.
class JsonRefNode {
 public:
  JsonRefNode() = default;
  explicit JsonRefNode(JsonRef ref) : ref_(ref) {}

  bool present() const { return ref_.valid() && !ref_.is_null(); }
  bool is_object() const { return ref_.is_object(); }
  bool is_array() const { return ref_.is_array(); }
  bool is_string() const { return ref_.is_string(); }
  bool is_boolean() const { return ref_.is_boolean(); }
  std::optional<int64_t> integer() const {
    return ref_.is_number() ? detail::integer_from_text(ref_.number_text()) : std::nullopt;
  }
  std::string string() const { return std::string(ref_.string()); }
  bool boolean() const { return ref_.boolean(); }
  bool has(std::string_view key) const { return ref_.find(key).valid(); }
  JsonRefNode find(std::string_view key) const { return JsonRefNode(ref_.find(key)); }
  // fn(JsonRefNode element), in order.
  template <typename Fn>
  void for_each_element(Fn&& fn) const {
    if (!ref_.is_array()) return;
    for (JsonRef e : ref_) fn(JsonRefNode(e));
  }
  // fn(std::string_view key, JsonRefNode value), in text order.
  template <typename Fn>
  void for_each_member(Fn&& fn) const {
    if (!ref_.is_object()) return;
    for (auto it = ref_.begin(); it != ref_.end(); ++it) fn(it.key(), JsonRefNode(*it));
  }
  // fn(std::string_view key, JsonRefNode value) in key order, the last of a repeated key
  // only: what a DOM of the same text holds.
  template <typename Fn>
  void for_each_entry(Fn&& fn) const {
    if (!ref_.is_object()) return;
    std::vector<std::pair<std::string_view, JsonRef>> members;
    for (auto it = ref_.begin(); it != ref_.end(); ++it) members.emplace_back(it.key(), *it);
    // Of equal keys, stable_sort keeps text order: the last of each run wins.
    std::stable_sort(members.begin(), members.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < members.size(); ++i) {
      if (i + 1 < members.size() && members[i + 1].first == members[i].first) continue;
      fn(members[i].first, JsonRefNode(members[i].second));
    }
  }

 private:
  JsonRef ref_;
};

// Node adapter over an nlohmann DOM (which must outlive it). Default: absent.
class NlohmannNode {
 public:
  NlohmannNode() = default;
  explicit NlohmannNode(const nlohmann::json& j) : j_(&j) {}

  bool present() const { return j_ != nullptr && !j_->is_null(); }
  bool is_object() const { return j_ != nullptr && j_->is_object(); }
  bool is_array() const { return j_ != nullptr && j_->is_array(); }
  bool is_string() const { return j_ != nullptr && j_->is_string(); }
  bool is_boolean() const { return j_ != nullptr && j_->is_boolean(); }
  std::optional<int64_t> integer() const {
    if (j_ == nullptr || !j_->is_number_integer()) return std::nullopt;
    return j_->get<int64_t>();
  }
  std::string string() const { return is_string() ? j_->get<std::string>() : std::string(); }
  bool boolean() const { return is_boolean() && j_->get<bool>(); }
  bool has(std::string_view key) const { return is_object() && j_->find(key) != j_->end(); }
  NlohmannNode find(std::string_view key) const {
    if (!is_object()) return {};
    auto it = j_->find(key);
    return it == j_->end() ? NlohmannNode() : NlohmannNode(*it);
  }
  template <typename Fn>
  void for_each_element(Fn&& fn) const {
    if (!is_array()) return;
    for (const auto& e : *j_) fn(NlohmannNode(e));
  }
  template <typename Fn>
  void for_each_member(Fn&& fn) const {
    if (!is_object()) return;
    for (auto it = j_->begin(); it != j_->end(); ++it)
      fn(std::string_view(it.key()), NlohmannNode(*it));
  }
  // A DOM's members are in key order already, each key once.
  template <typename Fn>
  void for_each_entry(Fn&& fn) const {
    for_each_member(std::forward<Fn>(fn));
  }

 private:
  const nlohmann::json* j_ = nullptr;
};

// Reads one JSON object. Paths are built only when a problem is reported or a trace
// is kept: a child reader points at its parent, which must outlive it (readers are
// locals of one decode function).
template <typename Node>
class FieldReader {
 public:
  static constexpr size_t kUnbounded = static_cast<size_t>(-1);

  // The reader of a top-level object named `root` in paths ("spec").
  FieldReader(Node object, std::string_view root, FieldTrace* trace,
              std::vector<std::string>* problems, const FieldWording* wording = &kDefaultWording)
      : object_(object), key_(root), trace_(trace), problems_(problems), wording_(wording) {}

  FieldReader(const FieldReader&) = delete;
  FieldReader& operator=(const FieldReader&) = delete;
  FieldReader(FieldReader&&) noexcept = default;

  // `message`, when given, replaces both the type and the range problem.
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max,
                                 std::string_view message = {}) {
    Node v = field(key, "integer");
    if (!v.present()) return std::nullopt;
    std::optional<int64_t> n = v.integer();
    if (!n || *n < min || *n > max) {
      fail(key, !message.empty() ? std::string(message)
                : !n             ? std::string("must be an integer")
                     : "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return n;
  }
  void integer32(std::string_view key, int32_t& out, int32_t min, int32_t max) {
    if (auto n = integer(key, min, max)) out = static_cast<int32_t>(*n);
  }
  std::optional<std::string> string(std::string_view key) {
    Node v = field(key, "string");
    if (!v.present()) return std::nullopt;
    if (!v.is_string()) {
      fail(key, "must be a string");
      return std::nullopt;
    }
    return v.string();
  }
  void string_into(std::string_view key, std::string& out) {
    if (auto s = string(key)) out = std::move(*s);
  }
  void enum_into(std::string_view key, std::string& out,
                 std::initializer_list<std::string_view> allowed) {
    auto s = string(key);
    if (!s) return;
    for (std::string_view a : allowed) {
      if (*s == a) {
        out = std::move(*s);
        return;
      }
    }
    std::vector<std::string_view> sorted(allowed);  // the message lists them in order
    std::sort(sorted.begin(), sorted.end());
    std::string list;
    for (std::string_view a : sorted) list.append(list.empty() ? "" : ", ").append(a);
    fail(key, "must be one of " + list);
  }
  void boolean_into(std::string_view key, bool& out) {
    Node v = field(key, "boolean");
    if (!v.present()) return;
    if (!v.is_boolean()) {
      fail(key, std::string(wording_->not_boolean));
      return;
    }
    out = v.boolean();
  }
  // A nested object; an absent one reads as {} so its fields are still traced.
  // `present` tells whether the object is there.
  FieldReader object(std::string_view key, bool* present = nullptr) {
    Node v = field(key, "object");
    if (present != nullptr) *present = v.present() && v.is_object();
    if (v.present() && !v.is_object()) {
      fail(key, "must be an object");
      v = Node();
    }
    return FieldReader(v, this, key, kNoIndex, trace_, problems_, wording_);
  }
  // The objects of an array: `each` is called with a reader per element (finished
  // afterwards). An element that is not an object is a problem; `each` still runs for it,
  // on {} and silently, so a best-effort caller's elements keep their indices. When the
  // array is absent, `each` runs once on {} in trace mode so the item fields are traced.
  template <typename Fn>
  void objects(std::string_view key, Fn&& each, size_t max_entries = kUnbounded) {
    Node v = field(key, "array");
    if (trace_ != nullptr) (*trace_)[trace_path(key) + "[]"] = "object";
    if (v.present() && !array_within(key, v, max_entries)) return;
    if (!v.present()) {
      if (trace_ != nullptr) {
        FieldReader r(Node(), this, key, kTraceOnly, trace_, nullptr, wording_);
        each(r);
      }
      return;
    }
    size_t i = 0;
    v.for_each_element([&](Node item) {
      if (!item.is_object()) {
        fail_at(key, i, "must be an object");
        FieldReader r(Node(), this, key, i, nullptr, nullptr, wording_);
        each(r);
      } else {
        FieldReader r(item, this, key, i, trace_, problems_, wording_);
        each(r);
        r.finish();
      }
      ++i;
    });
  }
  // The objects of an array as items of `out`: fn(FieldReader&, T&) fills each. As
  // objects(), but the {} that trace mode walks for an absent array is not added to `out`,
  // so tracing never changes what is decoded.
  template <typename T, typename Fn>
  void items(std::string_view key, std::vector<T>& out, Fn&& fn, size_t max_entries = kUnbounded) {
    objects(
        key,
        [&](FieldReader& r) {
          T item;
          fn(r, item);
          if (r.index_ != kTraceOnly) out.push_back(std::move(item));
        },
        max_entries);
  }
  // An array of strings; replaces `out` when present.
  void strings(std::string_view key, std::vector<std::string>& out,
               size_t max_entries = kUnbounded) {
    Node v = field(key, "array");
    if (trace_ != nullptr) (*trace_)[trace_path(key) + "[]"] = "string";
    if (!v.present() || !array_within(key, v, max_entries)) return;
    out.clear();
    size_t i = 0;
    v.for_each_element([&](Node item) {
      if (!item.is_string()) fail_at(key, i, "must be a string");
      out.push_back(item.string());  // "" when not a string: the indices stay
      ++i;
    });
  }
  // An array of integers in [min, max]; `out` gets the valid ones (replaced when present),
  // and each other item is the problem `message` at its index.
  void integers(std::string_view key, std::vector<int64_t>& out, int64_t min, int64_t max,
                std::string_view message, size_t max_entries = kUnbounded) {
    Node v = field(key, "array");
    if (trace_ != nullptr) (*trace_)[trace_path(key) + "[]"] = "integer";
    if (!v.present() || !array_within(key, v, max_entries)) return;
    out.clear();
    size_t i = 0;
    v.for_each_element([&](Node item) {
      std::optional<int64_t> n = item.integer();
      if (n && *n >= min && *n <= max) {
        out.push_back(*n);
      } else {
        fail_at(key, i, std::string(message));
      }
      ++i;
    });
  }
  // An object of integers in [min, max] (additionalProperties: integer); each other value
  // is the problem `message` at "<key>.<name>".
  void integer_map(std::string_view key, std::map<std::string, int64_t>& out, int64_t min,
                   int64_t max, std::string_view message) {
    Node v = field(key, "object");
    if (trace_ != nullptr) (*trace_)[trace_path(key) + "{}"] = "integer";
    if (!v.present()) return;
    if (!v.is_object()) {
      fail(key, "must be an object");
      return;
    }
    v.for_each_entry([&](std::string_view k, Node val) {
      std::optional<int64_t> n = val.integer();
      if (n && *n >= min && *n <= max) {
        out[std::string(k)] = *n;
      } else if (problems_ != nullptr) {
        problems_->push_back(path() + "." + std::string(key) + "." + std::string(k) + ": " +
                             std::string(message));
      }
    });
  }
  // An object of strings (additionalProperties: string).
  void string_map(std::string_view key, std::map<std::string, std::string>& out) {
    Node v = field(key, "object");
    if (trace_ != nullptr) (*trace_)[trace_path(key) + "{}"] = "string";
    if (!v.present()) return;
    if (!v.is_object()) {
      fail(key, "must be an object");
      return;
    }
    v.for_each_entry([&](std::string_view k, Node val) {
      if (!val.is_string()) {
        if (problems_ != nullptr) {
          problems_->push_back(path() + "." + std::string(key) + "." + std::string(k) +
                               ": must be a string");
        }
        return;
      }
      out[std::string(k)] = val.string();
    });
  }
  void require(std::string_view key) {
    if (!object_.has(key)) fail(key, "is required");
  }
  // Reports the keys nobody asked for.
  void finish() {
    if (problems_ == nullptr) return;
    object_.for_each_member([&](std::string_view k, const Node&) {
      for (std::string_view s : seen_) {
        if (s == k) return;
      }
      problems_->push_back(path() + "." + std::string(k) + ": unknown field");
    });
  }

  // "spec.zones[1]": this reader's object.
  std::string path() const {
    std::string p = parent_ == nullptr ? std::string() : parent_->path() + ".";
    p.append(key_);
    if (index_ != kNoIndex && index_ != kTraceOnly) p += "[" + std::to_string(index_) + "]";
    return p;
  }

 private:
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);
  static constexpr size_t kTraceOnly = static_cast<size_t>(-2);

  FieldReader(Node object, const FieldReader* parent, std::string_view key, size_t index,
              FieldTrace* trace, std::vector<std::string>* problems, const FieldWording* wording)
      : object_(object),
        parent_(parent),
        key_(key),
        index_(index),
        trace_(trace),
        problems_(problems),
        wording_(wording) {}

  // Whether present `v` is an array of at most `max_entries` items; else a problem.
  bool array_within(std::string_view key, const Node& v, size_t max_entries) {
    if (!v.is_array()) {
      fail(key, std::string(wording_->not_array));
      return false;
    }
    if (max_entries != kUnbounded) {
      size_t n = 0;
      v.for_each_element([&](const Node&) { ++n; });
      if (n > max_entries) {
        fail(key, "at most " + std::to_string(max_entries) + " entries");
        return false;
      }
    }
    return true;
  }

  Node field(std::string_view key, const char* type) {
    seen_.push_back(key);
    if (trace_ != nullptr) (*trace_)[trace_path(key)] = type;
    return object_.find(key);
  }
  void fail(std::string_view key, const std::string& message) {
    if (problems_ != nullptr)
      problems_->push_back(path() + "." + std::string(key) + ": " + message);
  }
  void fail_at(std::string_view key, size_t i, const std::string& message) {
    if (problems_ != nullptr) {
      problems_->push_back(path() + "." + std::string(key) + "[" + std::to_string(i) +
                           "]: " + message);
    }
  }
  // "spec.zones[].name": items are "[]" in traces.
  std::string trace_path(std::string_view key) const {
    return trace_prefix() + "." + std::string(key);
  }
  std::string trace_prefix() const {
    std::string p = parent_ == nullptr ? std::string() : parent_->trace_prefix() + ".";
    p.append(key_);
    if (index_ != kNoIndex) p += "[]";
    return p;
  }

  Node object_;
  const FieldReader* parent_ = nullptr;
  std::string_view key_;
  size_t index_ = kNoIndex;
  FieldTrace* trace_;
  std::vector<std::string>* problems_;
  const FieldWording* wording_;
  std::vector<std::string_view> seen_;
};

// Decodes the object `node` named `root` with fn(FieldReader<Node>&, T&): strictly when
// `problems` is given (the caller turns a non-empty list into invalid_error()), best
// effort when it is nullptr. A node that is not an object is the problem "<root>: must be
// an object" (and decodes to T{}).
template <typename T, typename Node, typename Fn>
T decode_object(Node node, std::string_view root, FieldTrace* trace,
                std::vector<std::string>* problems, Fn&& fn,
                const FieldWording* wording = &kDefaultWording) {
  T out;
  if (!node.is_object()) {
    if (problems != nullptr) problems->push_back(std::string(root) + ": must be an object");
    return out;
  }
  FieldReader<Node> r(node, root, trace, problems, wording);
  fn(r, out);
  r.finish();
  return out;
}

}  // namespace orderguard
