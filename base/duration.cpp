#include "base/duration.h"

#include <array>
#include <cstdint>
#include <limits>

#include "base/text.h"

namespace orderguard {
namespace {

struct Unit {
  std::string_view name;
  int64_t nanos;
};

// Longest names first so "ms" is not read as "m" followed by garbage.
constexpr std::array<Unit, 8> kUnits{{{"ns", 1},
                                      {"us", 1'000},
                                      {"\xC2\xB5s", 1'000},  // µs
                                      {"ms", 1'000'000},
                                      {"s", 1'000'000'000},
                                      {"m", 60'000'000'000},
                                      {"h", 3'600'000'000'000},
                                      {"", 0}}};

// fraction * unit needs more than 64 bits; GCC and Clang have the type (-Wpedantic: say so).
__extension__ using Uint128 = unsigned __int128;

Error invalid(std::string_view text, std::string_view why) {
  return make_error(ErrorCode::kInvalid, "bad duration " + quote_duration_input(text) + ": " +
                                             std::string(why) +
                                             " (use e.g. 90s, 15m, 720h, 1h30m)");
}

}  // namespace

std::string quote_duration_input(std::string_view text) {
  return "\"" + escape_untrusted(truncate_utf8(text, 64)) + "\"";
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return invalid(text, "empty");
  if (text.front() == '-') return invalid(text, "negative");
  const std::string_view whole = text;  // what the messages quote
  if (text.front() == '+') text.remove_prefix(1);
  // Integers throughout, as Go does, so that what format_duration writes parses back exactly.
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t total = 0;
  while (!text.empty()) {
    // <digits>[.<digits>]
    size_t i = 0;
    uint64_t whole_part = 0;
    bool digits = false;
    bool overflow = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(text[i++] - '0');
      if (whole_part > (kMax - digit) / 10) overflow = true;
      if (!overflow) whole_part = whole_part * 10 + digit;
      digits = true;
    }
    // The fraction as fraction / scale; digits past the 19th weigh less than a nanosecond
    // even in hours, and are read but not counted.
    uint64_t fraction = 0;
    uint64_t scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      int counted = 0;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (counted < 19) {
          fraction = fraction * 10 + static_cast<uint64_t>(text[i] - '0');
          scale *= 10;
          ++counted;
        }
        ++i;
        digits = true;
      }
    }
    if (!digits) return invalid(whole, "expected a number");
    text.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (!u.name.empty() && text.starts_with(u.name)) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return invalid(whole, text.empty() ? "missing unit" : "unknown unit");
    text.remove_prefix(unit->name.size());
    const auto nanos = static_cast<uint64_t>(unit->nanos);
    if (overflow || whole_part > kMax / nanos) return invalid(whole, "too long");
    uint64_t part = whole_part * nanos;
    // fraction < 10^19 and nanos <= 3.6e12: the product fits in 128 bits.
    part += static_cast<uint64_t>(static_cast<Uint128>(fraction) * nanos / scale);
    if (part > kMax || total > kMax - part) return invalid(whole, "too long");
    total += part;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string format_duration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string out;
  if (n < 0) {
    out = "-";
    n = -n;
  }
  if (n < 1'000'000'000) {
    for (const Unit& u : {kUnits[3], kUnits[1], kUnits[0]}) {
      if (n % u.nanos == 0) return out + std::to_string(n / u.nanos) + std::string(u.name);
    }
  }
  const int64_t hours = n / 3'600'000'000'000;
  n %= 3'600'000'000'000;
  const int64_t minutes = n / 60'000'000'000;
  n %= 60'000'000'000;
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (n) {
    if (n % 1'000'000'000 == 0) {
      out += std::to_string(n / 1'000'000'000) + "s";
    } else {
      // Fractional seconds, trailing zeros dropped: 1.5s.
      std::string frac = std::to_string(n % 1'000'000'000);
      frac.insert(0, 9 - frac.size(), '0');
      while (frac.back() == '0') frac.pop_back();
      out += std::to_string(n / 1'000'000'000) + "." + frac + "s";
    }
  }
  return out;
}

}  // namespace orderguard
