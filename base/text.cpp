#include "base/text.h"

#include <cstdint>

namespace orderguard {
namespace {

// One UTF-8 sequence at a position: the whole sequence when valid, else its maximal invalid
// subpart (the longest prefix of some valid sequence, at least one byte).
struct Sequence {
  size_t length = 1;
  bool valid = false;
  uint32_t code_point = 0;
};

Sequence decode(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return {1, true, lead};
  // RFC 3629 table 3-7: the second byte's range depends on the lead byte (no overlong forms,
  // no surrogates, nothing above U+10FFFF); later bytes are 80..BF.
  size_t trailing = 0;
  uint32_t cp = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    trailing = 1;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    trailing = 2;
    cp = lead & 0x0Fu;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    trailing = 3;
    cp = lead & 0x07u;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {1, false, 0};
  }
  for (size_t i = 1; i <= trailing; ++i) {
    if (pos + i >= text.size()) return {i, false, 0};
    const unsigned char b = byte(pos + i);
    if (b < lo || b > hi) return {i, false, 0};
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return {trailing + 1, true, cp};
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Valid characters that still drive or mislead a terminal.
bool needs_unicode_escape(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

constexpr char kHex[] = "0123456789abcdef";

void append_byte_escape(std::string& out, unsigned char b) {
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0xF];
}

void append_unicode_escape(std::string& out, uint32_t cp) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
}

std::string escape_wire_controls(std::string out) {
  // The output is valid UTF-8 now, and these bytes only occur inside strings (JSON's own
  // syntax is printable ASCII): DEL, and the lead bytes of C1 controls (C2) and of the
  // bidirectional controls (E2).
  size_t first = out.find_first_of("\x7f\xc2\xe2");
  if (first == std::string::npos) return out;
  std::string escaped;
  escaped.reserve(out.size() + 16);
  escaped.append(out, 0, first);
  size_t pos = first;
  while (pos < out.size()) {
    const auto b = static_cast<unsigned char>(out[pos]);
    if (b == 0x7F) {
      append_unicode_escape(escaped, b);
      ++pos;
      continue;
    }
    if (b == 0xC2 || b == 0xE2) {
      const Sequence s = decode(out, pos);
      if (s.valid && needs_unicode_escape(s.code_point)) {
        append_unicode_escape(escaped, s.code_point);
        pos += s.length;
        continue;
      }
    }
    escaped += out[pos];
    ++pos;
  }
  return escaped;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Sequence s = decode(text, pos);
    if (!s.valid) return false;
    pos += s.length;
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  size_t pos = 0;
  while (pos < text.size()) {
    const Sequence s = decode(text, pos);
    if (s.valid) {
      out.append(text.substr(pos, s.length));
    } else {
      out.append(kReplacementCharacter);
    }
    pos += s.length;
  }
  return out;
}

std::string escape_untrusted(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const auto b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80) {
      switch (b) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        default:
          if (b < 0x20 || b == 0x7F) {
            append_byte_escape(out, b);
          } else {
            out += static_cast<char>(b);
          }
      }
      ++pos;
      continue;
    }
    const Sequence s = decode(text, pos);
    if (!s.valid) {
      for (size_t i = 0; i < s.length; ++i) {
        append_byte_escape(out, static_cast<unsigned char>(text[pos + i]));
      }
    } else if (needs_unicode_escape(s.code_point)) {
      append_unicode_escape(out, s.code_point);
    } else {
      out.append(text.substr(pos, s.length));
    }
    pos += s.length;
  }
  return out;
}

std::string truncate_utf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view kEllipsis = "...";
  if (max_bytes <= kEllipsis.size()) return std::string(kEllipsis.substr(0, max_bytes));
  size_t cut = max_bytes - kEllipsis.size();
  // The sequence holding byte `cut` starts at most 3 bytes earlier; leave it out when it is a
  // valid one that the cut would split.
  size_t start = cut;
  while (start > 0 && cut - start < 3 && is_continuation(text[start])) --start;
  if (start < cut) {
    const Sequence s = decode(text, start);
    if (s.valid && start + s.length > cut) cut = start;
  }
  std::string out(text.substr(0, cut));
  out += kEllipsis;
  return out;
}

std::string dump_for_wire(const nlohmann::json& value, int indent) {
  return escape_wire_controls(
      value.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace));
}

std::string dump_for_wire(const nlohmann::ordered_json& value, int indent) {
  return escape_wire_controls(value.dump(indent, ' ', /*ensure_ascii=*/false,
                                         nlohmann::ordered_json::error_handler_t::replace));
}

}  // namespace orderguard
