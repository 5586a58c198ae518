#include "base/base64.h"

#include <cstdint>

namespace orderguard {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int symbol_value(char c, bool url_safe) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || (url_safe && c == '-')) return 62;
  if (c == '/' || (url_safe && c == '_')) return 63;
  return -1;
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
  out->reserve(size);
  size_t unprintable = 0;
  Accumulator acc;
  for (char c : text) {
    const int v = symbol_value(c, /*url_safe=*/true);
    if (v < 0) return false;
    const int byte = acc.push(v);
    if (byte < 0) continue;
    const auto u = static_cast<unsigned char>(byte);
    if (printable_only && !printable(u) && ++unprintable * 10 > size) return false;
    *out += static_cast<char>(u);
  }
  return !printable_only || !out->empty();
}

}  // namespace orderguard
