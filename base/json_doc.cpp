#include "base/json_doc.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace orderguard {

using detail::JsonNode;
using nlohmann::json;

namespace {

// No node: no open container, no such member.
constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// What a byte means inside a string: the scanner stops only at the rare classes.
enum : uint8_t { kPlain = 0, kQuote, kBackslash, kControl, kHighBit };

constexpr std::array<uint8_t, 256> kStringClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = kControl;
  for (int c = 0x80; c < 0x100; ++c) t[c] = kHighBit;
  t['"'] = kQuote;
  t['\\'] = kBackslash;
  return t;
}();

inline uint8_t string_class(char c) { return kStringClass[static_cast<unsigned char>(c)]; }
inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }
inline bool is_space(char c) {
  constexpr uint64_t kSpaces = (1ULL << ' ') | (1ULL << '\t') | (1ULL << '\n') | (1ULL << '\r');
  const auto u = static_cast<unsigned char>(c);
  return u <= ' ' && ((kSpaces >> u) & 1) != 0;
}

// The first byte at or after p that is not kPlain, or end. A request is mostly short
// ASCII strings: sixteen bytes at a time (SSE2, x86-64's baseline) cover most of them in
// one step, then eight (portable), then one. In the eight-byte words only the lowest
// flagged byte is exact (the borrow of a flagged byte may flag the bytes above it), and
// only it is used.
[[gnu::always_inline]] inline const char* skip_plain(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quotes = _mm_set1_epi8('"');
  const __m128i backslashes = _mm_set1_epi8('\\');
  const __m128i spaces = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed: bytes 0x80 and above are negative, so "below 0x20" takes them too.
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quotes), _mm_cmpeq_epi8(v, backslashes)),
                     _mm_cmplt_epi8(v, spaces));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return p + std::countr_zero(mask);
    p += 16;
  }
#endif
  constexpr uint64_t k01 = 0x0101010101010101ULL;
  constexpr uint64_t k80 = 0x8080808080808080ULL;
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    // A byte flags the high bit of its lane when it is a quote or backslash (x - 1 wraps
    // where x ^ c is 0), below 0x20 (x - 0x20 wraps) or 0x80 and above (its own bit).
    const uint64_t quote = w ^ (k01 * '"');
    const uint64_t backslash = w ^ (k01 * '\\');
    const uint64_t special = ((quote - k01) | (backslash - k01) | (w - k01 * 0x20) | w) & k80;
    if (special != 0) return p + (std::countr_zero(special) >> 3);
    p += 8;
  }
  while (p != end && string_class(*p) == kPlain) ++p;
  return p;
}

// Four hex digits at p (the caller checked they are there), or -1.
inline int hex4(const char* p) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return -1;
    }
    v = (v << 4) | d;
  }
  return v;
}

