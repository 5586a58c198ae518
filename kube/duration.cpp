#include "kube/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace orderguard::kube {
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

Error invalid(std::string_view text, std::string_view why) {
  return make_error(ErrorCode::kInvalid, "bad duration \"" + std::string(text) +
                                             "\": " + std::string(why) +
                                             " (use e.g. 90s, 15m, 720h, 1h30m)");
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return invalid(text, "empty");
  if (text.front() == '-') return invalid(text, "negative");
  if (text.front() == '+') text.remove_prefix(1);
  const std::string_view whole = text;
  long double total = 0;
  while (!text.empty()) {
    // <digits>[.<digits>]
    size_t i = 0;
    long double value = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i++] - '0');
      digits = true;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        value += (text[i++] - '0') * scale;
        scale /= 10;
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
    total += value * static_cast<long double>(unit->nanos);
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return invalid(whole, "too long");
    }
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

}  // namespace orderguard::kube
