#include "base/base64.h"

#include <array>
#include <cstdint>

namespace orderguard {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Symbol values by byte, -1 for anything else; the URL-safe table also takes '-' and '_'.
// A lookup rather than five range checks: the admission rules decode every long word of
// every text they read.
using SymbolTable = std::array<int8_t, 256>;

constexpr SymbolTable make_symbol_table(bool url_safe) {
  SymbolTable t{};
  for (int8_t& v : t) v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  if (url_safe) {
    t['-'] = 62;
    t['_'] = 63;
  }
  return t;
}

constexpr SymbolTable kStandardSymbols = make_symbol_table(false);
constexpr SymbolTable kUrlSafeSymbols = make_symbol_table(true);

int symbol_value(char c, bool url_safe) {
  return (url_safe ? kUrlSafeSymbols : kStandardSymbols)[static_cast<unsigned char>(c)];
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool printable(unsigned char u) {
  return (u >= 0x20 && u < 0x7f) || u == '\n' || u == '\r' || u == '\t';
}

// Appends the bytes of 6-bit symbols to `out` as they complete. Both decoders are this loop;
// they differ only in what they accept around it.
struct Accumulator {
  uint32_t acc = 0;
  int bits = 0;
  // The decoded byte, or -1 while fewer than 8 bits are pending.
  int push(int value) {
    acc = (acc << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits < 8) return -1;
    bits -= 8;
    return static_cast<int>((acc >> bits) & 0xFF);
  }
};

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve(4 * ((data.size() + 2) / 3));
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<uint8_t>(data[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(data[i + 1])) << 8) |
                       static_cast<uint8_t>(data[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 63];
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(data[i])) << 16;
    if (rest == 2) n |= static_cast<uint32_t>(static_cast<uint8_t>(data[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text, bool padding_optional) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  Accumulator acc;
  size_t symbols = 0;
  size_t padding = 0;
  for (char c : text) {
    if (is_space(c)) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return make_error(ErrorCode::kInvalid, "base64: data after padding");
    const int v = symbol_value(c, /*url_safe=*/false);
    if (v < 0) return make_error(ErrorCode::kInvalid, "base64: invalid character");
    ++symbols;
    if (const int byte = acc.push(v); byte >= 0) out.push_back(static_cast<char>(byte));
  }
  const bool whole = (symbols + padding) % 4 == 0;
  if (symbols % 4 == 1 || padding > 2 || (padding > 0 && !whole) || (!padding_optional && !whole)) {
    return make_error(ErrorCode::kInvalid, "base64: length is not a multiple of 4");
  }
  return out;
}

bool base64_decode_scan(std::string_view text, bool printable_only, std::string* out) {
  out->clear();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.empty() || text.size() % 4 == 1) return false;
  // The size is known before decoding, so the printable share can fail early.
  const size_t size = text.size() * 6 / 8;
  size_t unprintable = 0;
  Accumulator acc;
  for (char c : text) {
    const int v = symbol_value(c, /*url_safe=*/true);
    if (v < 0) return false;
    const int byte = acc.push(v);
    if (byte < 0) continue;
    const auto u = static_cast<unsigned char>(byte);
    if (printable_only && !printable(u) && ++unprintable * 10 > size) return false;
    // Reserved only once the inline buffer is full: most words fail within their first
    // bytes, and then nothing is allocated.
    if (out->size() == out->capacity()) out->reserve(size);
    *out += static_cast<char>(u);
  }
  return !printable_only || !out->empty();
}

}  // namespace orderguard