inline char* put_utf8(char* out, uint32_t cp) {
  if (cp < 0x80) {
    *out++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out++ = static_cast<char>(0xC0 | (cp >> 6));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out++ = static_cast<char>(0xE0 | (cp >> 12));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out++ = static_cast<char>(0xF0 | (cp >> 18));
    *out++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// Whether a number that std::from_chars found out of range is too large for a double
// (nlohmann refuses it: "number overflow") rather than too small (nlohmann keeps the 0 or
// denormal strtod gives). The two are hundreds of decades apart, so the decimal exponent
// of the leading significant digit decides.
bool too_large(const char* s, const char* e) {
  if (*s == '-') ++s;
  const char* int_begin = s;
  while (s != e && is_digit(*s)) ++s;
  long long lead;  // decimal exponent of the first non-zero digit
  if (*int_begin != '0') {
    lead = static_cast<long long>(s - int_begin) - 1;
  } else {
    lead = -1;
    if (s != e && *s == '.') {
      ++s;
      while (s != e && *s == '0') ++s, --lead;
    }
  }
  while (s != e && *s != 'e' && *s != 'E') ++s;
  long long exponent = 0;
  if (s != e) {
    ++s;
    const bool negative = *s == '-';
    if (*s == '+' || *s == '-') ++s;
    for (; s != e; ++s) {
      if (exponent < 1'000'000'000) exponent = exponent * 10 + (*s - '0');
    }
    if (negative) exponent = -exponent;
  }
  return lead + exponent >= 0;
}

std::string_view node_string(const JsonNode& n) { return {n.str, n.len}; }

bool keys_equal(const JsonNode& k, std::string_view key) {
  // The first byte before memcmp: keys of one length mostly differ there ("name", "kind"),
  // and the call costs more than the comparison.
  return k.len == key.size() &&
         (key.empty() || (k.str[0] == key[0] && std::memcmp(k.str, key.data(), key.size()) == 0));
}

json number_json(const JsonNode& n) {
  // The parser validated the text, so this is exactly nlohmann's own reading of it,
  // number type included (unsigned, integer or float).
  json v = json::parse(node_string(n), nullptr, /*allow_exceptions=*/false);
  return v.is_discarded() ? json() : v;
}

bool numbers_equal(const JsonNode& a, const JsonNode& b) {
  if (node_string(a) == node_string(b)) return true;
  // Different spellings (1 and 1.0, 1e2 and 100) compare as nlohmann compares values.
  return number_json(a) == number_json(b);
}

// Last-wins member lists of an object, sorted by key, for comparing larger objects.
struct Member {
  std::string_view key;
  uint32_t value;
};

void unique_members(const JsonNode* nodes, uint32_t object, std::vector<Member>& out) {
  out.clear();
  const uint32_t end = nodes[object].end;
  for (uint32_t i = object + 1; i < end; i = nodes[i + 1].end) {
    out.push_back({node_string(nodes[i]), i + 1});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Member& x, const Member& y) { return x.key < y.key; });
  // Of equal keys, keep the last in text order (stable_sort kept that order).
  size_t w = 0;
  for (size_t r = 0; r < out.size(); ++r) {
    if (r + 1 < out.size() && out[r + 1].key == out[r].key) continue;
    out[w++] = out[r];
  }
  out.resize(w);
}

// The index of the value of the last member named `key`, or kNone.
uint32_t find_member(const JsonNode* nodes, uint32_t object, std::string_view key) {
  uint32_t found = kNone;
  const uint32_t end = nodes[object].end;
  for (uint32_t i = object + 1; i < end; i = nodes[i + 1].end) {
    if (keys_equal(nodes[i], key)) found = i + 1;
  }
  return found;
}

struct Pending {
  uint32_t a;
  uint32_t b;
};

// Objects a and b have the same keys (after last-wins) with values still to compare:
// queues the value pairs on `work`.
bool match_members(const JsonNode* an, uint32_t a, const JsonNode* bn, uint32_t b,
                   std::vector<Pending>& work, std::vector<Member>& ma, std::vector<Member>& mb) {
  // Small objects (most of a pod spec) compare without sorting or allocating.
  constexpr uint32_t kSmall = 8;
  if (an[a].size <= kSmall && bn[b].size <= kSmall) {
    size_t distinct_a = 0;
    for (uint32_t i = a + 1; i < an[a].end; i = an[i + 1].end) {
      const std::string_view key = node_string(an[i]);
      if (find_member(an, a, key) != i + 1) continue;  // a later member overrides it
      const uint32_t other = find_member(bn, b, key);
      if (other == kNone) return false;
      work.push_back({i + 1, other});
      ++distinct_a;
    }
    size_t distinct_b = 0;
    for (uint32_t j = b + 1; j < bn[b].end; j = bn[j + 1].end) {
      if (find_member(bn, b, node_string(bn[j])) == j + 1) ++distinct_b;
    }
    return distinct_a == distinct_b;
  }
  unique_members(an, a, ma);
  unique_members(bn, b, mb);
  if (ma.size() != mb.size()) return false;
  for (size_t i = 0; i < ma.size(); ++i) {
    if (ma[i].key != mb[i].key) return false;
    work.push_back({ma[i].value, mb[i].value});
  }
  return true;
}

// Iterative, like the parser: a document may be as deep as its max_depth allows.
bool equal_values(const JsonNode* an, uint32_t a, const JsonNode* bn, uint32_t b) {
  std::vector<Pending> work;
  std::vector<Member> ma, mb;
  Pending cur{a, b};
  for (;;) {
    const JsonNode& x = an[cur.a];
    const JsonNode& y = bn[cur.b];
    if (x.type != y.type) return false;
    switch (x.type) {
      case JsonType::kNumber:
        if (!numbers_equal(x, y)) return false;
        break;
      case JsonType::kString:
        if (node_string(x) != node_string(y)) return false;
        break;
      case JsonType::kArray:
        if (x.size != y.size) return false;
        for (uint32_t i = cur.a + 1, j = cur.b + 1; i < x.end; i = an[i].end, j = bn[j].end) {
          work.push_back({i, j});
        }
        break;
      case JsonType::kObject:
        if (!match_members(an, cur.a, bn, cur.b, work, ma, mb)) return false;
        break;
      default:  // null, true, false: the type is the value
        break;
    }
    if (work.empty()) return true;
    cur = work.back();
    work.pop_back();
  }
}

json to_json_value(const JsonNode* nodes, uint32_t root) {
  struct Frame {
    json* target;
    uint32_t end;
    bool object;
  };
  json out;
  std::vector<Frame> stack;
  const uint32_t stop = nodes[root].end;
  for (uint32_t i = root; i < stop; ++i) {
    while (!stack.empty() && i >= stack.back().end) stack.pop_back();
    json* slot = &out;
    if (!stack.empty()) {
      const Frame& f = stack.back();
      if (f.object) {
        // operator[] then assignment: a repeated key keeps the last value, as in nlohmann.
        slot = &(*f.target)[std::string(node_string(nodes[i]))];
        ++i;
      } else {
        slot = &f.target->emplace_back();
      }
    }
    const JsonNode& n = nodes[i];
    switch (n.type) {
      case JsonType::kNull:
        *slot = nullptr;
        break;
      case JsonType::kFalse:
        *slot = false;
        break;
      case JsonType::kTrue:
        *slot = true;
        break;
      case JsonType::kNumber:
        *slot = number_json(n);
        break;
      case JsonType::kString:
        *slot = std::string(node_string(n));
        break;
      case JsonType::kArray:
        *slot = json::array();
        slot->get_ref<json::array_t&>().reserve(n.size);
        stack.push_back({slot, n.end, false});
        break;
      case JsonType::kObject:
        *slot = json::object();
        stack.push_back({slot, n.end, true});
        break;
    }
  }
  return out;
}

}  // namespace

// One pass over the text with an explicit container stack threaded through the nodes
// themselves: while a container is open, its `end` holds the index of the container
// around it, so nesting costs no allocation and no recursion.
//
// run() is a loop over four states (a value, what follows a value, a member's key, a closing
// bracket), each a function that reads one token and names the next state. The parse state
// (cursor, node counts, the open container's member count) is a `Cursor` in run()'s frame;
// every step is inlined into run() and the cursor's address never leaves it, so GCC keeps it
// in registers and threads each step's constant answer straight to the next step (the same
// instructions per byte as one hand-written function with gotos). Escapes, non-ASCII,
// numbers and errors take out-of-line paths, which return the cursor after what they read,
// or nullptr after recording an error.
class JsonDocParser {
 public:
  JsonDocParser(std::string_view text, size_t max_depth, JsonDoc& doc)
      : begin_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(max_depth),
        doc_(doc),
        nodes_(doc.nodes_) {}

  bool run();

  Error error() const {
    std::string message = "invalid JSON at byte " + std::to_string(error_at_) + ": ";
    if (depth_error_) {
      message += "nesting deeper than " + std::to_string(max_depth_);
    } else {
      message += error_;
    }
    return make_error(ErrorCode::kInvalid, std::move(message));
  }

 private:
  // Nodes are written to a buffer on the stack and appended to the vector a chunk at a
  // time: GCC keeps vector::push_back out of line, and the call and its bookkeeping cost
  // more than the node itself.
  static constexpr uint32_t kChunk = 128;

  struct Cursor {
    const char* p;
    JsonNode* chunk;        // kChunk nodes not yet in nodes_
    uint32_t flushed = 0;   // nodes already in nodes_
    uint32_t pending = 0;   // nodes in chunk
    uint32_t open = kNone;  // innermost open container
    bool in_object = false;
    uint32_t members = 0;  // of `open`; an enclosing container's count waits in its `size`
    size_t depth = 0;
  };
  enum class Step { kValue, kAfterValue, kMember, kClose, kDone, kFailed };

  // The states. Each reads from c.p and answers the next state.
  [[gnu::always_inline]] inline Step value(Cursor& c);
  [[gnu::always_inline]] inline Step after_value(Cursor& c);
  [[gnu::always_inline]] inline Step member(Cursor& c);
  [[gnu::always_inline]] inline void close_container(Cursor& c);
  // The tokens.
  [[gnu::always_inline]] inline Step open_container(Cursor& c);
  [[gnu::always_inline]] inline bool string(Cursor& c);
  [[gnu::always_inline]] inline bool literal(Cursor& c, std::string_view word, JsonType type);
  [[gnu::always_inline]] inline bool number_token(Cursor& c);
  [[gnu::always_inline]] inline void skip_space(Cursor& c) const;
  // The nodes.
  [[gnu::always_inline]] inline JsonNode& node(Cursor& c, uint32_t index) const {
    return index >= c.flushed ? c.chunk[index - c.flushed] : nodes_[index];
  }
  [[gnu::always_inline]] inline void push(Cursor& c, JsonType type, const char* raw,
                                          const char* raw_end, uint32_t end_index, const char* str,
                                          size_t len);

  bool fail_at(size_t offset, const char* what) {
    error_at_ = offset;
    error_ = what;
    return false;
  }
  bool fail(const char* at, const char* what) {
    return fail_at(static_cast<size_t>(at - begin_), what);
  }
  Step failed(const char* at, const char* what) {
    fail(at, what);
    return Step::kFailed;
  }
  Step failed_at_end() {
    fail_at(static_cast<size_t>(end_ - begin_), "unexpected end of input");
    return Step::kFailed;
  }
  // The out-of-line paths' way to fail.
  std::nullptr_t error_at(const char* at, const char* what) {
    fail(at, what);
    return nullptr;
  }

  [[gnu::noinline]] void append(const JsonNode* chunk, uint32_t n) {
    nodes_.insert(nodes_.end(), chunk, chunk + n);
  }
  const char* string_rest(const char* text, const char* p, const char** str, size_t* len);
  const char* escaped_string(const char* run, const char* p, const char** str, size_t* len);
  const char* escape(const char* p, char*& out);
  const char* utf8(const char* p);
  const char* number(const char* p);

  const char* const begin_;
  const char* const end_;
  const size_t max_depth_;
  JsonDoc& doc_;
  std::vector<JsonNode>& nodes_;
  char* out_ = nullptr;  // next free byte of doc_.decoded_
  size_t error_at_ = 0;  // byte offset
  const char* error_ = "";
  bool depth_error_ = false;
};

bool JsonDocParser::run() {
  const size_t size = static_cast<size_t>(end_ - begin_);
  if (size > std::numeric_limits<uint32_t>::max()) return fail_at(size, "text longer than 4 GiB");
  // Kubernetes JSON runs 9 to 12 bytes per value; one allocation covers a request.
  nodes_.reserve(size / 8 + 16);

  // Raw storage: JsonNode's member initializers would zero a JsonNode[] on every parse.
  alignas(JsonNode) std::byte storage[sizeof(JsonNode) * kChunk];
  Cursor c{.p = begin_, .chunk = reinterpret_cast<JsonNode*>(storage)};

  // A UTF-8 byte order mark, which nlohmann skips.
  if (c.p != end_ && static_cast<unsigned char>(*c.p) == 0xEF) {
    if (size < 3 || static_cast<unsigned char>(c.p[1]) != 0xBB ||
        static_cast<unsigned char>(c.p[2]) != 0xBF) {
      return fail(c.p, "invalid byte order mark");
    }
    c.p += 3;
  }
  skip_space(c);
  Step step = Step::kValue;
  while (true) {
    switch (step) {
      case Step::kValue:
        step = value(c);
        break;
      case Step::kAfterValue:
        step = after_value(c);
        break;
      case Step::kMember:
        step = member(c);
        break;
      case Step::kClose:
        close_container(c);
        step = Step::kAfterValue;
        break;
      case Step::kDone:
        skip_space(c);
        // nlohmann reads a NUL byte as the end of the input and ignores what follows it.
        if (c.p != end_ && *c.p != '\0') return fail(c.p, "unexpected data after the value");
        append(c.chunk, c.pending);
        return true;
      case Step::kFailed:
        return false;
    }
  }
}

void JsonDocParser::push(Cursor& c, JsonType type, const char* raw, const char* raw_end,
                         uint32_t end_index, const char* str, size_t len) {
  if (c.pending == kChunk) [[unlikely]] {
    append(c.chunk, c.pending);
    c.flushed += c.pending;
    c.pending = 0;
  }
  ::new (static_cast<void*>(c.chunk + c.pending))
      JsonNode{.type = type,
               .end = end_index,
               .size = 0,
               .len = static_cast<uint32_t>(len),
               .str = str,
               .raw_len = static_cast<uint32_t>(raw_end - raw),
               .raw = raw};
  ++c.pending;
}

void JsonDocParser::skip_space(Cursor& c) const {
  // Compact JSON (the API server's) has no whitespace: one test. Formatted JSON mostly has
  // one space, after ':' and ','.
  if (c.p != end_ && static_cast<unsigned char>(*c.p) <= ' ') {
    if (*c.p == ' ') ++c.p;
    while (c.p != end_ && is_space(*c.p)) ++c.p;
  }
}

// At any value.
JsonDocParser::Step JsonDocParser::value(Cursor& c) {
  if (c.p == end_) return failed_at_end();
  switch (*c.p) {
    case '"':
      return string(c) ? Step::kAfterValue : Step::kFailed;
    case '{':
    case '[':
      return open_container(c);
    case 't':
      return literal(c, "true", JsonType::kTrue) ? Step::kAfterValue : Step::kFailed;
    case 'f':
      return literal(c, "false", JsonType::kFalse) ? Step::kAfterValue : Step::kFailed;
    case 'n':
      return literal(c, "null", JsonType::kNull) ? Step::kAfterValue : Step::kFailed;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      return number_token(c) ? Step::kAfterValue : Step::kFailed;
    case '\0':  // nlohmann's end of input
      return failed(c.p, "unexpected end of input");
    default:
      return failed(c.p, "expected a value");
  }
}

// After a value: a separator, the end of its container, or the end of the document.
JsonDocParser::Step JsonDocParser::after_value(Cursor& c) {
  if (c.open == kNone) return Step::kDone;
  skip_space(c);
  if (c.p == end_) return failed_at_end();
  if (*c.p == ',') {
    ++c.p;
    skip_space(c);
    if (c.in_object) return Step::kMember;
    ++c.members;
    return Step::kValue;
  }
  if (*c.p == (c.in_object ? '}' : ']')) return Step::kClose;
  return failed(c.p, c.in_object ? "expected ',' or '}'" : "expected ',' or ']'");
}

// At an object member: its key and the ':' before its value.
JsonDocParser::Step JsonDocParser::member(Cursor& c) {
  if (c.p == end_) return failed_at_end();
  if (*c.p != '"') return failed(c.p, "expected a string key");
  ++c.members;
  if (!string(c)) return Step::kFailed;
  skip_space(c);
  if (c.p == end_) return failed_at_end();
  if (*c.p != ':') return failed(c.p, "expected ':'");
  ++c.p;
  skip_space(c);
  return Step::kValue;
}

// At '{' or '['.
JsonDocParser::Step JsonDocParser::open_container(Cursor& c) {
  if (++c.depth > max_depth_) {
    depth_error_ = true;
    return failed(c.p, "");
  }
  if (c.open != kNone) node(c, c.open).size = c.members;
  c.in_object = *c.p == '{';
  const uint32_t index = c.flushed + c.pending;
  push(c, c.in_object ? JsonType::kObject : JsonType::kArray, c.p, c.p, c.open, nullptr, 0);
  c.open = index;
  c.members = 0;
  ++c.p;
  skip_space(c);
  if (c.p != end_ && *c.p == (c.in_object ? '}' : ']')) return Step::kClose;
  if (c.in_object) return Step::kMember;
  ++c.members;
  return Step::kValue;
}

// At the closing bracket of the open container.
void JsonDocParser::close_container(Cursor& c) {
  JsonNode& n = node(c, c.open);
  const uint32_t parent = n.end;
  n.end = c.flushed + c.pending;
  n.size = c.members;
  ++c.p;
  n.raw_len = static_cast<uint32_t>(c.p - n.raw);
  --c.depth;
  c.open = parent;
  if (c.open != kNone) {
    const JsonNode& o = node(c, c.open);
    c.members = o.size;
    c.in_object = o.type == JsonType::kObject;
  }
}

// At an opening quote.
bool JsonDocParser::string(Cursor& c) {
  const char* raw = c.p;
  const char* str = c.p + 1;
  const char* q = skip_plain(str, end_);
  size_t len = static_cast<size_t>(q - str);
  if (q != end_ && *q == '"') [[likely]] {
    c.p = q + 1;
  } else {
    c.p = string_rest(str, q, &str, &len);
    if (c.p == nullptr) return false;
  }
  push(c, JsonType::kString, raw, c.p, c.flushed + c.pending + 1, str, len);
  return true;
}

bool JsonDocParser::literal(Cursor& c, std::string_view word, JsonType type) {
  if (static_cast<size_t>(end_ - c.p) < word.size() ||
      std::memcmp(c.p, word.data(), word.size()) != 0) {
    return fail(c.p, "invalid literal");
  }
  push(c, type, c.p, c.p + word.size(), c.flushed + c.pending + 1, nullptr, 0);
  c.p += word.size();
  return true;
}

bool JsonDocParser::number_token(Cursor& c) {
  const char* start = c.p;
  c.p = number(c.p);
  if (c.p == nullptr) return false;
  push(c, JsonType::kNumber, start, c.p, c.flushed + c.pending + 1, start,
       static_cast<size_t>(c.p - start));
  return true;
}

// A string from its first special byte that is not its closing quote (p, or end): the
// position after it, and its decoded text in *str, *len.
const char* JsonDocParser::string_rest(const char* text, const char* p, const char** str,
                                       size_t* len) {
  for (;;) {
    if (p == end_) return error_at(end_, "unexpected end of input");
    switch (string_class(*p)) {
      case kQuote:
        *str = text;
        *len = static_cast<size_t>(p - text);
        return p + 1;
      case kBackslash:
        return escaped_string(text, p, str, len);
      case kControl:
        return error_at(p, "control character in string");
      default:
        p = utf8(p);
        if (p == nullptr) return nullptr;
        break;
    }
    p = skip_plain(p, end_);
  }
}

// The string from its first escape (at p) on, decoded into doc_.decoded_; `run` is the
// part before it, copied as is.
const char* JsonDocParser::escaped_string(const char* run, const char* p, const char** str,
                                          size_t* len) {
  if (out_ == nullptr) {
    // A decoded string is never longer than its text, so one buffer of the text's size
    // holds them all and never moves.
    doc_.decoded_ = std::make_unique_for_overwrite<char[]>(static_cast<size_t>(end_ - begin_));
    out_ = doc_.decoded_.get();
  }
  char* const start = out_;
  char* out = out_;
  for (;;) {
    p = skip_plain(p, end_);
    if (p == end_) return error_at(end_, "unexpected end of input");
    const uint8_t cls = string_class(*p);
    if (cls == kHighBit) {
      p = utf8(p);
      if (p == nullptr) return nullptr;
      continue;
    }
    std::memcpy(out, run, static_cast<size_t>(p - run));
    out += p - run;
    if (cls == kQuote) {
      *str = start;
      *len = static_cast<size_t>(out - start);
      out_ = out;
      return p + 1;
    }
    if (cls == kControl) return error_at(p, "control character in string");
    p = escape(p, out);
    if (p == nullptr) return nullptr;
    run = p;
  }
}

// At a backslash: decodes one escape (a surrogate pair counts as one) into `out`.
const char* JsonDocParser::escape(const char* p, char*& out) {
  const char* at = p;
  if (end_ - p < 2) return error_at(end_, "unexpected end of input");
  char c = p[1];
  p += 2;
  switch (c) {
    case '"':
    case '\\':
    case '/':
      break;
    case 'b':
      c = '\b';
      break;
    case 'f':
      c = '\f';
      break;
    case 'n':
      c = '\n';
      break;
    case 'r':
      c = '\r';
      break;
    case 't':
      c = '\t';
      break;
    case 'u': {
      if (end_ - p < 4) return error_at(end_, "unexpected end of input");
      const int unit = hex4(p);
      if (unit < 0) return error_at(at, "expected 4 hex digits after \\u");
      p += 4;
      auto cp = static_cast<uint32_t>(unit);
      if (cp >= 0xDC00 && cp <= 0xDFFF) return error_at(at, "lone surrogate in \\u escape");
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end_ - p < 6 || p[0] != '\\' || p[1] != 'u') {
          return error_at(at, "lone surrogate in \\u escape");
        }
        const int low = hex4(p + 2);
        if (low < 0) return error_at(p, "expected 4 hex digits after \\u");
        if (low < 0xDC00 || low > 0xDFFF) return error_at(at, "lone surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(low) - 0xDC00);
        p += 6;
      }
      out = put_utf8(out, cp);
      return p;
    }
    default:
      return error_at(at, "invalid escape");
  }
  *out++ = c;
  return p;
}

// At a byte >= 0x80 in a string: one well-formed UTF-8 sequence (RFC 3629, as nlohmann
// checks it: no overlongs, no surrogates, nothing above U+10FFFF).
const char* JsonDocParser::utf8(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  const auto left = static_cast<size_t>(end_ - p);
  auto in = [](unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; };
  const unsigned char c = u[0];
  if (c >= 0xC2 && c <= 0xDF) {
    if (left < 2 || !in(u[1], 0x80, 0xBF)) return error_at(p, "invalid UTF-8");
    return p + 2;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    if (left < 3 || !in(u[1], lo, hi) || !in(u[2], 0x80, 0xBF)) {
      return error_at(p, "invalid UTF-8");
    }
    return p + 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    if (left < 4 || !in(u[1], lo, hi) || !in(u[2], 0x80, 0xBF) || !in(u[3], 0x80, 0xBF)) {
      return error_at(p, "invalid UTF-8");
    }
    return p + 4;
  }
  return error_at(p, "invalid UTF-8");
}

const char* JsonDocParser::number(const char* p) {
  const char* start = p;
  if (*p == '-') ++p;
  if (p == end_ || !is_digit(*p)) return error_at(p, "expected a digit after '-'");
  const char* int_begin = p;
  if (*p == '0') {
    ++p;
  } else {
    while (p != end_ && is_digit(*p)) ++p;
  }
  const auto int_digits = static_cast<size_t>(p - int_begin);
  if (p != end_ && *p == '.') {
    ++p;
    if (p == end_ || !is_digit(*p)) return error_at(p, "expected a digit after '.'");
    while (p != end_ && is_digit(*p)) ++p;
  }
  bool exponent = false;
  if (p != end_ && (*p == 'e' || *p == 'E')) {
    exponent = true;
    ++p;
    if (p != end_ && (*p == '+' || *p == '-')) ++p;
    if (p == end_ || !is_digit(*p)) return error_at(p, "expected a digit in the exponent");
    while (p != end_ && is_digit(*p)) ++p;
  }
  // nlohmann refuses what a double cannot hold; without an exponent that takes at least
  // 309 integer digits, so ordinary numbers skip the conversion.
  if (exponent || int_digits > 308) {
    double v;
    const auto r = std::from_chars(start, p, v);
    if (r.ec == std::errc::result_out_of_range && too_large(start, p)) {
      return error_at(start, "number out of range");
    }
  }
  return p;
}

// ---- JsonDoc ----

Result<JsonDoc> JsonDoc::parse(std::string_view text, size_t max_depth) {
  JsonDoc doc;
  doc.text_ = text;
  JsonDocParser parser(text, max_depth, doc);
  if (!parser.run()) return parser.error();
  return doc;
}

Result<JsonDoc> JsonDoc::parse_owned(std::string text, size_t max_depth) {
  auto owned = std::make_unique<std::string>(std::move(text));
  auto doc = parse(*owned, max_depth);
  if (doc.ok()) doc->owned_ = std::move(owned);
  return doc;
}

JsonDoc JsonDoc::from_json(const nlohmann::json& value) {
  try {
    // The DOM is already in memory, so its depth is no new risk: no limit.
    auto doc = parse_owned(value.dump(-1, ' ', false, json::error_handler_t::replace),
                           std::numeric_limits<size_t>::max());
    if (doc.ok()) return std::move(doc).value();
  } catch (const json::exception&) {
  }
  return JsonDoc();
}

Status JsonDoc::check_unique_keys() const {
  constexpr uint32_t kSmall = 16;
  const JsonNode* nodes = nodes_.data();
  const auto count = static_cast<uint32_t>(nodes_.size());
  // The key nodes of a large object, sorted by key so that repeats are neighbours (indices,
  // 4 bytes a member: a request's 250,000 annotations cost 1 MB here).
  std::vector<uint32_t> keys;
  auto duplicate = [&](uint32_t key) {
    return make_error(ErrorCode::kInvalid, "duplicate key '" +
                                               std::string(node_string(nodes[key])) + "' at byte " +
                                               std::to_string(nodes[key].raw - text_.data()));
  };
  for (const JsonNode* node = nodes; node != nodes + count; ++node) {
    if (node->type != JsonType::kObject || node->size < 2) continue;
    const JsonNode& o = *node;
    const auto object = static_cast<uint32_t>(node - nodes);
    if (o.size <= kSmall) {
      // Each key against the ones before it: at most 120 comparisons, most of them settled
      // by the lengths, and no allocation.
      uint32_t seen[kSmall];
      uint32_t n = 0;
      for (uint32_t i = object + 1; i < o.end; i = nodes[i + 1].end) {
        for (uint32_t j = 0; j < n; ++j) {
          if (keys_equal(nodes[seen[j]], node_string(nodes[i]))) return duplicate(i);
        }
        seen[n++] = i;
      }
      continue;
    }
    keys.clear();
    keys.reserve(o.size);
    for (uint32_t i = object + 1; i < o.end; i = nodes[i + 1].end) keys.push_back(i);
    std::sort(keys.begin(), keys.end(), [nodes](uint32_t x, uint32_t y) {
      const std::string_view a = node_string(nodes[x]);
      const std::string_view b = node_string(nodes[y]);
      return a != b ? a < b : x < y;
    });
    for (size_t k = 1; k < keys.size(); ++k) {
      // The second occurrence: the position where the text repeats itself.
      if (node_string(nodes[keys[k]]) == node_string(nodes[keys[k - 1]])) {
        return duplicate(keys[k]);
      }
    }
  }
  return {};
}

// ---- JsonRef ----

JsonType JsonRef::type() const { return valid() ? node().type : JsonType::kNull; }

std::string_view JsonRef::string() const {
  return is_string() ? node_string(node()) : std::string_view();
}

std::string_view JsonRef::number_text() const {
  return is_number() ? node_string(node()) : std::string_view();
}

size_t JsonRef::size() const { return is_array() || is_object() ? node().size : 0; }

JsonRef JsonRef::find(std::string_view key) const {
  if (!is_object()) return JsonRef();
  const uint32_t found = find_member(nodes_, index_, key);
  return found == kNone ? JsonRef() : JsonRef(nodes_, found);
}

JsonRef JsonRef::at(size_t i) const {
  if (!is_array() || i >= node().size) return JsonRef();
  uint32_t index = index_ + 1;
  for (; i > 0; --i) index = nodes_[index].end;
  return JsonRef(nodes_, index);
}

JsonRef::Iterator& JsonRef::Iterator::operator++() {
  index_ = nodes_[value_index()].end;
  return *this;
}

std::string_view JsonRef::Iterator::key() const {
  return object_ ? node_string(nodes_[index_]) : std::string_view();
}

JsonRef::Iterator JsonRef::begin() const {
  if (!is_array() && !is_object()) return end();
  return Iterator(nodes_, index_ + 1, is_object());
}

JsonRef::Iterator JsonRef::end() const {
  if (!valid()) return Iterator(nullptr, 0, false);
  return Iterator(nodes_, node().end, is_object());
}

std::string_view JsonRef::raw() const {
  return valid() ? std::string_view(node().raw, node().raw_len) : std::string_view();
}

nlohmann::json JsonRef::to_json() const {
  if (!valid()) return nullptr;
  try {
    return to_json_value(nodes_, index_);
  } catch (const json::exception&) {
    return nullptr;  // not reached: the values were validated when parsed
  }
}

bool operator==(const JsonRef& a, const JsonRef& b) {
  if (!a.valid() || !b.valid()) return a.valid() == b.valid();
  try {
    return equal_values(a.nodes_, a.index_, b.nodes_, b.index_);
  } catch (const json::exception&) {
    return false;  // not reached: numbers were validated when parsed
  }
}

}  // namespace orderguard
